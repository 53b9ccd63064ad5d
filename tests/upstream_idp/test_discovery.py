"""What an RP reads first: the discovery document, the JWKS, and the health check."""

from __future__ import annotations

import requests
from authlib.oidc.discovery import OpenIDProviderMetadata

from tests.upstream_idp.flows import TIMEOUT


def test_the_discovery_document_advertises_what_the_stand_in_does(upstream):
    response = requests.get(f"{upstream.url}/.well-known/openid-configuration", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.json()
    OpenIDProviderMetadata(document).validate()
    url = upstream.url
    assert document["issuer"] == url
    assert document["authorization_endpoint"] == f"{url}/authorize"
    assert document["token_endpoint"] == f"{url}/token"
    assert document["userinfo_endpoint"] == f"{url}/userinfo"
    assert document["jwks_uri"] == f"{url}/jwks"
    assert document["response_types_supported"] == ["code"]
    assert document["subject_types_supported"] == ["public"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["scopes_supported"] == ["openid", "email", "profile", "groups"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert {
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "nonce",
        "auth_time",
        "email",
        "email_verified",
        "given_name",
        "family_name",
        "name",
        "groups",
    } <= set(document["claims_supported"])


def test_the_jwks_publishes_one_public_rs256_key(upstream):
    response = requests.get(f"{upstream.url}/jwks", timeout=TIMEOUT)

    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_health_and_home(upstream):
    assert requests.get(f"{upstream.url}/healthz", timeout=TIMEOUT).json() == {"status": "ok"}
    home = requests.get(upstream.url, timeout=TIMEOUT)
    assert home.status_code == 200
    assert "Development stand-in — any username works" in home.text
    assert "basic-secret" not in home.text
