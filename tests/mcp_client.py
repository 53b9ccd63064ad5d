"""The official MCP Python SDK's OAuth client, with a real browser for the human part.

`OAuthClientProvider` (mcp.client.auth) does what an MCP client does: on a 401 it reads the
protected-resource metadata, then the broker's metadata, registers (DCR) or uses a Client ID
Metadata Document URL, sends the user to the authorization URL, exchanges the code with PKCE
and `resource`, and refreshes tokens. Its `redirect_handler` is where a desktop client would
open the system browser: here headless Chromium opens the URL, signs in at the customer side
with a password and approves the broker's consent. The client's loopback redirect URI is
intercepted inside the browser (no listener needed), which is how the code, state and `iss`
reach the `callback_handler`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientMetadata,
)
from playwright.async_api import BrowserContext

from scripts.mcp_demo import MemoryStorage

__all__ = ["BrowserUser", "LoopbackCallback", "MemoryStorage", "oauth_provider"]


class LoopbackCallback:
    """The client's redirect URI, served the way desktop MCP clients do it: a one-page HTTP
    listener on a free loopback port that records the authorization response it receives."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith("/callback"):  # e.g. the browser's /favicon.ico
                    self.send_error(404)
                    return
                received.append(self.path)
                body = b"Signed in. You can close this window."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    def __enter__(self) -> LoopbackCallback:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@dataclass
class BrowserUser:
    """A person at a browser: signs in with a password and approves consent."""

    context: BrowserContext
    email: str
    password: str
    callback: LoopbackCallback
    authorization_urls: list[str] = field(default_factory=list)

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        before = len(self.callback.received)
        page = await self.context.new_page()
        try:
            await page.goto(authorization_url)
            if "/login?" in page.url:
                continue_as = page.get_by_role("button", name="Continue as")
                if await continue_as.count():  # signed in here already (e.g. a step-up)
                    await continue_as.click()
                else:
                    await page.get_by_label("Email").first.fill(self.email)
                    await page.get_by_role("textbox", name="Password").fill(self.password)
                    await page.get_by_role("button", name="Sign in", exact=True).click()
                # Through the customer side's hand-off page to the broker's consent page, or
                # (consent remembered) straight on to the client's redirect URI.
                await page.wait_for_url(
                    lambda url: "/sso/v1/connections/" in url or url.startswith(self.callback.url)
                )
                await page.wait_for_load_state()
            if len(self.callback.received) == before:  # consent not remembered: approve
                await page.get_by_role("button", name="Allow").click()
                await page.wait_for_url(lambda url: url.startswith(self.callback.url))
            where = f"{page.url}: {(await page.inner_text('body'))[:300]}"
        finally:
            await page.close()
        assert len(self.callback.received) > before, f"no authorization response; at {where}"

    async def callback_handler(self) -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(self.callback.received[-1]).query)
        assert "error" not in query, (query, self.authorization_urls)
        return AuthorizationCodeResult(
            code=query["code"][0],
            state=query.get("state", [None])[0],
            iss=query.get("iss", [None])[0],
        )


def oauth_provider(
    server_url: str,
    user: BrowserUser,
    storage: MemoryStorage,
    scope: str | None = None,
    client_metadata_url: str | None = None,
    grant_types: list[str] | None = None,
) -> OAuthClientProvider:
    grant_types = grant_types or ["authorization_code", "refresh_token"]
    if scope is None:
        scope = "notes:read notes:write"
        if "refresh_token" in grant_types:
            scope += " offline_access"
    metadata = OAuthClientMetadata(
        client_name="End-to-end test client",
        redirect_uris=[user.callback.url],
        grant_types=grant_types,
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope=scope,
    )
    return OAuthClientProvider(
        server_url,
        metadata,
        storage,
        redirect_handler=user.redirect_handler,
        callback_handler=user.callback_handler,
        client_metadata_url=client_metadata_url,
    )
