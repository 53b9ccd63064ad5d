"""Resources (`res_…`) and their issuers: one OAuth 2.1 authorization server per MCP server.

An RFC 8707 `resource` names a resource by its MCP server URL or its `res_…` id. The MCP
authorization spec (2026-07-28) asks servers to accept case differences in scheme and host,
so URLs are compared by their parts (`resource_key`), with exactly the equivalences RFC 3986
§6.2.2.1 and §6.2.3 define for http(s): scheme and host are case-insensitive, an explicit
default port (`:443`, `:80`) is its absence, and an empty path is "/". Nothing else is
tolerated: the path (a trailing "/" after it included: `/mcp/` is not `/mcp`), its case, its
percent-encoding and the query are compared exactly, and user info or a fragment never name
a resource. Resources are stored in canonical form (`canonical_url`), which is what tokens
carry in `aud`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mock_broker.models import Resource, resource_key


def issuer_for(resource_id: str) -> str:
    """`{ENV_URL}/resources/{res_id}`, the hosted broker's published issuer layout."""
    return f"{current_app.config['ENV_URL']}/resources/{resource_id}"


def canonical_url(url: str) -> str:
    """`url` with its scheme and host lowercased and a default port dropped; the path and
    query as given. A URL `resource_key` cannot read is returned unchanged."""
    key = resource_key(url)
    if key is None:
        return url
    parts = urlsplit(url)
    scheme, host, port = key[0], key[1], key[2]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path}{query}"


def find_resource(db: Session, indicator: str) -> Resource | None:
    """The resource an RFC 8707 `resource` value names: its MCP server URL (in any spelling
    `resource_key` equates) or its `res_…` id."""
    spellings = {indicator}
    if resource_key(indicator) is not None:
        canonical = canonical_url(indicator)
        parts = urlsplit(canonical)
        spellings.add(canonical)
        if parts.path in ("", "/") and not parts.query:  # the root: with or without its "/"
            spellings.update({canonical.rstrip("/"), canonical.rstrip("/") + "/"})
    candidates = db.scalars(
        select(Resource).where(
            or_(Resource.mcp_server_url.in_(spellings), Resource.id == indicator)
        )
    )
    return next((resource for resource in candidates if resource.matches(indicator)), None)
