"""`make run` as people run it: the real script (scripts/run_stack.py) on ports that are all
non-default, and the official MCP Python SDK client signing in through it with Chromium, the
first time and again as a returning user (remembered consent, an existing session).

This is the path that broke before: the broker's seeded resource stayed on the default MCP
port, so a non-default `MCP_PORT` gave every client `invalid_target`. And it is the only test
that runs the four apps exactly as the quick start starts them (flask dev servers, SQLite, the
SMTP sink), each in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
import requests
from joserfc import jws
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from playwright.async_api import async_playwright
from playwright.sync_api import sync_playwright

from scripts.run_stack import BROWSER_BLOCKED_PORTS, PORT_DEFAULTS, ports
from tests.chromium import ARGS, require_chromium
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD
from tests.mail_sink import free_port
from tests.mcp_client import BrowserUser, LoopbackCallback, MemoryStorage, oauth_provider

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class MakeRun:
    ports: dict[str, int]
    process: subprocess.Popen

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url('MCP_PORT')}/mcp"


def _environment(**extra: str) -> dict[str, str]:
    """A clean environment, as on a fresh machine: nothing of the test run leaks in."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {**{key: os.environ[key] for key in keep if key in os.environ}, **extra}


@pytest.fixture(scope="module")
def make_run(tmp_path_factory) -> Iterator[MakeRun]:
    chosen = {name: free_port() for name in PORT_DEFAULTS}
    assert not set(chosen.values()) & {*PORT_DEFAULTS.values()}, "a default port was drawn"
    env = _environment(
        STACK_INSTANCE_DIR=str(tmp_path_factory.mktemp("make-run")),
        **{name: str(port) for name, port in chosen.items()},
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.run_stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    stack = MakeRun(chosen, process)
    try:
        deadline = time.monotonic() + 90
        for name in ("BROKER_PORT", "UPSTREAM_PORT", "IDP_PORT", "MCP_PORT"):
            while True:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                try:
                    if requests.get(f"{stack.url(name)}/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, f"{name} did not come up"
                time.sleep(0.1)  # polling a health URL, not waiting for time to pass
        yield stack
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a person stops it
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stderr.close()


async def sign_in_twice(stack: MakeRun) -> tuple[list, MemoryStorage, BrowserUser]:
    """The SDK client signs in, then (tokens dropped, registration kept) signs in again in the
    same browser: "Continue as" and remembered consent take it straight back to the client."""
    storage = MemoryStorage()
    results = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=require_chromium(), args=ARGS)
        context = await browser.new_context()
        with LoopbackCallback() as callback:
            user = BrowserUser(context, DEMO_EMAIL, DEMO_PASSWORD, callback)
            for _ in range(2):
                storage.tokens = None
                # Without the refresh grant the SDK sends no prompt=consent, as the TypeScript
                # SDK and the Inspector do not: the broker may then remember the consent.
                auth = oauth_provider(
                    stack.mcp_url, user, storage, grant_types=["authorization_code"]
                )
                async with (
                    httpx2.AsyncClient(auth=auth, timeout=30) as http,
                    streamable_http_client(stack.mcp_url, http_client=http) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    results.append((await session.call_tool("whoami")).structured_content)
        await browser.close()
    return results, storage, user


def test_the_mcp_client_signs_in_twice_on_non_default_ports(make_run):
    results, storage, user = anyio.run(sign_in_twice, make_run)
    assert [me["email"] for me in results] == [DEMO_EMAIL, DEMO_EMAIL]
    # The token is for the MCP server on its real port (RFC 8707), not the default one.
    claims = jws.extract_compact(storage.tokens.access_token.encode()).payload
    assert make_run.mcp_url.encode() in claims and b":5003/" not in claims
    # Two authorizations, the second through "Continue as" with the consent remembered.
    assert len(user.authorization_urls) == 2 and len(user.callback.received) == 2
    assert all(f":{make_run.ports['BROKER_PORT']}/" in url for url in user.authorization_urls)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("MCP_PORT", "6000", "browsers refuse to open pages on port 6000"),
        ("IDP_PORT", "6667", "browsers refuse to open pages on port 6667"),
        ("BROKER_PORT", "5000", "IDP_PORT uses that port already"),
        ("UPSTREAM_PORT", "http", "a port is a number from 1 to 65535"),
        ("SMTP_PORT", "70000", "a port is a number from 1 to 65535"),
    ],
)
def test_ports_that_cannot_work_are_refused_with_a_message(variable, value, says):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.run_stack"],
        cwd=ROOT,
        env=_environment(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_blocked_list_is_the_browsers_and_smtp_may_use_its_ports():
    assert {6000, 6665, 6669, 10080, 25, 587} <= BROWSER_BLOCKED_PORTS
    assert ports({"SMTP_PORT": "587"})["SMTP_PORT"] == 587  # no browser ever opens it


def test_make_mcp_demo_signs_in_and_prints_whoami(make_run):
    """The documented one-liner: it prints the URL (no system browser here), a person signs
    in there, and it prints what `whoami` says."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "scripts.mcp_demo"],
        cwd=ROOT,
        env=_environment(MCP_PORT=str(make_run.ports["MCP_PORT"]), MCP_DEMO_BROWSER="none"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in demo.stdout:
            if "/oauth/authorize?" in line:
                url = line.strip()
                break
        else:
            pytest.fail(demo.stderr.read())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=require_chromium(), args=ARGS)
            page = browser.new_page()
            page.goto(url)
            page.get_by_label("Email").first.fill(DEMO_EMAIL)
            page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url("http://127.0.0.1:*/callback?**")
            browser.close()
        output, errors = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 0, errors[-2000:]
    whoami = json.loads(output[output.index("{") :])
    assert whoami["email"] == DEMO_EMAIL and whoami["custom_claims"] == {"plan": "enterprise"}


def test_make_mcp_demo_without_the_stack_says_what_to_do():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.mcp_demo"],
        cwd=ROOT,
        env=_environment(MCP_PORT=str(free_port()), MCP_DEMO_BROWSER="none"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "start the stack with `make run`" in result.stderr
