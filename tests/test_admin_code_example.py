"""The admin-code example (examples/admin_code, built in docs/writing-a-login-method.md).

Through the public surface: the operator's CLI, the login form over Flask's test client on
the customer side alone (the broker unreachable, so a successful sign-in ends on the honest
"Try again" page, 502), its migration, and the whole federated flow over real HTTP.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, update

from app import create_app
from examples.admin_code.codes import AdminCode
from examples.admin_code.method import GENERIC_FAILURE
from identity import db
from identity.config import ConfigError
from identity.db import Base
from identity.models import AuditEvent, ThrottleCounter, utcnow
from tests.helpers import DEMO_EMAIL, csrf_token, customer_test_config

METHODS = "password,examples.admin_code:AdminCodeMethod"
LOGIN = "/login?login_request_id=lri_{n}&state=st_{n}"
# O is not in the codes' alphabet: never a valid code, and shaped like one.
WRONG = "WRONG-WRONG"
ISSUED = re.compile(r"Sign-in code for \S+: ([A-Z2-9]{5}-[A-Z2-9]{5})\n")
ROOT = Path(__file__).parents[1]
QUOTE = re.compile(r"<!-- quoted from (\S+) -->\n```\w+\n(.*?)\n```", re.DOTALL)


def issue_code(app, email: str = DEMO_EMAIL) -> str:
    """Run the operator's command against `app`'s database; the code it printed."""
    result = app.test_cli_runner().invoke(args=["admin-code", "issue", email])
    assert result.exit_code == 0, result.output
    return ISSUED.search(result.output).group(1)


def make_app(tmp_path: Path, **overrides):
    application = create_app(
        customer_test_config(
            tmp_path,
            broker_url="http://127.0.0.1:9",
            BROKER_RETRIES=0,
            THROTTLE_BASE_DELAY=60,  # long enough that no test can outrun a block
            **{"LOGIN_METHODS": METHODS, **overrides},
        )
    )
    runner = application.test_cli_runner()
    runner.invoke(args=["init-db"], catch_exceptions=False)
    runner.invoke(args=["seed-demo"], catch_exceptions=False)
    return application


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def attempt(client, email: str, code: str, n: int = 1):
    page = client.get(LOGIN.format(n=n)).get_data(as_text=True)
    return client.post(
        "/login/admin_code/",
        data={
            "csrf_token": csrf_token(page),
            "login_request_id": f"lri_{n}",
            "email": email,
            "code": code,
        },
    )


def signed_in(response) -> bool:
    """Signed in here, then the hand-off to the (unreachable) broker failed honestly."""
    return response.status_code == 502 and "Try again" in response.get_data(as_text=True)


def normalized(html: str) -> str:
    """The page minus what legitimately differs: CSRF token, request id, the echoed email."""
    return re.sub(r'value="[^"]*"', 'value=""', html)


def expire_codes(app) -> None:
    """Time passes: every stored code's deadline is now behind us."""
    with app.app_context():
        db.session().execute(update(AdminCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session().commit()


def test_cli_issues_a_code_that_signs_in_once_however_it_is_typed(app, client):
    code = issue_code(app)
    assert signed_in(attempt(client, DEMO_EMAIL.upper(), code.lower().replace("-", " ")))
    assert "Continue as Alice Doe" in client.get(LOGIN.format(n=2)).get_data(as_text=True)
    with app.app_context():
        record = db.session().scalar(select(AdminCode))
        assert record.used_at is not None
        assert record.expires_at - record.created_at == timedelta(minutes=10)


def test_cli_refuses_unknown_and_disabled_users(app, runner):
    unknown = runner.invoke(args=["admin-code", "issue", "nobody@example.com"])
    assert unknown.exit_code != 0 and "No user with email" in unknown.output
    runner.invoke(args=["disable-user", DEMO_EMAIL], catch_exceptions=False)
    disabled = runner.invoke(args=["admin-code", "issue", DEMO_EMAIL])
    assert disabled.exit_code != 0 and "is disabled" in disabled.output


def test_c8_wrong_unknown_expired_reused_and_disabled_all_get_the_same_answer(app):
    first = issue_code(app)
    assert signed_in(attempt(app.test_client(), DEMO_EMAIL, first))
    reused = attempt(app.test_client(), DEMO_EMAIL, first)

    expiring = issue_code(app)
    expire_codes(app)
    expired = attempt(app.test_client(), DEMO_EMAIL, expiring)

    live = issue_code(app)
    wrong = attempt(app.test_client(), DEMO_EMAIL, WRONG)
    unknown = attempt(app.test_client(), "nobody@example.com", live)

    answers = [reused, expired, wrong, unknown]
    assert {answer.status_code for answer in answers} == {422}
    pages = {normalized(answer.get_data(as_text=True)) for answer in answers}
    assert len(pages) == 1 and GENERIC_FAILURE in pages.pop()

    # Failed attempts spent nothing: the live code still works, once.
    assert signed_in(attempt(app.test_client(), DEMO_EMAIL, live))

    later = issue_code(app)
    app.test_cli_runner().invoke(args=["disable-user", DEMO_EMAIL], catch_exceptions=False)
    disabled = attempt(app.test_client(), DEMO_EMAIL, later)
    assert disabled.status_code == 422
    assert normalized(disabled.get_data(as_text=True)) == normalized(reused.get_data(as_text=True))


def test_issuing_a_code_replaces_the_earlier_one(app):
    earlier = issue_code(app)
    later = issue_code(app)
    assert attempt(app.test_client(), DEMO_EMAIL, earlier).status_code == 422
    assert signed_in(attempt(app.test_client(), DEMO_EMAIL, later))


def test_c10_account_throttle_trips_and_a_blocked_attempt_spends_nothing(app, client):
    code = issue_code(app)
    statuses = [attempt(client, DEMO_EMAIL, WRONG).status_code for _ in range(7)]
    assert statuses[:5] == [422] * 5 and statuses[-1] == 429  # five free failures, then a block
    blocked = attempt(client, DEMO_EMAIL, code)  # even the right code waits
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts" in blocked.get_data(as_text=True)

    with app.app_context():  # time passes: the block ends
        db.session().execute(
            update(ThrottleCounter).values(blocked_until=utcnow() - timedelta(seconds=1))
        )
        db.session().commit()
    assert signed_in(attempt(client, DEMO_EMAIL, code))


def test_c10_address_throttle_counts_failures_across_accounts(tmp_path):
    app = make_app(tmp_path, THROTTLE_ADDRESS_FREE_FAILURES=3)
    client = app.test_client()
    statuses = [attempt(client, f"user{n}@example.com", WRONG).status_code for n in range(4)]
    assert statuses[:3] == [422] * 3  # three free failures from this address, whoever for
    assert attempt(client, DEMO_EMAIL, issue_code(app)).status_code == 429


def test_codes_are_stored_only_as_keyed_digests_and_never_audited(app, tmp_path):
    code = issue_code(app)
    assert signed_in(attempt(app.test_client(), DEMO_EMAIL, code))
    assert attempt(app.test_client(), DEMO_EMAIL, code).status_code == 422
    with app.app_context():
        digest = db.session().scalar(select(AdminCode.code_digest))
        events = db.session().scalars(select(AuditEvent)).all()
    plain = code.replace("-", "")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest != hashlib.sha256(plain.encode()).hexdigest()  # keyed, not searchable offline
    assert {"admin_code.issued", "sign_in.succeeded", "sign_in.failed"} <= {
        event.event for event in events
    }
    assert all(plain not in str(event.detail) for event in events)
    database = b"".join(path.read_bytes() for path in tmp_path.glob("identity.sqlite3*"))
    assert code.encode() not in database and plain.encode() not in database


def test_form_errors_are_tied_to_their_fields(client):
    response = attempt(client, "", "")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'aria-describedby="admin-code-email-errors"' in html
    assert 'aria-describedby="admin-code-hint admin-code-errors"' in html
    assert "Enter your email." in html and "Enter the code from your administrator." in html

    failed = attempt(client, DEMO_EMAIL, WRONG).get_data(as_text=True)
    assert '<div id="admin-code-alert" class="alert error" role="alert">' in failed
    assert 'aria-describedby="admin-code-hint admin-code-alert"' in failed
    assert "value=WRONG" not in failed  # a code is never echoed back


def test_c5_the_form_needs_its_csrf_token(client):
    client.get(LOGIN.format(n=1))
    response = client.post(
        "/login/admin_code/",
        data={"login_request_id": "lri_1", "email": DEMO_EMAIL, "code": "ABCDE-FGHJK"},
    )
    assert response.status_code == 400
    assert "This page has expired" in response.get_data(as_text=True)


def test_ttl_comes_from_its_setting_and_is_bounded(tmp_path):
    app = make_app(tmp_path, LOGIN_METHOD_ADMIN_CODE_TTL="120")  # as read from the environment
    issue_code(app)
    with app.app_context():
        record = db.session().scalar(select(AdminCode))
    assert record.expires_at - record.created_at == timedelta(minutes=2)
    page = app.test_client().get(LOGIN.format(n=1)).get_data(as_text=True)
    assert "It works once, for 2 minutes." in page
    with pytest.raises(ConfigError, match="LOGIN_METHOD_ADMIN_CODE_TTL"):
        make_app(tmp_path, LOGIN_METHOD_ADMIN_CODE_TTL="86400")


def test_init_db_applies_the_methods_migration_only_when_it_is_enabled(app, tmp_path):
    with app.app_context():
        connection = db.session().connection()
        assert "admin_codes" in inspect(connection).get_table_names()
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert not [diff for diff in differences if "admin_codes" in repr(diff)]  # matches the model

    (tmp_path / "without").mkdir()
    without = make_app(tmp_path / "without", LOGIN_METHODS="password")
    with without.app_context():
        assert "admin_codes" not in inspect(db.engine()).get_table_names()


def test_the_guide_quotes_the_real_code():
    quotes = QUOTE.findall((ROOT / "docs" / "writing-a-login-method.md").read_text())
    method_files = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "examples" / "admin_code").rglob("*")
        if path.suffix in {".py", ".html"}
    }
    assert method_files <= {path for path, _ in quotes}  # every file is walked through
    for path, code in quotes:
        assert code in (ROOT / path).read_text(), f"the guide's quote of {path} is out of date"


