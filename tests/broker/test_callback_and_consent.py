"""The browser's return (contract §4) and the consent screen (B8, B9, B6)."""

from __future__ import annotations

import pytest
import requests

from mock_broker import database, login_requests
from mock_broker.models import BrokerUser, LoginRequest, OAuthClient, RegistrationMethod
from mock_broker.seed import DEV_CONNECTION_ID, DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, csrf_token, redirect_query


def _assert_invalid_state(response) -> None:
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<title>invalid_state" in response.text
    assert "start again" in response.text


@pytest.fixture
def flow(broker):
    return broker.start_login()


@pytest.fixture
def state_only(broker):
    """The documented contract, where the callback's credential is the state (B9)."""
    with broker.configured(CALLBACK_MODE="state-only"):
        yield


@pytest.mark.usefixtures("state_only")
def test_b9_unknown_state_is_invalid_state(broker, flow):
    flow.post_profile()

    _assert_invalid_state(flow.callback(state="not-the-state"))


@pytest.mark.usefixtures("state_only")
@pytest.mark.parametrize("state", ["", "x" * 600, "\u00e9"])
def test_b9_malformed_state_is_invalid_state(broker, flow, state):
    _assert_invalid_state(flow.callback(state=state))


def test_e2_nul_in_any_input_is_a_plain_400(broker, flow):
    """identity.input_guard: refused before any lookup (PostgreSQL cannot store a NUL)."""
    response = flow.callback(state="\u00e9\u0000")
    assert response.status_code == 400 and "bad_request" in response.text


@pytest.mark.usefixtures("state_only")
def test_b9_missing_state_is_invalid_state(broker):
    response = requests.get(
        f"{broker.url}/sso/v1/connections/{DEV_CONNECTION_ID}/partner:callback", timeout=TIMEOUT
    )

    _assert_invalid_state(response)


def test_b9_state_before_the_profile_arrived_is_invalid_state(broker, flow):
    _assert_invalid_state(flow.callback())


def test_b9_state_is_single_use(broker, flow):
    flow.post_profile()
    assert flow.callback().status_code == 200

    _assert_invalid_state(flow.callback())


@pytest.mark.usefixtures("state_only")
def test_b9_state_is_single_use_in_state_only_mode(broker, flow):
    """Here the state alone is the callback's credential: spending it must be conditional."""
    flow.post_profile()
    assert flow.callback_uri is None  # the documented contract: the state-only URL
    assert flow.callback().status_code == 200

    _assert_invalid_state(flow.callback())
    _assert_invalid_state(flow.callback(browser=requests.Session()))


def test_b9_expired_state_is_invalid_state(broker, flow):
    flow.post_profile()
    login_requests.expire(broker.app, flow.login_request_id)

    _assert_invalid_state(flow.callback())


def test_b9_state_is_bound_to_its_connection(broker, flow):
    flow.post_profile()
    response = flow.browser.get(
        f"{broker.url}/sso/v1/connections/conn_other/partner:callback",
        params={"state": flow.broker_state},
        timeout=TIMEOUT,
    )

    _assert_invalid_state(response)
    assert flow.callback().status_code == 200  # the failed attempt did not spend it


def test_b8_consent_page_shows_client_redirect_host_scopes_and_user(broker, flow):
    flow.post_profile(email="bob@example.com", organization_external_name="Acme <Corp>")

    page = flow.callback()

    assert page.status_code == 200
    assert "Broker demo" in page.text
    assert "127.0.0.1" in page.text  # the redirect URI's host
    assert "notes:read" in page.text and "notes:write" in page.text
    assert "bob@example.com" in page.text
    assert "Acme &lt;Corp&gt;" in page.text  # escaped
    assert "on your own computer" in page.text  # loopback redirect warning (MCP 2025-11-25)
    assert csrf_token(page.text)


