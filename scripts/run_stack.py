"""`make run` (`python -m scripts.run_stack`): the whole local stack, with demo data.

The customer side, the mock broker, the upstream OIDC stand-in and the sample MCP server each
run in their own process on 127.0.0.1 (never `localhost`: a browser treats them as different
sites). An SMTP sink (aiosmtpd) in this process receives the customer side's mail into a
Maildir, shown at the customer side's /dev/outbox. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from identity.dev_outbox import maildir

ROOT = Path(__file__).resolve().parent.parent

#: Ports browsers refuse to connect to (the WHATWG Fetch standard's "bad ports", which Chromium,
#: Firefox and Safari share): a page served there cannot be opened, so refuse them up front.
BROWSER_BLOCKED_PORTS = frozenset(
    {
        *(1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95),
        *(101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143),
        *(161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554),
        *(556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045),
        *(4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080),
    }
)
#: variable → default: the four a browser opens, then the SMTP sink's (which no browser sees).
PORT_DEFAULTS = {
    "IDP_PORT": 5000,
    "BROKER_PORT": 5001,
    "UPSTREAM_PORT": 5002,
    "MCP_PORT": 5003,
    "SMTP_PORT": 1025,
}


def ports(environ: dict[str, str]) -> dict[str, int]:
    """The ports from the environment, or SystemExit saying which one cannot work and why."""
    chosen = {}
    for name, default in PORT_DEFAULTS.items():
        value = environ.get(name, str(default)).strip()
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise SystemExit(f"{name}={value!r}: a port is a number from 1 to 65535.")
        port = int(value)
        if name != "SMTP_PORT" and port in BROWSER_BLOCKED_PORTS:
            raise SystemExit(
                f"{name}={port}: browsers refuse to open pages on port {port} (a blocked port)."
                " Choose another, e.g. 5000-5999 or 8000-8999."
            )
        if port in chosen.values():
            other = next(key for key, used in chosen.items() if used == port)
            raise SystemExit(f"{name}={port}: {other} uses that port already.")
        chosen[name] = port
    return chosen


PORTS = ports(os.environ)
IDP_PORT, BROKER_PORT, UPSTREAM_PORT, MCP_PORT, SMTP_PORT = PORTS.values()
#: Where the stack keeps its SQLite databases and the Maildir (STACK_INSTANCE_DIR; a second
#: stack, e.g. a test's, uses its own).
INSTANCE = Path(os.environ.get("STACK_INSTANCE_DIR") or ROOT / "instance")
MAIL_DIR = INSTANCE / "dev-mail"
DATABASES = {
    "DATABASE_URL": f"sqlite:///{INSTANCE / 'identity.sqlite3'}",
    "MOCK_BROKER_DATABASE_URL": f"sqlite:///{INSTANCE / 'mock_broker.sqlite3'}",
    "UPSTREAM_IDP_DATABASE_URL": f"sqlite:///{INSTANCE / 'upstream_idp.sqlite3'}",
}
IDP_URL = f"http://127.0.0.1:{IDP_PORT}"
BROKER_URL = f"http://127.0.0.1:{BROKER_PORT}"
UPSTREAM_URL = f"http://127.0.0.1:{UPSTREAM_PORT}"
MCP_ORIGIN = f"http://127.0.0.1:{MCP_PORT}"

ENVIRONMENT = {
    **DATABASES,  # unless the environment names other databases (PostgreSQL, say)
    **os.environ,
    "APP_ENV": os.environ.get("APP_ENV", "development"),
    "PUBLIC_URL": IDP_URL,
    "BROKER_ENV_URL": BROKER_URL,
    "MOCK_BROKER_ENV_URL": BROKER_URL,
    "MOCK_BROKER_LOGIN_ENDPOINT": f"{IDP_URL}/login",
    "UPSTREAM_IDP_ISSUER": UPSTREAM_URL,
    "UPSTREAM_IDP_REDIRECT_URIS": f"{IDP_URL}/login/oidc/standin/callback",
    "LOGIN_METHOD_OIDC_STANDIN_ISSUER": UPSTREAM_URL,
    "MCP_SERVER_URL": f"{MCP_ORIGIN}/mcp",
    "MOCK_BROKER_DEV_MCP_SERVER_URL": f"{MCP_ORIGIN}/mcp",
    "MCP_SERVER_PORT": str(MCP_PORT),
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_PORT": str(SMTP_PORT),
    "DEV_MAIL_DIR": str(MAIL_DIR),
    "PYTHONUNBUFFERED": "1",
}


def flask(app: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", app, *args]


def run(command: list[str]) -> None:
    subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, check=True)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited with status {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url}/healthz did not answer within {timeout:.0f}s")


def main() -> None:
    INSTANCE.mkdir(parents=True, exist_ok=True)
    maildir(MAIL_DIR)
    sink = Controller(Mailbox(MAIL_DIR), hostname="127.0.0.1", port=SMTP_PORT)
    sink.start()
    try:
        serve()
    finally:
        sink.stop()


def serve() -> None:
    run(flask("mock_broker", "init-db"))
    run(flask("upstream_idp", "init-db"))
    run(flask("app", "init-db"))
    run(flask("app", "seed-demo"))
    processes = [
        subprocess.Popen(
            flask(app, "run", "--host", "127.0.0.1", "--port", str(port)), cwd=ROOT, env=ENVIRONMENT
        )
        for app, port in (
            ("mock_broker", BROKER_PORT),
            ("upstream_idp", UPSTREAM_PORT),
            ("app", IDP_PORT),
        )
    ]
    processes.append(
        subprocess.Popen([sys.executable, "-m", "mcp_server"], cwd=ROOT, env=ENVIRONMENT)
    )
    try:
        urls = (BROKER_URL, UPSTREAM_URL, IDP_URL, MCP_ORIGIN)
        for url, process in zip(urls, processes, strict=True):
            wait_healthy(url, process)
        print(
            f"""
  Mock broker    {BROKER_URL}   ← start here: "Start a demo sign-in"
  Customer side  {IDP_URL}
  OIDC stand-in  {UPSTREAM_URL}   (upstream provider: any username, editable claims)
  MCP server     {MCP_ORIGIN}/mcp   (connect an MCP client here; it signs in via the broker)
  Demo user      alice@example.com / demo-password-for-alice
  Mail outbox    {IDP_URL}/dev/outbox   (magic links land here; SMTP sink on :{SMTP_PORT})

  Ctrl-C stops everything.
""",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
