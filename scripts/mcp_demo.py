"""`make mcp-demo`: watch a real MCP client sign in through the local stack.

The official MCP Python SDK's client connects to the sample MCP server that `make run` serves,
gets the 401, finds the broker, registers, and sends you to sign in: this opens your system
browser (or, with `MCP_DEMO_BROWSER=none`, prints the URL for you to open). You sign in at the
customer login page (alice@example.com / demo-password-for-alice), approve at the broker, the
browser lands on this script's loopback redirect URI, and the script prints what the MCP
server's `whoami` tool says about you. Ports follow `make run`'s variables (MCP_PORT).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import webbrowser
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import requests
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

#: How long to wait for you in the browser.
SIGN_IN_TIMEOUT = 600


@dataclass
class MemoryStorage(TokenStorage):
    """The registration and tokens of one run, in memory (a real client keeps them on disk;
    the tests use this one too, to inspect them)."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class RedirectReceiver:
    """The client's redirect URI: a one-page HTTP listener on a free loopback port."""

    def __init__(self) -> None:
        self.answer: dict[str, list[str]] | None = None
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                receiver.answer = parse_qs(parts.query)
                receiver.arrived.set()
                body = b"Signed in. You can close this window and go back to the terminal."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    async def redirect(self, authorization_url: str) -> None:
        print(f"\nSign in here:\n\n  {authorization_url}\n", flush=True)
        if os.environ.get("MCP_DEMO_BROWSER", "system") != "none":
            webbrowser.open(authorization_url)

    async def callback(self) -> AuthorizationCodeResult:
        arrived = await anyio.to_thread.run_sync(self.arrived.wait, SIGN_IN_TIMEOUT)
        if not arrived or self.answer is None:
            raise SystemExit("No sign-in arrived in time.")
        if "error" in self.answer:
            raise SystemExit(f"The broker answered: {self.answer['error'][0]}")
        return AuthorizationCodeResult(
            code=self.answer["code"][0],
            state=self.answer.get("state", [None])[0],
            iss=self.answer.get("iss", [None])[0],
        )


async def demo(mcp_url: str) -> dict:
    receiver = RedirectReceiver()
    auth = OAuthClientProvider(
        mcp_url,
        OAuthClientMetadata(
            client_name="make mcp-demo",
            redirect_uris=[receiver.url],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # noqa: S106 - a public client, not a password
        ),
        MemoryStorage(),
        redirect_handler=receiver.redirect,
        callback_handler=receiver.callback,
    )
    try:
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            streamable_http_client(mcp_url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return (await session.call_tool("whoami")).structured_content or {}
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def main() -> None:
    port = os.environ.get("MCP_PORT", "5003")
    mcp_url = os.environ.get("MCP_SERVER_URL", f"http://127.0.0.1:{port}/mcp")
    origin = f"{urlsplit(mcp_url).scheme}://{urlsplit(mcp_url).netloc}"
    try:
        requests.get(f"{origin}/healthz", timeout=5)
    except requests.ConnectionError:
        raise SystemExit(
            f"Nothing answers at {mcp_url}: start the stack with `make run`."
        ) from None
    print(f"Connecting to {mcp_url} with the official MCP Python SDK …", flush=True)
    whoami = anyio.run(demo, mcp_url)
    print("whoami:", json.dumps(whoami, indent=2, sort_keys=True), sep="\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
