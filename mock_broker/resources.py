"""Resources (`res_…`) and their issuers: one OAuth 2.1 authorization server per MCP server."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mock_broker.models import Resource


def issuer_for(resource_id: str) -> str:
    """`{ENV_URL}/resources/{res_id}`, the hosted broker's published issuer layout."""
    return f"{current_app.config['ENV_URL']}/resources/{resource_id}"


def find_resource(db: Session, indicator: str) -> Resource | None:
    """The resource an RFC 8707 `resource` value names: its MCP server URL or its `res_…` id."""
    return db.scalar(
        select(Resource).where(or_(Resource.mcp_server_url == indicator, Resource.id == indicator))
    )
