"""The profile API (contract §3, B9, E2): who may call it, what it accepts, and when."""

from __future__ import annotations

import base64
import hmac
import json
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from mock_broker import database, keys, login_requests, tokens
from mock_broker.identifiers import new_secret
from mock_broker.models import IssuedToken, LoginRequest, TokenKind
from mock_broker.registration import create_connection, create_m2m_client
from mock_broker.seed import DEV_CONNECTION_ID, DEV_M2M_CLIENT_ID
from tests.broker.flows import TIMEOUT

VALID = {"sub": "1234567890", "email": "alice@example.com"}
FULL = {
    "sub": "1234567890",
    "email": "alice@example.com",
    "email_verified": True,
    "given_name": "Alice",
    "family_name": "Doe",
    "name": "Alice Doe",
    "preferred_username": "alice.d",
    "picture": "https://example.com/alice.png",
    "locale": "en-US",
    "phone_number": "+1234567890",
    "phone_number_verified": False,
    "gender": "female",
    "groups": ["eng"],
    "roles": ["admin"],
    "organization_external_id": "org_42",
    "organization_external_name": "Acme Corp",
    "custom_attributes": {"plan": "enterprise", "seats": 5, "nested": {"ok": [1, 2]}},
}


def _assert_error(response, status: int, error: str, mentions: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    if mentions is not None:
        assert mentions in body["error_description"]


@pytest.fixture
def flow(broker):
    return broker.start_login()


@pytest.fixture(scope="module")
def other_customer(broker):
    """A second customer (M2M client + its own connection), e.g. another tenant."""
    with broker.app.app_context():
        db = database.session()
        client, secret = create_m2m_client(db, "Other customer")
        connection = create_connection(db, client.id, "http://127.0.0.1:9/other-login")
        db.commit()
        return client.id, secret, connection.id


def _m2m_token_for(broker, client_id: str, secret: str) -> str:
    response = requests.post(
        f"{broker.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    )
    return response.json()["access_token"]


# -- success ---------------------------------------------------------------------------------


def test_minimal_profile_is_accepted(broker, flow):
    response = flow.post_user(VALID)

    assert response.status_code == 200
    answer = response.json()
    assert answer.pop("auth_request_id") == flow.login_request_id
    # B12: where to send the browser — this broker's callback, with a one-time value.
    callback = f"{broker.url}/sso/v1/connections/{DEV_CONNECTION_ID}/partner:callback"
    assert answer.pop("redirect_uri").startswith(f"{callback}?completion=")
    assert answer == {}


def test_state_only_mode_answers_as_the_documented_contract(broker, flow):
    with broker.configured(CALLBACK_MODE="state-only"):
        response = flow.post_user(VALID)
    assert response.status_code == 200
    assert response.json() == {"auth_request_id": flow.login_request_id}


def test_b12_each_post_replaces_the_completion_value(broker, flow):
    first = flow.post_user(VALID).json()["redirect_uri"]
    second = flow.post_user(VALID).json()["redirect_uri"]
    assert first != second
    assert flow.browser.get(first, allow_redirects=False, timeout=10).status_code == 400
    assert flow.browser.get(second, allow_redirects=False, timeout=10).status_code == 200


def test_full_profile_is_accepted_and_stored(broker, flow):
    assert flow.post_user(FULL).status_code == 200

    with broker.app.app_context():
        stored = database.session().get(LoginRequest, flow.login_request_id)
        assert stored.profile == FULL
        assert stored.status == "profile_received"


def test_null_optional_fields_mean_not_given(broker, flow):
    response = flow.post_user({**VALID, "picture": None, "roles": None})

    assert response.status_code == 200
    with broker.app.app_context():
        assert database.session().get(LoginRequest, flow.login_request_id).profile == VALID


def test_posting_again_before_the_callback_replaces_the_profile(broker, flow):
    flow.post_user({**VALID, "email": "first@example.com"})
    response = flow.post_user({**VALID, "email": "second@example.com"})

    assert response.status_code == 200
    consent = flow.callback()
    assert "second@example.com" in consent.text
    assert "first@example.com" not in consent.text


# -- 401: the bearer token (B9) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic c2tjOnNlY3JldA==",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJza2MifQ.",
        "Bearer " + "A" * 5000,
    ],
    ids=[
        "missing",
        "empty",
        "no-token",
        "blank-token",
        "basic",
        "garbage",
        "abc",
        "alg-none",
        "huge",
    ],
)
def test_b9_missing_or_garbled_token_is_401(broker, flow, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.post(
        f"{broker.url}/api/v1/connections/{DEV_CONNECTION_ID}/auth-requests/"
        f"{flow.login_request_id}/user",
        json=VALID,
        headers=headers,
        timeout=TIMEOUT,
    )

    _assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def _signed(broker, claims: dict, key=None, header: dict | None = None) -> str:
    with broker.app.app_context():
        signing_key = key or keys.signing_key(database.session())
    return jwt.encode(header or {"alg": "RS256", "kid": signing_key.kid}, claims, signing_key)


def _m2m_claims(broker, **overrides) -> dict:
    now = int(time.time())
    return {
        "iss": broker.url,
        "aud": [broker.url],
        "sub": DEV_M2M_CLIENT_ID,
        "client_id": DEV_M2M_CLIENT_ID,
        "iat": now,
        "exp": now + 600,
        "jti": new_secret(),
        **overrides,
    }


def _record(broker, claims: dict) -> None:
    """Record a hand-made token as issued, so only the property under test is wrong."""
    from datetime import UTC, datetime

    with broker.app.app_context():
        db = database.session()
        db.add(
            IssuedToken(
                jti=claims["jti"],
                kind=TokenKind.M2M,
                subject=claims["sub"],
                client_id=DEV_M2M_CLIENT_ID,
                issued_at=datetime.fromtimestamp(claims["iat"], UTC),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        )
        db.commit()


def test_b9_expired_token_is_401(broker, flow):
    claims = _m2m_claims(broker, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    _record(broker, claims)

    response = flow.post_user(VALID, token=_signed(broker, claims))

    _assert_error(response, 401, "invalid_token")


def test_b9_token_the_broker_never_issued_is_401(broker, flow):
    """Correctly signed, but no record of it: not a token this broker handed out."""
    response = broker.post_user(
        flow.login_request_id, VALID, token=_signed(broker, _m2m_claims(broker))
    )

    _assert_error(response, 401, "invalid_token")


def test_b9_wrong_audience_is_401(broker, flow):
    claims = _m2m_claims(broker, aud=["http://127.0.0.1:5003/mcp"])
    _record(broker, claims)

    response = flow.post_user(VALID, token=_signed(broker, claims))

    _assert_error(response, 401, "invalid_token")


def test_b9_wrong_issuer_is_401(broker, flow):
    claims = _m2m_claims(broker, iss=f"{broker.url}/resources/res_dev_notes")
    _record(broker, claims)

    response = flow.post_user(VALID, token=_signed(broker, claims))

    _assert_error(response, 401, "invalid_token")


def test_b9_token_signed_by_another_key_is_401(broker, flow):
    claims = _m2m_claims(broker)
    _record(broker, claims)
    with broker.app.app_context():
        kid = keys.signing_key(database.session()).kid
    impostor = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)

    response = broker.post_user(
        flow.login_request_id, VALID, token=_signed(broker, claims, impostor)
    )

    _assert_error(response, 401, "invalid_token")


def test_b9_hs256_algorithm_confusion_is_401(broker, flow):
    """An HS256 token keyed with the public RSA key (made by hand: joserfc itself refuses)."""
    claims = _m2m_claims(broker)
    _record(broker, claims)
    with broker.app.app_context():
        signing_key = keys.signing_key(database.session())
    header = {"alg": "HS256", "kid": signing_key.kid}
    signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
    mac = hmac.new(signing_key.as_pem(private=False), signing_input.encode(), "sha256").digest()
    token = f"{signing_input}.{_b64(mac)}"

    response = flow.post_user(VALID, token=token)

    _assert_error(response, 401, "invalid_token")


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_b9_a_user_access_token_cannot_call_the_api(broker):
    flow = broker.start_login()
    access_token = flow.exchange(flow.code()).json()["access_token"]
    other = broker.start_login()

    response = broker.post_user(other.login_request_id, VALID, token=access_token)

    _assert_error(response, 401, "invalid_token")


def test_b9_revoked_token_is_401(broker, other_customer):
    client_id, secret, connection_id = other_customer
    token = _m2m_token_for(broker, client_id, secret)
    url = f"{broker.url}/api/v1/connections/{connection_id}/auth-requests/lri_nonexistent/user"
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.post(url, json=VALID, headers=headers, timeout=TIMEOUT).status_code == 404

    assert tokens.revoke_m2m_tokens(broker.app, client_id) >= 1
    response = requests.post(url, json=VALID, headers=headers, timeout=TIMEOUT)

    _assert_error(response, 401, "invalid_token")
    fresh = _m2m_token_for(broker, client_id, secret)  # a new token works again
    headers = {"Authorization": f"Bearer {fresh}"}
    assert requests.post(url, json=VALID, headers=headers, timeout=TIMEOUT).status_code == 404


def test_b9_another_customers_token_cannot_post_to_this_connection(broker, flow, other_customer):
    client_id, secret, _ = other_customer
    token = _m2m_token_for(broker, client_id, secret)

    response = flow.post_user(VALID, token=token)

    _assert_error(response, 401, "invalid_token")


# -- 400: the body (E2) ------------------------------------------------------------------------

MALFORMED = [
    ([], None),
    ("alice", None),
    (42, None),
    (None, None),
    ({}, "sub"),
    ({"email": "alice@example.com"}, "sub"),
    ({"sub": "1"}, "email"),
    ({"sub": "", "email": "alice@example.com"}, "sub"),
    ({"sub": "1", "email": ""}, "email"),
    ({"sub": None, "email": "alice@example.com"}, "sub"),
    ({"sub": 1, "email": "alice@example.com"}, "sub"),
    ({"sub": ["1"], "email": "alice@example.com"}, "sub"),
    ({"sub": {"id": 1}, "email": "alice@example.com"}, "sub"),
    ({"sub": "1", "email": 5}, "email"),
    ({"sub": "1", "email": "not-an-email"}, "email"),
    ({"sub": "1", "email": "a b@example.com"}, "email"),
    ({"sub": "x" * 256, "email": "alice@example.com"}, "sub"),
    ({"sub": "1\x00", "email": "alice@example.com"}, "sub"),
    ({**VALID, "email_verified": "true"}, "email_verified"),
    ({**VALID, "email_verified": 1}, "email_verified"),
    ({**VALID, "phone_number_verified": "yes"}, "phone_number_verified"),
    ({**VALID, "phone_number": "1234567890"}, "phone_number"),
    ({**VALID, "phone_number": "+0123"}, "phone_number"),
    ({**VALID, "phone_number": "+1 234 567 890"}, "phone_number"),
    ({**VALID, "phone_number": "+1234567890123456"}, "phone_number"),
    ({**VALID, "phone_number": 1234567890}, "phone_number"),
    ({**VALID, "groups": "eng"}, "groups"),
    ({**VALID, "groups": [1, 2]}, "groups"),
    ({**VALID, "groups": [["eng"]]}, "groups"),
    ({**VALID, "groups": ["g"] * 101}, "groups"),
    ({**VALID, "roles": {"admin": True}}, "roles"),
    ({**VALID, "roles": [None]}, "roles"),
    ({**VALID, "custom_attributes": ["plan"]}, "custom_attributes"),
    ({**VALID, "custom_attributes": "enterprise"}, "custom_attributes"),
    ({**VALID, "custom_attributes": {"blob": "x" * 5000}}, "custom_attributes"),
    ({**VALID, "organization_external_name": "A" * 201}, "organization_external_name"),
    ({**VALID, "organization_external_name": 7}, "organization_external_name"),
    ({**VALID, "organization_external_id": ["org"]}, "organization_external_id"),
    ({**VALID, "given_name": True}, "given_name"),
    ({**VALID, "name": "n" * 256}, "name"),
    ({**VALID, "picture": "p" * 2049}, "picture"),
    ({**VALID, "locale": 3.5}, "locale"),
    ({**VALID, "admin": True}, "admin"),
    ({**VALID, "Email": "x@example.com"}, "Email"),
    ({"user": VALID}, "user"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_e2_malformed_profile_is_400_naming_the_field(broker, flow, body, field):
    response = flow.post_user(body)

    _assert_error(response, 400, "invalid_request", field)
    with broker.app.app_context():  # nothing stored
        assert database.session().get(LoginRequest, flow.login_request_id).profile is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"{'sub': '1'}",
        b'{"sub": "1", "email": "a@example.com", "x": NaN}',
        b'{"sub": "\\ud800", "email": "a@example.com"}',
        b"\xff\xfe\x00",
        b"[" * 5000 + b"]" * 5000,
        b'{"sub": "1", "email": "a@example.com", "custom_attributes": '
        + b'{"a":' * 3000
        + b"1"
        + b"}" * 3001,
    ],
    ids=[
        "empty",
        "truncated",
        "single-quotes",
        "nan",
        "lone-surrogate",
        "binary",
        "deep",
        "deep-obj",
    ],
)
def test_e2_unparseable_body_is_400(broker, flow, raw):
    response = requests.post(
        f"{broker.url}/api/v1/connections/{DEV_CONNECTION_ID}/auth-requests/"
        f"{flow.login_request_id}/user",
        data=raw,
        headers={
            "Authorization": f"Bearer {broker.cached_m2m_token()}",
            "Content-Type": "application/json",
        },
        timeout=TIMEOUT,
    )

    _assert_error(response, 400, "invalid_request")


def test_e2_non_json_content_type_is_400(broker, flow):
    response = requests.post(
        f"{broker.url}/api/v1/connections/{DEV_CONNECTION_ID}/auth-requests/"
        f"{flow.login_request_id}/user",
        data=VALID,
        headers={"Authorization": f"Bearer {broker.cached_m2m_token()}"},
        timeout=TIMEOUT,
    )

    _assert_error(response, 400, "invalid_request", "JSON")


def test_e2_oversized_body_is_413(broker, flow):
    body = {**VALID, "custom_attributes": {"blob": "x" * 70_000}}

    response = flow.post_user(body)

    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


# -- 404 / 409 / 410: the login request --------------------------------------------------------


def test_unknown_connection_is_404(broker, flow):
    response = flow.post_user(VALID, connection_id="conn_unknown")

    _assert_error(response, 404, "not_found")


@pytest.mark.parametrize("login_request_id", ["lri_unknown", "x" * 300, "lri_\u00e9"])
def test_unknown_login_request_is_404(broker, login_request_id):
    response = broker.post_user(login_request_id, VALID)

    _assert_error(response, 404, "not_found")


def test_nul_in_the_path_is_invalid_request(broker):
    _assert_error(broker.post_user("%00", VALID), 400, "invalid_request")


def test_login_request_of_another_connection_is_404(broker, flow):
    with broker.app.app_context():
        db = database.session()
        connection = create_connection(db, DEV_M2M_CLIENT_ID, "http://127.0.0.1:9/second")
        db.commit()
        second_connection = connection.id

    response = flow.post_user(VALID, connection_id=second_connection)

    _assert_error(response, 404, "not_found")


def test_after_the_callback_the_profile_is_final_409(broker, flow):
    assert flow.post_user(VALID).status_code == 200
    assert flow.callback().status_code == 200

    response = flow.post_user({**VALID, "email": "eve@example.com"})

    _assert_error(response, 409, "login_request_completed")


def test_expired_login_request_is_410(broker, flow):
    assert login_requests.expire(broker.app, flow.login_request_id)

    response = flow.post_user(VALID)

    _assert_error(response, 410, "login_request_expired")


def test_expired_login_request_with_a_profile_is_410(broker, flow):
    assert flow.post_user(VALID).status_code == 200
    login_requests.expire(broker.app, flow.login_request_id)

    response = flow.post_user(VALID)

    _assert_error(response, 410, "login_request_expired")
