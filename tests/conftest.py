"""Fixtures shared by the customer-side tests, flaskr style: `app`, `client`, `runner`, and
`stack` — both apps served over real HTTP on loopback for integration tests."""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import Engine, event

from identity import mail
from tests import databases
from tests.databases import database_url
from tests.helpers import customer_test_config


@pytest.fixture(scope="session", autouse=True)
def _test_databases():
    """Stop the session's PostgreSQL server, if TEST_DATABASE=postgresql started one."""
    yield
    databases.stop()


@pytest.fixture(autouse=True)
def _close_database_connections():
    """Dispose, after each test, every engine that connected during it: apps built inside a
    test leave pooled connections behind (harmless for SQLite files, a ResourceWarning for
    PostgreSQL connections)."""
    engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    def remember(connection, *args) -> None:
        engines.add(connection.engine)

    event.listen(Engine, "engine_connect", remember)
    yield
    event.remove(Engine, "engine_connect", remember)
    for engine in list(engines):
        engine.dispose()


@pytest.fixture
def app(tmp_path):
    """The customer side alone, on a fresh SQLite database; the broker URL goes nowhere."""
    from app import create_app

    application = create_app(
        customer_test_config(tmp_path, broker_url="http://127.0.0.1:9")  # discard port
    )
    application.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    yield application
    mail.shutdown(application)
    databases.dispose(application)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """Customer side + mock broker on free loopback ports, shared by a test session."""
    from tests.stack import Stack

    # Many tests ask alice's magic links from 127.0.0.1; the limits have tests of their own.
    overrides = {
        "LOGIN_METHOD_MAGIC_LINK_ADDRESS_LIMIT": 10_000,
        "LOGIN_METHOD_MAGIC_LINK_EMAIL_LIMIT": 10_000,
    }
    with Stack(tmp_path_factory.mktemp("stack"), customer_overrides=overrides) as running:
        yield running


@pytest.fixture
def fresh_stack(tmp_path):
    """A private stack for tests that change settings or shared counters (throttles)."""

    from tests.stack import Stack

    made: list[Stack] = []

    def factory(**customer_overrides) -> Stack:
        directory = tmp_path / f"stack{len(made)}"
        made.append(Stack(directory, customer_overrides=customer_overrides).__enter__())
        return made[-1]

    yield factory
    for running in made:
        running.__exit__(None, None, None)


STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET = "customer-idp-test", "stand-in-test-secret"


@pytest.fixture(scope="session")
def signing_key() -> str:
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode("ascii")


@pytest.fixture
def standin(tmp_path, signing_key) -> Iterator:
    """A factory: a stack whose customer side trusts a fresh upstream stand-in (upstream_idp)
    as the OIDC provider "standin"; keyword arguments set that provider's policy."""
    started: list = []

    from tests.servers import LiveServer
    from tests.stack import Stack
    from upstream_idp import create_app as create_upstream_app

    def make(**policy: str) -> Stack:
        stack = Stack(tmp_path / f"stack{len(started)}")
        upstream = LiveServer()
        upstream.app = create_upstream_app(
            {
                "TESTING": True,
                "ISSUER": upstream.url,
                "DATABASE_URL": database_url(stack.directory, "upstream"),
                "SIGNING_KEY": signing_key,
                "SECRET_KEY": "upstream-test-secret-key",
                "CLIENTS": [
                    {
                        "client_id": STANDIN_CLIENT_ID,
                        "client_secret": STANDIN_CLIENT_SECRET,
                        "redirect_uris": [f"{stack.idp.url}/login/oidc/standin/callback"],
                        # The provider holds us to the method we are configured with.
                        "token_endpoint_auth_method": policy.get(
                            "AUTH_METHOD", "client_secret_basic"
                        ),
                    }
                ],
            }
        )
        upstream.start()
        stack.upstream = upstream
        stack.customer_overrides.update(
            {
                "LOGIN_METHODS": "password,magic_link,oidc",
                "LOGIN_METHOD_OIDC_PROVIDERS": "standin",
                "LOGIN_METHOD_OIDC_STANDIN_LABEL": "Stand-in",
                "LOGIN_METHOD_OIDC_STANDIN_ISSUER": upstream.url,
                "LOGIN_METHOD_OIDC_STANDIN_CLIENT_ID": STANDIN_CLIENT_ID,
                "LOGIN_METHOD_OIDC_STANDIN_CLIENT_SECRET": STANDIN_CLIENT_SECRET,
                "LOGIN_METHOD_OIDC_STANDIN_SCOPES": "openid email profile groups",
                "LOGIN_METHOD_OIDC_STANDIN_TRUST_EMAIL": "true",
                **{f"LOGIN_METHOD_OIDC_STANDIN_{key}": value for key, value in policy.items()},
            }
        )
        started.append((stack.__enter__(), upstream))
        return stack

    yield make
    for stack, upstream in started:
        stack.__exit__(None, None, None)
        upstream.stop()
        databases.dispose(upstream.app)
