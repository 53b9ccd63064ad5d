"""E4 on the customer side: what anonymous clients can make rows of is bounded, and
`flask housekeeping` purges exactly what expired, while sign-ins go on."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from app import create_app
from identity import db
from identity.models import (
    AuditEvent,
    PendingLoginRequest,
    SignIn,
    ThrottleCounter,
    User,
    utcnow,
)
from login_methods.magic_link.tokens import MagicLinkToken
from login_methods.oidc.identities import PendingLink
from tests import databases
from tests.helpers import DEMO_EMAIL, customer_test_config

pytestmark = pytest.mark.integration

STATE = "s" * 512  # the longest state C1 accepts


def rows(app, model, *where) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model).where(*where))


def age(app, model, *where, **values) -> None:
    """Move the clock for some rows: set their timestamps into the past."""
    with app.app_context():
        db.session().execute(update(model).where(*where).values(**values))
        db.session().commit()


def test_e4_a_thousand_anonymous_login_hits_leave_a_bounded_number_of_rows(fresh_stack):
    """One client, no cookies (a new "browser" each time), 1000 GET /login with a fresh
    login_request_id and a 512-character state: only LIMIT rows, the rest 429 + Retry-After."""
    stack = fresh_stack(LOGIN_REQUEST_ADDRESS_LIMIT=40, LOGIN_REQUEST_ADDRESS_WINDOW=3600)
    statuses: list[int] = []
    with requests.Session() as http:
        for n in range(1000):
            http.cookies.clear()
            response = http.get(
                f"{stack.idp.url}/login",
                params={"login_request_id": f"lri_{n}", "state": STATE},
                allow_redirects=False,
                timeout=10,
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert 0 < int(response.headers["Retry-After"]) <= 3600
                assert "Too many sign-in requests" in response.text
    assert statuses.count(200) == 40 and statuses.count(429) == 960
    assert rows(stack.idp.app, PendingLoginRequest) == 40
    assert rows(stack.idp.app, ThrottleCounter) == 1  # one counter for the one address


@pytest.fixture
def proxied(tmp_path):
    application = create_app(
        customer_test_config(
            tmp_path,
            broker_url="http://127.0.0.1:9",
            TRUSTED_PROXY_HOPS=1,
            LOGIN_REQUEST_ADDRESS_LIMIT=2,
            LOGIN_REQUEST_MAX_PER_BROWSER=3,
        )
    )
    application.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    yield application
    databases.dispose(application)


def test_e4_behind_a_proxy_the_limit_is_per_client_address(proxied):
    def hit(address: str, n: int) -> int:
        client = proxied.test_client()  # a new browser each time
        return client.get(
            f"/login?login_request_id=lri_{address.replace('.', '_')}_{n}&state=s",
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [hit("198.51.100.7", n) for n in range(3)] == [200, 200, 429]
    assert hit("203.0.113.9", 0) == 200  # another client behind the same proxy
    # Reloading a login request already recorded is not a new one: it costs nothing.
    client = proxied.test_client()
    headers = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get("/login?login_request_id=lri_r&state=s", headers=headers).status_code == 200
    assert client.get("/login?login_request_id=lri_r&state=s", headers=headers).status_code == 200


def test_e4_a_browser_keeps_its_newest_login_requests_and_drops_the_oldest(tmp_path):
    """C2 still holds (several pending at once), but never more than the cap; the dropped
    request's OIDC identity waiting for proof goes with it (no foreign-key 500)."""
    app = create_app(
        customer_test_config(
            tmp_path, broker_url="http://127.0.0.1:9", LOGIN_REQUEST_MAX_PER_BROWSER=3
        )
    )
    app.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    app.test_cli_runner().invoke(args=["seed-demo"], catch_exceptions=False)
    browser = app.test_client()
    assert browser.get("/login?login_request_id=lri_0&state=s").status_code == 200
    with app.app_context():
        session = db.session()
        oldest = session.scalar(select(PendingLoginRequest.id))
        alice = session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
        session.add(
            PendingLink(
                pending_login_request_id=oldest,
                user_id=alice,
                provider="standin",
                issuer="https://op.example",
                subject="sub-1",
                expires_at=utcnow() + timedelta(minutes=10),
            )
        )
        session.commit()
    for n in range(1, 5):
        assert browser.get(f"/login?login_request_id=lri_{n}&state=s").status_code == 200
    assert rows(app, PendingLoginRequest) == 3
    assert rows(app, PendingLink) == 0
    for n in (2, 3, 4):  # the newest three still work, side by side
        page = browser.get(f"/login/magic_link/sent?login_request_id=lri_{n}")
        assert page.status_code == 200
    for n in (0, 1):
        page = browser.get(f"/login/magic_link/sent?login_request_id=lri_{n}")
        assert page.status_code == 400 and "find this sign-in request" in page.text
    databases.dispose(app)


