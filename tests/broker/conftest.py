"""Fixtures for the mock broker's own tests: one live broker over real HTTP per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.broker.flows import Broker, live_broker
from tests.databases import database_url


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker for the session (test_consent_memory turns consent memory on for a while)."""
    with live_broker(database_url(tmp_path_factory.mktemp("broker"), "broker")) as running:
        yield running
