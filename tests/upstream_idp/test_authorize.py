"""The authorization endpoint: what it refuses, where errors go, and the login page itself."""

from __future__ import annotations

import re

import pytest
import requests
from bs4 import BeautifulSoup

from tests.upstream_idp.flows import BASIC_CLIENT, TIMEOUT, query_of


def _authorize(upstream, params: dict[str, str]) -> requests.Response:
    return requests.get(
        f"{upstream.url}/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
    )


def _params(rp, **changes: str | None) -> dict[str, str]:
    """A valid authorization request of the test RP, with `changes` (None removes one)."""
    params = query_of(rp.begin().url)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
        ({"nonce": "n" * 513}, "invalid_request"),
        ({"scope": "email profile"}, "invalid_scope"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"prompt": "none"}, "login_required"),
    ],
)
def test_a_bad_request_from_a_known_client_is_redirected_with_state_and_iss(
    upstream, rp, changes, error
):
    params = _params(rp, **changes)

    response = _authorize(upstream, params)

    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(BASIC_CLIENT.redirect_uri + "?")
    query = query_of(location)
    assert query["error"] == error
    assert query["state"] == params["state"]
    assert query["iss"] == upstream.url
    assert "code" not in query


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uri": "http://127.0.0.1:9/elsewhere"},
        {"redirect_uri": BASIC_CLIENT.redirect_uri + "/"},
        {"redirect_uri": BASIC_CLIENT.redirect_uri + "?x=1"},
        {"redirect_uri": "https://attacker.example/callback"},
        {"redirect_uri": None},
        {"client_id": "no-such-client"},
        {"client_id": None},
    ],
)
def test_an_unverified_redirect_uri_is_never_followed(upstream, rp, changes):
    response = _authorize(upstream, _params(rp, **changes))

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "attacker.example" not in response.text


def test_a_wrong_redirect_uri_is_refused_on_the_form_post_too(upstream, rp, browser):
    page = browser.open(rp.begin().url)
    evil = re.sub(r"redirect_uri=[^&]+", "redirect_uri=https%3A%2F%2Fattacker.example%2F", page.url)
    tampered = browser.session.get(evil, allow_redirects=False, timeout=TIMEOUT)
    assert tampered.status_code == 400

    # The same tampering on the form's own target: the POST validates the request again.
    response = browser.submit(page, target=evil, username="mallory")

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_cancel_answers_access_denied_with_state_and_iss(upstream, rp, browser):
    attempt = rp.begin()
    page = browser.open(attempt.url)

    response = browser.submit(page, action="cancel", username="")

    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == "access_denied"
    assert query["state"] == attempt.state
    assert query["iss"] == upstream.url
    assert "code" not in query


def test_the_form_needs_its_csrf_token(rp, browser):
    page = browser.open(rp.begin().url)

    response = browser.submit(page, username="nora", csrf_token=None)

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "csrf_failed" in response.text


def test_a_replayed_nonce_is_refused(upstream, rp, browser):
    attempt = rp.begin()
    browser.sign_in(attempt, username="olga")  # the code now holds this nonce

    again = _authorize(upstream, _params(rp, nonce=attempt.nonce))

    assert again.status_code == 302
    assert query_of(again.headers["Location"])["error"] == "invalid_request"


def test_nul_in_a_field_is_a_plain_400(rp, browser):
    """identity.input_guard refuses NUL in any input before the form is read."""
    page = browser.open(rp.begin().url)
    response = browser.submit(page, username="valid-user", email="a\x00b@example.com")
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": ""}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "\u00e9l\u00e8ve"}, "username"),
        ({"username": "x" * 256}, "username"),
        ({"name": "line\nbreak"}, "name"),
        ({"given_name": "g" * 256}, "given_name"),
        ({"groups": ",".join(f"g{i}" for i in range(51))}, "groups"),
        ({"fault": "explode"}, "fault"),
    ],
)
def test_invalid_fields_show_the_form_again_with_a_message(rp, browser, fields, field):
    page = browser.open(rp.begin().url)

    response = browser.submit(page, **{"username": "valid-user", **fields})

    assert response.status_code == 400
    assert "Location" not in response.headers
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find(id=f"{field}-error") is not None
    control = soup.find(id=field)
    assert control.get("aria-invalid") == "true" or control.name == "select"
    assert f"{field}-error" in control["aria-describedby"]
    # The corrected form still works: it posts to the same authorization request.
    retry = browser.submit(response, username="valid-user", **_valid(fields))
    assert retry.status_code == 302, retry.text
    assert "code" in query_of(retry.headers["Location"])


def _valid(fields: dict[str, str]) -> dict[str, str]:
    defaults = {"email": "", "name": "", "given_name": "", "groups": "", "fault": "none"}
    return {key: defaults[key] for key in fields if key in defaults}


def test_the_login_page_is_accessible_and_locked_down(upstream, rp, browser):
    page = browser.open(rp.begin().url)

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    cookie = next(c for c in browser.session.cookies if c.name == "upstream_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert "session" not in {c.name for c in browser.session.cookies}

    soup = BeautifulSoup(page.text, "html.parser")
    assert "Development stand-in — any username works" in soup.get_text()
    assert not soup.find_all("script") and not soup.find_all("style")
    assert not soup.select("[style]")
    form = soup.form
    for control in form.find_all(["input", "select"]):
        if control.get("type") != "hidden":
            assert soup.find("label", attrs={"for": control["id"]}), control
    assert form.find("fieldset").find("legend").get_text() == "Claims to issue"
    assert {
        o["value"] for o in form.find("select", attrs={"name": "fault"}).find_all("option")
    } == {
        "none",
        "wrong_nonce",
        "wrong_audience",
        "foreign_audience",
        "expired",
        "bad_signature",
    }
    names = {c.get("name") for c in form.find_all(["input", "select"])}
    assert {
        "csrf_token",
        "username",
        "email",
        "email_verified",
        "no_email",
        "given_name",
        "family_name",
        "name",
        "groups",
        "fault",
    } <= names
    stylesheet = soup.find("link", rel="stylesheet")["href"]
    css = browser.session.get(upstream.url + stylesheet, timeout=TIMEOUT)
    assert css.status_code == 200
    assert ":focus-visible" in css.text