def test_e4_housekeeping_purges_exactly_what_expired_and_sign_ins_go_on(fresh_stack):
    stack = fresh_stack()
    app = stack.idp.app
    # A sign-in in progress: started before the purge, finished after it.
    live = stack.browser()
    authorization = live.authorize()
    assert live.page("GET", authorization.login_url).status == 200

    # Other browsers leave login requests, a failed password attempt and a magic link.
    for name in ("old_a", "old_b", "recent"):
        other = stack.browser()
        page = other.page("GET", f"{stack.idp.url}/login?login_request_id=lri_{name}&state=s")
        assert page.status == 200
    attempt = other.sign_in_with_password(page, email="nobody@example.com")
    assert attempt.status == 422
    asked = other.submit(page, "/login/magic_link/", **{"magic_link-email": DEMO_EMAIL})
    assert asked.status == 303
    stack.mail.wait_for(DEMO_EMAIL)

    now = utcnow()
    long_ago, lately = now - timedelta(days=3), now - timedelta(hours=1)
    pending_ids = PendingLoginRequest.login_request_id
    age(app, PendingLoginRequest, pending_ids.in_(["lri_old_a", "lri_old_b"]), expires_at=long_ago)
    age(app, PendingLoginRequest, pending_ids == "lri_recent", expires_at=lately)  # grace
    age(app, MagicLinkToken, expires_at=long_ago)
    age(app, ThrottleCounter, ThrottleCounter.key.like("account:%"), last_failure_at=long_ago)
    with app.app_context():
        session = db.session()
        alice = session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
        old_a = session.scalar(select(PendingLoginRequest.id).where(pending_ids == "lri_old_a"))
        session.add_all(
            [
                PendingLink(  # refers to an expired login request: goes first
                    pending_login_request_id=old_a,
                    user_id=alice,
                    provider="standin",
                    issuer="https://op.example",
                    subject="sub-1",
                    expires_at=long_ago,
                ),
                SignIn(id_hash="revoked", user_id=alice, method="password", revoked_at=long_ago),
                SignIn(
                    id_hash="too-old",
                    user_id=alice,
                    method="password",
                    created_at=now - timedelta(days=10),
                ),
                SignIn(id_hash="current", user_id=alice, method="password"),
                AuditEvent(event="test.old", occurred_at=now - timedelta(days=91)),
            ]
        )
        session.commit()
    throttles_before = rows(app, ThrottleCounter)
    audit_before = rows(app, AuditEvent)

    result = app.test_cli_runner().invoke(args=["housekeeping"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "pending_login_requests: 2 deleted" in result.output
    assert "magic_link_tokens: 1 deleted" in result.output
    assert "oidc_pending_links: 1 deleted" in result.output
    assert "sign_ins: 2 deleted" in result.output
    assert "throttle_counters: 1 deleted" in result.output
    assert "audit_events: 1 deleted" in result.output

    remaining = {
        lri for (lri,) in _all(app, select(PendingLoginRequest.login_request_id))
    }  # the live flow's and the one still within the grace period
    assert remaining == {authorization.login_url.split("login_request_id=")[1].split("&")[0]} | {
        "lri_recent"
    }
    assert {row for (row,) in _all(app, select(SignIn.id_hash))} == {"current"}
    assert rows(app, ThrottleCounter) == throttles_before - 1
    assert rows(app, AuditEvent) == audit_before - 1

    again = app.test_cli_runner().invoke(args=["housekeeping"], catch_exceptions=False)
    assert "pending_login_requests: 0 deleted" in again.output  # idempotent

    login = live.page("GET", authorization.login_url)
    handed_off = live.sign_in_with_password(login)
    assert handed_off.status == 303, handed_off.text()
    code = live.approve(live.follow(handed_off))["code"][0]
    assert live.exchange(code, authorization.verifier).status_code == 200


def test_e4_housekeeping_grace_is_configurable(app, runner):
    client = app.test_client()
    assert client.get(f"/login?login_request_id=lri_{secrets.token_hex(4)}&state=s").status_code
    age(app, PendingLoginRequest, expires_at=utcnow() - timedelta(minutes=10))
    kept = runner.invoke(args=["housekeeping"])  # default grace: a day
    assert "pending_login_requests: 0 deleted" in kept.output
    gone = runner.invoke(args=["housekeeping", "--grace", "60"])
    assert "pending_login_requests: 1 deleted" in gone.output
    bad = runner.invoke(args=["housekeeping", "--grace", "-1"])
    assert bad.exit_code != 0


def _all(app, query):
    with app.app_context():
        return list(db.session().execute(query))


def test_e4_the_address_limit_is_shared_by_every_instance(tmp_path):
    """Two instances on one database: the per-address count is one count, not one each."""
    url = databases.database_url(tmp_path, "shared")
    instances = [
        create_app(
            customer_test_config(
                tmp_path,
                broker_url="http://127.0.0.1:9",
                DATABASE_URL=url,
                SECRET_KEY="one secret for every instance",
                LOGIN_REQUEST_ADDRESS_LIMIT=3,
            )
        )
        for _ in range(2)
    ]
    instances[0].test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    statuses = [
        instances[n % 2].test_client().get(f"/login?login_request_id=lri_{n}&state=s").status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    for instance in instances:
        databases.dispose(instance)
