"""E4 at the broker: `flask --app mock_broker housekeeping` purges exactly what ended, and keeps
what a live flow still needs — a code not yet expired, a refresh family still in use (so
reuse detection, B4, still works after the purge), remembered consent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mock_broker import database
from mock_broker.identifiers import secret_hash
from mock_broker.models import (
    AuthorizationCode,
    IssuedToken,
    LoginRequest,
    OAuthClient,
    RefreshToken,
    RegistrationMethod,
    TokenKind,
)
from mock_broker.registration import register_client
from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.flows import live_broker
from tests.databases import database_url

LONG_AGO = timedelta(days=40)  # past every lifetime and the default grace of a day


@pytest.fixture
def broker(tmp_path):
    """A private broker: the purge must not reach other tests' rows."""
    with live_broker(database_url(tmp_path, "broker"), REFRESH_REUSE_GRACE=0) as running:
        yield running


def count(broker, model, *where) -> int:
    with broker.app.app_context():
        query = select(func.count()).select_from(model).where(*where)
        return database.session().scalar(query)


def age(broker, model, *where, **older_by: timedelta) -> None:
    """Move the clock for some rows: their timestamps go `older_by` into the past."""
    with broker.app.app_context():
        db = database.session()
        for row in db.scalars(select(model).where(*where)):
            for column, delta in older_by.items():
                setattr(row, column, getattr(row, column) - delta)
        db.commit()


def code_of(broker, refresh_token: str) -> int:
    with broker.app.app_context():
        return database.session().scalar(
            select(RefreshToken.authorization_code_id).where(
                RefreshToken.token_hash == secret_hash(refresh_token)
            )
        )