def test_b8_consent_page_cannot_be_framed_and_allows_no_inline_code(broker, flow):
    flow.post_profile()

    headers = flow.callback().headers

    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_lax_and_named_for_the_broker(broker, flow):
    flow.post_profile()

    cookie = flow.callback().headers["Set-Cookie"]

    assert cookie.startswith("broker_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_callback_creates_the_broker_user_keyed_by_connection_and_sub(broker, flow):
    flow.post_profile(sub="ext-42", email="carol@example.com")
    flow.callback()

    with broker.app.app_context():
        login_request = database.session().get(LoginRequest, flow.login_request_id)
        user = database.session().get(BrokerUser, login_request.user_id)
        assert user.id.startswith("usr_")
        assert (user.connection_id, user.external_sub) == (DEV_CONNECTION_ID, "ext-42")
        assert login_request.status == "awaiting_consent"


def test_b6_approve_redirects_with_code_state_and_iss(broker, flow):
    flow.post_profile()

    response = flow.decide("approve")

    assert response.status_code == 302
    assert response.headers["Location"].startswith(broker.demo_redirect_uri + "?")
    query = redirect_query(response)
    assert query["code"]
    assert query["state"] == flow.client_state
    assert query["iss"] == broker.issuer


def test_b6_deny_redirects_with_access_denied_state_and_iss(broker, flow):
    flow.post_profile()

    response = flow.decide("deny")

    query = redirect_query(response)
    assert query["error"] == "access_denied"
    assert query["state"] == flow.client_state
    assert query["iss"] == broker.issuer
    assert "code" not in query


def test_b8_consent_without_csrf_token_is_400(broker, flow):
    flow.post_profile()
    page = flow.callback()

    response = flow.submit_consent(page.text, "approve", csrf=False)

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_b8_consent_only_works_in_the_browser_that_came_through_the_callback(broker, flow):
    flow.post_profile()
    page = flow.callback()
    stranger = requests.Session()
    stranger_page = stranger.get(f"{broker.url}/", timeout=TIMEOUT)  # has its own CSRF token

    response = stranger.post(
        f"{broker.url}/oauth/consent",
        data={
            "login_request_id": flow.login_request_id,
            "decision": "approve",
            "csrf_token": csrf_token(stranger_page.text),
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert flow.submit_consent(page.text, "approve").status_code == 302  # the owner still can


def test_b8_a_consent_decision_by_get_changes_nothing(broker, flow):
    """A link on another site (a top-level GET: the Lax session cookie goes along, and GETs
    carry no CSRF token) must not approve the sign-in for the user."""
    flow.post_profile()
    page = flow.callback()

    response = flow.browser.get(
        f"{broker.url}/oauth/consent",
        params={"login_request_id": flow.login_request_id, "decision": "approve"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )

    assert response.status_code == 405
    assert "Location" not in response.headers
    with broker.app.app_context():
        login_request = database.session().get(LoginRequest, flow.login_request_id)
        assert login_request.status == "awaiting_consent"
    assert flow.submit_consent(page.text, "approve").status_code == 302  # the form still works


def test_consent_decision_is_single_use(broker, flow):
    flow.post_profile()
    page = flow.callback()
    assert flow.submit_consent(page.text, "approve").status_code == 302

    again = flow.submit_consent(page.text, "approve")

    assert again.status_code == 400


def test_consent_with_an_unknown_decision_is_400(broker, flow):
    flow.post_profile()
    page = flow.callback()

    assert flow.submit_consent(page.text, "maybe").status_code == 400


def test_two_sign_ins_in_one_browser_do_not_interfere(broker):
    first = broker.start_login()
    second = broker.start_login(browser=first.browser)  # same browser, two tabs
    first.post_profile()
    second.post_profile()
    first_page = first.callback()
    second_page = second.callback()

    assert first.submit_consent(first_page.text, "approve").status_code == 302
    assert second.submit_consent(second_page.text, "approve").status_code == 302


def test_b14_the_seeded_client_is_not_marked_as_self_named(broker, flow):
    assert flow.post_profile().status_code == 200

    assert "name given by the application itself" not in flow.callback().text


def test_b14_a_stored_name_is_shown_without_spoofing_characters(broker):
    """Defence in depth for rows stored before registration refused them."""
    with broker.app.app_context():
        db = database.session()
        db.add(
            OAuthClient(
                id="spoofed_client",
                name="Claude\u202e\u200b (official)\u2066",
                redirect_uris=["https://app.example/c\u200bb"],
                grant_types=["authorization_code"],
                token_endpoint_auth_method="none",
                resource_id=DEV_RESOURCE_ID,
                registration_method=RegistrationMethod.DCR,
            )
        )
        db.commit()
    flow = broker.start_login(
        client_id="spoofed_client", redirect_uri="https://app.example/c\u200bb"
    )
    assert flow.post_profile().status_code == 200

    page = flow.callback().text

    assert "<strong>Claude (official)</strong>" in page
    assert "<code>app.example</code>" in page
    assert not any(c in page for c in "\u202e\u200b\u2066")
