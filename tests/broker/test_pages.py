"""The human side: the home page, the demo sign-in end to end, and error pages (E2)."""

from __future__ import annotations

import re

import pytest
import requests

from mock_broker.seed import DEV_M2M_CLIENT_ID, DEV_M2M_CLIENT_SECRET
from tests.broker.flows import TIMEOUT, LoginFlow, csrf_token


def test_home_page_shows_the_development_values(broker):
    page = requests.get(f"{broker.url}/", timeout=TIMEOUT)

    assert page.status_code == 200
    for value in (DEV_M2M_CLIENT_ID, DEV_M2M_CLIENT_SECRET, "conn_dev", "res_dev_notes"):
        assert value in page.text
    assert "Start a demo sign-in" in page.text
    assert 'rel="stylesheet"' in page.text
    assert "<script" not in page.text and "style=" not in page.text


def test_stylesheet_is_served(broker):
    response = requests.get(f"{broker.url}/static/broker.css", timeout=TIMEOUT)

    assert response.status_code == 200
    assert "text/css" in response.headers["Content-Type"]


def test_demo_sign_in_runs_end_to_end_and_shows_the_verified_claims(broker):
    browser = requests.Session()
    home = browser.get(f"{broker.url}/", timeout=TIMEOUT)
    start = browser.post(
        f"{broker.url}/demo/start",
        data={"csrf_token": csrf_token(home.text)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert start.status_code == 303
    to_login = browser.get(start.headers["Location"], allow_redirects=False, timeout=TIMEOUT)
    assert to_login.status_code == 302
    query = dict(re.findall(r"[?&](login_request_id|state)=([^&]+)", to_login.headers["Location"]))
    flow = LoginFlow(
        broker=broker,
        browser=browser,
        login_request_id=query["login_request_id"],
        broker_state=query["state"],
        client_state=None,
        verifier="",
        params={},
    )
    assert flow.post_profile(email="demo@example.com").status_code == 200
    approved = flow.decide("approve")
    assert approved.status_code == 302

    result = browser.get(approved.headers["Location"], timeout=TIMEOUT)

    assert result.status_code == 200, result.text
    assert "Signed in: access token issued" in result.text
    assert "demo@example.com" in result.text
    assert "usr_" in result.text


def test_demo_callback_without_a_started_sign_in_is_refused(broker):
    response = requests.get(f"{broker.url}/demo/callback?code=x&state=y", timeout=TIMEOUT)

    assert response.status_code == 400
    assert "invalid_state" in response.text


def test_demo_start_requires_csrf(broker):
    assert requests.post(f"{broker.url}/demo/start", timeout=TIMEOUT).status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("GET", "/nope", 404, "html"),
        ("GET", "/api/v1/nope", 404, "json"),
        ("GET", "/oauth/token", 405, "json"),
        ("PUT", "/api/v1/connections/conn_dev/auth-requests/lri_x/user", 405, "json"),
        ("POST", "/oauth/authorize", 405, "html"),
    ],
)
def test_e2_unknown_routes_and_methods_are_clear_4xx(broker, method, path, status, kind):
    response = requests.request(method, broker.url + path, timeout=TIMEOUT)

    assert response.status_code == status
    if kind == "json":
        assert response.json()["error"] == "invalid_request"
    else:
        assert response.headers["Content-Type"].startswith("text/html")
