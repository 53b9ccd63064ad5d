"""Redeeming the authorization code: PKCE (B1), single use and replay (B3), audience (B5)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from mock_broker import database, tokens
from mock_broker.models import AuthorizationCode, IssuedToken, LoginRequest
from mock_broker.registration import register_client
from mock_broker.seed import DEMO_CLIENT_ID, DEV_MCP_SERVER_URL, DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, redirect_query


@pytest.fixture
def flow(broker):
    return broker.start_login()


def _verified_claims(broker, access_token: str) -> dict:
    jwks = KeySet.import_key_set(requests.get(f"{broker.url}/keys", timeout=TIMEOUT).json())
    token = jwt.decode(access_token, jwks, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": broker.issuer},
        aud={"essential": True, "value": DEV_MCP_SERVER_URL},
        exp={"essential": True},
    ).validate(token.claims)
    assert token.header["kid"] in {key["kid"] for key in jwks.as_dict()["keys"]}
    return token.claims


def test_code_exchange_returns_a_verifiable_audience_bound_token(broker, flow):
    assert (
        flow.post_profile(
            sub="ext-7",
            email="dana@example.com",
            name="Dana",
            roles=["admin"],
            groups=["eng"],
            organization_external_id="org_42",
            organization_external_name="Acme Corp",
            custom_attributes={"plan": "enterprise"},
        ).status_code
        == 200
    )
    code = redirect_query(flow.decide("approve"))["code"]

    response = flow.exchange(code)

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"  # B11
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # B10
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "notes:read notes:write"
    claims = _verified_claims(broker, body["access_token"])
    assert claims["sub"].startswith("usr_")
    assert claims["aud"] == [DEV_MCP_SERVER_URL, DEV_RESOURCE_ID]  # B5
    assert claims["client_id"] == claims["azp"] == DEMO_CLIENT_ID
    assert claims["scope"] == "notes:read notes:write"
    assert claims["custom_claims"] == {"plan": "enterprise"}
    assert claims["email"] == "dana@example.com"
    assert (claims["name"], claims["roles"], claims["groups"]) == ("Dana", ["admin"], ["eng"])
    assert (claims["org_id"], claims["org_name"]) == ("org_42", "Acme Corp")
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]
    with broker.app.app_context():
        status = database.session().get(LoginRequest, flow.login_request_id).status
        assert status == "exchanged"


def test_the_same_user_gets_the_same_sub_on_every_sign_in(broker):
    claims = []
    for _ in range(2):
        flow = broker.start_login()
        assert flow.post_profile(sub="stable-sub").status_code == 200
        code = redirect_query(flow.decide("approve"))["code"]
        claims.append(_verified_claims(broker, flow.exchange(code).json()["access_token"]))

    assert claims[0]["sub"] == claims[1]["sub"]
    assert claims[0]["jti"] != claims[1]["jti"]


def test_b1_wrong_verifier_is_invalid_grant(broker, flow):
    response = flow.exchange(flow.code(), code_verifier=secrets.token_urlsafe(48))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("verifier", [None, "short", "x" * 129, "bad chars!" * 5])
def test_b1_missing_or_malformed_verifier_is_refused(broker, flow, verifier):
    response = flow.exchange(flow.code(), code_verifier=verifier)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_b3_replayed_code_is_refused_and_revokes_the_first_token(broker, flow):
    code = flow.code()
    first = flow.exchange(code)
    assert first.status_code == 200
    jti = _verified_claims(broker, first.json()["access_token"])["jti"]
    assert tokens.token_is_active(broker.app, jti)

    replay = flow.exchange(code)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert not tokens.token_is_active(broker.app, jti)
    with broker.app.app_context():
        assert database.session().get(IssuedToken, jti).revoked is True


def test_b3_code_is_bound_to_the_redirect_uri(broker, flow):
    response = flow.exchange(flow.code(), redirect_uri="http://127.0.0.1:1/elsewhere")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_b3_code_is_bound_to_the_client(broker, flow):
    with broker.app.app_context():
        register_client(
            database.session(),
            "Another public client",
            [broker.demo_redirect_uri],
            DEV_RESOURCE_ID,
            client_id="another_public_client",
        )
        database.session().commit()

    response = flow.exchange(flow.code(), client_id="another_public_client")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_b3_code_expires(broker, flow):
    code = flow.code()
    with broker.app.app_context():
        db = database.session()
        db.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.login_request_id == flow.login_request_id)
            .values(expires_at=database.utcnow() - timedelta(seconds=1))
        )
        db.commit()

    response = flow.exchange(code)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_b3_code_lifetime_is_at_most_60_seconds(broker, flow):
    flow.code()
    with broker.app.app_context():
        code = database.session().scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.login_request_id == flow.login_request_id
            )
        )
        assert (code.expires_at - code.created_at) <= timedelta(seconds=60)
        assert code.code_challenge_method == "S256"


@pytest.mark.parametrize("resource", ["https://other.example/mcp", "res_unknown"])
def test_b5_token_request_resource_must_match_the_code(broker, flow, resource):
    response = flow.exchange(flow.code(), resource=resource)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_unknown_code_is_invalid_grant(broker, flow):
    response = flow.exchange("not-a-code")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
