"""Refresh tokens (B4): only with offline_access, rotated, reuse revokes the family, the grace
window (B15), scope narrowing, RFC 8707 `resource` on refresh (B5), inactivity expiry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mock_broker import database, tokens
from mock_broker.identifiers import secret_hash
from mock_broker.models import IssuedToken, RefreshToken
from mock_broker.registration import create_resource_server_client, register_client
from mock_broker.seed import DEV_MCP_SERVER_URL, DEV_RESOURCE_ID
from tests import databases
from tests.broker.flows import Broker, live_broker, redirect_query
from tests.databases import wait_until_a_backend_waits_for_a_lock


def _jti(broker, access_token: str) -> str:
    return broker.claims(access_token)["jti"]


def _age_rotation(broker, refresh_token: str, seconds: int) -> None:
    """Move the token's rotation time into the past (instead of sleeping through the grace)."""
    with broker.app.app_context():
        db = database.session()
        row = db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == secret_hash(refresh_token))
        )
        row.rotated_at -= timedelta(seconds=seconds)
        db.commit()


def test_b4_offline_access_gets_a_refresh_token(broker):
    body = broker.tokens("notes:read offline_access")

    assert body["refresh_token"]
    assert body["scope"] == "notes:read offline_access"
    with broker.app.app_context():
        row = database.session().scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == secret_hash(body["refresh_token"])
            )
        )
        assert row.token_hash != body["refresh_token"]  # stored hashed only
        assert (row.client_id, row.resource_id) == ("demo_client", DEV_RESOURCE_ID)
        assert row.scope == "notes:read offline_access"
        assert row.expires_at - row.issued_at == timedelta(days=30)  # inactivity expiry


def test_b4_by_default_a_client_registered_for_the_grant_gets_one_without_offline_access(broker):
    """The TypeScript SDK registers the refresh_token grant and never asks for offline_access:
    with the default policy its users stay signed in."""
    body = broker.tokens("notes:read")

    assert body["refresh_token"] and broker.refresh(body["refresh_token"]).status_code == 200


def test_b4_the_offline_access_policy_issues_one_only_for_that_scope(broker):
    with broker.configured(REFRESH_TOKEN_POLICY="offline_access"):
        assert "refresh_token" not in broker.tokens("notes:read")
        assert broker.tokens("notes:read offline_access")["refresh_token"]


def test_b4_refresh_without_a_refresh_token_grant_is_refused(broker):
    with broker.configured(REFRESH_TOKEN_POLICY="offline_access"):
        body = broker.tokens("notes:read")

    response = broker.refresh(body["access_token"])  # no refresh token was issued

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_b4_a_client_without_the_refresh_grant_gets_no_refresh_token(broker):
    with broker.app.app_context():
        register_client(
            database.session(),
            "No refresh",
            [broker.demo_redirect_uri],
            DEV_RESOURCE_ID,
            client_id="no_refresh_client",
            grant_types=["authorization_code"],
        )
        database.session().commit()

    body = broker.tokens("notes:read offline_access", client_id="no_refresh_client")

    assert "refresh_token" not in body


def test_b4_refresh_rotates_the_token(broker):
    first = broker.tokens()

    response = broker.refresh(first["refresh_token"])

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"  # B11
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "notes:read offline_access"
    assert broker.refresh(second["refresh_token"]).status_code == 200


