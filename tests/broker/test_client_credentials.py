"""client_credentials for the customer backend's M2M credentials (contract §2, B11)."""

from __future__ import annotations

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from mock_broker.seed import DEV_M2M_CLIENT_ID, DEV_M2M_CLIENT_SECRET
from tests.broker.flows import TIMEOUT


def _token_request(broker, auth=None, **form):
    return requests.post(
        f"{broker.url}/oauth/token",
        data={"grant_type": "client_credentials", **form},
        auth=auth,
        timeout=TIMEOUT,
    )


def _verify(broker, token: str):
    jwks = KeySet.import_key_set(requests.get(f"{broker.url}/keys", timeout=TIMEOUT).json())
    return jwt.decode(token, jwks, algorithms=["RS256"])


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_m2m_token_with_either_client_authentication_method(broker, method):
    credentials = {"client_id": DEV_M2M_CLIENT_ID, "client_secret": DEV_M2M_CLIENT_SECRET}
    if method == "client_secret_post":
        response = _token_request(broker, **credentials)
    else:
        response = _token_request(broker, auth=(DEV_M2M_CLIENT_ID, DEV_M2M_CLIENT_SECRET))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store"  # B11
    token = _verify(broker, body["access_token"])
    assert token.header["kid"]
    assert token.header["typ"] == "at+jwt"
    assert token.claims["sub"] == DEV_M2M_CLIENT_ID
    assert token.claims["iss"] == broker.url
    assert token.claims["aud"] == [broker.url]
    assert token.claims["exp"] - token.claims["iat"] == 3600
    assert token.claims["jti"]


@pytest.mark.parametrize(
    "form",
    [
        {"client_id": DEV_M2M_CLIENT_ID, "client_secret": "wrong"},
        {"client_id": "skc_unknown", "client_secret": DEV_M2M_CLIENT_SECRET},
        {"client_id": DEV_M2M_CLIENT_ID},
        {},
    ],
    ids=["wrong-secret", "unknown-client", "no-secret", "no-credentials"],
)
def test_bad_client_credentials_are_invalid_client(broker, form):
    response = _token_request(broker, **form)

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"


def test_wrong_secret_is_401_invalid_client(broker):
    response = _token_request(broker, client_id=DEV_M2M_CLIENT_ID, client_secret="wrong")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_basic_secret_is_401_invalid_client(broker):
    response = _token_request(broker, auth=(DEV_M2M_CLIENT_ID, "wrong"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_m2m_token_refuses_a_scope(broker):
    response = _token_request(
        broker,
        client_id=DEV_M2M_CLIENT_ID,
        client_secret=DEV_M2M_CLIENT_SECRET,
        scope="notes:read",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("grant_type", ["password", "implicit", "", "urn:x"])
def test_unsupported_grant_types_are_refused(broker, grant_type):
    response = _token_request(broker, grant_type=grant_type)

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_a_public_oauth_client_cannot_use_client_credentials(broker):
    response = _token_request(broker, client_id="demo_client")

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
