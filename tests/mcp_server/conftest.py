"""Fixtures: a live mock broker, and per test a live MCP server registered at it.

Each test gets its own MCP server on a fresh port and registers that URL as a new resource at
the broker (with a public client for it), exactly as a team registers its server at the hosted
broker. Tokens are real: the broker flow is walked with the customer side played by
`tests/broker/flows.py` (profile posted with the seeded M2M credentials).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_server import Settings, create_app
from mock_broker import create_app as create_broker_app
from mock_broker.database import init_db
from tests.broker.flows import Broker
from tests.databases import database_url, dispose
from tests.mcp_server.live_asgi import LiveAsgiServer
from tests.mcp_server.stack import (
    JwksCounter,
    McpStack,
    register_resource,
    resource_server_credentials,
)
from tests.servers import LiveServer

LOGIN_ENDPOINT = "http://127.0.0.1:9/login"  # never contacted: redirects are not followed


@pytest.fixture(scope="session")
def broker_and_counter(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Broker, JwksCounter]]:
    server = LiveServer()
    database = database_url(tmp_path_factory.mktemp("mcp-broker"), "broker")
    app = create_broker_app(
        {
            "TESTING": True,
            "ENV_URL": server.url,
            "DATABASE_URL": database,
            "LOGIN_ENDPOINT": LOGIN_ENDPOINT,
            "SECRET_KEY": "test-secret-key",
            "REMEMBER_CONSENT": False,  # every token here comes from a fresh consent
        }
    )
    init_db(app)
    server.app = counter = JwksCounter(app)
    server.start()
    try:
        yield Broker(app=app, url=server.url), counter
    finally:
        server.stop()
        dispose(app)


@pytest.fixture
def broker(broker_and_counter: tuple[Broker, JwksCounter]) -> Broker:
    return broker_and_counter[0]


@pytest.fixture
def jwks_counter(broker_and_counter: tuple[Broker, JwksCounter]) -> JwksCounter:
    """Counts the broker's JWKS requests (GET /keys) and introspections over HTTP."""
    return broker_and_counter[1]


def serve_stack(
    broker: Broker, servers: list[LiveAsgiServer], introspection: bool = False, **overrides
) -> McpStack:
    """Start an MCP server (Settings overridable) registered as a new broker resource; the
    server is appended to `servers`, for the caller to stop. `introspection=True`: it checks
    tokens at the broker, with a resource-server client of its own."""
    server = LiveAsgiServer()
    servers.append(server)
    url = f"{server.url}/mcp"
    resource_id, client_id = register_resource(broker, url)
    if introspection:
        rsc_id, rsc_secret = resource_server_credentials(broker, resource_id)
        overrides = {
            "token_check": "introspection",
            "introspection_client_id": rsc_id,
            "introspection_client_secret": rsc_secret,
            **overrides,
        }
    settings = Settings(
        server_url=url,
        broker_env_url=broker.url,
        resource_id=resource_id,
        port=server.port,
        **overrides,
    )
    server.start(create_app(settings))
    return McpStack(broker, server, settings, client_id)


@pytest.fixture
def start_stack(broker: Broker) -> Iterator:
    """Factory: start an MCP server (Settings overridable) registered as a new broker resource."""
    servers: list[LiveAsgiServer] = []

    def start(introspection: bool = False, **overrides) -> McpStack:
        """`introspection=True`: the server checks tokens at the broker, with credentials of
        its own (a resource-server client for its resource, as an operator would create)."""
        return serve_stack(broker, servers, introspection=introspection, **overrides)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def stack(start_stack) -> McpStack:
    return start_stack()
