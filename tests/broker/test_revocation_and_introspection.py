"""Revocation (RFC 7009), introspection (RFC 7662), and several resources, each its own issuer
whose tokens another resource rejects (B5)."""

from __future__ import annotations

import pytest
import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mock_broker import database, tokens
from mock_broker.registration import (
    create_resource_server_client,
    register_client,
    register_resource,
)
from mock_broker.seed import (
    DEV_CONNECTION_ID,
    DEV_INTROSPECTION_CLIENT_ID,
    DEV_INTROSPECTION_CLIENT_SECRET,
    DEV_MCP_SERVER_URL,
    DEV_RESOURCE_ID,
)
from tests.broker.flows import TIMEOUT

OTHER_RESOURCE_ID = "res_other_files"
OTHER_MCP_URL = "https://files.example/mcp"
OTHER_CLIENT_ID = "files_client"


@pytest.fixture(scope="module")
def credentials(broker):
    """Resource-server credentials for the dev resource and a second resource, and a client."""
    with broker.app.app_context():
        db = database.session()
        register_resource(
            db, "Files", OTHER_MCP_URL, ["files:read"], DEV_CONNECTION_ID, OTHER_RESOURCE_ID
        )
        register_client(
            db,
            "Files client",
            [broker.demo_redirect_uri],
            OTHER_RESOURCE_ID,
            client_id=OTHER_CLIENT_ID,
        )
        notes, notes_secret = create_resource_server_client(db, "Notes MCP", DEV_RESOURCE_ID)
        files, files_secret = create_resource_server_client(db, "Files MCP", OTHER_RESOURCE_ID)
        db.commit()
        return {"notes": (notes.id, notes_secret), "files": (files.id, files_secret)}


def _introspect(broker, token: str, auth) -> requests.Response:
    return broker.post_form("/oauth/introspect", {"token": token}, auth=auth)


def _revoke(broker, token: str, client_id: str = "demo_client", **extra) -> requests.Response:
    return broker.post_form("/oauth/revoke", {"token": token, "client_id": client_id, **extra})


