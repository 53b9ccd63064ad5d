"""Both protocol eras from one `/mcp` (R3): the 2025-11-25 handshake and 2026-07-28.

2025-11-25: `initialize`, then a session (`Mcp-Session-Id`). 2026-07-28: no handshake and no
session; every request is a self-contained POST carrying `MCP-Protocol-Version` and its
envelope in `_meta`, and `server/discover` says what the server speaks. The official Python
client proves each: `mode="legacy"` forces the handshake, `mode="auto"` discovers and picks
2026-07-28, and a pinned `mode="2026-07-28"` adopts it without a probe. Authorization is
the same in both eras: the same bearer token, 401, 403 and step-up.
"""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_server.stack import TIMEOUT, MachineTokenStorage, McpStack, machine_client

MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"


def connect(stack: McpStack, token: str, mode: str):
    async def run():
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as http:
            transport = streamable_http_client(stack.url, http_client=http)
            async with Client(transport, mode=mode) as client:
                me = await client.call_tool("whoami")
                return client.protocol_version, me

    return anyio.run(run)


@pytest.mark.parametrize(
    ("mode", "version"), [("legacy", HANDSHAKE), ("auto", MODERN), (MODERN, MODERN)]
)
def test_the_official_client_speaks_each_era_with_the_server(stack, mode, version):
    negotiated, me = connect(stack, stack.token(), mode)

    assert negotiated == version
    assert me.is_error is False
    assert me.structured_content["email"] == "alice@example.com"


def envelope(method: str, **params) -> dict:
    """A 2026-07-28 JSON-RPC request: the version and capabilities ride in `_meta`."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}


def post(stack: McpStack, body: dict, token: str | None, **headers: str) -> httpx2.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(
        stack.url,
        json=body,
        headers={"Accept": "application/json, text/event-stream", **headers},
        timeout=TIMEOUT,
    )


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    return headers | ({"Mcp-Name": name} if name else {})


def test_server_discover_answers_in_the_2026_era_without_a_session(stack):
    response = post(
        stack, envelope("server/discover"), stack.token(), **modern_headers("server/discover")
    )

    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert MODERN in result["supportedVersions"]
    assert "tools" in result["capabilities"]
    assert "Mcp-Session-Id" not in response.headers


def test_a_2026_request_without_the_version_header_gets_a_clear_400(stack):
    """The SDK routes by header only; without it, the answer names the header, not a session."""
    token = stack.token()
    for body in (envelope("server/discover"), envelope("tools/list")):
        response = post(stack, body, token)

        assert response.status_code == 400
        assert "MCP-Protocol-Version" in response.json()["error"]["message"]


def test_an_unsupported_protocol_version_is_a_clear_400(stack):
    body = envelope("server/discover")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    response = post(
        stack,
        body,
        stack.token(),
        **{"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "server/discover"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert MODERN in json.dumps(error)


def test_authorization_is_the_same_in_the_2026_era(stack):
    call = envelope("tools/call", name="add_note", arguments={"text": "x"})
    headers = modern_headers("tools/call", "add_note")

    anonymous = post(stack, call, None, **headers)
    read_only = post(stack, call, stack.token(scope="notes:read"), **headers)

    assert anonymous.status_code == 401
    assert "resource_metadata=" in anonymous.headers["WWW-Authenticate"]
    assert read_only.status_code == 403
    assert 'error="insufficient_scope"' in read_only.headers["WWW-Authenticate"]


def test_an_agent_steps_up_in_the_2026_era_with_the_sdks_oauth(stack):
    """401 → metadata → client_credentials → whoami; 403 on add_note → step-up → retried."""
    client_id, secret = machine_client(stack)
    auth = ClientCredentialsOAuthProvider(
        server_url=stack.url,
        storage=MachineTokenStorage(),
        client_id=client_id,
        client_secret=secret,
        issuer=stack.settings.issuer,
    )

    async def run():
        async with httpx2.AsyncClient(auth=auth, timeout=TIMEOUT) as http:
            transport = streamable_http_client(stack.url, http_client=http)
            async with Client(transport, mode="auto") as client:
                me = await client.call_tool("whoami")
                added = await client.call_tool("add_note", {"text": "from 2026"})
                return client.protocol_version, me, added

    version, me, added = anyio.run(run)

    assert version == MODERN
    assert me.structured_content["principal"] == "client"
    assert added.is_error is False
