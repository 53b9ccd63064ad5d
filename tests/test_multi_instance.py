"""Many instances, one truth: two gunicorn processes of each app on one PostgreSQL, behind
nginx round-robin (tests/cluster.py).

First every login method's full flow with requests spread over the instances; then one test
per piece of state a sign-in carries from request to request, each pinning the steps to
different instances (`X-Test-Instance`), so that each test fails if that state lived in one
process's memory.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from app import create_app
from identity import db, users
from identity.models import SignIn
from mock_broker.seed import DEMO_CLIENT_ID, DEV_MCP_SERVER_URL, DEV_RESOURCE_ID
from tests import databases
from tests.cluster import PIN_HEADER, Cluster
from tests.federated import METHODS, SIGN_IN, finish_at_broker, newest_link, with_password
from tests.stack import Browser

pytestmark = pytest.mark.integration

PASSWORD = "a passphrase long enough for the policy"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")
    with Cluster(directory, lambda name: databases.postgresql_url()) as running:
        yield running


@pytest.fixture(scope="module")
def customer_db(cluster):
    """The customer side's database, as an in-process app sees it (to add users, inspect)."""
    application = create_app(
        {
            "TESTING": True,
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": cluster.customer_database,
            "BROKER_ENV_URL": cluster.broker.url,
        }
    )
    yield application
    databases.dispose(application)


@pytest.fixture
def user(customer_db) -> str:
    """A verified user of its own for this test (so consent and throttles start fresh)."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    with customer_db.app_context():
        users.create_user(email, PASSWORD, name="Multi Instance", email_verified=True)
        db.session().commit()
    return email


def pin(instance: int) -> dict[str, str]:
    return {PIN_HEADER: str(instance)}


class Recorder:
    """Which instance of which app answered each of a browser's requests, in order."""

    def __init__(self, cluster: Cluster, browser: Browser) -> None:
        self.cluster = cluster
        self.served: list[tuple[str, int]] = []
        browser.hooks["response"].append(self.record)

    def record(self, response: requests.Response, *args, **kwargs) -> None:
        for name, endpoint in (("customer", self.cluster.idp), ("broker", self.cluster.broker)):
            if response.url.startswith(endpoint.url + "/"):
                self.served.append((name, endpoint.instance_of(response)))

    def of(self, name: str) -> list[int]:
        return [instance for app, instance in self.served if app == name]


def exchange(cluster: Cluster, code: str, verifier: str, instance: int) -> requests.Response:
    """The MCP client's code exchange, at broker instance `instance`."""
    return requests.post(
        f"{cluster.broker.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": cluster.demo_redirect_uri,
            "client_id": DEMO_CLIENT_ID,
            "code_verifier": verifier,
            "resource": DEV_MCP_SERVER_URL,
        },
        headers=pin(instance),
        timeout=30,
    )


# -- every login method, round-robin --------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_login_method_completes_across_instances(cluster, user, method):
    browser = Browser(cluster)
    served = Recorder(cluster, browser)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    redirect = finish_at_broker(browser, SIGN_IN[method](cluster, browser, login, user, PASSWORD))
    token = browser.exchange(redirect["code"][0], authorization.verifier)
    assert token.status_code == 200, token.text

    # nginx alternated: no two consecutive customer-side requests of this browser landed on
    # the same instance (only this browser talks to that proxy), and the broker's both served.
    customer = served.of("customer")
    assert len(customer) >= 2 and all(a != b for a, b in pairwise(customer))
    assert set(served.of("broker")) == {0, 1}


# -- the customer side's state --------------------------------------------------------------


def test_pending_login_request_remembered_by_one_instance_is_completed_on_the_other(cluster, user):
    browser = Browser(cluster)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url, headers=pin(0))
    handed_off = with_password(cluster, browser, login, user, PASSWORD, **pin(1))
    assert handed_off.status == 303, handed_off.text()
    assert browser.handoff_target(handed_off).startswith(cluster.broker.url)


def test_csrf_token_from_one_instance_is_honoured_by_the_other_and_checked_there(cluster, user):
    browser = Browser(cluster)
    login = browser.page("GET", browser.authorize().login_url, headers=pin(0))
    action, fields = login.form("/login/password/")
    forged = {**fields, "csrf_token": "forged", "email": user, "password": PASSWORD}
    refused = browser.page("POST", action, data=forged, headers=pin(1))
    assert refused.status == 400, refused.text()  # C5: checked on every instance
    assert with_password(cluster, browser, login, user, PASSWORD, **pin(1)).status == 303