@pytest.mark.integration
def test_admin_code_sign_in_completes_the_federated_login(fresh_stack):
    stack = fresh_stack(LOGIN_METHODS=METHODS)
    code = issue_code(stack.idp.app)
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    assert "Sign in with a code from your administrator" in login.text()

    handed_off = browser.submit(login, "/login/admin_code/", email=DEMO_EMAIL, code=code)
    assert handed_off.status == 303, handed_off.text()
    callback = browser.handoff_target(handed_off)
    assert callback.startswith(f"{stack.broker.url}/sso/v1/connections/")
    redirect = browser.approve(browser.page("GET", callback))
    assert redirect["state"] == [authorization.client_state]
    token = browser.exchange(redirect["code"][0], authorization.verifier)
    assert token.status_code == 200, token.text

    # The code is spent: replayed from another browser, it is refused like any wrong code.
    other = stack.browser()
    replay_page = other.page("GET", other.authorize().login_url)
    replay = other.submit(replay_page, "/login/admin_code/", email=DEMO_EMAIL, code=code)
    assert replay.status == 422 and GENERIC_FAILURE in replay.text()
    with stack.idp.app.app_context():
        methods = db.session().scalars(
            select(AuditEvent.detail).where(AuditEvent.event == "sign_in.succeeded")
        )
        assert [detail["method"] for detail in methods] == ["admin_code"]
