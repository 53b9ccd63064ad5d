"""The official MCP TypeScript SDK client (tests/mcp_ts_client/client.mjs, under Node.js), with
headless Chromium as the person at the browser.

The Node process is the MCP client: it connects, gets the 401, discovers the broker, registers
(or uses a Client ID Metadata Document), and when the SDK sends the user to the authorization
URL it prints it. Here Chromium opens that URL and does what a person does — "Continue as" or
a password at the customer login page, "Allow" at the broker's consent page when it is shown —
until the browser reaches the client's loopback redirect URI, which the Node process serves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD
from tests.mail_sink import free_port

HARNESS = Path(__file__).parent / "mcp_ts_client"
NPM_INSTALL = "npm ci --prefix tests/mcp_ts_client"


@dataclass
class Run:
    """What one run of the client did: its events, the authorizations and what the user saw."""

    events: list[dict] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    consent_pages: int = 0

    def tools(self) -> dict[str, dict]:
        return {e["name"]: e for e in self.events if e["event"] == "tool"}

    def tokens(self) -> list[dict]:
        return [e for e in self.events if e["event"] == "tokens"]


def sign_in(page: Page, url: str, redirect_uri: str, run: Run) -> None:
    """The person: from the authorization URL to the client's redirect URI."""
    page.goto(url)
    if "/login?" in page.url:
        continue_as = page.get_by_role("button", name="Continue as")
        if continue_as.count():
            continue_as.click()
        else:
            page.get_by_label("Email").first.fill(DEMO_EMAIL)
            page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda now: "/sso/v1/connections/" in now or now.startswith(redirect_uri))
    if "/sso/v1/connections/" in page.url:
        run.consent_pages += 1
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(lambda now: now.startswith(redirect_uri))


def run_client(
    page: Page,
    mcp_url: str,
    state_file: Path,
    steps: list[str],
    timeout: float = 120,
    port: int | None = None,
    **environment: str,
) -> Run:
    """One run of the TypeScript client (its redirect URI on `port`, or a free one); fails
    with its stderr if it does not finish."""
    node = shutil.which("node")
    assert node, "Node.js 20+ is needed for the TypeScript SDK client"
    assert (HARNESS / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir(), (
        f"the TypeScript SDK is not installed: run `{NPM_INSTALL}`"
    )
    port = port or free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    process = subprocess.Popen(
        [node, str(HARNESS / "client.mjs")],
        env={
            "PATH": os.environ["PATH"],
            "MCP_URL": mcp_url,
            "CALLBACK_PORT": str(port),
            "STATE_FILE": str(state_file),
            "STEPS": ",".join(steps),
            **environment,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = Run()
    try:
        for line in process.stdout:
            event = json.loads(line)
            run.events.append(event)
            if event["event"] == "authorize":
                run.authorizations.append(event["url"])
                sign_in(page, event["url"], redirect_uri, run)
            elif event["event"] in ("done", "error"):
                break
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
    assert run.events and run.events[-1]["event"] == "done", (run.events[-3:], stderr[-2000:])
    return run