def test_session_from_one_instance_is_known_and_revoked_on_the_other(cluster, user, customer_db):
    browser = Browser(cluster)
    login = browser.page("GET", browser.authorize().login_url, headers=pin(0))
    assert with_password(cluster, browser, login, user, PASSWORD, **pin(0)).status == 303

    again = browser.page("GET", browser.authorize().login_url, headers=pin(1))
    assert "Continue as" in again.text()
    action, fields = again.form("/logout")
    assert browser.page("POST", action, data=fields, headers=pin(1)).status == 303

    after = browser.page("GET", browser.authorize().login_url, headers=pin(0))
    assert "Continue as" not in after.text()
    with customer_db.app_context():
        signed_in = db.session().query(SignIn).join(SignIn.user).filter_by(email=user).one()
        assert signed_in.revoked_at is not None


def test_c10_password_failures_on_every_instance_count_toward_one_throttle(cluster, user):
    browser = Browser(cluster)
    login = browser.page("GET", browser.authorize().login_url)
    action, fields = login.form("/login/password/")
    wrong = {**fields, "email": user, "password": "not the password at all"}
    for attempt in range(5):  # THROTTLE_ACCOUNT_FREE_FAILURES, alternating instances
        failed = browser.page("POST", action, data=wrong, headers=pin(attempt % 2))
        assert failed.status == 422, failed.text()
    # Each instance saw fewer than five: only a shared counter blocks on either of them.
    for instance in (0, 1):
        blocked = browser.page("POST", action, data=wrong, headers=pin(instance))
        assert blocked.status == 429, blocked.text()


def test_c13_magic_link_asked_on_one_instance_is_spent_once_on_any(cluster, user):
    browser = Browser(cluster)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url, headers=pin(0))
    action, fields = login.form("/login/magic_link/")
    asked = browser.page("POST", action, data={**fields, "magic_link-email": user}, headers=pin(0))
    assert asked.status == 303, asked.text()
    link = newest_link(cluster.mail, user)

    confirm = browser.page("GET", link, headers=pin(1))
    assert confirm.status == 200, confirm.text()
    action, fields = confirm.form("/login/magic_link/confirm")
    spent = browser.page("POST", action, data=fields, headers=pin(1))
    redirect = finish_at_broker(browser, spent)
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200

    replay = browser.page("GET", link, headers=pin(0))
    assert replay.status == 410 and "already used" in replay.text()


def test_c16_magic_link_requests_on_every_instance_count_toward_one_limit(cluster, user):
    browser = Browser(cluster)
    login = browser.page("GET", browser.authorize().login_url)
    action, fields = login.form("/login/magic_link/")
    for attempt in range(3):  # LOGIN_METHOD_MAGIC_LINK_EMAIL_LIMIT, alternating instances
        asked = browser.page(
            "POST", action, data={**fields, "magic_link-email": user}, headers=pin(attempt % 2)
        )
        assert asked.status == 303, asked.text()
    cluster.mail.wait_for(user, count=3)
    for instance in (0, 1):
        limited = browser.page(
            "POST", action, data={**fields, "magic_link-email": user}, headers=pin(instance)
        )
        assert limited.status == 429, limited.text()
    assert len([m for m in cluster.mail.messages() if m["To"] == user]) == 3


def test_c18_oidc_sign_in_started_on_one_instance_returns_to_the_other(cluster, user):
    browser = Browser(cluster)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url, headers=pin(0))
    action, fields = login.form("/login/oidc/standin/start")
    started = browser.page("POST", action, data=fields, headers=pin(0))
    assert started.status == 303, started.text()
    form_page = browser.follow(started)
    url, fields = form_page.form("/authorize")
    fields.update(username="oidc-" + user.split("@")[0], email=user, email_verified="true")
    fields.pop("no_email", None)
    back = browser.post(url, data={**fields, "action": "continue"}, allow_redirects=False)
    # state, nonce and the PKCE verifier were kept by instance 0; instance 1 checks them.
    returned = browser.page("GET", back.headers["Location"], headers=pin(1))
    redirect = finish_at_broker(browser, returned)
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200


