"""End to end with a real MCP client: the official MCP Python SDK's OAuthClientProvider
against the sample MCP server, the mock broker and the customer side, with headless Chromium
signing in at the customer login page — exactly as a desktop MCP client would use the hosted
broker.

401 → protected-resource metadata → broker metadata → registration (dynamic client
registration, or a Client ID Metadata Document) → authorize → customer
login (password) → profile post → callback → consent → token → `whoami` returns the signed-in
user's email and custom attributes; then the refresh token rotates, and replaying a rotated
refresh token revokes the family (B4).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
import requests
from joserfc import jws
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from playwright.async_api import async_playwright
from sqlalchemy import update

from mcp_server import Settings, create_app
from mock_broker import database as broker_database
from mock_broker import registration
from mock_broker import tokens as broker_tokens
from mock_broker.identifiers import secret_hash
from mock_broker.models import RefreshToken
from mock_broker.seed import DEV_CONNECTION_ID
from tests.broker.document_server import DocumentServer, resolver
from tests.chromium import ARGS, require_chromium
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD
from tests.mcp_client import BrowserUser, LoopbackCallback, MemoryStorage, oauth_provider
from tests.mcp_server.live_asgi import LiveAsgiServer
from tests.stack import Stack

pytestmark = pytest.mark.integration

SCOPES = ["notes:read", "notes:write"]


class McpDeployment:
    """Customer side + broker (Stack) and the sample MCP server registered as a resource."""

    def __init__(self, stack: Stack, server: LiveAsgiServer, resource_id: str) -> None:
        self.stack, self.server, self.resource_id = stack, server, resource_id

    @property
    def url(self) -> str:
        return f"{self.server.url}/mcp"


@contextmanager
def deploy(directory, **broker_overrides) -> Iterator[McpDeployment]:
    server = LiveAsgiServer()
    with Stack(directory, broker_overrides=broker_overrides) as stack:
        with stack.broker.app.app_context():
            db = broker_database.session()
            resource = registration.register_resource(
                db, "Notes (end to end)", f"{server.url}/mcp", SCOPES, DEV_CONNECTION_ID
            )
            db.commit()
            resource_id = resource.id
        settings = Settings(
            server_url=f"{server.url}/mcp",
            broker_env_url=stack.broker.url,
            resource_id=resource_id,
        )
        server.start(create_app(settings))
        try:
            yield McpDeployment(stack, server, resource_id)
        finally:
            server.stop()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with deploy(tmp_path_factory.mktemp("mcp")) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """A test-controlled https server for Client ID Metadata Documents (see its docstring)."""
    server = DocumentServer(tmp_path_factory.mktemp("cimd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cimd_deployment(tmp_path_factory, documents):
    with deploy(
        tmp_path_factory.mktemp("mcp-cimd"),
        CIMD_CA_FILE=str(documents.ca_file),
        CIMD_RESOLVER=resolver,  # cimd.test → 127.0.0.1, still through the SSRF check
        CIMD_ALLOW_PRIVATE_ADDRESSES=True,  # 127.0.0.1 is loopback: allowed for this test only
    ) as deployed:
        yield deployed


async def signed_in_session_calls(
    deployment: McpDeployment,
    storage: MemoryStorage,
    callback: LoopbackCallback | None = None,
    **client,
):
    """Connect with the SDK's OAuth client; the browser signs in when the SDK asks."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=require_chromium(), args=ARGS)
        context = await browser.new_context()
        callback = (callback or LoopbackCallback()).__enter__()
        user = BrowserUser(context, DEMO_EMAIL, DEMO_PASSWORD, callback)
        auth = oauth_provider(deployment.url, user, storage, **client)
        try:
            async with (
                httpx2.AsyncClient(auth=auth, timeout=30) as http,
                streamable_http_client(deployment.url, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                whoami = await session.call_tool("whoami")
                added = await session.call_tool("add_note", {"text": "hello from the SDK"})
                notes = await session.call_tool("list_notes")
        finally:
            await browser.close()
            callback.__exit__()
    return whoami, added, notes, user


PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def mcp_headers(access_token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }


def refresh(deployment: McpDeployment, refresh_token: str, client_id: str) -> requests.Response:
    return requests.post(
        f"{deployment.stack.broker.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "resource": deployment.url,
        },
        timeout=30,
    )


def test_official_mcp_client_signs_in_through_the_customer_side(deployment):
    storage = MemoryStorage()
    whoami, added, notes, user = anyio.run(signed_in_session_calls, deployment, storage)

    me = whoami.structured_content
    assert me["email"] == DEMO_EMAIL
    assert me["custom_claims"] == {"plan": "enterprise"}
    assert added.is_error is False and "hello from the SDK" in str(notes.structured_content)

    # Registered dynamically (RFC 7591) at the broker's per-resource endpoint.
    assert storage.client_info is not None
    assert not storage.client_info.client_id.startswith("https://")
    # The browser went through the customer login: the broker's redirect carried iss (B6).
    assert len(user.callback.received) >= 1 and "iss=" in user.callback.received[0]
    # Step-up: connecting needs only notes:read (the 401's scope); add_note's 403
    # insufficient_scope made the SDK authorize again for the union, through "Continue as".
    scopes = [parse_qs(urlsplit(url).query)["scope"][0].split() for url in user.authorization_urls]
    assert len(scopes) == 2 and "notes:write" not in scopes[0]
    assert {"notes:read", "notes:write"} <= set(scopes[1])
    assert storage.tokens is not None and storage.tokens.refresh_token  # offline_access


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_family(deployment):
    storage = MemoryStorage()
    anyio.run(signed_in_session_calls, deployment, storage)
    client_id = storage.client_info.client_id
    first = storage.tokens.refresh_token

    rotated = refresh(deployment, first, client_id)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["Cache-Control"] == "no-store"  # B11
    second = rotated.json()["refresh_token"]
    assert second != first  # rotation (B4)
    access = rotated.json()["access_token"]
    answer = requests.post(
        deployment.url,
        headers={
            "Authorization": f"Bearer {access}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        },
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        timeout=30,
    )
    assert answer.status_code != 401  # the refreshed token works at the MCP server

    # Replaying the rotated token after the grace window revokes the whole family.
    with deployment.stack.broker.app.app_context():
        db = broker_database.session()
        db.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == secret_hash(first))
            .values(rotated_at=broker_database.utcnow() - timedelta(minutes=5))
        )
        db.commit()
    replay = refresh(deployment, first, client_id)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert refresh(deployment, second, client_id).json()["error"] == "invalid_grant"
    # The family's access token is revoked at the broker too (what introspection reports;
    # the MCP server validates JWTs locally, so it honours revocation at their expiry).
    jti = json.loads(jws.extract_compact(access.encode()).payload)["jti"]
    assert broker_tokens.token_is_active(deployment.stack.broker.app, jti) is False


def test_official_mcp_client_with_a_client_id_metadata_document(cimd_deployment, documents):
    """CIMD instead of registration: the client_id is an https URL whose JSON the broker
    fetches (served here by a test-controlled https server with a throwaway CA)."""
    callback = LoopbackCallback()
    metadata_url = documents.serve_document(
        "/mcp-e2e-client.json", client_name="SDK via CIMD", redirect_uris=[callback.url]
    )
    storage = MemoryStorage()
    whoami, _, _, user = anyio.run(
        partial(
            signed_in_session_calls,
            cimd_deployment,
            storage,
            callback,
            client_metadata_url=metadata_url,
        )
    )
    assert whoami.structured_content["email"] == DEMO_EMAIL
    assert whoami.structured_content["client_id"] == metadata_url  # no registration happened
    assert documents.hits["/mcp-e2e-client.json"] >= 1
    assert "client_id=https%3A%2F%2Fcimd.test" in user.authorization_urls[0]
