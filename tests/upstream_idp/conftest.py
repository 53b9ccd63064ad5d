"""Fixtures for the upstream stand-in's tests: one live stand-in over real HTTP per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from joserfc.jwk import RSAKey

from tests.databases import database_url, dispose
from tests.servers import LiveServer
from tests.upstream_idp.flows import (
    BASIC_CLIENT,
    POST_CLIENT,
    Browser,
    RelyingParty,
    Upstream,
    relying_party,
)
from upstream_idp import create_app


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    """One RSA key for the session: generating one per app would only slow the tests."""
    return RSAKey.generate_key(2048, private=True).as_pem(private=True).decode("ascii")


@pytest.fixture(scope="session")
def upstream_config(tmp_path_factory: pytest.TempPathFactory, signing_key_pem: str):
    """A test config for `create_app`: fresh database, known key, the two test clients."""

    def make(issuer: str, **overrides: object) -> dict[str, object]:
        directory = tmp_path_factory.mktemp("upstream")
        return {
            "ISSUER": issuer,
            "DATABASE_URL": database_url(directory, "upstream"),
            "SIGNING_KEY": signing_key_pem,
            "SECRET_KEY": "test-secret-key",
            "CLIENTS": [BASIC_CLIENT.as_config(), POST_CLIENT.as_config()],
            **overrides,
        }

    return make


@pytest.fixture(scope="session")
def upstream(upstream_config) -> Iterator[Upstream]:
    server = LiveServer()
    server.app = create_app(upstream_config(server.url))
    server.start()
    try:
        yield Upstream(app=server.app, url=server.url)
    finally:
        server.stop()
        dispose(server.app)


@pytest.fixture
def rp(upstream: Upstream) -> Iterator[RelyingParty]:
    """The relying party registered with client_secret_basic."""
    with relying_party(upstream, BASIC_CLIENT) as party:
        yield party


@pytest.fixture
def browser() -> Iterator[Browser]:
    with requests.Session() as session:
        yield Browser(session)