def test_b4_the_presented_token_is_spent_by_the_refresh(broker):
    first = broker.tokens()
    assert broker.refresh(first["refresh_token"]).status_code == 200

    with broker.app.app_context():
        row = database.session().scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == secret_hash(first["refresh_token"])
            )
        )
        assert row.rotated_at is not None
    again = broker.refresh(first["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_b4_reuse_after_the_grace_window_revokes_the_family(broker):
    first = broker.tokens()
    second = broker.refresh(first["refresh_token"]).json()
    _age_rotation(broker, first["refresh_token"], 11)

    reuse = broker.refresh(first["refresh_token"])

    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # the whole family is gone: the successor, and the access tokens of the grant
    assert broker.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    assert not tokens.token_is_active(broker.app, _jti(broker, first["access_token"]))
    assert not tokens.token_is_active(broker.app, _jti(broker, second["access_token"]))


def test_b15_replays_within_the_grace_window_mint_nothing(broker, introspector):
    """The review's attack: one rotated token replayed 20 times inside the window returned 20
    working refresh tokens. Now each replay is refused, and the one successor keeps working."""
    first = broker.tokens()
    second = broker.refresh(first["refresh_token"]).json()

    replays = [broker.refresh(first["refresh_token"]) for _ in range(20)]

    assert [r.status_code for r in replays] == [400] * 20
    assert {r.json()["error"] for r in replays} == {"invalid_grant"}
    assert not any("refresh_token" in r.json() or "access_token" in r.json() for r in replays)
    # exactly one successor exists in the family, and it (and its access token) still works
    assert _family_size(broker, first["refresh_token"]) == (2, 2)
    assert not _introspect(broker, first["refresh_token"], introspector)["active"]
    assert _introspect(broker, second["refresh_token"], introspector)["active"]
    assert _introspect(broker, second["access_token"], introspector)["active"]
    assert broker.refresh(second["refresh_token"]).status_code == 200


def test_b15_a_replay_after_the_window_revokes_the_successor_too(broker, introspector):
    first = broker.tokens()
    second = broker.refresh(first["refresh_token"]).json()
    assert broker.refresh(first["refresh_token"]).status_code == 400  # inside: spared
    _age_rotation(broker, first["refresh_token"], 11)

    assert broker.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"

    for token in (second["refresh_token"], second["access_token"], first["access_token"]):
        assert not _introspect(broker, token, introspector)["active"]
    assert broker.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"


def _introspect(broker, token: str, credentials: tuple[str, str]) -> dict:
    response = broker.post_form("/oauth/introspect", {"token": token}, auth=credentials)
    assert response.status_code == 200, response.text
    return response.json()


def _family_size(broker, refresh_token: str) -> tuple[int, int]:
    """(refresh tokens, access tokens) issued for the grant `refresh_token` belongs to."""
    with broker.app.app_context():
        db = database.session()
        code_id = db.scalar(
            select(RefreshToken.authorization_code_id).where(
                RefreshToken.token_hash == secret_hash(refresh_token)
            )
        )
        refresh = select(func.count()).where(RefreshToken.authorization_code_id == code_id)
        access = select(func.count()).where(IssuedToken.authorization_code_id == code_id)
        return db.scalar(refresh), db.scalar(access)


def _introspector(broker: Broker) -> tuple[str, str]:
    """Resource-server credentials of the demo resource, to ask /oauth/introspect."""
    with broker.app.app_context():
        db = database.session()
        client, secret = create_resource_server_client(db, "Refresh tests", DEV_RESOURCE_ID)
        db.commit()
        return client.id, secret


@pytest.fixture(scope="module")
def introspector(broker) -> tuple[str, str]:
    return _introspector(broker)


def test_b4_no_grace_when_the_window_is_zero(broker):
    first = broker.tokens()
    broker.refresh(first["refresh_token"])

    with broker.configured(REFRESH_REUSE_GRACE=0):
        reuse = broker.refresh(first["refresh_token"])

    assert reuse.json()["error"] == "invalid_grant"


def test_b4_scope_may_be_narrowed_on_refresh(broker):
    first = broker.tokens("notes:read notes:write offline_access")

    narrowed = broker.refresh(first["refresh_token"], scope="notes:read")

    assert narrowed.status_code == 200, narrowed.text
    body = narrowed.json()
    assert body["scope"] == "notes:read"
    claims = broker.claims(body["access_token"])
    assert claims["scope"] == "notes:read"
    # RFC 6749 §6: the new refresh token keeps the grant's whole scope
    restored = broker.refresh(body["refresh_token"])
    assert restored.json()["scope"] == "notes:read notes:write offline_access"


@pytest.mark.parametrize("scope", ["notes:read notes:write", "notes:admin"])
def test_b4_scope_may_not_be_widened_on_refresh(broker, scope):
    first = broker.tokens("notes:read offline_access")

    response = broker.refresh(first["refresh_token"], scope=scope)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert broker.refresh(first["refresh_token"]).status_code == 200  # not spent by the error


@pytest.mark.parametrize("resource", [DEV_MCP_SERVER_URL, DEV_RESOURCE_ID, None])
def test_b5_refresh_accepts_the_grants_resource_or_none(broker, resource):
    first = broker.tokens()

    assert broker.refresh(first["refresh_token"], resource=resource).status_code == 200


@pytest.mark.parametrize("resource", ["https://other.example/mcp", "res_unknown"])
def test_b5_refresh_with_another_resource_is_invalid_target(broker, resource):
    first = broker.tokens()

    response = broker.refresh(first["refresh_token"], resource=resource)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_b4_refresh_token_is_bound_to_its_client(broker):
    with broker.app.app_context():
        register_client(
            database.session(),
            "Other",
            [broker.demo_redirect_uri],
            DEV_RESOURCE_ID,
            client_id="refresh_other_client",
        )
        database.session().commit()
    first = broker.tokens()

    response = broker.refresh(first["refresh_token"], client_id="refresh_other_client")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_b4_refresh_token_expires_after_inactivity(broker):
    first = broker.tokens()
    with broker.app.app_context():
        db = database.session()
        db.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == secret_hash(first["refresh_token"]))
            .values(expires_at=database.utcnow() - timedelta(seconds=1))
        )
        db.commit()

    assert broker.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"


