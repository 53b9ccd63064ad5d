"""Per-tool scopes: 403 insufficient_scope in the shape the MCP SDK client steps up on."""

from __future__ import annotations

import anyio
import pytest
import requests
from mcp import MCPError

from tests.mcp_server.stack import TIMEOUT, challenge


def test_a_read_only_token_calling_add_note_gets_403_insufficient_scope(stack):
    response = stack.post_tool_call(stack.token(scope="notes:read"), tool="add_note")

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="notes:read notes:write", '
        f'resource_metadata="{stack.settings.resource_metadata_url}"'
    )
    # The SDK's OAuthClientProvider steps up on exactly: 403 + error=insufficient_scope, and
    # asks for `scope` (unioned with what it had).
    assert challenge(response)["error"] == "insufficient_scope"
    assert challenge(response)["scope"] == "notes:read notes:write"
    assert response.json()["error"] == "insufficient_scope"


def test_a_read_only_token_may_read_but_not_write_in_one_session(stack):
    token = stack.token(scope="notes:read")

    async def run():
        async with stack.session(token) as session:
            assert (await session.call_tool("whoami")).structured_content["scope"] == "notes:read"
            listed = await session.call_tool("list_notes")
            with pytest.raises(MCPError):  # the HTTP 403, surfaced by a client without OAuth
                await session.call_tool("add_note", {"text": "not allowed"})
            return listed

    assert anyio.run(run).is_error is False


def test_a_token_without_the_base_scope_cannot_use_the_server(stack):
    response = stack.post_tool_call(stack.token(scope="notes:write"), tool="add_note")

    assert response.status_code == 403
    assert challenge(response)["scope"] == "notes:read"


def test_a_batch_is_checked_for_every_tool_it_calls(stack):
    token = stack.token(scope="notes:read")
    calls = [
        {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name}}
        for n, name in enumerate(["whoami", "add_note"])
    ]
    response = requests.post(
        stack.url,
        json=calls,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 403
