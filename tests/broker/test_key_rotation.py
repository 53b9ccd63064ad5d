"""Signing-key rotation over real HTTP: publish, activate, retire, prune (mock_broker/keys.py).

Each test gets its own broker: rotation changes what every later token is signed with.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mock_broker import database, keys
from tests.broker.flows import TIMEOUT, Broker, live_broker
from tests.databases import database_url

TTL = 3600  # ACCESS_TOKEN_TTL and M2M_TOKEN_TTL (the defaults, stated for the arithmetic)


@pytest.fixture
def broker(tmp_path) -> Iterator[Broker]:
    config = {"ACCESS_TOKEN_TTL": TTL, "M2M_TOKEN_TTL": TTL}
    with live_broker(database_url(tmp_path, "rotation"), **config) as running:
        yield running


def published(broker: Broker) -> list[str]:
    response = requests.get(f"{broker.url}/keys", timeout=TIMEOUT)
    assert response.status_code == 200
    return sorted(key["kid"] for key in response.json()["keys"])


def kid_of(broker: Broker, token: str) -> str:
    """The token's `kid`, its signature checked against the published JWKS."""
    jwks = KeySet.import_key_set(requests.get(f"{broker.url}/keys", timeout=TIMEOUT).json())
    return jwt.decode(token, jwks, algorithms=["RS256"]).header["kid"]


def cli(broker: Broker, *args: str) -> str:
    result = broker.app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def prune(broker: Broker, after: timedelta, max_ttl: int = TTL) -> list[str]:
    """Prune as `prune-signing-keys` would, `after` from now."""
    with broker.app.app_context():
        db = database.session()
        pruned = keys.prune_retired_keys(db, max_ttl, now=database.utcnow() + after)
        db.commit()
        return pruned


def access_token(broker: Broker) -> str:
    return broker.tokens()["access_token"]


def test_a_published_key_is_in_jwks_before_it_signs(broker: Broker):
    [old] = published(broker)
    output = cli(broker, "rotate-signing-key")
    assert "(pending)" in output
    [new] = set(published(broker)) - {old}
    assert f"{new}  pending" in output and f"{old}  active" in output
    # Published, not signing: new tokens still carry the old kid.
    assert kid_of(broker, access_token(broker)) == old
    # A repeated step 1 publishes nothing more.
    assert "Already published" in cli(broker, "rotate-signing-key")
    assert published(broker) == sorted([old, new])


def test_activation_signs_with_the_new_key_and_old_tokens_still_verify(broker: Broker):
    [old] = published(broker)
    before = access_token(broker)
    m2m_before = broker.cached_m2m_token()
    cli(broker, "rotate-signing-key")
    output = cli(broker, "rotate-signing-key", "--activate")
    [new] = set(published(broker)) - {old}
    assert f"Signing with {new}; retired {old}" in output
    assert published(broker) == sorted([old, new])

    assert kid_of(broker, before) == old  # a resource server still accepts it
    after = broker.tokens()
    assert kid_of(broker, after["access_token"]) == new
    refreshed = broker.refresh(after["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert kid_of(broker, refreshed.json()["access_token"]) == new
    assert kid_of(broker, broker.m2m_token()) == new
    # The customer side's cached M2M token, signed by the retired key, keeps working.
    flow = broker.start_login()
    profile = {"sub": "user-1", "email": "alice@example.com"}
    posted = flow.post_user(profile, token=m2m_before)
    assert posted.status_code == 200, posted.text


def test_the_old_key_is_pruned_only_once_its_tokens_expired(broker: Broker):
    [old] = published(broker)
    before = access_token(broker)
    cli(broker, "rotate-signing-key")
    cli(broker, "rotate-signing-key", "--activate")
    [new] = set(published(broker)) - {old}
    after = access_token(broker)

    assert "Pruned 0 key(s)." in cli(broker, "prune-signing-keys")
    assert prune(broker, timedelta(seconds=TTL - 5)) == []
    assert published(broker) == sorted([old, new])
    assert kid_of(broker, before) == old

    assert prune(broker, timedelta(seconds=TTL + 61)) == [old]
    assert published(broker) == [new]
    with pytest.raises(JoseError):
        kid_of(broker, before)  # expired by now anyway: nothing still valid is orphaned
    assert kid_of(broker, after) == new


def test_a_token_outliving_the_configured_ttl_holds_its_key(broker: Broker):
    """The TTL was longer when the token was signed: its record, not the setting, decides."""
    [old] = published(broker)
    with broker.configured(ACCESS_TOKEN_TTL=3 * TTL):
        access_token(broker)
    cli(broker, "rotate-signing-key")
    cli(broker, "rotate-signing-key", "--activate")
    assert prune(broker, timedelta(seconds=TTL + 61)) == []
    assert old in published(broker)
    assert prune(broker, timedelta(seconds=3 * TTL + 61)) == [old]


def test_activation_refused_without_a_pending_key_or_too_early(broker: Broker):
    runner = broker.app.test_cli_runner()
    result = runner.invoke(args=["rotate-signing-key", "--activate"])
    assert result.exit_code != 0 and "No pending key" in result.output
    cli(broker, "rotate-signing-key")
    result = runner.invoke(args=["rotate-signing-key", "--activate", "--min-published", "600"])
    assert result.exit_code != 0 and "may sign from" in result.output
    assert len(published(broker)) == 2
    [active] = [row for row in _states(broker) if row[1] == "active"]
    assert kid_of(broker, access_token(broker)) == active[0]


def _states(broker: Broker) -> list[tuple[str, str]]:
    with broker.app.app_context():
        return [(row.kid, row.state) for row in keys.key_states(database.session())]
