"""A sample MCP server protected by the broker's access tokens: the resource-server side.

    python -m mcp_server            # http://127.0.0.1:5003/mcp, tokens from the local mock broker

The broker (Scalekit, or `mock_broker/` locally) is the OAuth 2.1 authorization server; this
server only *checks* tokens. What it does, and where, for anyone copying it:

1. **Tells clients where to sign in** (`app.py`): RFC 9728 protected-resource metadata at
   `/.well-known/oauth-protected-resource/mcp`, naming this server's URL as `resource`, the
   broker's per-resource issuer `{BROKER_ENV_URL}/resources/{res_id}` as the authorization
   server, and the scopes. An MCP client finds it from the 401's `WWW-Authenticate`.
2. **Validates every token locally** (`token_verifier.py`, `jwks.py`): RS256 signature against
   the broker's cached JWKS, issuer, audience = this server's URL (a token for another MCP
   server is refused), expiry. No call to the broker per request — unless
   `MCP_TOKEN_CHECK=introspection` (`introspection.py`): then the broker is also asked
   (RFC 7662), so a token revoked there is refused at once.
3. **Answers like the MCP spec asks** (`access_guard.py`): 401 with `resource_metadata` and
   `scope` to start sign-in; 403 `insufficient_scope` naming the missing scope so the client
   can step up (incremental consent: `notes:read` to connect, `notes:write` to add a note).
4. **Knows the user only from the token** (`tools.py`): `whoami` shows the claims the
   customer's identity provider sent through the broker (email, roles, `custom_claims`…);
   notes are stored per user (`notes.py`, in memory).

Both protocol eras are served from the one endpoint: the 2025-11-25 handshake and sessions,
and the stateless 2026-07-28 revision (`server/discover`, an envelope per request), which the
SDK tells apart by the `MCP-Protocol-Version` header (`protocol_era.py` explains a request
that forgot it). Browser-based clients on any origin are served (`cors.py`).

Built on the official MCP Python SDK: its streamable-HTTP transport, its bearer-auth backend
and auth context, and its metadata routes; `create_app(Settings(...))` builds the ASGI app.
"""

from mcp_server.app import create_app
from mcp_server.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError", "create_app"]
