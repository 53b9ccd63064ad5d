"""Dynamic client registration (RFC 7591) at the per-resource endpoint, CORS on it (B10)."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from mock_broker import database
from mock_broker.models import LoginRequest, OAuthClient
from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, redirect_query

PATH = f"/api/v1/resources/{DEV_RESOURCE_ID}/clients:register"


def _register(broker, body: object, **kwargs) -> requests.Response:
    return requests.post(f"{broker.url}{PATH}", json=body, timeout=TIMEOUT, **kwargs)


def _metadata(**overrides: object) -> dict:
    body = {
        "client_name": "Inspector",
        "redirect_uris": ["http://127.0.0.1:6274/oauth/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",
        "software_id": "mcp-inspector",
        "software_version": "1.2.3",
        "client_uri": "https://inspector.example",
        "logo_uri": "https://inspector.example/logo.png",
        "scope": "notes:read offline_access",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def test_public_client_registration(broker):
    response = _register(broker, {**_metadata(), "unknown_field": "ignored"})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_id"].startswith("mcp_")
    assert not body["client_id"].startswith("https://")
    assert isinstance(body["client_id_issued_at"], int)
    assert "client_secret" not in body
    assert response.headers["Cache-Control"] == "no-store"
    for name, value in _metadata().items():
        assert body[name] == value
    assert "unknown_field" not in body
    with broker.app.app_context():
        client = database.session().get(OAuthClient, body["client_id"])
        assert client.resource_id == DEV_RESOURCE_ID
        assert client.registration_method == "dcr"
        assert client.name == "Inspector"


def test_confidential_client_gets_a_secret_that_works_at_the_token_endpoint(broker):
    response = _register(
        broker,
        _metadata(
            token_endpoint_auth_method="client_secret_post",
            redirect_uris=[broker.demo_redirect_uri],
        ),
    )
    body = response.json()
    assert body["client_secret"]
    assert body["client_secret_expires_at"] == 0

    flow = broker.start_login(client_id=body["client_id"], scope="notes:read")
    code = flow.code()
    without = flow.exchange(code, client_id=body["client_id"])
    flow = broker.start_login(client_id=body["client_id"], scope="notes:read")
    exchanged = flow.exchange(
        flow.code(), client_id=body["client_id"], client_secret=body["client_secret"]
    )

    assert without.status_code == 401
    assert exchanged.status_code == 200, exchanged.text


def test_defaults_follow_rfc_7591(broker):
    response = _register(broker, {"redirect_uris": ["https://app.example/cb"]})

    body = response.json()
    assert response.status_code == 201
    assert body["token_endpoint_auth_method"] == "client_secret_basic"  # RFC 7591 §2
    assert body["client_secret"]
    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]


def test_a_registered_client_can_sign_in(broker):
    body = _register(broker, _metadata(redirect_uris=["http://127.0.0.1:7777/cb"])).json()

    flow = broker.start_login(  # a loopback redirect: any port
        client_id=body["client_id"], redirect_uri="http://127.0.0.1:40001/cb", scope="notes:read"
    )
    response = flow.decide("approve") if flow.post_profile().ok else None

    assert response is not None and response.status_code == 302
    assert response.headers["Location"].startswith("http://127.0.0.1:40001/cb?")
    assert redirect_query(response)["iss"] == broker.issuer


@pytest.mark.parametrize(
    "redirect_uris",
    [
        None,
        [],
        "https://app.example/cb",
        ["http://app.example/cb"],
        ["https://app.example/cb#fragment"],
        ["/relative"],
        ["javascript:alert(1)"],
        ["https://user:pw@app.example/cb"],
        [42],
        ["https://app.example/" + "a" * 3000],
    ],
    ids=[
        "missing",
        "empty",
        "not-a-list",
        "http-not-loopback",
        "fragment",
        "relative",
        "javascript",
        "credentials",
        "not-a-string",
        "too-long",
    ],
)
def test_bad_redirect_uris_are_invalid_redirect_uri(broker, redirect_uris):
    response = _register(broker, _metadata(redirect_uris=redirect_uris))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert response.json()["error_description"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"token_endpoint_auth_method": "tls_client_auth"},
        {"jwks_uri": "https://app.example/jwks"},
        {"grant_types": ["client_credentials"]},
        {"grant_types": ["refresh_token"]},
        {"grant_types": ["authorization_code", "implicit"]},
        {"response_types": ["token"]},
        {"application_type": "desktop"},
        {"client_name": ""},
        {"client_name": 7},
        {"client_name": "x" * 201},
        {"client_uri": "http://inspector.example"},
        {"logo_uri": "javascript:alert(1)"},
        {"scope": "notes:admin"},
        {"software_id": ["a"]},
        {"contacts": "a@b.c"},
    ],
    ids=lambda overrides: "-".join(f"{k}" for k in overrides),
)
def test_bad_metadata_is_invalid_client_metadata(broker, overrides):
    response = _register(broker, _metadata(**overrides))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize("body", [b"[]", b"not json", b"\xff\xfe", b'"string"'])
def test_a_body_that_is_not_a_json_object_is_invalid_client_metadata(broker, body):
    response = requests.post(
        f"{broker.url}{PATH}",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_a_form_body_is_refused(broker):
    response = requests.post(f"{broker.url}{PATH}", data={"a": "b"}, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_unknown_resource_is_404(broker):
    response = requests.post(
        f"{broker.url}/api/v1/resources/res_unknown/clients:register",
        json=_metadata(),
        timeout=TIMEOUT,
    )

    assert response.status_code == 404


def test_registered_scope_is_the_default_but_does_not_block_step_up(broker):
    body = _register(
        broker, _metadata(scope="notes:read", redirect_uris=[broker.demo_redirect_uri])
    ).json()

    default = broker.start_login(client_id=body["client_id"], scope=None)
    step_up = broker.authorize(client_id=body["client_id"], scope="notes:read notes:write")

    with broker.app.app_context():
        assert database.session().get(LoginRequest, default.login_request_id).scope == (
            "notes:read"
        )
    assert "login_request_id=" in step_up.headers["Location"]


def test_b10_cors_on_registration_including_preflight(broker):
    preflight = requests.options(
        f"{broker.url}{PATH}",
        headers={
            "Origin": "https://inspector.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, mcp-protocol-version",
        },
        timeout=TIMEOUT,
    )
    response = _register(broker, _metadata(), headers={"Origin": "https://inspector.example"})

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "MCP-Protocol-Version" in preflight.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# B14: characters that make a shown string lie about what it says, one of each class.
_SPOOFING = {
    "rlo": "\u202e",  # RIGHT-TO-LEFT OVERRIDE (U+202A to U+202E: embeddings and overrides)
    "rli": "\u2067",  # RIGHT-TO-LEFT ISOLATE (U+2066 to U+2069)
    "zwsp": "\u200b",  # ZERO WIDTH SPACE (U+200B to U+200F)
    "word-joiner": "\u2060",  # U+2060 to U+2064
    "bom": "\ufeff",  # ZERO WIDTH NO-BREAK SPACE
    "bell": "\u0007",  # C0 control
    "nel": "\u0085",  # C1 control
    "line-separator": "\u2028",
    "lone-surrogate": "\ud800",  # valid JSON ("\\ud800"), not storable text: was a 500
}
_SHOWN_FIELDS = {
    "client_name": lambda c: {"client_name": f"Claude{c} (official)"},
    "redirect_uris": lambda c: {"redirect_uris": [f"https://app.example/c{c}b"]},
    "client_uri": lambda c: {"client_uri": f"https://app{c}.example"},
    "logo_uri": lambda c: {"logo_uri": f"https://app.example/logo{c}.png"},
    "tos_uri": lambda c: {"tos_uri": f"https://app.example/tos{c}"},
    "policy_uri": lambda c: {"policy_uri": f"https://app.example/policy{c}"},
    "software_id": lambda c: {"software_id": f"agent{c}"},
    "contacts": lambda c: {"contacts": [f"ops{c}@app.example"]},
}


def _client_count(broker) -> int:
    with broker.app.app_context():
        return database.session().scalar(select(func.count()).select_from(OAuthClient))


@pytest.mark.parametrize("character", _SPOOFING.values(), ids=_SPOOFING.keys())
@pytest.mark.parametrize("field", _SHOWN_FIELDS)
def test_b14_spoofing_characters_are_refused_and_nothing_is_stored(broker, field, character):
    before = _client_count(broker)

    response = _register(broker, _metadata(**_SHOWN_FIELDS[field](character)))

    assert response.status_code == 400, response.text
    body = response.json()
    expected = "invalid_redirect_uri" if field == "redirect_uris" else "invalid_client_metadata"
    assert body["error"] == expected
    assert f"U+{ord(character):04X}" in body["error_description"]
    if field != "redirect_uris":
        assert body["error_description"].startswith(field)  # names the field
    assert _client_count(broker) == before


def test_b14_a_self_registered_client_is_marked_on_the_consent_page(broker):
    body = _register(broker, _metadata(client_name="Claude (official)")).json()
    flow = broker.start_login(
        client_id=body["client_id"], redirect_uri="http://127.0.0.1:6274/oauth/callback"
    )
    assert flow.post_profile().status_code == 200

    page = flow.callback().text

    assert "Claude (official)</strong>" in page
    assert 'Claude (official) <span class="muted">(name given by the application itself)' in page
