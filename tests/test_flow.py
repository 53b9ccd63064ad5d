"""The federated login end to end: both apps over real HTTP on loopback.

An MCP client (the broker's demo client) starts an authorization at the broker; the browser
signs in at the customer side with a password; the customer backend posts the profile to the
broker and redirects to its callback; the user consents; the client exchanges the code and
gets an access token that verifies against the broker's JWKS.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from identity import db
from identity.models import AuditEvent
from mock_broker import seed as broker_seed
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

pytestmark = pytest.mark.integration


def verified_claims(stack, access_token: str) -> dict:
    keys = KeySet.import_key_set(requests.get(f"{stack.broker.url}/keys", timeout=10).json())
    token = jwt.decode(access_token, keys, algorithms=["RS256"])
    issuer = f"{stack.broker.url}/resources/{broker_seed.DEV_RESOURCE_ID}"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        exp={"essential": True},
    ).validate(token.claims)
    return token.claims


def sign_in_and_consent(browser, authorization):
    login = browser.page("GET", authorization.login_url)
    assert login.status == 200, login.text()
    handed_off = browser.sign_in_with_password(login)
    assert handed_off.status == 303, handed_off.text()
    return browser.approve(browser.follow(handed_off))


def audit_events(stack) -> list[str]:
    with stack.idp.app.app_context():
        return list(db.session().scalars(select(AuditEvent.event).order_by(AuditEvent.id)))


def test_password_login_end_to_end_yields_a_verified_access_token(stack):
    browser = stack.browser()
    authorization = browser.authorize(scope="notes:read")
    assert authorization.login_url.startswith(f"{stack.idp.url}/login?login_request_id=lri_")

    redirect = sign_in_and_consent(browser, authorization)
    assert redirect["state"] == [authorization.client_state]
    issuer = f"{stack.broker.url}/resources/{broker_seed.DEV_RESOURCE_ID}"
    assert redirect["iss"] == [issuer]  # B6

    token_response = browser.exchange(redirect["code"][0], authorization.verifier)
    assert token_response.status_code == 200, token_response.text
    assert token_response.headers["Cache-Control"] == "no-store"  # B11
    body = token_response.json()
    assert body["token_type"].lower() == "bearer"

    claims = verified_claims(stack, body["access_token"])
    assert claims["sub"].startswith("usr_")
    assert set(claims["aud"]) == {broker_seed.DEV_MCP_SERVER_URL, broker_seed.DEV_RESOURCE_ID}
    assert claims["client_id"] == broker_seed.DEMO_CLIENT_ID
    assert claims["scope"] == "notes:read"
    assert claims["custom_claims"] == {"plan": "enterprise"}
    assert claims["email"] == DEMO_EMAIL
    assert {"broker.profile_posted", "sign_in.succeeded"} <= set(audit_events(stack))


def test_handoff_redirect_is_built_from_config_and_stored_state(stack):
    """C3: against the documented contract (a broker in `state-only` mode), the callback URL
    is the configured broker + the state the broker sent, nothing else."""
    browser = stack.browser()
    with stack.broker_configured(CALLBACK_MODE="state-only"):
        authorization = browser.authorize()
        login = browser.page("GET", authorization.login_url)
        handed_off = browser.sign_in_with_password(login)
    location = urlsplit(browser.handoff_target(handed_off))
    callback = (
        f"{stack.broker.url}/sso/v1/connections/{broker_seed.DEV_CONNECTION_ID}/partner:callback"
    )
    assert f"{location.scheme}://{location.netloc}{location.path}" == callback
    sent = parse_qs(urlsplit(authorization.login_url).query)
    assert parse_qs(location.query) == {"state": sent["state"]}


def test_c3_a_state_in_the_request_never_reaches_the_callback(stack):
    """C3: whatever `state` the sign-in request itself carries (query or form), the callback
    gets the one stored when the broker sent the browser here."""
    browser = stack.browser()
    with stack.broker_configured(CALLBACK_MODE="state-only"):
        authorization = browser.authorize()
        login = browser.page("GET", authorization.login_url)
        action, fields = login.form("/login/password/")
        handed_off = browser.page(
            "POST",
            f"{action}?state=forged-state&next=https://evil.example/",
            data={**fields, "email": DEMO_EMAIL, "password": DEMO_PASSWORD, "state": "forged"},
        )
    location = browser.handoff_target(handed_off)
    sent = parse_qs(urlsplit(authorization.login_url).query)
    assert parse_qs(urlsplit(location).query) == {"state": sent["state"]}
    assert location.startswith(stack.broker.url + "/")


@pytest.mark.parametrize("pending", [False, True])
def test_c3_sign_out_follows_no_next_parameter(stack, pending):
    """C3: sign-out goes home, or back to the pending request's login page; never elsewhere."""
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    browser.approve(browser.follow(browser.sign_in_with_password(login)))
    waiting = browser.authorize()  # a second sign-in, still pending here
    assert browser.page("GET", waiting.login_url).status == 200
    home = browser.page("GET", f"{stack.idp.url}/")
    action, fields = home.form("/logout")
    lri = parse_qs(urlsplit(waiting.login_url).query)["login_request_id"][0]
    data = {
        **fields,
        "next": "https://evil.example/",
        **({"login_request_id": lri} if pending else {}),
    }
    out = browser.page("POST", f"{action}?next=https://evil.example/", data=data)
    assert out.status == 303
    location = urljoin(stack.idp.url + "/", out.response.headers["Location"])
    assert location.startswith(stack.idp.url + "/")
    assert "evil" not in location
    if pending:
        assert location.startswith(f"{stack.idp.url}/login?login_request_id={lri}&")


