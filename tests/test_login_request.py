"""C1, C2, C7: the broker's entry point /login, without the broker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from identity import db, login_requests
from identity.models import PendingLoginRequest, User
from tests.helpers import csrf_token

LOGIN = "/login?login_request_id=lri_86659065219908156&state=HntJ_ENB6y161i9_P1yz"


def test_login_page_shows_enabled_methods(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'action="/login/password/"' in html
    assert 'value="lri_86659065219908156"' in html
    assert '<label for="email">Email</label>' in html


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?login_request_id=lri_1",
        "?state=abc",
        "?login_request_id=&state=abc",
        "?login_request_id=lri_1&state=",
        "?login_request_id=lri%0d%0aSet-Cookie:x=1&state=abc",
        "?login_request_id=lri_1&state=<script>",
        "?login_request_id=" + "a" * 129 + "&state=abc",
        "?login_request_id=lri_1&state=" + "s" * 513,
        "?login_request_id[]=x&state=y",
    ],
)
def test_c1_missing_or_garbled_parameters_get_a_400_page(client, query):
    response = client.get("/login" + query)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This sign-in link is not valid" in html
    assert "Traceback" not in html


def test_c2_login_request_is_bound_to_the_browser_that_brought_it(app):
    first, second = app.test_client(), app.test_client()
    assert first.get(LOGIN).status_code == 200
    # The second browser has a valid session and CSRF token of its own, and names the first
    # browser's login request: it is not found there.
    own_page = second.get("/login?login_request_id=lri_other&state=s").get_data(as_text=True)
    response = second.post(
        "/login/password/",
        data={
            "csrf_token": csrf_token(own_page),
            "login_request_id": "lri_86659065219908156",
            "email": "a@example.com",
            "password": "whatever whatever",
        },
    )
    assert response.status_code == 400
    assert "We can&#39;t find this sign-in request" in response.get_data(as_text=True)


def test_c2_several_login_requests_pending_in_one_browser(client):
    one = client.get("/login?login_request_id=lri_one&state=s1").get_data(as_text=True)
    two = client.get("/login?login_request_id=lri_two&state=s2").get_data(as_text=True)
    assert 'value="lri_one"' in one
    assert 'value="lri_two"' in two


def test_c7_pages_cannot_be_framed_and_send_no_referrer(client):
    for path in (LOGIN, "/", "/login", "/nope"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


def test_c6_session_cookie_flags(client):
    response = client.get(LOGIN)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("idp_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_c5_post_without_csrf_token_is_refused(client):
    client.get(LOGIN)
    response = client.post(
        "/login/password/",
        data={"login_request_id": "lri_86659065219908156", "email": "a@b.c", "password": "x"},
    )
    assert response.status_code == 400
    assert "This page has expired" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query", ["?login_request_id=lri_1&state=a%00b", "?login_request_id=a%00&state=s", "?x%00=1"]
)
def test_e2_nul_anywhere_in_the_request_is_a_400(client, query):
    """identity.input_guard: no NUL reaches a query (PostgreSQL cannot store one)."""
    response = client.get("/login" + query)
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_e2_wrong_methods_get_a_4xx_page(client, method):
    response = getattr(client, method)("/login")
    assert response.status_code == 405
    assert "Traceback" not in response.get_data(as_text=True)


def test_c2_a_second_state_for_the_same_login_request_is_refused(client):
    assert client.get("/login?login_request_id=lri_x&state=first").status_code == 200
    assert client.get("/login?login_request_id=lri_x&state=first").status_code == 200  # reload
    assert client.get("/login?login_request_id=lri_x&state=other").status_code == 400


def test_c2_of_two_completions_racing_for_one_request_only_the_first_wins(app, client, runner):
    """Both requests loaded the pending request before either spent it (two tabs clicking
    "Continue" at once): the spend is one conditional UPDATE, so the second finds nothing."""
    runner.invoke(args=["seed-demo"], catch_exceptions=False)
    client.get(LOGIN)
    with app.app_context():
        session = db.session()
        pending = session.scalar(select(PendingLoginRequest))
        user = session.scalar(select(User))
        first = login_requests.mark_completed(pending, user)
        second = login_requests.mark_completed(pending, user)  # the stale copy of the race
        session.commit()
    assert (first, second) == (True, False)
