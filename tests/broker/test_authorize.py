"""The authorization endpoint: validation, error routing, and the login redirect (contract §1).

Errors found before the redirect URI is trusted are shown to the user (400 page, never a
redirect to an unchecked URL); errors after it go back to the client with `error`, `state` and
`iss` (RFC 6749 §4.1.2.1, RFC 9207, B6) — when its redirect URI is vetted, that is seeded or
operator-registered, or loopback; a self-registered https one gets the page too (B13).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mock_broker import database
from mock_broker.models import LoginRequest, LoginRequestStatus
from mock_broker.registration import register_client
from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.flows import LOGIN_ENDPOINT, TIMEOUT, redirect_query


def _assert_error_page(response, error: str) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert error in response.text


def _assert_client_error(broker, response, error: str, state: str) -> None:
    assert response.status_code == 302
    assert response.headers["Location"].startswith(broker.demo_redirect_uri + "?")
    query = redirect_query(response)
    assert query["error"] == error
    assert query["state"] == state
    assert query["iss"] == broker.issuer  # B6
    assert "code" not in query


def test_valid_request_redirects_to_the_login_endpoint_with_lri_and_state(broker):
    response = broker.authorize()

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LOGIN_ENDPOINT
    query = parse_qs(location.query)
    assert set(query) == {"login_request_id", "state"}
    assert query["login_request_id"][0].startswith("lri_")
    assert len(query["state"][0]) >= 43  # 256 random bits, URL-safe
    assert "Access-Control-Allow-Origin" not in response.headers


def test_each_authorization_gets_its_own_login_request_and_state(broker):
    first = parse_qs(urlsplit(broker.authorize().headers["Location"]).query)
    second = parse_qs(urlsplit(broker.authorize().headers["Location"]).query)

    assert first["login_request_id"] != second["login_request_id"]
    assert first["state"] != second["state"]


def test_the_login_request_stores_the_validated_request(broker):
    flow = broker.start_login(scope="notes:read")
    with broker.app.app_context():
        login_request = database.session().get(LoginRequest, flow.login_request_id)

        assert login_request.status == LoginRequestStatus.PENDING
        assert login_request.scope == "notes:read"
        assert login_request.client_id == "demo_client"
        assert login_request.resource_id == DEV_RESOURCE_ID
        assert login_request.authorize_params["state"] == flow.client_state
        assert login_request.state_hash != flow.broker_state  # only the hash is stored
        assert (login_request.expires_at - login_request.created_at).total_seconds() == (
            pytest.approx(600, abs=2)
        )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": None}, "invalid_client"),
        ({"client_id": "no_such_client"}, "invalid_client"),
        ({"client_id": "skc_dev_customer_idp"}, "invalid_request"),  # an M2M client
        ({"redirect_uri": "https://evil.example/callback"}, "invalid_request"),
        ({"redirect_uri": "http://127.0.0.1:5001/demo/callback/extra"}, "invalid_request"),
        ({"redirect_uri": 'http://x/"\\'}, "invalid_request"),
        ({"response_type": "token", "client_id": "nope"}, "invalid_client"),
    ],
    ids=[
        "no-client",
        "unknown-client",
        "m2m-client",
        "foreign-redirect",
        "redirect-path-differs",
        "forbidden-characters",
        "bad-response-type-unknown-client",
    ],
)
def test_b2_errors_before_the_redirect_uri_is_trusted_are_a_page(broker, overrides, error):
    _assert_error_page(broker.authorize(**overrides), error)


def test_b2_redirect_uri_must_match_exactly_not_by_prefix(broker):
    response = broker.authorize(redirect_uri=broker.demo_redirect_uri + "?next=https://evil")

    _assert_error_page(response, "invalid_request")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": 'code"\\é'}, "unsupported_response_type"),
        ({"scope": "notes:admin"}, "invalid_scope"),
        ({"resource": "https://other.example/mcp"}, "invalid_target"),
        ({"resource": "res_unknown"}, "invalid_target"),
        ({"resource": "http://127.0.0.1:5003/mcp/"}, "invalid_target"),
    ],
    ids=[
        "b1-no-pkce",
        "b1-no-method",
        "b1-plain",
        "b1-malformed-challenge",
        "implicit",
        "garbled-response-type",
        "unknown-scope",
        "b5-unknown-resource-url",
        "b5-unknown-resource-id",
        "b5-resource-trailing-slash",
    ],
)
def test_b6_errors_after_the_redirect_uri_is_trusted_go_to_the_client(broker, overrides, error):
    params = broker.authorize_params(**overrides)
    response = broker.authorize(**overrides, state=params["state"])

    _assert_client_error(broker, response, error, params["state"])


def _authorize_with_extra(broker, name: str, value: str):
    params = broker.authorize_params()
    params.pop("_verifier")
    query = [*params.items(), (name, value)]
    response = requests.get(
        f"{broker.url}/oauth/authorize", params=query, allow_redirects=False, timeout=TIMEOUT
    )
    return response, params["state"]


def test_duplicate_oauth_parameters_are_a_page(broker):
    """RFC 6749 §3.1: parameters must not repeat; a repeated redirect_uri cannot be trusted."""
    response, _ = _authorize_with_extra(broker, "scope", "notes:write")

    _assert_error_page(response, "invalid_request")


def test_b5_several_resources_are_invalid_target(broker):
    response, state = _authorize_with_extra(broker, "resource", "res_dev_notes")

    _assert_client_error(broker, response, "invalid_target", state)


def test_b5_resource_may_be_the_resource_id(broker):
    assert broker.authorize(resource=DEV_RESOURCE_ID).status_code == 302


def test_missing_resource_defaults_to_the_clients_resource(broker):
    assert broker.authorize(resource=None).status_code == 302


def test_missing_scope_defaults_to_the_resource_scopes(broker):
    flow = broker.start_login(scope=None)
    with broker.app.app_context():
        login_request = database.session().get(LoginRequest, flow.login_request_id)
        assert login_request.scope == "notes:read notes:write"


def test_offline_access_may_be_requested(broker):
    assert broker.authorize(scope="notes:read offline_access").status_code == 302


def test_redirect_uri_may_be_omitted_when_exactly_one_is_registered(broker):
    assert broker.authorize(redirect_uri=None).status_code == 302


@pytest.fixture(scope="module")
def loopback_client(broker):
    """A native-app client registered with a loopback redirect URI (RFC 8252 §7.3)."""
    with broker.app.app_context():
        client, _ = register_client(
            database.session(),
            "Native app",
            ["http://127.0.0.1:33418/callback"],
            DEV_RESOURCE_ID,
            client_id="native_loopback_app",
        )
        database.session().commit()
        return client.id


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:33418/callback",
        "http://127.0.0.1:51234/callback",
        "http://127.0.0.1/callback",
    ],
)
def test_b2_loopback_redirect_may_use_any_port(broker, loopback_client, redirect_uri):
    response = broker.authorize(client_id=loopback_client, redirect_uri=redirect_uri)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(LOGIN_ENDPOINT)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:51234/other",
        "http://localhost:51234/callback",
        "https://127.0.0.1:51234/callback",
        "http://127.0.0.1:99999/callback",
        "http://127.0.0.1:x/callback",
        "http://user@127.0.0.1:51234/callback",
        "http://127.0.0.1:51234/callback?x=1",
    ],
)
def test_b2_loopback_only_the_port_may_vary(broker, loopback_client, redirect_uri):
    _assert_error_page(
        broker.authorize(client_id=loopback_client, redirect_uri=redirect_uri), "invalid_request"
    )


def test_b2_port_variance_is_only_for_loopback(broker):
    with broker.app.app_context():
        register_client(
            database.session(),
            "Web app",
            ["https://app.example:8443/callback"],
            DEV_RESOURCE_ID,
            client_id="web_app_port_test",
        )
        database.session().commit()

    response = broker.authorize(
        client_id="web_app_port_test", redirect_uri="https://app.example:9443/callback"
    )

    _assert_error_page(response, "invalid_request")


# B13: errors found before the user interacted are redirected only to a vetted redirect URI.
# The seeded (operator-registered) client keeps them: test_b6_errors_after_the_redirect_uri_…
_PRE_INTERACTION_ERRORS = [
    ({"scope": "bogus"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"resource": "https://other.example/mcp"}, "invalid_target"),
]
_PRE_INTERACTION_IDS = ["scope", "response-type", "no-pkce", "plain-pkce", "bad-pkce", "resource"]


def _register_dcr_client(broker, redirect_uri: str) -> str:
    """Register through the open DCR endpoint, as anyone on the internet can."""
    response = requests.post(
        f"{broker.url}/api/v1/resources/{DEV_RESOURCE_ID}/clients:register",
        json={"client_name": "Landing", "redirect_uris": [redirect_uri]},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return response.json()["client_id"]


@pytest.fixture(scope="module")
def evil_client(broker) -> str:
    return _register_dcr_client(broker, "https://evil.example/landing")


@pytest.fixture(scope="module")
def loopback_dcr_client(broker) -> str:
    return _register_dcr_client(broker, "http://127.0.0.1:6274/oauth/callback")


@pytest.mark.parametrize(("overrides", "error"), _PRE_INTERACTION_ERRORS, ids=_PRE_INTERACTION_IDS)
def test_b13_a_self_registered_https_redirect_gets_no_error_redirect(
    broker, evil_client, overrides, error
):
    response = broker.authorize(
        client_id=evil_client, redirect_uri="https://evil.example/landing", **overrides
    )

    _assert_error_page(response, error)
    assert "evil.example" not in response.text  # no link to the unvetted URI either
    assert "http-equiv" not in response.text.lower()  # and no meta refresh


@pytest.mark.parametrize(("overrides", "error"), _PRE_INTERACTION_ERRORS, ids=_PRE_INTERACTION_IDS)
def test_b13_a_self_registered_loopback_redirect_keeps_error_redirects(
    broker, loopback_dcr_client, overrides, error
):
    params = broker.authorize_params(**overrides)
    redirect_uri = "http://127.0.0.1:6274/oauth/callback"
    response = broker.authorize(
        client_id=loopback_dcr_client, redirect_uri=redirect_uri, state=params["state"], **overrides
    )

    assert response.status_code == 302
    assert response.headers["Location"].startswith(redirect_uri + "?")
    query = redirect_query(response)
    assert (query["error"], query["state"], query["iss"]) == (error, params["state"], broker.issuer)


def test_b13_a_denial_after_consent_still_goes_to_a_self_registered_client(broker, evil_client):
    """After the user interacted, the error is the client's to hear (RFC 9700 §4.11.2)."""
    flow = broker.start_login(client_id=evil_client, redirect_uri="https://evil.example/landing")
    assert flow.post_profile().status_code == 200

    denied = flow.decide("deny")

    assert denied.status_code == 302
    assert denied.headers["Location"].startswith("https://evil.example/landing?")
    assert redirect_query(denied)["error"] == "access_denied"