# -- the broker's state ---------------------------------------------------------------------


def test_b_consent_page_from_one_broker_instance_is_approved_on_the_other(cluster, user):
    browser = Browser(cluster)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    handed_off = with_password(cluster, browser, login, user, PASSWORD)
    callback = browser.page("GET", browser.handoff_target(handed_off), headers=pin(0))
    assert callback.status == 200 and "Allow" in callback.text()
    action, fields = callback.form(button="Allow")
    answer = browser.page("POST", action, data=fields, headers=pin(1))
    assert answer.status in (302, 303), answer.text()
    code = parse_qs(urlsplit(answer.response.headers["Location"]).query)["code"][0]
    assert browser.exchange(code, authorization.verifier).status_code == 200


def test_b_remembered_consent_on_one_broker_instance_is_honoured_by_the_other(cluster, user):
    browser = Browser(cluster)
    login = browser.page("GET", browser.authorize().login_url)
    finish_at_broker(browser, with_password(cluster, browser, login, user, PASSWORD), **pin(0))

    again = browser.page("GET", browser.authorize().login_url)
    action, fields = again.form("/login/continue")
    handed_off = browser.page("POST", action, data=fields)
    callback = browser.page("GET", browser.handoff_target(handed_off), headers=pin(1))
    assert callback.status == 302, callback.text()  # no second consent page


def test_b_code_from_one_broker_instance_is_redeemed_once_on_any(cluster, user):
    browser = Browser(cluster)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    redirect = finish_at_broker(
        browser, with_password(cluster, browser, login, user, PASSWORD), **pin(0)
    )
    code = redirect["code"][0]
    redeemed = exchange(cluster, code, authorization.verifier, instance=1)
    assert redeemed.status_code == 200, redeemed.text
    # The same code at each instance in turn: spent everywhere, not only where it was made.
    for instance in (0, 1):
        replay = exchange(cluster, code, authorization.verifier, instance)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_m2m_tokens_are_one_per_customer_process_not_one_per_sign_in(cluster, user):
    def sign_in_handing_off_at(instance: int) -> None:
        browser = Browser(cluster)
        login = browser.page("GET", browser.authorize().login_url)
        handed_off = with_password(cluster, browser, login, user, PASSWORD, **pin(instance))
        finish_at_broker(browser, handed_off)

    for instance in (0, 1):  # each customer process has fetched and cached its M2M token…
        sign_in_handing_off_at(instance)
    before = cluster.m2m_tokens_issued()
    for attempt in range(6):  # …so more hand-offs on either, via either broker, add none
        sign_in_handing_off_at(attempt % 2)
    assert cluster.m2m_tokens_issued() == before <= 2


def test_key_rotation_is_seen_by_every_broker_instance(cluster, user):
    def sign_in_token() -> str:
        browser = Browser(cluster)
        authorization = browser.authorize()
        login = browser.page("GET", authorization.login_url)
        redirect = finish_at_broker(browser, with_password(cluster, browser, login, user, PASSWORD))
        return browser.exchange(redirect["code"][0], authorization.verifier).json()["access_token"]

    def jwks(instance: int) -> KeySet:
        metadata = requests.get(
            f"{cluster.broker.url}/resources/{DEV_RESOURCE_ID}/.well-known/oauth-authorization-server",
            headers=pin(instance),
            timeout=10,
        ).json()
        return KeySet.import_key_set(
            requests.get(metadata["jwks_uri"], headers=pin(instance), timeout=10).json()
        )

    old_token = sign_in_token()
    old_kid = jwt.decode(old_token, jwks(0)).header["kid"]
    cluster.flask("mock_broker", "rotate-signing-key")
    published = [{key.kid for key in jwks(instance).keys} for instance in (0, 1)]
    assert published[0] == published[1] and len(published[0]) == 2  # both keys, everywhere
    cluster.flask("mock_broker", "rotate-signing-key", "--activate")
    new_kids = {jwt.decode(sign_in_token(), jwks(i)).header["kid"] for i in (0, 1, 0, 1)}
    assert new_kids == published[0] - {old_kid}  # every instance signs with the new key
    for instance in (0, 1):  # and the old token still validates against either's JWKS
        assert jwt.decode(old_token, jwks(instance)).claims["sub"]
