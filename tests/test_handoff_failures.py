"""C4, C20, E1: when the profile post fails, the browser stays here, is told, and can retry.

Faults are real: the mock broker's fault switch makes its user endpoint answer 500, the
broker process is stopped and started again on the same port, its M2M tokens are revoked.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from identity import db
from identity.models import AuditEvent, PendingLoginRequest, utcnow
from mock_broker import faults
from mock_broker import login_requests as broker_login_requests
from mock_broker import seed as broker_seed
from mock_broker import tokens as broker_tokens
from tests.helpers import csrf_token
from tests.servers import LiveServer

pytestmark = pytest.mark.integration


def failed_posts(stack) -> list[dict]:
    with stack.idp.app.app_context():
        return list(
            db.session().scalars(
                select(AuditEvent.detail).where(AuditEvent.event == "broker.profile_post_failed")
            )
        )


def test_c4_broker_500_shows_retry_page_then_retry_succeeds(stack):
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    # One more 500 than the client's retries (2): the post fails for good this time.
    faults.inject(stack.broker.app, faults.USER_ENDPOINT, status=500, count=3)
    failed = browser.sign_in_with_password(login)

    assert failed.status == 502
    assert "Location" not in failed.response.headers  # C4: no redirect to the callback
    assert "couldn't reach the authorization service" in failed.text()
    assert any(detail.get("status") == 500 for detail in failed_posts(stack))

    retried = browser.submit(failed, "/login/continue", button="Try again")
    assert retried.status == 303
    redirect = browser.approve(browser.follow(retried))
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200


def test_c4_broker_unreachable_then_back(fresh_stack):
    stack = fresh_stack()
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)

    port, broker_app = stack.broker.port, stack.broker.app
    stack.broker.stop()
    failed = browser.sign_in_with_password(login)
    assert failed.status == 502
    assert "Location" not in failed.response.headers

    stack.broker = LiveServer(broker_app, port=port).start()
    retried = browser.submit(failed, "/login/continue")
    assert retried.status == 303
    redirect = browser.approve(browser.follow(retried))
    assert redirect["state"] == [authorization.client_state]


def test_c20_revoked_m2m_token_is_replaced_once_and_login_succeeds(stack):
    browser = stack.browser()
    # Make sure the customer side holds a cached token, then revoke it at the broker.
    browser.approve(
        browser.follow(
            browser.sign_in_with_password(browser.page("GET", browser.authorize().login_url))
        )
    )
    assert broker_tokens.revoke_m2m_tokens(stack.broker.app, broker_seed.DEV_M2M_CLIENT_ID) >= 1
    second = stack.browser()
    authorization = second.authorize()
    handed_off = second.sign_in_with_password(second.page("GET", authorization.login_url))
    assert handed_off.status == 303, handed_off.text()


def test_wrong_m2m_credentials_fail_honestly_without_leaking_the_secret(fresh_stack):
    stack = fresh_stack(BROKER_CLIENT_SECRET="not-the-secret-123")
    browser = stack.browser()
    failed = browser.sign_in_with_password(browser.page("GET", browser.authorize().login_url))
    assert failed.status == 502
    assert "did not accept it" in failed.text()
    assert "not-the-secret-123" not in failed.response.text
    assert all("not-the-secret-123" not in str(detail) for detail in failed_posts(stack))


def test_expired_login_request_here_says_start_again(stack):
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    with stack.idp.app.app_context():
        db.session().execute(
            update(PendingLoginRequest).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session().commit()
    expired = browser.sign_in_with_password(login)
    assert expired.status == 400
    assert "expired" in expired.text()


def test_login_request_expired_at_the_broker_says_start_again(stack):
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    login_request_id = parse_qs(urlsplit(authorization.login_url).query)["login_request_id"][0]
    assert broker_login_requests.expire(stack.broker.app, login_request_id)
    answer = browser.sign_in_with_password(login)
    assert answer.status == 400
    assert "This sign-in request has expired" in answer.text()
    assert "Location" not in answer.response.headers


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (410, "This sign-in request has expired"),
        (409, "This sign-in is already complete"),
        (404, "We can't find this sign-in request"),
    ],
)
def test_the_brokers_final_verdict_is_remembered_not_retried(stack, status, title):
    """After the broker said 404/409/410 for a login request, reopening it (the login link, or
    "Continue as" / "Try again") says the same again and never posts the profile again."""
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    posts_before = len(failed_posts(stack))
    faults.inject(stack.broker.app, faults.USER_ENDPOINT, status=status, count=1)
    answer = browser.sign_in_with_password(login)
    assert title in answer.text() and "Location" not in answer.response.headers

    reopened = browser.page("GET", authorization.login_url)
    assert reopened.status >= 400 and title in reopened.text()
    assert "Continue as" not in reopened.text()
    login_request_id = parse_qs(urlsplit(authorization.login_url).query)["login_request_id"][0]
    home = browser.page("GET", f"{stack.idp.url}/")  # signed in: its sign-out form has a token
    retried = browser.page(
        "POST",
        f"{stack.idp.url}/login/continue",
        data={"login_request_id": login_request_id, "csrf_token": csrf_token(home.response.text)},
    )
    assert retried.status >= 400 and title in retried.text()
    assert len(failed_posts(stack)) == posts_before + 1  # one post, not a second


def test_a_locked_sqlite_database_is_a_503_that_loses_nothing(fresh_stack, tmp_path):
    """E2: another writer holds SQLite's lock past the busy timeout. The sign-in answers 503
    with "try again" (never a 500), and once the lock is gone the same login request works.
    (SQLite whatever TEST_DATABASE says: the lock is SQLite's.)"""
    path = tmp_path / "locked.sqlite3"
    stack = fresh_stack(DATABASE_URL=f"sqlite:///{path}", DATABASE_BUSY_TIMEOUT=0.1)
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)

    other_writer = sqlite3.connect(path, isolation_level=None)
    try:
        other_writer.execute("BEGIN EXCLUSIVE")
        busy = browser.sign_in_with_password(login)
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    assert busy.status == 503, busy.text()
    assert busy.response.headers["Retry-After"] == "5"
    assert "Nothing was lost" in busy.text() and "Location" not in busy.response.headers

    login = browser.page("GET", authorization.login_url)  # the pending request is still there
    assert login.status == 200
    redirect = browser.approve(browser.follow(browser.sign_in_with_password(login)))
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200


@pytest.mark.parametrize(
    ("count", "says", "outcome"),
    [
        (2, "absorbed: the next sign-in's profile post succeeds on attempt 3", 303),
        (3, "the next sign-in fails after 3 attempts and shows 'Try again' (0 left after it)", 502),
    ],
)
def test_the_switchboard_says_what_the_customer_sides_retries_absorb(stack, count, says, outcome):
    """QA arms failures and reads how many a sign-in absorbs; the real customer side (its
    default BROKER_RETRIES, 2) then does exactly that."""
    browser = stack.browser()
    login = browser.page("GET", browser.authorize().login_url)
    faults.inject(stack.broker.app, faults.USER_ENDPOINT, status=503, count=count)
    switchboard = browser.page("GET", f"{stack.broker.url}/dev/faults")
    assert switchboard.soup.select_one("td.customer-sees").get_text() == says
    assert "retries a profile post that got a 5xx 2 more" in switchboard.text()

    assert browser.sign_in_with_password(login).status == outcome
    with stack.broker.app.app_context():
        from mock_broker import database

        assert faults.active_faults(database.session()) == []  # every failure was spent
