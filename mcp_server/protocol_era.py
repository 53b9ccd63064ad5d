"""Which protocol era a request belongs to, for a clear answer when a client mixes them up.

The SDK serves both eras from one endpoint and tells them apart by the `MCP-Protocol-Version`
header alone: a 2026-07-28 version there takes the stateless path (no handshake, no
session, `server/discover`), anything else the 2025 session path. A 2026-07-28 request sent
without the header — which that revision requires on every request — therefore lands on the
session path and is answered "Missing session ID", which sends its author looking in the
wrong place. `misrouted_modern_request` spots that case, so the access guard can answer a
400 that names the missing header instead.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import Scope

PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
DISCOVER = "server/discover"

HINT = (
    "This is a 2026-07-28 request (server/discover, or a protocol version in params._meta) "
    "without the MCP-Protocol-Version header that revision requires on every request; "
    "send MCP-Protocol-Version: 2026-07-28 (a 2025-11-25 client starts with initialize)."
)


def misrouted_modern_request(scope: Scope, body: bytes) -> bool:
    """A POST with neither `MCP-Protocol-Version` nor `Mcp-Session-Id` whose JSON-RPC request
    is `server/discover` or carries a 2026-era version in its `_meta` envelope."""
    headers = Headers(scope=scope)
    if "mcp-protocol-version" in headers or "mcp-session-id" in headers:
        return False
    try:
        message: Any = json.loads(body)
    except ValueError:
        return False
    if not isinstance(message, dict):
        return False
    if message.get("method") == DISCOVER:
        return True
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
    return version in MODERN_PROTOCOL_VERSIONS