def test_two_login_requests_pending_in_one_browser_complete_independently(stack):
    """C2: two tabs, two MCP authorizations, one browser."""
    browser = stack.browser()
    first, second = browser.authorize(), browser.authorize()
    first_login = browser.page("GET", first.login_url)
    second_login = browser.page("GET", second.login_url)

    # Complete the second tab first, with the password.
    redirect_two = browser.approve(browser.follow(browser.sign_in_with_password(second_login)))
    assert redirect_two["state"] == [second.client_state]

    # The first tab's page is stale (the sign-in rotated the session); reloading it offers
    # "Continue as", which completes the first request without a password.
    first_login = browser.page("GET", first.login_url)
    assert "Continue as Alice Doe" in first_login.text()
    handed_off = browser.submit(first_login, "/login/continue")
    redirect_one = browser.approve(browser.follow(handed_off))
    assert redirect_one["state"] == [first.client_state]
    assert browser.exchange(redirect_one["code"][0], first.verifier).status_code == 200
    assert browser.exchange(redirect_two["code"][0], second.verifier).status_code == 200


def test_use_another_account_signs_out_and_keeps_the_request(stack):
    browser = stack.browser()
    sign_in_and_consent(browser, browser.authorize())
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    assert "Continue as" in login.text()
    back = browser.submit(login, "/logout")
    assert back.status == 303
    fresh = browser.follow(back)
    assert "Continue as" not in fresh.text()
    redirect = browser.approve(browser.follow(browser.sign_in_with_password(fresh)))
    assert redirect["state"] == [authorization.client_state]


def test_completed_login_request_cannot_be_completed_again(stack):
    """C2: used once. Replaying the sign-in form or the continue form answers 409."""
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    browser.approve(browser.follow(browser.sign_in_with_password(login)))
    again = browser.page("GET", authorization.login_url)
    assert again.status == 409
    assert "already complete" in again.text()


def test_replayed_callback_state_is_refused_by_the_broker(stack):
    browser = stack.browser()
    authorization = browser.authorize()
    handed_off = browser.sign_in_with_password(browser.page("GET", authorization.login_url))
    callback = browser.handoff_target(handed_off)
    browser.approve(browser.page("GET", callback))
    replay = browser.page("GET", callback)
    assert replay.status == 400
    assert "invalid_state" in replay.response.text
    # Our own hand-off page sends a browser on once: visited again, it has nothing to continue.
    again = browser.page("GET", urljoin(stack.idp.url, handed_off.response.headers["Location"]))
    assert again.status == 404 and "Nothing to continue here" in again.text()


def test_wrong_pkce_verifier_is_refused(stack):
    browser = stack.browser()
    authorization = browser.authorize()
    code = sign_in_and_consent(browser, authorization)["code"][0]
    wrong = browser.exchange(code, "w" * 43)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_replayed_code_is_refused(stack):
    browser = stack.browser()
    authorization = browser.authorize()
    code = sign_in_and_consent(browser, authorization)["code"][0]
    first = browser.exchange(code, authorization.verifier)
    assert first.status_code == 200, first.text
    second = browser.exchange(code, authorization.verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"


def test_mismatched_redirect_uri_never_reaches_the_login_page(stack):
    browser = stack.browser()
    response = browser.get(
        f"{stack.broker.url}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": broker_seed.DEMO_CLIENT_ID,
            "redirect_uri": "https://evil.example/callback",
            "state": "x",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "resource": broker_seed.DEV_MCP_SERVER_URL,
        },
        allow_redirects=False,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_wrong_password_and_unknown_user_get_the_same_answer_over_http(stack):
    """C8 through both apps: no hand-off, the same status and the same page."""
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    wrong = browser.sign_in_with_password(login, password="not the right password")
    unknown = browser.sign_in_with_password(login, email="nobody@example.com")
    assert wrong.status == unknown.status == 422
    assert "Location" not in wrong.response.headers
    assert wrong.text().replace(DEMO_EMAIL, "") == unknown.text().replace("nobody@example.com", "")
    # The login request is untouched: the right password still completes it.
    redirect = browser.approve(browser.follow(browser.sign_in_with_password(login)))
    assert redirect["state"] == [authorization.client_state]
