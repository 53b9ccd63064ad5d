"""The tools through the MCP SDK's own client: who the token says you are, and your notes."""

from __future__ import annotations

import anyio

from mcp_server.notes import NoteStore
from mcp_server.tools import TOOL_SCOPES, create_mcp_server


def test_whoami_returns_the_users_claims_from_the_customer_identity_provider(stack):
    token = stack.token()

    async def whoami():
        async with stack.session(token) as session:
            return await session.call_tool("whoami")

    result = anyio.run(whoami)

    assert result.is_error is False
    me = result.structured_content
    assert me["sub"].startswith("usr_")
    assert me["email"] == "alice@example.com"
    assert me["name"] == "Alice Doe"
    assert me["client_id"] == stack.client_id
    assert me["scope"] == "notes:read notes:write"
    assert me["custom_claims"] == {"plan": "enterprise", "seats": 12}
    assert (me["roles"], me["groups"]) == (["admin"], ["eng"])
    assert (me["org_id"], me["org_name"]) == ("org_42", "Acme Corp")


def test_notes_are_kept_per_user(stack):
    alice = stack.token()
    bob = stack.token(sub="bob-1", email="bob@example.com", name="Bob")

    async def run():
        async with stack.session(alice) as session:
            added = await session.call_tool("add_note", {"text": "buy milk"})
            alices = await session.call_tool("list_notes")
        async with stack.session(bob) as session:
            bobs = await session.call_tool("list_notes")
        return added, alices, bobs

    added, alices, bobs = anyio.run(run)

    assert added.structured_content["text"] == "buy milk"
    assert [note["text"] for note in alices.structured_content["result"]] == ["buy milk"]
    assert bobs.structured_content["result"] == []


def test_a_note_must_not_be_empty(stack):
    token = stack.token()

    async def run():
        async with stack.session(token) as session:
            return await session.call_tool("add_note", {"text": ""})

    assert anyio.run(run).is_error is True


def test_every_tool_has_a_scope():
    """A tool missing from TOOL_SCOPES would be guarded by the base scope only."""

    async def names():
        return {tool.name for tool in await create_mcp_server(NoteStore()).list_tools()}

    assert anyio.run(names) == set(TOOL_SCOPES)
