"""QA switches: injected faults, M2M revocation, and the dev pages that show what happened."""

from __future__ import annotations

import pytest
import requests

from mock_broker import faults, tokens
from mock_broker.seed import DEV_M2M_CLIENT_ID, DEV_M2M_CLIENT_SECRET
from tests.broker.flows import TIMEOUT, csrf_token


@pytest.fixture(autouse=True)
def no_faults_left(broker):
    yield
    faults.clear(broker.app)


def test_user_endpoint_fault_answers_the_status_count_times(broker):
    flow = broker.start_login()
    token = broker.cached_m2m_token()
    faults.inject(broker.app, faults.USER_ENDPOINT, status=503, count=2)

    statuses = [flow.post_profile().status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert broker.cached_m2m_token() == token


def test_fault_body_is_a_json_error(broker):
    flow = broker.start_login()
    faults.inject(broker.app, faults.USER_ENDPOINT, status=500, error="boom_error")

    response = flow.post_profile()

    assert response.status_code == 500
    assert response.json()["error"] == "boom_error"
    assert response.json()["error_description"]


def test_token_endpoint_fault_is_not_cached(broker):
    faults.inject(broker.app, faults.TOKEN_ENDPOINT, status=503)

    response = requests.post(
        f"{broker.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEV_M2M_CLIENT_ID,
            "client_secret": DEV_M2M_CLIENT_SECRET,
        },
        timeout=TIMEOUT,
    )

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["Cache-Control"] == "no-store"
    assert broker.m2m_token()  # the next call works


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target": "authorize_endpoint"},
        {"target": faults.USER_ENDPOINT, "status": 200},
        {"target": faults.USER_ENDPOINT, "count": 0},
        {"target": faults.USER_ENDPOINT, "error": "Not An Error Code"},
    ],
)
def test_inject_refuses_nonsense(broker, kwargs):
    with pytest.raises(ValueError):
        faults.inject(broker.app, **kwargs)


def test_revoking_m2m_tokens_makes_a_cached_token_get_401(broker):
    flow = broker.start_login()
    token = broker.m2m_token()
    assert flow.post_user({"sub": "1", "email": "a@b.c"}, token).ok

    tokens.revoke_m2m_tokens(broker.app, DEV_M2M_CLIENT_ID)

    response = flow.post_user({"sub": "1", "email": "a@b.c"}, token)
    assert response.status_code == 401
    broker.forget_m2m_token()  # the shared cached token was revoked too
    assert flow.post_user({"sub": "1", "email": "a@b.c"}).ok


def test_fault_page_arms_and_clears_faults_with_csrf(broker):
    browser = requests.Session()
    page = browser.get(f"{broker.url}/dev/faults", timeout=TIMEOUT)
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_token(page.text),
        "target": faults.USER_ENDPOINT,
        "status": "502",
        "count": "1",
        "action": "inject",
    }

    armed = browser.post(f"{broker.url}/dev/faults", data=form, timeout=TIMEOUT)

    assert "Fault armed." in armed.text
    assert "502" in armed.text
    cleared = browser.post(
        f"{broker.url}/dev/faults",
        data={"csrf_token": csrf_token(armed.text), "action": "clear"},
        timeout=TIMEOUT,
    )
    assert "No faults armed" in cleared.text
    forged = requests.post(f"{broker.url}/dev/faults", data=form, timeout=TIMEOUT)
    assert forged.status_code == 400  # no CSRF token


def test_fault_page_reports_bad_input(broker):
    browser = requests.Session()
    page = browser.get(f"{broker.url}/dev/faults", timeout=TIMEOUT)
    form = {"csrf_token": csrf_token(page.text), "target": "x", "status": "abc", "count": "1"}

    response = browser.post(f"{broker.url}/dev/faults", data=form, timeout=TIMEOUT)

    assert response.status_code == 400  # the form re-rendered, with the problem at its field
    assert "Not armed" in response.text


def test_login_requests_page_lists_status_and_profile(broker):
    flow = broker.start_login()
    flow.post_profile(email="audit@example.com")

    page = requests.get(f"{broker.url}/dev/login-requests", timeout=TIMEOUT)

    assert page.status_code == 200
    assert flow.login_request_id in page.text
    assert "profile_received" in page.text
    assert "audit@example.com" in page.text
