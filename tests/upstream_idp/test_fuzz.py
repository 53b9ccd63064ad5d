"""E2 for the stand-in: each class of hostile input a fuzzing run found (docs/security.md), sent
to every endpoint — a clear 4xx or a normal answer, never a 500. The inputs are the fixed
tables of `tests/fuzz_inputs.py`, the same for all four apps."""

from __future__ import annotations

import pytest
import requests

from tests.fuzz_inputs import (
    CONTROL_HEADER_VALUES,
    FOREIGN_HOSTS,
    FORM,
    HUGE_INTEGERS,
    ODD_TEXT,
    deep_json,
    deep_object,
    form_body,
    query_string,
    routes,
)
from tests.upstream_idp.flows import BASIC_CLIENT, TIMEOUT, query_of

_AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
)
_LOGIN_FIELDS = ("username", "email", "email_verified", "given_name", "family_name", "name")
_LOGIN_FIELDS += ("groups", "fault", "action", "csrf_token")
_TOKEN_FIELDS = ("grant_type", "code", "redirect_uri", "code_verifier", "client_id")
_TOKEN_FIELDS += ("client_secret",)
_AUTH = (BASIC_CLIENT.client_id, BASIC_CLIENT.client_secret)


def _token_form(code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": BASIC_CLIENT.redirect_uri,
        "code_verifier": verifier,
    }


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_e2_a_foreign_host_header_changes_no_answer(upstream, rp, browser, host):
    """authlib judged the transport by the URL Flask builds from `Host`: /token and /userinfo
    were a 500 (InsecureTransportError) for a Host that is not loopback. The issuer is
    configured; the Host a client sends changes nothing."""
    headers = {"Host": host}
    attempt = rp.begin()
    code = query_of(browser.sign_in(attempt, username="fuzz-host"))["code"]

    token = requests.post(
        f"{upstream.url}/token",
        data=_token_form(code, attempt.code_verifier),
        auth=_AUTH,
        headers=headers,
        timeout=TIMEOUT,
    )
    assert token.status_code == 200, token.text
    userinfo = requests.get(
        f"{upstream.url}/userinfo",
        headers={**headers, "Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=TIMEOUT,
    )
    unauthenticated = requests.post(
        f"{upstream.url}/token", data=_token_form("x", "v" * 43), headers=headers, timeout=TIMEOUT
    )
    login_page = requests.get(rp.begin().url, headers=headers, timeout=TIMEOUT)
    discovery = requests.get(
        f"{upstream.url}/.well-known/openid-configuration", headers=headers, timeout=TIMEOUT
    )

    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"]
    assert unauthenticated.status_code == 401, unauthenticated.text
    assert unauthenticated.json()["error"] == "invalid_client"
    assert login_page.status_code == 200, login_page.text
    assert discovery.json()["issuer"] == upstream.url  # from configuration, not the Host


@pytest.mark.parametrize("value", ODD_TEXT + HUGE_INTEGERS)
def test_e2_odd_text_and_huge_numbers_in_every_field(upstream, rp, browser, value):
    """Lone surrogates (as the bytes a fuzzer sends), NULs, controls and integers past 64 bits
    in every authorization parameter, login form field and token field."""
    valid = query_of(rp.begin().url)
    for name in _AUTHORIZE_PARAMETERS:
        response = requests.get(
            f"{upstream.url}/authorize?{query_string({**valid, name: value})}",
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert response.status_code in (200, 302, 400), (name, response.status_code)
    page = browser.open(rp.begin().url)
    wire = value.encode("utf-8", "surrogatepass")  # what a fuzzer sends; requests takes bytes
    for field in _LOGIN_FIELDS:
        response = browser.submit(page, **{"username": "valid", field: wire})
        assert response.status_code in (302, 400), (field, response.status_code)
    for field in _TOKEN_FIELDS:
        response = requests.post(
            f"{upstream.url}/token",
            data=form_body({**_token_form("no-such-code", "v" * 43), field: value}),
            headers=FORM,
            auth=_AUTH,
            timeout=TIMEOUT,
        )
        assert 400 <= response.status_code < 500, (field, response.status_code)
        assert response.json()["error"]
    userinfo = requests.post(
        f"{upstream.url}/userinfo",
        data=form_body({"access_token": value}),
        headers=FORM,
        timeout=TIMEOUT,
    )
    assert userinfo.status_code in (400, 401), userinfo.status_code


def test_e2_deeply_nested_json_bodies(upstream):
    """JSON a thousand deep where a form is expected: refused like any other wrong body."""
    json_type = {"Content-Type": "application/json"}
    for body in (deep_json(), deep_object("grant_type")):
        for path in ("/token", "/userinfo", "/authorize"):
            response = requests.post(
                f"{upstream.url}{path}", data=body, headers=json_type, timeout=TIMEOUT
            )
            assert 400 <= response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_e2_a_foreign_host_header_on_every_route(upstream, rp, host):
    valid = query_string(query_of(rp.begin().url))
    for method, path in routes(upstream.app, filename="style.css"):
        response = requests.request(
            method, f"{upstream.url}{path}?{valid}", headers={"Host": host}, timeout=TIMEOUT
        )
        assert response.status_code < 500, (method, path, response.status_code)


@pytest.mark.parametrize("value", CONTROL_HEADER_VALUES)
def test_e2_control_characters_in_headers_on_every_route(upstream, rp, value):
    """Controls in the headers a client chooses: ignored, or a clear 4xx."""
    valid = query_string(query_of(rp.begin().url))
    spoken = {"User-Agent": value, "Accept-Language": value, "X-Request-Id": value}
    for headers in (
        {**spoken, "Authorization": f"Bearer {value}"},
        {"Authorization": value},
        {"Cookie": f"session={value}"},
    ):
        for method, path in routes(upstream.app, filename="style.css"):
            response = requests.request(
                method, f"{upstream.url}{path}?{valid}", headers=headers, timeout=TIMEOUT
            )
            assert response.status_code < 500, (method, path, headers, response.status_code)
