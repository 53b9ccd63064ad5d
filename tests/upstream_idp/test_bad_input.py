"""Bad input of any shape gets a 4xx answer with a message, never a 500."""

from __future__ import annotations

import base64
import random
import string

import pytest
import requests
from bs4 import BeautifulSoup

from tests.upstream_idp.flows import BASIC_CLIENT, TIMEOUT, query_of

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: x=1",
    "<script>alert(1)</script>",
    '"quoted"\\',
    "%",
    "%00",
    "\U0001f600" * 10,
    "\u00e9" * 300,
    "x" * 5000,
    "{{7*7}}",
    "openid openid",
    "javascript:alert(1)",
]
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
_TOKEN_FIELDS = ("grant_type", "code", "redirect_uri", "code_verifier", "client_id")


def _random_text(rng: random.Random) -> str:
    alphabet = string.printable + "\u00e9\u00df\u6f22\u5b57\u202e\x00"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))


@pytest.mark.parametrize("value", NASTY)
def test_nasty_authorization_requests(upstream, rp, value):
    valid = query_of(rp.begin().url)
    for name in _AUTHORIZE_PARAMETERS:
        response = requests.get(
            f"{upstream.url}/authorize",
            params={**valid, name: value},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert response.status_code in (200, 302, 400), (name, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith(BASIC_CLIENT.redirect_uri)


def test_repeated_authorization_parameters(upstream, rp):
    valid = {**query_of(rp.begin().url), "prompt": "login"}
    for name in _AUTHORIZE_PARAMETERS:
        params = [*valid.items(), (name, valid[name])]
        response = requests.get(
            f"{upstream.url}/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
        )
        assert response.status_code in (302, 400), (name, response.status_code)


@pytest.mark.parametrize("value", NASTY)
def test_nasty_login_form_values(rp, browser, value):
    page = browser.open(rp.begin().url)
    for field in ("username", "email", "given_name", "name", "groups", "fault", "action"):
        response = browser.submit(page, **{"username": "valid", field: value})
        assert response.status_code in (302, 400), (field, response.status_code)


@pytest.mark.parametrize("value", NASTY)
def test_nasty_token_requests(upstream, value):
    valid = {
        "grant_type": "authorization_code",
        "code": "no-such-code",
        "redirect_uri": BASIC_CLIENT.redirect_uri,
        "code_verifier": "v" * 43,
    }
    auth = (BASIC_CLIENT.client_id, BASIC_CLIENT.client_secret)
    for field in _TOKEN_FIELDS:
        response = requests.post(
            f"{upstream.url}/token", data={**valid, field: value}, auth=auth, timeout=TIMEOUT
        )
        assert 400 <= response.status_code < 500, (field, response.status_code)
        assert "error" in response.json()
    for credentials in ((value, "secret"), (BASIC_CLIENT.client_id, value)):
        basic = base64.b64encode(":".join(credentials).encode("utf-8", "surrogatepass"))
        response = requests.post(
            f"{upstream.url}/token",
            data=valid,
            headers={"Authorization": b"Basic " + basic},
            timeout=TIMEOUT,
        )
        assert response.status_code in (400, 401), response.status_code


@pytest.mark.parametrize(
    "authorization",
    [
        b"Basic \xff\xfe",
        b"Basic " + base64.b64encode(b"\xff\xfe:\xc3("),
        b"Basic not-base64!",
        b"Basic " + base64.b64encode(b"no-colon"),
        b"Bearer",
        b"Bearer \xff",
        b"Digest x",
    ],
)
def test_malformed_authorization_headers(upstream, authorization):
    for path in ("/token", "/userinfo"):
        response = requests.post(
            f"{upstream.url}{path}",
            data={"grant_type": "authorization_code", "code": "x"},
            headers={"Authorization": authorization},
            timeout=TIMEOUT,
        )
        assert response.status_code in (400, 401, 403), (path, response.status_code)
        assert "error" in response.json()


def test_odd_bodies_and_methods(upstream):
    url = upstream.url
    cases = [
        requests.post(f"{url}/token", json={"grant_type": "authorization_code"}, timeout=TIMEOUT),
        requests.post(f"{url}/token", data=b"\xff\xfe\x00", timeout=TIMEOUT),
        requests.post(f"{url}/token", data={"grant_type": "password"}, timeout=TIMEOUT),
        requests.post(f"{url}/token", data={"grant_type": "x" * 100_000}, timeout=TIMEOUT),
        requests.get(f"{url}/token", timeout=TIMEOUT),
        requests.delete(f"{url}/userinfo", timeout=TIMEOUT),
        requests.get(f"{url}/.well-known/nothing", timeout=TIMEOUT),
        requests.post(f"{url}/jwks", timeout=TIMEOUT),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, (response.request.url, response.status_code)
        assert "error" in response.json()
    page = requests.get(f"{url}/no-such-page", timeout=TIMEOUT)
    assert page.status_code == 404
    assert BeautifulSoup(page.text, "html.parser").h1 is not None


def test_random_garbage_never_breaks_the_provider(upstream, rp, browser):
    rng = random.Random(20240601)  # fixed seed: the same garbage on every run
    valid = query_of(rp.begin().url)
    page = browser.open(rp.begin().url)
    for _ in range(40):
        name = rng.choice(_AUTHORIZE_PARAMETERS)
        response = requests.get(
            f"{upstream.url}/authorize",
            params={**valid, name: _random_text(rng)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert response.status_code in (200, 302, 400)
        field = rng.choice(("username", "email", "name", "groups", "fault"))
        submitted = browser.submit(page, **{"username": "valid", field: _random_text(rng)})
        assert submitted.status_code in (302, 400)
        token = requests.post(
            f"{upstream.url}/token",
            data={rng.choice(_TOKEN_FIELDS): _random_text(rng)},
            timeout=TIMEOUT,
        )
        assert 400 <= token.status_code < 500
