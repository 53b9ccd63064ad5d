"""CORS for the MCP endpoint: browser-based MCP clients run on other origins (R1).

A public MCP server is called from any origin (MCP Inspector, a web app's agent), so any
origin may send the preflight and read the answers. That is safe here because the only
credential is a bearer token the page must hold and send itself: no cookie is ever involved,
so credentials mode is never allowed and a foreign page gains nothing a `curl` would not.

What a browser client needs, and why each is listed:

- request headers `Authorization` (the token), `Content-Type` (JSON bodies),
  `Mcp-Session-Id` (the 2025 session), `MCP-Protocol-Version` (every request after
  the handshake), `Last-Event-ID` (resuming an SSE stream);
- exposed headers `WWW-Authenticate` (the 401's `resource_metadata` and the 403's `scope`
  are how the client finds the broker and steps up) and `Mcp-Session-Id` (the session id it
  must echo), which a browser otherwise hides from the page;
- methods GET (the event stream), POST (messages), DELETE (ending a session).

The middleware wraps the whole guarded endpoint, so the 401/403 challenges and the 503 carry
these headers too: a challenge a page cannot read is one it cannot act on.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

ALLOWED_METHODS = ("GET", "POST", "DELETE")
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Mcp-Session-Id",
    "MCP-Protocol-Version",
    "Last-Event-ID",
)
EXPOSED_HEADERS = ("WWW-Authenticate", "Mcp-Session-Id")


def allow_browser_clients(app: ASGIApp) -> ASGIApp:
    """`app` behind Starlette's CORS middleware with the MCP policy above."""
    return CORSMiddleware(
        app,
        allow_origins=["*"],
        allow_methods=list(ALLOWED_METHODS),
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        allow_credentials=False,
        max_age=600,
    )
