"""RFC 8414 metadata per resource, the JWKS, and where CORS is (and is not) allowed (B10)."""

from __future__ import annotations

import pytest
import requests
from joserfc.jwk import KeySet

from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT

METADATA_PATHS = (
    f"/.well-known/oauth-authorization-server/resources/{DEV_RESOURCE_ID}",
    f"/resources/{DEV_RESOURCE_ID}/.well-known/oauth-authorization-server",
)


@pytest.mark.parametrize("path", METADATA_PATHS)
def test_metadata_is_served_at_both_well_known_locations(broker, path):
    response = requests.get(broker.url + path, timeout=TIMEOUT)

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == broker.issuer
    assert metadata["authorization_endpoint"] == f"{broker.url}/oauth/authorize"
    assert metadata["token_endpoint"] == f"{broker.url}/oauth/token"
    assert metadata["jwks_uri"] == f"{broker.url}/keys"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(metadata["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_basic",
        "client_secret_post",
    }
    assert metadata["scopes_supported"] == ["notes:read", "notes:write", "offline_access"]
    assert metadata["registration_endpoint"] == (
        f"{broker.url}/api/v1/resources/{DEV_RESOURCE_ID}/clients:register"
    )
    assert metadata["revocation_endpoint"] == f"{broker.url}/oauth/revoke"
    assert metadata["introspection_endpoint"] == f"{broker.url}/oauth/introspect"
    assert metadata["client_id_metadata_document_supported"] is True


def test_the_issuer_matches_the_path_inserted_well_known_url(broker):
    """RFC 8414 §3.3 / MCP 2026-07-28: the issuer must equal the one the URL was built from."""
    metadata = requests.get(broker.url + METADATA_PATHS[0], timeout=TIMEOUT).json()
    issuer_path = metadata["issuer"].removeprefix(broker.url)

    assert METADATA_PATHS[0] == f"/.well-known/oauth-authorization-server{issuer_path}"


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-authorization-server/resources/res_unknown",
        "/resources/res_unknown/.well-known/oauth-authorization-server",
    ],
)
def test_unknown_resource_metadata_is_a_json_404(broker, path):
    response = requests.get(broker.url + path, timeout=TIMEOUT)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_jwks_publishes_the_public_rs256_key_only(broker):
    jwks = requests.get(f"{broker.url}/keys", timeout=TIMEOUT).json()

    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # no private parts
    KeySet.import_key_set(jwks)  # a valid key set


def test_jwks_is_stable_across_a_restart_of_the_app(broker):
    """The key lives in the database: a new app on the same database publishes the same kid."""
    from mock_broker import create_app
    from mock_broker.database import init_db

    before = requests.get(f"{broker.url}/keys", timeout=TIMEOUT).json()
    again = create_app({**broker.app.config, "TESTING": True})
    init_db(again)
    after = again.test_client().get("/keys").get_json()

    assert after == before


@pytest.mark.parametrize(
    "path", [*METADATA_PATHS, "/keys"], ids=["metadata", "metadata-hosted", "jwks"]
)
def test_b10_cors_allowed_on_discovery(broker, path):
    response = requests.get(
        broker.url + path, headers={"Origin": "https://inspector.example"}, timeout=TIMEOUT
    )

    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_b10_cors_preflight_on_the_token_endpoint(broker):
    response = requests.options(
        f"{broker.url}/oauth/token",
        headers={
            "Origin": "https://inspector.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, mcp-protocol-version",
        },
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "MCP-Protocol-Version" in response.headers["Access-Control-Allow-Headers"]


def test_b10_no_cors_on_the_authorization_endpoint(broker):
    origin = {"Origin": "https://evil.example"}
    response = requests.get(
        f"{broker.url}/oauth/authorize",
        params={k: v for k, v in broker.authorize_params().items() if k != "_verifier"},
        headers=origin,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    preflight = requests.options(
        f"{broker.url}/oauth/authorize",
        headers={**origin, "Access-Control-Request-Method": "GET"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 302
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_healthz(broker):
    response = requests.get(f"{broker.url}/healthz", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
