"""401s: no token, or a token this server must not accept (signature, issuer, audience, time).

Bad tokens are made two ways: real broker tokens for the wrong resource, and JWTs signed with
the broker's real key (or deliberately not) whose claims differ from a valid token in exactly
one respect — the valid control proves the difference is what gets them refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import anyio
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from mcp.client.auth.utils import extract_field_from_www_auth

from tests.mcp_server.stack import (
    ALL_SCOPES,
    TIMEOUT,
    McpStack,
    broker_token,
    challenge,
    kid_of,
    register_resource,
    sign_with_broker_key,
)


def assert_refused(stack: McpStack, token: str) -> None:
    response = stack.post_tool_call(token)
    assert response.status_code == 401, response.text
    assert challenge(response) == {
        "error": "invalid_token",
        "scope": "notes:read",
        "resource_metadata": stack.settings.resource_metadata_url,
    }
    assert response.json()["error"] == "invalid_token"


def test_no_token_gets_401_pointing_at_the_metadata_with_the_scope_to_ask_for(stack):
    response = stack.post_tool_call(None)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer scope="notes:read", resource_metadata="{stack.settings.resource_metadata_url}"'
    )
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_every_method_on_the_endpoint_needs_a_token(stack, method):
    response = httpx2.request(method, stack.url, timeout=TIMEOUT)

    assert response.status_code == 401
    assert extract_field_from_www_auth(response, "resource_metadata") == (
        stack.settings.resource_metadata_url
    )


@pytest.mark.parametrize(
    "authorization", ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer", "Basic dXNlcjpwYXNz"]
)
def test_a_malformed_credential_gets_401_invalid_token(stack, authorization):
    response = httpx2.post(
        stack.url, json={}, headers={"Authorization": authorization}, timeout=TIMEOUT
    )

    assert response.status_code == 401
    assert extract_field_from_www_auth(response, "error") == "invalid_token"


def test_a_valid_token_signed_by_the_broker_key_is_accepted(stack):
    """The control for the forgeries below: the same construction, nothing changed."""
    token = sign_with_broker_key(stack.broker, stack.claims())

    async def whoami():
        async with stack.session(token) as session:
            return await session.call_tool("whoami")

    assert anyio.run(whoami).structured_content["sub"] == "usr_forged"


def test_a_broker_token_for_another_resource_is_refused_b5(stack):
    """RFC 8707: the broker binds tokens to one MCP server; another server's token is useless."""
    other_url = "http://127.0.0.1:9/other-mcp"
    _, other_client = register_resource(stack.broker, other_url)

    assert_refused(stack, broker_token(stack.broker, other_client, other_url))


def test_an_audience_for_another_server_is_refused_even_from_the_right_issuer(stack):
    other = ["http://127.0.0.1:9/other-mcp", "res_other"]

    assert_refused(stack, sign_with_broker_key(stack.broker, stack.claims(aud=other)))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"exp": int(time.time()) - 120, "iat": int(time.time()) - 400}, id="expired"),
        pytest.param({"iat": int(time.time()) + 600}, id="issued-in-the-future"),
        pytest.param({"iss": "http://127.0.0.1:9/resources/res_other"}, id="other-issuer"),
        pytest.param({"aud": "res_dev_notes"}, id="audience-is-only-a-resource-id"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"exp": None}, id="no-expiry"),
        pytest.param({"sub": None}, id="no-subject"),
    ],
)
def test_a_broker_signed_token_with_a_bad_claim_is_refused(stack, changes):
    claims = {k: v for k, v in stack.claims(**changes).items() if v is not None}

    assert_refused(stack, sign_with_broker_key(stack.broker, claims))


def test_a_token_from_another_resource_issuer_at_the_broker_is_refused(stack):
    other_issuer = f"{stack.broker.url}/resources/res_dev_notes"

    assert_refused(stack, sign_with_broker_key(stack.broker, stack.claims(iss=other_issuer)))


def test_a_bad_signature_is_refused(stack):
    """Signed by an attacker's key that claims the broker's `kid`."""
    broker_kid = kid_of(sign_with_broker_key(stack.broker, stack.claims()))
    attacker = RSAKey.generate_key(2048, private=True)
    token = jwt.encode({"alg": "RS256", "kid": broker_kid}, stack.claims(), attacker)

    assert_refused(stack, token)


def test_a_tampered_payload_is_refused(stack):
    header, _, signature = sign_with_broker_key(
        stack.broker, stack.claims(scope="notes:read")
    ).split(".")
    upgraded = sign_with_broker_key(stack.broker, stack.claims(scope=ALL_SCOPES)).split(".")[1]

    assert_refused(stack, f"{header}.{upgraded}.{signature}")


def test_alg_none_is_refused(stack):
    """An unsigned token (built by hand: joserfc will not produce one) with valid claims."""
    valid = sign_with_broker_key(stack.broker, stack.claims())
    kid = kid_of(valid)
    payload = valid.split(".")[1]

    assert_refused(stack, f"{_b64({'alg': 'none', 'kid': kid})}.{payload}.")


def test_hs256_signed_with_the_public_key_is_refused(stack):
    """Algorithm confusion: the broker's public key used as an HMAC secret."""
    valid = sign_with_broker_key(stack.broker, stack.claims())
    kid = kid_of(valid)
    public_jwk = next(
        key
        for key in httpx2.get(f"{stack.broker.url}/keys", timeout=TIMEOUT).json()["keys"]
        if key["kid"] == kid
    )
    public_pem = RSAKey.import_key(public_jwk).as_pem(private=False)
    # joserfc (rightly) refuses to sign this, so the HMAC is computed by hand.
    signing_input = f"{_b64({'alg': 'HS256', 'kid': kid})}.{_b64(stack.claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64url(mac)}"

    assert_refused(stack, token)


def _b64(value: dict) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