def housekeeping(broker, *args: str) -> str:
    result = broker.app.test_cli_runner().invoke(args=["housekeeping", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_e4_housekeeping_purges_what_ended_and_live_flows_still_work(broker):
    # A grant whose every token ended long ago: purged, with its code and login request.
    ended = broker.tokens()
    ended_code = code_of(broker, ended["refresh_token"])
    for model in (IssuedToken, RefreshToken):
        age(broker, model, model.authorization_code_id == ended_code, expires_at=LONG_AGO)
    age(broker, AuthorizationCode, AuthorizationCode.id == ended_code, expires_at=LONG_AGO)
    ended_request = select(AuthorizationCode.login_request_id).where(
        AuthorizationCode.id == ended_code
    )
    age(broker, LoginRequest, LoginRequest.id.in_(ended_request), expires_at=LONG_AGO)

    # A grant in use: its code and first access token ended long ago, its first refresh
    # token was rotated (and expired), the successor is alive. The whole family stays.
    in_use = broker.tokens()
    in_use_code = code_of(broker, in_use["refresh_token"])
    successor = broker.refresh(in_use["refresh_token"]).json()["refresh_token"]
    age(broker, AuthorizationCode, AuthorizationCode.id == in_use_code, expires_at=LONG_AGO)
    first = RefreshToken.token_hash == secret_hash(in_use["refresh_token"])
    age(broker, RefreshToken, first, expires_at=LONG_AGO)
    # Its access tokens and login request ended too: only the successor keeps it alive.
    age(broker, IssuedToken, IssuedToken.authorization_code_id == in_use_code, expires_at=LONG_AGO)
    in_use_request = select(AuthorizationCode.login_request_id).where(
        AuthorizationCode.id == in_use_code
    )
    age(broker, LoginRequest, LoginRequest.id.in_(in_use_request), expires_at=LONG_AGO)

    # Login requests: abandoned long ago, abandoned within the grace, and one in progress.
    abandoned = broker.start_login()
    age(broker, LoginRequest, LoginRequest.id == abandoned.login_request_id, expires_at=LONG_AGO)
    recent = broker.start_login()
    recent_id = recent.login_request_id
    age(broker, LoginRequest, LoginRequest.id == recent_id, expires_at=timedelta(hours=1))
    in_progress = broker.start_login()
    # A code issued but not yet exchanged.
    waiting = broker.start_login()
    waiting_code = waiting.code()

    # M2M tokens: one ended long ago.
    ended_m2m = broker.claims(broker.m2m_token())["jti"]
    age(broker, IssuedToken, IssuedToken.jti == ended_m2m, expires_at=LONG_AGO)

    output = housekeeping(broker)

    assert "issued_tokens: 4 deleted" in output  # ended's, in_use's two, the M2M one
    assert "refresh_tokens: 1 deleted" in output
    assert "authorization_codes: 1 deleted" in output
    assert "login_requests: 2 deleted" in output  # ended's and the abandoned one
    assert count(broker, AuthorizationCode, AuthorizationCode.id == ended_code) == 0
    assert count(broker, IssuedToken, IssuedToken.kind == TokenKind.M2M) >= 1  # the live ones
    assert count(broker, RefreshToken, RefreshToken.authorization_code_id == in_use_code) == 2
    assert count(broker, LoginRequest, LoginRequest.id == abandoned.login_request_id) == 0
    assert count(broker, LoginRequest, LoginRequest.id == recent_id) == 1
    assert count(broker, LoginRequest, LoginRequest.id.in_(in_use_request)) == 1

    # What was live still works: the flow in progress, the waiting code, the family.
    finished = in_progress.exchange(in_progress.code())
    assert finished.status_code == 200, finished.text
    assert waiting.exchange(waiting_code).status_code == 200
    assert broker.refresh(successor).status_code == 200
    # B4 survives the purge: the rotated first token, presented again, revokes the family.
    reuse = broker.refresh(in_use["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    with broker.app.app_context():
        revoked = database.session().scalars(
            select(RefreshToken.revoked_at).where(RefreshToken.authorization_code_id == in_use_code)
        )
        assert all(revoked_at is not None for revoked_at in revoked)

    assert "login_requests: 0 deleted" in housekeeping(broker)  # nothing more to do


def test_e4_a_grant_is_kept_while_an_access_token_from_it_is_valid(broker):
    """No refresh token (no offline_access), an expired code, a valid access token: the
    code stays, so that a replay of it still revokes that token (B3)."""
    flow = broker.start_login(scope="notes:read")
    code = flow.code()
    body = flow.exchange(code).json()
    age(broker, AuthorizationCode, expires_at=LONG_AGO)
    assert "authorization_codes: 0 deleted" in housekeeping(broker)
    replay = flow.exchange(code)
    assert replay.status_code == 400
    jti = broker.claims(body["access_token"])["jti"]
    assert count(broker, IssuedToken, IssuedToken.jti == jti, IssuedToken.revoked.is_(True)) == 1


def test_e4_the_grace_period_is_configurable(broker):
    flow = broker.start_login()
    age(broker, LoginRequest, expires_at=timedelta(minutes=20))
    assert "login_requests: 0 deleted" in housekeeping(broker)
    assert "login_requests: 1 deleted" in housekeeping(broker, "--grace", "60")
    page = flow.callback()  # the browser's late return: a clear 4xx, not a 500
    assert 400 <= page.status_code < 500


def test_e4_a_metadata_document_client_goes_once_unused_and_its_copy_expired(broker):
    """CIMD clients are made by anyone who serves a valid document; a stale, unused one is
    purged (the next use fetches the document again), one a login request names is kept."""
    with broker.app.app_context():
        db = database.session()
        for name in ("unused", "named", "fresh"):
            register_client(
                db,
                name,
                ["http://127.0.0.1/cb"],
                DEV_RESOURCE_ID,
                client_id=f"https://{name}.example/client.json",
                registration_method=RegistrationMethod.CIMD,
            )
        db.commit()
    stale = database.utcnow() - LONG_AGO
    is_cimd = OAuthClient.registration_method == RegistrationMethod.CIMD
    with broker.app.app_context():
        db = database.session()
        for client in db.scalars(select(OAuthClient).where(is_cimd)):
            fresh = client.name == "fresh"  # its cached copy is still good
            client.metadata_expires_at = database.utcnow() + LONG_AGO if fresh else stale
        db.commit()
    flow = broker.start_login()  # names the demo client; point it at "named" instead
    with broker.app.app_context():
        db = database.session()
        db.get(LoginRequest, flow.login_request_id).client_id = "https://named.example/client.json"
        db.commit()

    assert "oauth_clients: 1 deleted" in housekeeping(broker)
    with broker.app.app_context():
        left = set(database.session().scalars(select(OAuthClient.id).where(is_cimd)))
    assert left == {"https://named.example/client.json", "https://fresh.example/client.json"}
    assert count(broker, OAuthClient, OAuthClient.registration_method != RegistrationMethod.CIMD)
