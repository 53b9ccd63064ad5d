"""DNS-rebinding protection by `Host`: only requests addressed to this server are served.

A rebinding attack points a name the attacker controls at this server's address, so the
browser sends the attacker's name as `Host`. Checking `Host` is what stops it; checking
`Origin` too would stop every browser-based client on another origin, which a public MCP
server wants to serve (see `cors`). So the SDK's transport check is turned off and this
guard answers 421 (Misdirected Request) for a `Host` that is not ours, before any token is
looked at.

On loopback any port of 127.0.0.1, localhost and [::1] is ours (as the SDK's default), so
local tools keep working; elsewhere only the configured host and port.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from identity.urls import is_loopback_host

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class HostGuard:
    def __init__(self, app: ASGIApp, server_url: str) -> None:
        self.app = app
        parts = urlsplit(server_url)
        self.loopback = is_loopback_host(parts.hostname or "")
        self.netloc = parts.netloc.lower()

    def allows(self, host: str) -> bool:
        host = host.lower()
        if host == self.netloc:
            return True
        if not self.loopback:
            return False
        name, _, port = host.rpartition(":")
        return name in LOOPBACK_HOSTS and port.isdigit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allows(Headers(scope=scope).get("host", "")):
            response = PlainTextResponse("Invalid Host header", status_code=421)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
