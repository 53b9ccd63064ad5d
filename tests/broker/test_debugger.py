"""The OAuth debugger at /dev/debugger: a built request shown decoded, then the whole sign-in
for any registered resource, ending with the token response, the decoded token and its
introspection — over real HTTP, the customer side played by `LoginFlow`."""

from __future__ import annotations

import html
import json
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from mock_broker import database
from mock_broker.registration import register_resource
from mock_broker.seed import DEBUGGER_CLIENT_ID, DEV_CONNECTION_ID, DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, LoginFlow, csrf_token


@pytest.fixture(scope="module")
def second_resource(broker) -> tuple[str, str]:
    """A resource registered after the seed: the debugger client must work with it too."""
    url = f"http://127.0.0.1:5999/debug-{secrets.token_hex(4)}/mcp"
    with broker.app.app_context():
        db = database.session()
        resource = register_resource(db, "Second", url, ["files:read"], DEV_CONNECTION_ID)
        db.commit()
        return resource.id, url


def _build(broker, browser: requests.Session, **fields: str) -> requests.Response:
    form = browser.get(f"{broker.url}/dev/debugger", timeout=TIMEOUT)
    assert form.status_code == 200, form.text
    data = {"csrf_token": csrf_token(form.text), **fields}
    return browser.post(f"{broker.url}/dev/debugger", data=data, timeout=TIMEOUT)


def _authorization_url(page: str) -> str:
    match = re.search(r'<a [^>]*id="follow"[^>]*href="([^"]+)"', page)
    assert match, "no link to follow"
    return html.unescape(match.group(1))


def _sign_in(broker, browser: requests.Session, url: str) -> requests.Response:
    """Follow the built URL, play the customer side and approve: the redirect back."""
    to_login = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert to_login.status_code == 302, to_login.text
    query = parse_qs(urlsplit(to_login.headers["Location"]).query)
    flow = LoginFlow(
        broker=broker,
        browser=browser,
        login_request_id=query["login_request_id"][0],
        broker_state=query["state"][0],
        client_state=None,
        verifier="",
        params={},
    )
    assert flow.post_profile(email="qa@example.com").status_code == 200
    approved = flow.decide("approve")
    assert approved.status_code == 302, approved.text
    return approved


def _pre_json(page: str, section_id: str) -> dict:
    match = re.search(rf'<pre[^>]*id="{section_id}"[^>]*>(.*?)</pre>', page, re.S)
    assert match, f"no {section_id} on the page"
    return json.loads(html.unescape(match.group(1)))


def test_the_debugger_form_lists_every_resource(broker, second_resource):
    page = requests.get(f"{broker.url}/dev/debugger", timeout=TIMEOUT)

    assert page.status_code == 200
    assert f'value="{DEV_RESOURCE_ID}"' in page.text
    assert f'value="{second_resource[0]}"' in page.text
    assert "<script" not in page.text and "style=" not in page.text


