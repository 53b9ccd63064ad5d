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
from mock_broker.registration import register_machine_client, register_resource
from mock_broker.seed import (
    DEBUGGER_CLIENT_ID,
    DEV_CONNECTION_ID,
    DEV_MCP_SERVER_URL,
    DEV_RESOURCE_ID,
)
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
        ({"resource": DEV_RESOURCE_ID, "client": "no_such_client"}, "client"),
        ({"resource": "SECOND", "client": "demo_client"}, "resource"),
    ],
)
def test_debugger_refuses_bad_input_with_a_400_at_the_field(broker, second_resource, fields, says):
    browser = requests.Session()
    if fields["resource"] == "SECOND":  # the demo client belongs to res_dev_notes only
        fields = {**fields, "resource": second_resource[0]}

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


# -- per-client claim overrides --------------------------------------------------------------


def _set_claims(broker, client_id: str, claims: str) -> requests.Response:
    browser = requests.Session()
    form = browser.get(f"{broker.url}/dev/debugger", timeout=TIMEOUT)
    data = {"csrf_token": csrf_token(form.text), "client_id": client_id, "claims": claims}
    return browser.post(
        f"{broker.url}/dev/debugger/claims", data=data, allow_redirects=False, timeout=TIMEOUT
    )


@pytest.fixture
def gold_debugger(broker):
    """The debugger client's tokens carry custom claims tier=gold; cleared afterwards."""
    overrides = '{"tier": "gold", "quota": 3, "aud": "https://elsewhere.example/mcp"}'
    response = _set_claims(broker, DEBUGGER_CLIENT_ID, overrides)
    assert response.status_code == 303, response.text
    yield
    assert _set_claims(broker, DEBUGGER_CLIENT_ID, "").status_code == 303


def test_claim_overrides_reach_that_clients_tokens_only(broker, gold_debugger):
    page = requests.get(f"{broker.url}/dev/debugger", timeout=TIMEOUT)
    assert "&#34;tier&#34;: &#34;gold&#34;" in page.text or "&quot;tier&quot;" in page.text

    browser = requests.Session()
    built = _build(broker, browser, resource=DEV_RESOURCE_ID, scope="notes:read")
    back = _sign_in(broker, browser, _authorization_url(built.text))
    result = browser.get(back.headers["Location"], timeout=TIMEOUT)
    claims = _pre_json(result.text, "token-claims")

    assert claims["custom_claims"] == {
        "tier": "gold",
        "quota": 3,
        "aud": "https://elsewhere.example/mcp",
    }
    # The overrides are custom claims only: the binding claims are the broker's (B5).
    assert claims["aud"] == [DEV_MCP_SERVER_URL, DEV_RESOURCE_ID]
    assert claims["client_id"] == DEBUGGER_CLIENT_ID
    assert claims["iss"] == f"{broker.url}/resources/{DEV_RESOURCE_ID}"
    other = broker.claims(broker.tokens(scope="notes:read")["access_token"])
    assert "custom_claims" not in other


def test_claim_overrides_merge_over_the_profiles_custom_attributes(broker):
    flow = broker.start_login(scope="notes:read")
    assert _set_claims(broker, flow.params["client_id"], '{"tier": "gold"}').status_code == 303
    try:
        assert flow.post_profile(custom_attributes={"tier": "free", "team": "a"}).ok
        approved = flow.decide("approve")
        code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
        token = flow.exchange(code).json()["access_token"]
    finally:
        assert _set_claims(broker, flow.params["client_id"], "").status_code == 303

    assert broker.claims(token)["custom_claims"] == {"tier": "gold", "team": "a"}


@pytest.mark.parametrize(
    ("client_id", "claims", "field"),
    [
        ("mcp_nobody", '{"a": 1}', "client_id"),
        (DEBUGGER_CLIENT_ID, "not json", "claims"),
        (DEBUGGER_CLIENT_ID, "[1, 2]", "claims"),
        (DEBUGGER_CLIENT_ID, '{"a": "' + "x" * 5000 + '"}', "claims"),
        (DEBUGGER_CLIENT_ID, '{"a": NaN}', "claims"),
    ],
)
def test_claim_overrides_refuse_bad_input_and_keep_what_was_typed(broker, client_id, claims, field):
    response = _set_claims(broker, client_id, claims)

    assert response.status_code == 400, response.text
    assert 'role="alert"' in response.text
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', response.text), field
    typed = re.search(r'<textarea id="claims"[^>]*>(.*?)</textarea>', response.text, re.S)
    assert typed and html.unescape(typed.group(1)) == claims  # nothing lost


def test_claim_overrides_require_csrf(broker):
    response = requests.post(
        f"{broker.url}/dev/debugger/claims",
        data={"client_id": DEBUGGER_CLIENT_ID, "claims": '{"a": 1}'},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert "csrf_failed" in response.text


def test_claim_overrides_reach_a_machine_clients_tokens_too(broker):
    with broker.app.app_context():
        db = database.session()
        client, secret = register_machine_client(db, "QA agent", DEV_RESOURCE_ID)
        db.commit()
        client_id = client.id
    assert _set_claims(broker, client_id, '{"tier": "gold"}').status_code == 303

    response = requests.post(
        f"{broker.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "notes:read"},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    )

    assert response.status_code == 200, response.text
    claims = broker.claims(response.json()["access_token"])
    assert claims["custom_claims"] == {"tier": "gold"}
    assert claims["sub"] == client_id


def test_cleared_claim_overrides_are_gone_from_the_page_and_the_tokens(broker):
    assert _set_claims(broker, DEBUGGER_CLIENT_ID, '{"tier": "gold"}').status_code == 303
    listed = f"<tr><td><code>{DEBUGGER_CLIENT_ID}</code></td><td><pre"
    assert listed in requests.get(f"{broker.url}/dev/debugger", timeout=TIMEOUT).text

    assert _set_claims(broker, DEBUGGER_CLIENT_ID, "").status_code == 303

    assert listed not in requests.get(f"{broker.url}/dev/debugger", timeout=TIMEOUT).text
    browser = requests.Session()
    built = _build(broker, browser, resource=DEV_RESOURCE_ID, scope="notes:read")
    back = _sign_in(broker, browser, _authorization_url(built.text))
    result = browser.get(back.headers["Location"], timeout=TIMEOUT)
    assert "custom_claims" not in _pre_json(result.text, "token-claims")


def test_debugger_builds_a_request_for_any_registered_client(broker):
    """Another client's request is built and shown decoded with its own redirect URI and a
    fresh PKCE pair, and the broker accepts it; its answer goes to that client."""
    browser = requests.Session()
    page = _build(broker, browser, client="demo_client", resource=DEV_RESOURCE_ID)
    assert page.status_code == 200, page.text
    url = _authorization_url(page.text)
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert query["client_id"] == "demo_client"
    assert query["redirect_uri"] == broker.demo_redirect_uri
    assert query["code_challenge_method"] == "S256"
    assert "not back here" in page.text
    verifier = re.search(r"its\s+PKCE verifier is <code>([^<]+)</code>", page.text).group(1)
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    assert create_s256_code_challenge(verifier) == query["code_challenge"]
    accepted = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert accepted.status_code == 302 and "/login?" in accepted.headers["Location"]
