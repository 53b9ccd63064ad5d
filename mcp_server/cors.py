"""CORS for the MCP endpoint: browser-based MCP clients run on other origins (R1).

A public MCP server is called from any origin (MCP Inspector, a web app's agent), so any
origin may send the preflight and read the answers. That is safe here because the only
credential is a bearer token the page must hold and send itself: no cookie is ever involved,
so credentials mode is never allowed and a foreign page gains nothing a `curl` would not.

What a browser client needs, and why each is listed:

- request headers `Authorization` (the token), `Content-Type` (JSON bodies),
  `Mcp-Session-Id` (the 2025 session), `MCP-Protocol-Version` (every request after the
  2025 handshake, and every 2026-07-28 request), `Last-Event-ID` (resuming an SSE stream),
  and the 2026-07-28 routing headers `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` (a tool's
  mirrored arguments: the names depend on the tool, so the prefix is allowed);
- exposed headers `WWW-Authenticate` (the 401's `resource_metadata` and the 403's `scope`
  are how the client finds the broker and steps up) and `Mcp-Session-Id` (the session id it
  must echo), which a browser otherwise hides from the page;
- methods GET (the event stream), POST (messages), DELETE (ending a session).

A preflight asking for anything else is refused with a 400 that says so. The middleware
wraps the whole guarded endpoint, so the 401/403 challenges and the 503 carry these headers
too: a challenge a page cannot read is one it cannot act on.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = ("GET", "POST", "DELETE")
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Mcp-Session-Id",
    "MCP-Protocol-Version",
    "Last-Event-ID",
    "Mcp-Method",
    "Mcp-Name",
)
#: 2026-07-28 `Mcp-Param-{name}` headers, one per mirrored tool argument.
ALLOWED_HEADER_PREFIX = "mcp-param-"
EXPOSED_HEADERS = ("WWW-Authenticate", "Mcp-Session-Id")
MAX_AGE_SECONDS = 600

_ALLOWED = {name.lower() for name in ALLOWED_HEADERS}


def header_allowed(name: str) -> bool:
    name = name.strip().lower()
    return name in _ALLOWED or (
        name.startswith(ALLOWED_HEADER_PREFIX) and len(name) > len(ALLOWED_HEADER_PREFIX)
    )


class BrowserClientCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if scope["type"] != "http" or "origin" not in headers:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(headers)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode()),
                    ],
                }
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _preflight(headers: Headers) -> Response:
    method = headers["access-control-request-method"].strip().upper()
    requested = [
        name.strip() for name in headers.get("access-control-request-headers", "").split(",")
    ]
    requested = [name for name in requested if name]
    refused = [name for name in requested if not header_allowed(name)]
    if method not in ALLOWED_METHODS or refused:
        what = f"method {method}" if method not in ALLOWED_METHODS else ", ".join(refused)
        return PlainTextResponse(f"CORS preflight refused: {what} is not allowed.", 400)
    allowed = dict.fromkeys([*ALLOWED_HEADERS, *requested])
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
            "Access-Control-Allow-Headers": ", ".join(allowed),
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        },
    )