@pytest.mark.parametrize("which", ["seeded", "registered later"])
def test_debugger_signs_in_for_any_resource_and_shows_token_and_introspection(
    broker, second_resource, which
):
    resource_id, resource_url, scope = (
        (DEV_RESOURCE_ID, None, "notes:read")
        if which == "seeded"
        else (*second_resource, "files:read")
    )
    browser = requests.Session()

    built = _build(
        broker,
        browser,
        resource=resource_id,
        scope=scope,
        prompt="consent",
        login_hint="qa@example.com",
    )

    assert built.status_code == 200, built.text
    url = _authorization_url(built.text)
    params = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{broker.url}/oauth/authorize?")
    assert params["client_id"] == DEBUGGER_CLIENT_ID
    assert params["redirect_uri"] == f"{broker.url}/dev/debugger/callback"
    assert params["scope"] == scope
    assert params["prompt"] == "consent"
    assert params["login_hint"] == "qa@example.com"
    assert params["code_challenge_method"] == "S256"
    # Every parameter is shown decoded in its own table row.
    for name, value in params.items():
        assert f'<th scope="row"><code>{name}</code></th><td><code>{html.escape(value)}</code>' in (
            built.text
        ), name

    back = _sign_in(broker, browser, url)
    assert back.headers["Location"].startswith(f"{broker.url}/dev/debugger/callback?")
    result = browser.get(back.headers["Location"], timeout=TIMEOUT)

    assert result.status_code == 200, result.text
    token_response = _pre_json(result.text, "token-response")
    assert token_response["token_type"] == "Bearer"
    assert token_response["scope"] == scope
    header = _pre_json(result.text, "token-header")
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    claims = _pre_json(result.text, "token-claims")
    assert claims == broker.claims(token_response["access_token"])
    assert claims["client_id"] == DEBUGGER_CLIENT_ID
    assert claims["iss"] == f"{broker.url}/resources/{resource_id}"
    assert claims["aud"][1] == resource_id
    if resource_url:
        assert claims["aud"][0] == resource_url
    introspection = _pre_json(result.text, "introspection")
    assert introspection["active"] is True
    assert introspection["jti"] == claims["jti"]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"resource": "res_nope"}, "resource"),
        ({"resource": DEV_RESOURCE_ID, "prompt": "bogus"}, "prompt"),
        ({"resource": DEV_RESOURCE_ID, "scope": 'notes:read "x"'}, "scope"),
        ({"resource": DEV_RESOURCE_ID, "scope": "a" * 2000}, "scope"),
        ({"resource": DEV_RESOURCE_ID, "login_hint": "x" * 1000}, "login_hint"),
        ({"resource": DEV_RESOURCE_ID, "login_hint": "a\u202eb"}, "login_hint"),
    ],
)
def test_debugger_refuses_bad_input_with_a_400_at_the_field(broker, fields, says):
    browser = requests.Session()

    response = _build(broker, browser, **fields)

    assert response.status_code == 400, response.text
    assert 'role="alert"' in response.text
    assert f'id="{says}"' in response.text and 'aria-invalid="true"' in response.text
    assert 'id="follow"' not in response.text


def test_debugger_post_requires_csrf(broker):
    response = requests.post(
        f"{broker.url}/dev/debugger", data={"resource": DEV_RESOURCE_ID}, timeout=TIMEOUT
    )

    assert response.status_code == 400
    assert "csrf_failed" in response.text


def test_debugger_callback_without_a_started_request_is_refused(broker):
    response = requests.get(f"{broker.url}/dev/debugger/callback?code=x&state=y", timeout=TIMEOUT)

    assert response.status_code == 400
    assert "invalid_state" in response.text


def test_debugger_callback_refuses_another_issuer(broker):
    browser = requests.Session()
    built = _build(broker, browser, resource=DEV_RESOURCE_ID, scope="notes:read")
    back = _sign_in(broker, browser, _authorization_url(built.text))
    query = {
        name: values[0]
        for name, values in parse_qs(urlsplit(back.headers["Location"]).query).items()
    }
    query["iss"] = f"{broker.url}/resources/res_other"

    response = browser.get(
        f"{broker.url}/dev/debugger/callback?{urlencode(query)}", timeout=TIMEOUT
    )

    assert response.status_code == 400
    assert "invalid_issuer" in response.text
    assert 'id="token-response"' not in response.text


def test_debugger_callback_refuses_another_state(broker):
    """A response whose `state` is not the one this browser's request carried (a code
    injected from another sign-in) is refused before any code is redeemed."""
    browser = requests.Session()
    built = _build(broker, browser, resource=DEV_RESOURCE_ID, scope="notes:read")
    back = _sign_in(broker, browser, _authorization_url(built.text))
    query = {
        name: values[0]
        for name, values in parse_qs(urlsplit(back.headers["Location"]).query).items()
    }
    query["state"] = "not-" + query["state"]

    response = browser.get(
        f"{broker.url}/dev/debugger/callback?{urlencode(query)}", timeout=TIMEOUT
    )

    assert response.status_code == 400
    assert "invalid_state" in response.text
    assert 'id="token-response"' not in response.text
