"""Fixtures for the mock broker's own tests: one live broker over real HTTP per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mock_broker import create_app
from mock_broker.database import init_db
from tests.broker.flows import Broker
from tests.databases import database_url, dispose
from tests.servers import LiveServer

LOGIN_ENDPOINT = "http://127.0.0.1:9/login"  # never contacted: redirects are not followed


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    server = LiveServer()
    database = database_url(tmp_path_factory.mktemp("broker"), "broker")
    server.app = create_app(
        {
            "ENV_URL": server.url,
            "DATABASE_URL": database,
            "LOGIN_ENDPOINT": LOGIN_ENDPOINT,
            "SECRET_KEY": "test-secret-key",
            # Tests meet the consent page every time; test_consent_memory turns memory on.
            "REMEMBER_CONSENT": False,
        }
    )
    init_db(server.app)
    server.start()
    try:
        yield Broker(app=server.app, url=server.url)
    finally:
        server.stop()
        dispose(server.app)
