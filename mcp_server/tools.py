"""The MCP tools, each with the scope it needs, on the SDK's `MCPServer`.

`TOOL_SCOPES` is the one table of which tool needs which scope: the access guard reads it to
answer 403 before a tool runs (so clients can step up), and each tool checks it again with
`require_scope` from the token the SDK put in context (`get_access_token`).

Who the user is comes only from the validated token — never from tool arguments. A token
from the `client_credentials` grant has no user: an agent acts as itself, and RFC 9068 §2.2
has its `sub` be the client's own id. `whoami` says which (`principal`), and such a client's
notes are its own, keyed like a user's by (`iss`, `sub`).
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from mcp_server.notes import NoteLimitError, NoteStore
from mcp_server.settings import READ_SCOPE, WRITE_SCOPE

TOOL_SCOPES: dict[str, tuple[str, ...]] = {
    "whoami": (READ_SCOPE,),
    "list_notes": (READ_SCOPE,),
    "add_note": (WRITE_SCOPE,),
}

#: Claims `whoami` reports when the token has them (the broker adds the optional ones only
#: when the customer's profile had them; `custom_claims` are the customer's custom attributes).
WHOAMI_CLAIMS = (
    "sub",
    "email",
    "email_verified",
    "name",
    "client_id",
    "scope",
    "custom_claims",
    "roles",
    "groups",
    "org_id",
    "org_name",
)


def principal(claims: dict[str, Any]) -> str:
    """`client` for a token with no user (its `sub` is its `client_id`), else `user`."""
    return "client" if claims.get("sub") == claims.get("client_id") else "user"


def require_scope(tool: str) -> AccessToken:
    """The caller's validated token, if it carries every scope `tool` needs; else a ToolError."""
    token = get_access_token()
    if token is None:
        raise ToolError("Not signed in.")
    missing = [scope for scope in TOOL_SCOPES[tool] if scope not in token.scopes]
    if missing:
        raise ToolError(f"The access token lacks the scope {' '.join(missing)}.")
    return token


def owner(token: AccessToken) -> tuple[str, str]:
    """The notes' owner: issuer and subject (a `sub` is unique only per issuer)."""
    claims = token.claims or {}
    return str(claims.get("iss", "")), str(token.subject)


def create_mcp_server(store: NoteStore) -> MCPServer:
    mcp = MCPServer(
        "notes",
        instructions="A per-user notepad. whoami shows who you are signed in as.",
    )

    @mcp.tool()
    def whoami() -> dict[str, Any]:
        """Who the access token says you are: `principal` (`user`, or `client` for an agent
        acting as itself), user id, email, name, client, scopes, and the custom attributes,
        roles, groups and organization your identity provider sent."""
        claims = require_scope("whoami").claims or {}
        return {
            "principal": principal(claims),
            **{name: claims[name] for name in WHOAMI_CLAIMS if name in claims},
        }

    @mcp.tool()
    def add_note(text: Annotated[str, Field(min_length=1, max_length=2000)]) -> dict[str, Any]:
        """Save a note for the signed-in user (kept in memory until the server restarts)."""
        token = require_scope("add_note")
        try:
            return store.add(owner(token), text).as_dict()
        except NoteLimitError as error:
            raise ToolError(str(error)) from error

    @mcp.tool()
    def list_notes() -> list[dict[str, Any]]:
        """The signed-in user's notes, oldest first."""
        token = require_scope("list_notes")
        return [note.as_dict() for note in store.list(owner(token))]

    return mcp
