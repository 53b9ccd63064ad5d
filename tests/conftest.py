"""Fixtures shared by the customer-side tests, flaskr style: `app`, `client`, `runner`, and
`stack` — both apps served over real HTTP on loopback for integration tests."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import count

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import Connection, Engine, event

from identity import mail
from tests import databases
from tests.databases import database_url
from tests.helpers import customer_test_config

#: Every engine that has connected in this session (weakly: apps come and go).
_connected_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _remember_engine(connection: Connection, *args: object) -> None:
    _connected_engines.add(connection.engine)


@pytest.fixture(scope="session", autouse=True)
def _test_databases() -> Iterator[None]:
    """Note every engine that connects (autouse: before any other session fixture builds an
    app), and stop the session's PostgreSQL server, if TEST_DATABASE=postgresql started one."""
    event.listen(Engine, "engine_connect", _remember_engine)
    yield
    event.remove(Engine, "engine_connect", _remember_engine)
    databases.stop()


@pytest.fixture(autouse=True)
def _close_database_connections() -> Iterator[None]:
    """Dispose, after each test, the engines that first connected during it: apps built in a
    test leave pooled connections behind (a ResourceWarning for PostgreSQL connections).

    Engines that connected before the test belong to session or module fixtures, which
    dispose them when they end. Disposing one here would orphan any connection a live server
    or mail thread still has checked out (a request the test stopped waiting for): returned
    to the discarded pool, it is garbage collected while open.
    """
    earlier = weakref.WeakSet(_connected_engines)
    yield
    for engine in [engine for engine in _connected_engines if engine not in earlier]:
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

    with ExitStack() as running:
        made = count()

        def factory(**customer_overrides) -> Stack:
            directory = tmp_path / f"stack{next(made)}"
            return running.enter_context(Stack(directory, customer_overrides=customer_overrides))

        yield factory


STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET = "customer-idp-test", "stand-in-test-secret"


@pytest.fixture(scope="session")
def signing_key() -> str:
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode("ascii")


@pytest.fixture
def standin(tmp_path, signing_key) -> Iterator:
    """A factory: a stack whose customer side trusts a fresh upstream stand-in (upstream_idp)
    as the OIDC provider "standin"; keyword arguments set that provider's policy ("{upstream}"
    in a value stands for the stand-in's URL)."""

    from tests.servers import LiveServer
    from tests.stack import Stack
    from upstream_idp import create_app as create_upstream_app

    running = ExitStack()
    made = count()

    def make(**policy: str) -> Stack:
        stack = Stack(tmp_path / f"stack{next(made)}")
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
        running.callback(databases.dispose, upstream.app)  # after the server stopped
        running.callback(upstream.stop)
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
                **{
                    f"LOGIN_METHOD_OIDC_STANDIN_{key}": value.replace("{upstream}", upstream.url)
                    for key, value in policy.items()
                },
            }
        )
        return running.enter_context(stack)

    with running:
        yield make
