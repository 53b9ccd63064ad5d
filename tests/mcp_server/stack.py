"""Test drivers: register a resource at the broker, get real tokens, forge bad ones, and talk
to the MCP server over HTTP (raw, and through the MCP SDK's own client)."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import requests
from joserfc import jws, jwt
from mcp import ClientSession
from mcp.client.auth.utils import extract_field_from_www_auth
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from mcp_server import Settings
from mock_broker import database, keys, registration
from mock_broker.resources import find_resource
from mock_broker.seed import DEV_CONNECTION_ID
from tests.broker.flows import Broker, redirect_query
from tests.mcp_server.live_asgi import LiveAsgiServer

TIMEOUT = 10
ALL_SCOPES = "notes:read notes:write"
ALICE = {
    "sub": "alice-1",
    "email": "alice@example.com",
    "name": "Alice Doe",
    "roles": ["admin"],
    "groups": ["eng"],
    "organization_external_id": "org_42",
    "organization_external_name": "Acme Corp",
    "custom_attributes": {"plan": "enterprise", "seats": 12},
}


class JwksCounter:
    """WSGI wrapper around the broker counting GET /keys (how often the MCP server fetched
    the JWKS) and POST /oauth/introspect (how often it asked about a token)."""

    def __init__(self, app) -> None:
        self.app = app
        self.count = 0
        self.introspections = 0

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"] == "/keys":
            self.count += 1
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/oauth/introspect":
            self.introspections += 1
        return self.app(environ, start_response)


def register_resource(broker: Broker, mcp_server_url: str) -> tuple[str, str]:
    """Register an MCP server at the broker, and a public client for it; returns both ids.

    The broker is shared by the session and the OS may hand a later test server the port of
    an earlier one: a URL registered before is reused (its scopes are the same).
    """
    with broker.app.app_context():
        db = database.session()
        resource = find_resource(db, mcp_server_url) or registration.register_resource(
            db, "Notes under test", mcp_server_url, ALL_SCOPES.split(), DEV_CONNECTION_ID
        )
        client, _ = registration.register_client(
            db, "Test MCP client", [broker.demo_redirect_uri], resource.id
        )
        db.commit()
        return resource.id, client.id


def resource_server_credentials(broker: Broker, resource_id: str) -> tuple[str, str]:
    """The MCP server's own credentials for introspection, as `flask --app mock_broker
    create-resource-server-client` makes them."""
    with broker.app.app_context():
        db = database.session()
        client, secret = registration.create_resource_server_client(
            db, "Notes under test (introspection)", resource_id
        )
        db.commit()
        return client.id, secret


def revoke(broker: Broker, token: str, client_id: str) -> None:
    """RFC 7009 revocation by the client the token was issued to (a public client)."""
    response = requests.post(
        f"{broker.url}/oauth/revoke",
        data={"token": token, "client_id": client_id},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text


def broker_token(
    broker: Broker, client_id: str, resource: str, scope: str = ALL_SCOPES, **profile: Any
) -> str:
    """A real access token: authorize (PKCE), post the profile, approve consent, exchange."""
    flow = broker.start_login(client_id=client_id, resource=resource, scope=scope)
    assert flow.post_profile(**{**ALICE, **profile}).status_code == 200
    approved = flow.decide("approve")
    assert approved.status_code == 302, approved.text
    response = flow.exchange(
        redirect_query(approved)["code"], client_id=client_id, resource=resource
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def sign_with_broker_key(broker: Broker, claims: dict[str, Any], **header: Any) -> str:
    """A JWT signed with the broker's real signing key: valid unless the claims say otherwise."""
    with broker.app.app_context():
        key = keys.signing_key(database.session())
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt", **header}, claims, key)


def challenge(response: requests.Response) -> dict[str, str | None]:
    """The WWW-Authenticate parameters as the MCP SDK client reads them."""
    adapted = httpx2.Response(response.status_code, headers=dict(response.headers))
    return {
        name: extract_field_from_www_auth(adapted, name)
        for name in ("error", "scope", "resource_metadata")
    }


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).protected["kid"]


class MachineTokenStorage:
    """Token storage for the SDK's client_credentials provider (no client info to keep)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        pass


def machine_client(stack: McpStack) -> tuple[str, str]:
    """What `flask --app mock_broker register-machine-client --resource res_…` does."""
    with stack.broker.app.app_context():
        db = database.session()
        client, secret = registration.register_machine_client(
            db, "Nightly report agent", stack.settings.resource_id
        )
        db.commit()
        return client.id, secret


@dataclass
class McpStack:
    broker: Broker
    server: LiveAsgiServer
    settings: Settings
    client_id: str

    @property
    def url(self) -> str:
        return self.settings.server_url

    def token(self, scope: str = ALL_SCOPES, **profile: Any) -> str:
        return broker_token(self.broker, self.client_id, self.url, scope, **profile)

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Claims of a valid access token for this server, with `changes` applied."""
        now = int(time.time())
        claims = {
            "iss": self.settings.issuer,
            "aud": [self.url, self.settings.resource_id],
            "sub": "usr_forged",
            "client_id": self.client_id,
            "azp": self.client_id,
            "scope": ALL_SCOPES,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
        }
        claims.update(changes)
        return claims

    def revoke(self, token: str) -> None:
        revoke(self.broker, token, self.client_id)

    def post_tool_call(self, token: str | None, tool: str = "whoami") -> requests.Response:
        """A raw JSON-RPC tools/call POST (the guard answers before any MCP session exists)."""
        headers = {"Accept": "application/json, text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
        return requests.post(self.url, json=body, headers=headers, timeout=TIMEOUT)

    @contextlib.asynccontextmanager
    async def session(self, token: str) -> AsyncIterator[ClientSession]:
        """An initialized MCP SDK client session sending a static bearer token."""
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as http,
            streamable_http_client(self.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
