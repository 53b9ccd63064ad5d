"""Resources (`res_…`) and their issuers: one OAuth 2.1 authorization server per MCP server."""

from __future__ import annotations

from flask import current_app


def issuer_for(resource_id: str) -> str:
    """`{ENV_URL}/resources/{res_id}`, the hosted broker's published issuer layout."""
    return f"{current_app.config['ENV_URL']}/resources/{resource_id}"
