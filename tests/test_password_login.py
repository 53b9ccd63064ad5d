"""C5, C6, C8, C10: the password method through HTTP, on the customer side alone.

The broker is unreachable here (the app's broker URL points at a closed port), which is fine:
these properties are decided before the hand-off, and a successful sign-in still signs the
browser in here before the hand-off page.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from passlib.context import CryptContext
from sqlalchemy import select, update

from app import create_app
from identity import audit, db, throttle
from identity.models import AuditEvent, SignIn, ThrottleCounter, User, utcnow
from identity.passwords import make_context
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD, csrf_token, customer_test_config

LOGIN = "/login?login_request_id=lri_{n}&state=st_{n}"


@pytest.fixture
def app(tmp_path):
    application = create_app(
        customer_test_config(
            tmp_path,
            broker_url="http://127.0.0.1:9",
            BROKER_RETRIES=0,
            THROTTLE_BASE_DELAY=60,  # long enough that no test can outrun a block
        )
    )
    runner = application.test_cli_runner()
    runner.invoke(args=["init-db"], catch_exceptions=False)
    runner.invoke(args=["seed-demo"], catch_exceptions=False)
    return application


def attempt(client, email, password, n=1):
    page = client.get(LOGIN.format(n=n)).get_data(as_text=True)
    return client.post(
        "/login/password/",
        data={
            "csrf_token": csrf_token(page),
            "login_request_id": f"lri_{n}",
            "email": email,
            "password": password,
        },
    )


def normalized(html: str) -> str:
    """The page minus what legitimately differs: CSRF token and the echoed email."""
    html = re.sub(r'value="[^"]*"', 'value=""', html)
    return html


def test_c8_unknown_user_and_wrong_password_get_the_same_answer(client):
    wrong = attempt(client, DEMO_EMAIL, "not alice's password at all")
    unknown = attempt(client, "nobody@example.com", "not alice's password at all")
    disabled_looking = attempt(client, "NOBODY@example.com", "x")
    assert wrong.status_code == unknown.status_code == disabled_looking.status_code == 422
    assert normalized(wrong.get_data(as_text=True)) == normalized(unknown.get_data(as_text=True))
    assert "The email or password is incorrect." in wrong.get_data(as_text=True)
    assert "Set-Cookie" not in wrong.headers or "idp_device" not in wrong.headers["Set-Cookie"]


def test_c8_disabled_user_gets_the_same_answer(app, client, runner):
    runner.invoke(args=["disable-user", DEMO_EMAIL])
    disabled = attempt(client, DEMO_EMAIL, DEMO_PASSWORD)
    unknown = attempt(client, "nobody@example.com", DEMO_PASSWORD)
    assert disabled.status_code == unknown.status_code == 422
    assert normalized(disabled.get_data(as_text=True)) == normalized(unknown.get_data(as_text=True))


def test_form_errors_are_tied_to_their_fields(client):
    response = attempt(client, "", "")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'aria-describedby="email-errors"' in html and 'id="email-errors"' in html
    assert "Enter your email." in html and "Enter your password." in html
    assert 'aria-invalid="true"' in html


def test_success_signs_in_here_even_when_the_broker_is_down(app, client):
    response = attempt(client, DEMO_EMAIL, DEMO_PASSWORD)
    assert response.status_code == 502
    assert "Try again" in response.get_data(as_text=True)
    assert "Signed in" not in response.get_data(as_text=True)
    assert "Continue as Alice Doe" in client.get(LOGIN.format(n=2)).get_data(as_text=True)


def test_c6_session_rotates_at_sign_in_and_sign_out_invalidates_copies(app, client):
    before = client.get(LOGIN.format(n=1))
    pre_login_cookie = client.get_cookie("idp_session").value
    attempt(client, DEMO_EMAIL, DEMO_PASSWORD)
    signed_in_cookie = client.get_cookie("idp_session").value
    assert signed_in_cookie != pre_login_cookie
    assert before.status_code == 200

    # A copy of the signed-in cookie (e.g. stolen) works until sign-out…
    thief = app.test_client()
    thief.set_cookie("idp_session", signed_in_cookie)
    assert "Continue as" in thief.get(LOGIN.format(n=3)).get_data(as_text=True)

    page = client.get(LOGIN.format(n=4)).get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert out.status_code == 303
    # …and not after: the sign-in row is revoked server-side.
    thief.set_cookie("idp_session", signed_in_cookie)
    assert "Continue as" not in thief.get(LOGIN.format(n=5)).get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(select(SignIn.revoked_at)) is not None


def test_password_change_signs_out_existing_sessions(app, client, runner):
    attempt(client, DEMO_EMAIL, DEMO_PASSWORD)
    assert "Continue as" in client.get(LOGIN.format(n=2)).get_data(as_text=True)
    runner.invoke(args=["set-password", DEMO_EMAIL, "--password", "a completely new passphrase"])
    assert "Continue as" not in client.get(LOGIN.format(n=3)).get_data(as_text=True)


def test_c5_logout_by_get_changes_nothing(app, client):
    attempt(client, DEMO_EMAIL, DEMO_PASSWORD)
    assert client.get("/logout").status_code == 405
    assert "Continue as" in client.get(LOGIN.format(n=2)).get_data(as_text=True)


def test_c5_continue_as_by_get_changes_nothing(app, client):
    """A link or an <img> on another site must not hand the signed-in user off to the broker."""
    attempt(client, DEMO_EMAIL, DEMO_PASSWORD)
    assert "Continue as" in client.get(LOGIN.format(n=2)).get_data(as_text=True)

    assert client.get("/login/continue?login_request_id=lri_2").status_code == 405

    with app.app_context():
        tried = db.session().scalars(
            select(AuditEvent).where(
                AuditEvent.event.in_((audit.PROFILE_POSTED, audit.PROFILE_POST_FAILED)),
                AuditEvent.login_request_id == "lri_2",
            )
        )
        assert list(tried) == []
    assert "Continue as" in client.get(LOGIN.format(n=2)).get_data(as_text=True)


def test_c10_account_throttle_trips_after_free_failures_and_recovers(app, client):
    for _ in range(5):  # THROTTLE_ACCOUNT_FREE_FAILURES
        assert attempt(client, DEMO_EMAIL, "wrong wrong wrong wrong").status_code == 422
    blocked = attempt(client, DEMO_EMAIL, DEMO_PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts" in blocked.get_data(as_text=True)
    # The same for an address that has no account (no enumeration through the throttle).
    for _ in range(5):
        attempt(client, "ghost@example.com", "wrong wrong wrong wrong")
    assert attempt(client, "ghost@example.com", "x").status_code == 429

    with app.app_context():  # time passes: the block ends
        db.session().execute(
            update(ThrottleCounter).values(blocked_until=utcnow() - timedelta(seconds=1))
        )
        db.session().commit()
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502  # signed in; broker down


def test_c10_delay_grows_but_is_capped(app, client):
    for _ in range(12):
        attempt(client, "victim@example.com", "wrong wrong wrong wrong")
        with app.app_context():
            db.session().execute(update(ThrottleCounter).values(blocked_until=None))
            db.session().commit()
    attempt(client, "victim@example.com", "wrong wrong wrong wrong")
    with app.app_context():
        counter = db.session().get(ThrottleCounter, "account:victim@example.com")
        delay = (counter.blocked_until - counter.last_failure_at).total_seconds()
    assert counter.failures == 13
    assert delay == app.config["THROTTLE_MAX_DELAY"]  # 60 * 2**7 would be far more


def test_c10_a_browser_that_signed_in_before_is_not_locked_out_by_an_attacker(app, client):
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502  # device cookie set
    attacker = app.test_client()
    for _ in range(8):
        attempt(attacker, DEMO_EMAIL, "guess guess guess guess")
    assert attempt(attacker, DEMO_EMAIL, DEMO_PASSWORD).status_code == 429
    page = client.get(LOGIN.format(n=7)).get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502  # the owner gets in


def test_c10_address_throttle(tmp_path):
    application = create_app(
        customer_test_config(
            tmp_path,
            broker_url="http://127.0.0.1:9",
            THROTTLE_ADDRESS_FREE_FAILURES=3,
            THROTTLE_BASE_DELAY=60,
        )
    )
    application.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    client = application.test_client()
    for n in range(3):  # different accounts, one address
        assert attempt(client, f"user{n}@example.com", "wrong wrong wrong").status_code == 422
    assert attempt(client, "user3@example.com", "wrong wrong wrong").status_code == 429


def test_audit_records_failures_without_the_password(app, client):
    attempt(client, DEMO_EMAIL, "my secret guess 12345")
    with app.app_context():
        events = db.session().scalars(select(AuditEvent)).all()
        user = db.session().scalar(select(User).where(User.email == DEMO_EMAIL))
    failed = [event for event in events if event.event == "sign_in.failed"]
    assert failed and failed[0].user_id == user.id
    assert failed[0].detail["reason"] == "wrong_password"
    assert all("my secret guess" not in str(event.detail) for event in events)


def test_c6_sign_in_moves_the_pending_requests_away_from_the_pre_login_cookie(app, client):
    """Session fixation: a copy of the browser's cookie from before the sign-in (planted or
    stolen) no longer names its login requests afterwards: the browser id was renewed."""
    page = client.get(LOGIN.format(n=1)).get_data(as_text=True)
    before = client.get_cookie("idp_session").value
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502  # signed in here

    planted = app.test_client()
    planted.set_cookie("idp_session", before)
    answer = planted.post(
        "/login/continue", data={"csrf_token": csrf_token(page), "login_request_id": "lri_1"}
    )
    assert answer.status_code == 400
    assert "We can&#39;t find this sign-in request" in answer.get_data(as_text=True)
    # The signed-in browser still has it.
    assert "Continue as Alice Doe" in client.get(LOGIN.format(n=1)).get_data(as_text=True)


def test_c6_a_csrf_token_from_before_the_sign_in_is_refused_after_it(client):
    """The pre-login session is cleared at sign-in, its CSRF secret with it."""
    page = client.get(LOGIN.format(n=1)).get_data(as_text=True)
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502
    stale = client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert stale.status_code == 400 and "This page has expired" in stale.get_data(as_text=True)
    assert "Continue as Alice Doe" in client.get(LOGIN.format(n=2)).get_data(as_text=True)


def test_c9_an_outdated_hash_is_replaced_at_sign_in_and_stored(app, client):
    """A hash made with older, weaker parameters is upgraded by the next successful sign-in,
    and the upgrade is what the database keeps."""
    weak = make_context(memory_kib=8 * 1024, time_cost=1).hash(DEMO_PASSWORD)
    with app.app_context():
        db.session().execute(
            update(User).where(User.email == DEMO_EMAIL).values(password_hash=weak)
        )
        db.session().commit()
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502  # signed in here
    with app.app_context():
        stored = db.session().scalar(select(User.password_hash).where(User.email == DEMO_EMAIL))
    assert stored != weak and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize("case", ["unknown", "disabled", "wrong"])
def test_c11_every_failing_path_of_the_method_runs_one_full_verification(
    runner, client, monkeypatch, case
):
    """Through the password method, not only the hasher: an unknown or disabled account costs
    the same argon2id verification as a wrong password, so timing tells nothing (C8)."""
    if case == "disabled":
        runner.invoke(args=["disable-user", DEMO_EMAIL])
    verified: list[str] = []
    for name in ("verify", "verify_and_update"):
        original = getattr(CryptContext, name)

        def counting(self, secret, hash, *args, _original=original, **kwargs):
            verified.append(hash)
            return _original(self, secret, hash, *args, **kwargs)

        monkeypatch.setattr(CryptContext, name, counting)
    email = "nobody@example.com" if case == "unknown" else DEMO_EMAIL
    password = "not the password of anyone" if case == "wrong" else DEMO_PASSWORD
    assert attempt(client, email, password).status_code == 422
    assert len(verified) == 1
    assert verified[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_c10_a_successful_sign_in_forgives_the_accounts_failures(app, client):
    """Wrong, then right: the account carries no failure afterwards (the address keeps its)."""
    assert attempt(client, DEMO_EMAIL, "not alice's password at all").status_code == 422
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502  # signed in here
    with app.app_context():
        keys = set(db.session().scalars(select(ThrottleCounter.key)))
    assert f"account:{DEMO_EMAIL}" not in keys
    assert "address:127.0.0.1" in keys


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (1, "Too many attempts. Try again in 1 second."),
        (2, "Too many attempts. Try again in 2 seconds."),
        (59, "Too many attempts. Try again in 59 seconds."),
        (60, "Too many attempts. Try again in 1 minute."),
        (61, "Too many attempts. Try again in 2 minutes."),
    ],
)
def test_c10_the_wait_said_is_the_real_wait(seconds, message):
    assert throttle.wait_message(seconds) == message


def test_c10_a_blocked_password_sign_in_points_to_the_magic_link(tmp_path):
    application = create_app(
        customer_test_config(
            tmp_path,
            broker_url="http://127.0.0.1:9",
            LOGIN_METHODS="password,magic_link",
            THROTTLE_ACCOUNT_FREE_FAILURES=1,
            THROTTLE_BASE_DELAY=30,
        )
    )
    application.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    client = application.test_client()
    assert attempt(client, DEMO_EMAIL, "wrong wrong wrong wrong").status_code == 422
    blocked = attempt(client, DEMO_EMAIL, "wrong wrong wrong wrong")
    assert blocked.status_code == 429
    html = blocked.get_data(as_text=True)
    said = re.search(r"Try again in (\d+) seconds\.", html)
    assert said and said.group(1) == blocked.headers["Retry-After"]  # the real wait, in seconds
    assert 0 < int(said.group(1)) <= 30
    assert "Or ask for a sign-in link by email instead." in html


def test_c10_a_device_cookie_lifts_the_block_only_for_its_own_account(app, client):
    """A browser that signed in as Alice is not exempt from the block on Bob's account."""
    assert attempt(client, DEMO_EMAIL, DEMO_PASSWORD).status_code == 502  # Alice's device
    attacker = app.test_client()
    for _ in range(8):
        attempt(attacker, "bob@example.com", "guess guess guess guess")
    assert attempt(attacker, "bob@example.com", "guess guess guess guess").status_code == 429
    assert attempt(client, "bob@example.com", "guess guess guess guess").status_code == 429


def test_e2_a_nul_in_a_form_field_is_refused_before_anything_is_written(app, client):
    """On SQLite too, where a NUL could be stored: the guard answers 400 before the method
    runs, so not even a failure is counted."""
    response = attempt(client, DEMO_EMAIL, "a long password\x00with a NUL in it")
    assert response.status_code == 400
    with app.app_context():
        keys = list(db.session().scalars(select(ThrottleCounter.key)))
    assert not [key for key in keys if key.startswith(("account:", "address:"))], keys
