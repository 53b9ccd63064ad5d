"""Machines and agents (B16): the MCP SDK's own client_credentials provider, end to end.

A confidential client registered for `client_credentials` at the broker connects with the
SDK's `ClientCredentialsOAuthProvider`: 401 → protected-resource metadata → broker metadata
→ token request with its secret and the RFC 8707 `resource` → the server accepts the token,
and `whoami` says which client is calling and that there is no user.
"""

from __future__ import annotations

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_server.stack import TIMEOUT, MachineTokenStorage, McpStack, machine_client


def run_as_machine(stack: McpStack, client_id: str, secret: str, storage: MachineTokenStorage):
    auth = ClientCredentialsOAuthProvider(
        server_url=stack.url,
        storage=storage,
        client_id=client_id,
        client_secret=secret,
        issuer=stack.settings.issuer,
    )

    async def run():
        async with (
            httpx2.AsyncClient(auth=auth, timeout=TIMEOUT) as http,
            streamable_http_client(stack.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            me = await session.call_tool("whoami")
            added = await session.call_tool("add_note", {"text": "nightly report"})
            listed = await session.call_tool("list_notes")
            return me, added, listed

    return anyio.run(run)


def test_an_agent_signs_in_with_client_credentials_and_whoami_names_the_client(stack):
    client_id, secret = machine_client(stack)
    storage = MachineTokenStorage()

    me, added, listed = run_as_machine(stack, client_id, secret, storage)

    assert me.is_error is False
    assert me.structured_content == {
        "principal": "client",  # no user: the agent acts as itself
        "sub": client_id,
        "client_id": client_id,
        "scope": "notes:read",  # least privilege first, as for users
    }
    # notes:write was asked for on the 403 (step-up) and granted: the client's own notes.
    assert added.is_error is False
    assert [n["text"] for n in listed.structured_content["result"]] == ["nightly report"]
    assert storage.tokens is not None and storage.tokens.refresh_token is None


def test_a_user_token_says_principal_user(stack):
    async def run():
        async with stack.session(stack.token()) as session:
            return await session.call_tool("whoami")

    me = anyio.run(run).structured_content

    assert me["principal"] == "user"
    assert me["email"] == "alice@example.com"


def test_an_agent_token_is_checked_at_the_broker_too_in_introspection_mode(start_stack):
    stack = start_stack(introspection=True)
    client_id, secret = machine_client(stack)

    me, _, _ = run_as_machine(stack, client_id, secret, MachineTokenStorage())

    assert me.structured_content["principal"] == "client"
    assert me.structured_content["client_id"] == client_id