def test_b3_replayed_code_revokes_the_refresh_tokens_too(broker):
    flow = broker.start_login(scope="notes:read offline_access")
    code = flow.code()
    first = flow.exchange(code).json()

    assert flow.exchange(code).status_code == 400  # the replay

    assert broker.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"


def test_b4_a_confidential_client_must_authenticate_to_refresh(broker):
    with broker.app.app_context():
        client, secret = register_client(
            database.session(),
            "Confidential",
            [broker.demo_redirect_uri],
            DEV_RESOURCE_ID,
            "client_secret_basic",
            client_id="confidential_refresh_client",
        )
        database.session().commit()
    flow = broker.start_login(
        scope="notes:read offline_access", client_id="confidential_refresh_client"
    )
    body = flow.exchange(
        flow.code(), client_id=None, auth=("confidential_refresh_client", secret)
    ).json()

    unauthenticated = broker.refresh(body["refresh_token"], client_id=client.id)
    wrong = broker.refresh(body["refresh_token"], client_id=None, auth=(client.id, "wrong"))
    right = broker.refresh(body["refresh_token"], client_id=None, auth=(client.id, secret))

    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"] == "invalid_client"
    assert wrong.status_code == 401
    assert right.status_code == 200, right.text


def test_unknown_refresh_token_is_invalid_grant(broker):
    response = broker.refresh("not-a-refresh-token")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_refresh_token_is_invalid_request(broker):
    response = broker.token_request({"grant_type": "refresh_token", "client_id": "demo_client"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_refresh_keeps_the_users_claims(broker):
    flow = broker.start_login(scope="notes:read offline_access")
    assert flow.post_profile(custom_attributes={"plan": "pro"}).status_code == 200
    code = redirect_query(flow.decide("approve"))["code"]
    first = flow.exchange(code).json()

    refreshed = broker.refresh(first["refresh_token"]).json()

    claims = broker.claims(refreshed["access_token"])
    assert claims["custom_claims"] == {"plan": "pro"}
    assert claims["aud"] == [DEV_MCP_SERVER_URL, DEV_RESOURCE_ID]
    assert claims["iss"] == broker.issuer


@pytest.fixture(scope="module")
def broker_on_postgresql() -> Iterator[Broker]:
    """A broker on PostgreSQL whatever TEST_DATABASE says: the race needs one transaction to
    wait on another's uncommitted row update (SQLite locks the whole file)."""
    with live_broker(databases.postgresql_url()) as running:
        yield running


def test_b15_two_refreshes_at_once_yield_one_pair(broker_on_postgresql):
    """The first refresh has spent the token and not committed yet when the second arrives:
    the second must wait, then lose — no second live pair, and no revocation of the first's."""
    broker = broker_on_postgresql
    credentials = _introspector(broker)
    first = broker.tokens()
    engine = broker.app.extensions["mock_broker.db"].kw["bind"]

    with Session(engine) as winner:
        winner.execute(  # exactly what refresh_tokens.spend does for the first request
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == secret_hash(first["refresh_token"]),
                RefreshToken.rotated_at.is_(None),
            )
            .values(rotated_at=database.utcnow())
        )
        loser: list[requests.Response] = []
        thread = threading.Thread(
            target=lambda: loser.append(broker.refresh(first["refresh_token"]))
        )
        thread.start()
        wait_until_a_backend_waits_for_a_lock(engine)
        winner.commit()
    thread.join(timeout=30)

    [response] = loser
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    assert _family_size(broker, first["refresh_token"]) == (1, 1)  # the loser minted nothing
    assert _introspect(broker, first["access_token"], credentials)["active"]  # nor revoked


def test_b15_two_refreshes_in_a_row_yield_one_pair(broker, introspector):
    """The same race, sequential (both databases): the second use within the window loses."""
    first = broker.tokens()

    winner, loser = broker.refresh(first["refresh_token"]), broker.refresh(first["refresh_token"])

    assert winner.status_code == 200 and loser.status_code == 400
    assert _family_size(broker, first["refresh_token"]) == (2, 2)
    assert _introspect(broker, winner.json()["refresh_token"], introspector)["active"]
