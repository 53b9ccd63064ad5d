"""The gate in front of the MCP endpoint: 401 to start sign-in, 403 to ask for more scope.

The SDK's `BearerAuthBackend` (run before this) has already validated any bearer token and
set `scope["user"]`; this guard decides what to answer. We do not use the SDK's
`RequireAuthMiddleware` because MCP clients steer by the `WWW-Authenticate` header and that
middleware's header is not the one the MCP authorization spec asks for:

- **401** when the token is missing or invalid, with `resource_metadata` (where the client
  finds the broker) and `scope` (what to ask for: the least needed to connect). `error=
  "invalid_token"` only when a token was sent (RFC 6750 §3.1: none for a bare request).
- **403 `insufficient_scope`** when the token is valid but a tool needs more, with `scope`
  listing what this request needs. Scopes are per tool, and a tool call is an HTTP POST whose
  JSON-RPC body names the tool, so the guard reads the body: a scope failure must be an HTTP
  403 — a JSON-RPC error inside a 200 would not make a client step up. The MCP SDK's
  `OAuthClientProvider` re-authorizes on exactly this 403, asking for the union of the scopes
  it already had and the challenged ones.

The tools check their scope again themselves (`tools.require_scope`), so a routing mistake
here cannot open a tool up.

Before the body is parsed at all it is bounded: at most MAX_BODY_BYTES (413), and nested at
most `json_depth.MAX_JSON_DEPTH` deep (400 with a JSON-RPC parse error, as the SDK answers
other unparseable bodies), since deep nesting overflows the parsers' recursion (E2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_server.introspection import IntrospectionUnavailableError
from mcp_server.json_depth import MAX_JSON_DEPTH, nesting_depth
from mcp_server.jwks import JwksUnavailableError
from mcp_server.protocol_era import HINT, misrouted_modern_request

#: Bodies above this are refused before parsing (the SDK's own limit is 4 MiB).
MAX_BODY_BYTES = 1024 * 1024

#: JSON-RPC 2.0's parse error, for a body nested deeper than anything parses safely.
_TOO_DEEP = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {
        "code": -32700,
        "message": f"Parse error: JSON nested deeper than {MAX_JSON_DEPTH} levels.",
    },
}


class AccessGuard:
    def __init__(
        self,
        app: ASGIApp,
        resource_metadata_url: str,
        base_scopes: tuple[str, ...],
        tool_scopes: Mapping[str, tuple[str, ...]],
    ) -> None:
        self.app = app
        self.resource_metadata_url = resource_metadata_url
        self.base_scopes = base_scopes
        self.tool_scopes = tool_scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if not isinstance(user, AuthenticatedUser):
            token_sent = any(name == b"authorization" for name, _ in scope["headers"])
            await self._challenge(send, 401, "invalid_token" if token_sent else None)
            return
        granted = set(user.scopes)
        if not granted.issuperset(self.base_scopes):
            await self._challenge(send, 403, "insufficient_scope", self.base_scopes)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await _send_json(send, 413, {"error": "request_too_large"}, {})
            return
        if nesting_depth(body) > MAX_JSON_DEPTH:
            await _send_json(send, 400, _TOO_DEEP, {})
            return
        needed = self._scopes_for(body)
        if not granted.issuperset(needed):
            await self._challenge(send, 403, "insufficient_scope", needed)
            return
        if misrouted_modern_request(scope, body):
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": HINT}}
            await _send_json(send, 400, error, {})
            return
        await self.app(scope, _replay(body, receive), send)

    def _scopes_for(self, body: bytes) -> tuple[str, ...]:
        """Everything this request needs: the base scopes plus those of each tool it calls."""
        needed = dict.fromkeys(self.base_scopes)
        for name in _called_tools(body):
            needed.update(dict.fromkeys(self.tool_scopes.get(name, ())))
        return tuple(needed)

    async def _challenge(
        self, send: Send, status: int, error: str | None, scopes: tuple[str, ...] | None = None
    ) -> None:
        scopes = scopes or self.base_scopes
        params = {"error": error} if error else {}
        params |= {"scope": " ".join(scopes), "resource_metadata": self.resource_metadata_url}
        challenge = "Bearer " + ", ".join(f'{name}="{value}"' for name, value in params.items())
        description = {
            None: "An access token is required.",
            "invalid_token": "The access token is invalid, expired or not for this server.",
            "insufficient_scope": f"This request needs the scope {' '.join(scopes)}.",
        }[error]
        body = {"error": error or "unauthorized", "error_description": description}
        await _send_json(send, status, body, {"www-authenticate": challenge})


def _called_tools(body: bytes) -> list[str]:
    """Names of the tools a JSON-RPC message (or batch) calls; malformed input calls none —
    the SDK answers it with a JSON-RPC parse error, and no tool runs."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return []
    messages = parsed if isinstance(parsed, list) else [parsed]
    names = []
    for message in messages:
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                names.append(params["name"])
    return names


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if it exceeds MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # http.disconnect: the app will see an empty body and the client is gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]):
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *((name.encode(), value.encode()) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class BrokerOutageGuard:
    """Answers 503 when the broker's keys cannot be fetched or a token cannot be introspected:
    our outage, not a bad token (a 401 would only send the user to sign in again)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except (JwksUnavailableError, IntrospectionUnavailableError):
            body = {
                "error": "temporarily_unavailable",
                "error_description": "The authorization server could not check the token.",
            }
            await _send_json(send, 503, body, {"retry-after": "5"})
