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
IDP_PORT = int(os.environ.get("IDP_PORT", "5000"))
BROKER_PORT = int(os.environ.get("BROKER_PORT", "5001"))
UPSTREAM_PORT = int(os.environ.get("UPSTREAM_PORT", "5002"))
MCP_PORT = int(os.environ.get("MCP_PORT", "5003"))
SMTP_PORT = int(os.environ.get("SMTP_PORT", "1025"))
MAIL_DIR = ROOT / "instance" / "dev-mail"
IDP_URL = f"http://127.0.0.1:{IDP_PORT}"
BROKER_URL = f"http://127.0.0.1:{BROKER_PORT}"
UPSTREAM_URL = f"http://127.0.0.1:{UPSTREAM_PORT}"
MCP_ORIGIN = f"http://127.0.0.1:{MCP_PORT}"

ENVIRONMENT = {
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
