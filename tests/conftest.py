"""Fixtures shared by the customer-side tests, flaskr style: `app`, `client`, `runner`, and
`stack` — both apps served over real HTTP on loopback for integration tests."""

from __future__ import annotations

import pytest

from identity import mail
from tests.helpers import customer_test_config


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