def test_introspection_of_an_active_access_token(broker, credentials):
    body = broker.tokens("notes:read")

    response = _introspect(broker, body["access_token"], credentials["notes"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    claims = response.json()
    assert claims["active"] is True
    assert claims["token_type"] == "Bearer"
    assert claims["scope"] == "notes:read"
    assert claims["client_id"] == "demo_client"
    assert claims["aud"] == [DEV_MCP_SERVER_URL, DEV_RESOURCE_ID]
    assert claims["iss"] == broker.issuer
    assert claims["sub"].startswith("usr_")
    assert claims["exp"] > claims["iat"]


def test_the_seeded_sample_server_credentials_introspect_the_dev_resource(broker):
    """What `MCP_TOKEN_CHECK=introspection` uses locally: seeded, fixed, documented."""
    body = broker.tokens("notes:read")
    seeded = (DEV_INTROSPECTION_CLIENT_ID, DEV_INTROSPECTION_CLIENT_SECRET)

    wrong = (DEV_INTROSPECTION_CLIENT_ID, "wrong")

    assert _introspect(broker, body["access_token"], seeded).json()["active"] is True
    assert _introspect(broker, body["access_token"], wrong).json()["error"] == "invalid_client"


def test_introspection_of_a_refresh_token(broker, credentials):
    body = broker.tokens()

    claims = _introspect(broker, body["refresh_token"], credentials["notes"]).json()

    assert claims["active"] is True
    assert claims["scope"] == "notes:read offline_access"
    assert "token_type" not in claims


def test_b5_a_token_for_one_resource_is_inactive_to_another(broker, credentials):
    body = broker.tokens("notes:read")

    response = _introspect(broker, body["access_token"], credentials["files"])

    assert response.json() == {"active": False}


def test_b5_each_resource_is_its_own_issuer_and_audience(broker, credentials):
    notes = broker.tokens("notes:read")
    files = broker.tokens(
        "files:read offline_access", client_id=OTHER_CLIENT_ID, resource=OTHER_MCP_URL
    )
    files_claims = broker.claims(files["access_token"])

    assert files_claims["iss"] == f"{broker.url}/resources/{OTHER_RESOURCE_ID}"
    assert files_claims["aud"] == [OTHER_MCP_URL, OTHER_RESOURCE_ID]
    # a resource server for "files" validating a notes token by JWT audience rejects it
    jwks = requests.get(f"{broker.url}/keys", timeout=TIMEOUT).json()
    decoded = jwt.decode(notes["access_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    with pytest.raises(JoseError):
        jwt.JWTClaimsRegistry(aud={"essential": True, "value": OTHER_MCP_URL}).validate(
            decoded.claims
        )
    # the files grant refreshes under its own issuer, and the notes resource is not its target
    refreshed = broker.refresh(files["refresh_token"], client_id=OTHER_CLIENT_ID)
    assert broker.claims(refreshed.json()["access_token"])["iss"] == files_claims["iss"]
    wrong = broker.refresh(
        refreshed.json()["refresh_token"], client_id=OTHER_CLIENT_ID, resource=DEV_MCP_SERVER_URL
    )
    assert wrong.json()["error"] == "invalid_target"


def test_b5_a_client_of_one_resource_cannot_ask_for_another(broker, credentials):
    params = broker.authorize_params(resource=OTHER_MCP_URL)

    response = broker.authorize(resource=OTHER_MCP_URL, state=params["state"])

    assert "error=invalid_target" in response.headers["Location"]


def test_a_confidential_client_may_introspect_its_own_tokens_only(broker, credentials):
    with broker.app.app_context():
        client, secret = register_client(
            database.session(),
            "Confidential introspector",
            [broker.demo_redirect_uri],
            DEV_RESOURCE_ID,
            "client_secret_post",
        )
        database.session().commit()
    own = broker.tokens("notes:read", client_id=client.id, client_secret=secret)
    foreign = broker.tokens("notes:read")

    mine = broker.post_form(
        "/oauth/introspect",
        {"token": own["access_token"], "client_id": client.id, "client_secret": secret},
    )
    theirs = broker.post_form(
        "/oauth/introspect",
        {"token": foreign["access_token"], "client_id": client.id, "client_secret": secret},
    )

    assert mine.json()["active"] is True
    assert theirs.json() == {"active": False}


@pytest.mark.parametrize(
    "auth",
    [None, ("demo_client", ""), ("rsc_unknown", "x"), ("skc_dev_customer_idp", "x")],
    ids=["none", "public-client", "unknown", "m2m"],
)
def test_introspection_requires_credentials(broker, credentials, auth):
    body = broker.tokens("notes:read")
    data = {"token": body["access_token"]}
    if auth and not auth[1]:
        data["client_id"] = auth[0]
        auth = None

    response = broker.post_form("/oauth/introspect", data, auth=auth)

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_introspection_of_junk_is_inactive_or_invalid_request(broker, credentials, token):
    response = _introspect(broker, token, credentials["notes"])

    if token:
        assert response.json() == {"active": False}
    else:
        assert response.json()["error"] == "invalid_request"


def test_introspection_has_no_cors(broker, credentials):
    preflight = requests.options(
        f"{broker.url}/oauth/introspect",
        headers={"Origin": "https://x.example", "Access-Control-Request-Method": "POST"},
        timeout=TIMEOUT,
    )

    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_revoking_an_access_token(broker, credentials):
    body = broker.tokens("notes:read")

    response = _revoke(broker, body["access_token"], token_type_hint="access_token")

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # B10
    assert _introspect(broker, body["access_token"], credentials["notes"]).json() == {
        "active": False
    }


def test_revoking_a_refresh_token_revokes_the_grants_access_tokens(broker, credentials):
    first = broker.tokens()
    second = broker.refresh(first["refresh_token"]).json()

    assert _revoke(broker, second["refresh_token"]).status_code == 200

    assert broker.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    for access_token in (first["access_token"], second["access_token"]):
        jti = broker.claims(access_token)["jti"]
        assert not tokens.token_is_active(broker.app, jti)


@pytest.mark.parametrize("token", ["unknown-token", "a.b.c"])
def test_revoking_an_unknown_token_is_200(broker, token):
    assert _revoke(broker, token).status_code == 200


def test_revoking_another_clients_token_is_refused(broker, credentials):
    body = broker.tokens("notes:read")

    response = _revoke(broker, body["access_token"], client_id=OTHER_CLIENT_ID)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert _introspect(broker, body["access_token"], credentials["notes"]).json()["active"]


def test_revocation_authenticates_confidential_clients(broker):
    with broker.app.app_context():
        client, secret = register_client(
            database.session(),
            "Confidential revoker",
            [broker.demo_redirect_uri],
            DEV_RESOURCE_ID,
            "client_secret_basic",
        )
        database.session().commit()

    unauthenticated = _revoke(broker, "x", client_id=client.id)
    authenticated = broker.post_form("/oauth/revoke", {"token": "x"}, auth=(client.id, secret))

    assert unauthenticated.status_code == 401
    assert authenticated.status_code == 200


def test_revocation_without_a_token_is_invalid_request(broker):
    response = broker.post_form("/oauth/revoke", {"client_id": "demo_client"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_b10_cors_preflight_on_revocation(broker):
    preflight = requests.options(
        f"{broker.url}/oauth/revoke",
        headers={
            "Origin": "https://inspector.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, mcp-protocol-version",
        },
        timeout=TIMEOUT,
    )

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
