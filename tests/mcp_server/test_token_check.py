"""How the server checks tokens (R2): locally as JWTs, or also at the broker (RFC 7662).

`jwt` (the default) checks signature and claims against the cached JWKS: no call per request,
but a token revoked at the broker (RFC 7009) keeps working here until it expires.
`introspection` checks the same locally, then asks the broker's `/oauth/introspect` with the
server's own resource-server credentials: a revoked token is refused at once. An optional
short cache trades that immediacy back for fewer calls.
"""

from __future__ import annotations

import socket

import anyio
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from mcp_server import Settings, SettingsError
from tests.broker.flows import redirect_query
from tests.mcp_server.stack import ALICE, McpStack, kid_of, sign_with_broker_key


def whoami_works(stack: McpStack, token: str) -> bool:
    async def run():
        async with stack.session(token) as session:
            return await session.call_tool("whoami")

    return anyio.run(run).is_error is False


def test_jwt_mode_accepts_a_revoked_token_until_it_expires(stack):
    """The documented trade-off of local checks: revocation does not reach the server."""
    token = stack.token()
    assert whoami_works(stack, token)

    stack.revoke(token)

    assert stack.settings.token_check == "jwt"
    assert whoami_works(stack, token)


def test_introspection_mode_refuses_a_revoked_token_at_once(start_stack, jwks_counter):
    stack = start_stack(introspection=True)
    token = stack.token()
    before = jwks_counter.introspections
    assert whoami_works(stack, token)
    assert jwks_counter.introspections > before  # the broker was asked

    stack.revoke(token)
    response = stack.post_tool_call(token)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_introspection_mode_refuses_a_token_revoked_with_its_grant(start_stack):
    """Revoking the refresh token revokes every access token of the grant (RFC 7009 §2.1)."""
    stack = start_stack(introspection=True)
    flow = stack.broker.start_login(
        client_id=stack.client_id, resource=stack.url, scope="notes:read offline_access"
    )
    assert flow.post_profile(**ALICE).status_code == 200
    code = redirect_query(flow.decide("approve"))["code"]
    body = flow.exchange(code, client_id=stack.client_id, resource=stack.url).json()
    assert whoami_works(stack, body["access_token"])

    stack.revoke(body["refresh_token"])

    assert stack.post_tool_call(body["access_token"]).status_code == 401


def test_a_forged_token_is_refused_without_asking_the_broker(start_stack, jwks_counter):
    """Local checks run first, so made-up tokens cannot make the server flood the broker."""
    stack = start_stack(introspection=True)
    broker_kid = kid_of(sign_with_broker_key(stack.broker, stack.claims()))
    forged = jwt.encode(
        {"alg": "RS256", "kid": broker_kid}, stack.claims(), RSAKey.generate_key(2048)
    )
    before = jwks_counter.introspections

    assert stack.post_tool_call(forged).status_code == 401
    assert stack.post_tool_call("not-a-jwt").status_code == 401
    assert jwks_counter.introspections == before


def test_a_signed_token_the_broker_never_issued_is_refused_in_introspection_mode(start_stack):
    """Valid signature and claims, but no record at the broker: inactive, so refused."""
    stack = start_stack(introspection=True)
    never_issued = sign_with_broker_key(stack.broker, stack.claims())

    assert stack.post_tool_call(never_issued).status_code == 401


def test_the_cache_answers_repeat_checks_and_delays_revocation(start_stack, jwks_counter):
    """MCP_INTROSPECTION_CACHE_SECONDS: one broker call per token per period — and a revoked
    token keeps working for up to that period (the trade-off, documented)."""
    stack = start_stack(introspection=True, introspection_cache_seconds=300.0)
    token = stack.token()
    before = jwks_counter.introspections
    for _ in range(3):
        assert whoami_works(stack, token)
    assert jwks_counter.introspections - before == 1

    stack.revoke(token)

    assert whoami_works(stack, token)


def test_wrong_introspection_credentials_are_our_outage_not_the_users_401(start_stack):
    """A 401 would send the user to sign in again, and that would not help."""
    stack = start_stack(introspection=True, introspection_client_secret="wrong")

    response = stack.post_tool_call(stack.token())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in response.headers
    assert response.json()["error"] == "temporarily_unavailable"


def test_an_unreachable_introspection_endpoint_is_a_503(start_stack):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        stack = start_stack(
            introspection=True,
            introspection_url=f"http://127.0.0.1:{closed.getsockname()[1]}/oauth/introspect",
        )
        response = stack.post_tool_call(stack.token())
    finally:
        closed.close()

    assert response.status_code == 503
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    "environ",
    [
        {"MCP_TOKEN_CHECK": "introspection"},
        {"MCP_TOKEN_CHECK": "introspection", "MCP_INTROSPECTION_CLIENT_ID": "rsc_x"},
        {"MCP_TOKEN_CHECK": "sometimes"},
        {"MCP_INTROSPECTION_CACHE_SECONDS": "soon"},
        {"MCP_INTROSPECTION_CACHE_SECONDS": "-1"},
    ],
)
def test_an_incomplete_token_check_configuration_is_refused(environ):
    with pytest.raises(SettingsError):
        Settings.from_env(environ)


def test_the_introspection_settings_come_from_the_environment():
    settings = Settings.from_env(
        {
            "MCP_TOKEN_CHECK": "introspection",
            "MCP_INTROSPECTION_CLIENT_ID": "rsc_dev_notes",
            "MCP_INTROSPECTION_CLIENT_SECRET": "s3cret",
            "MCP_INTROSPECTION_CACHE_SECONDS": "15",
        }
    )

    assert settings.token_check == "introspection"
    assert (settings.introspection_client_id, settings.introspection_client_secret) == (
        "rsc_dev_notes",
        "s3cret",
    )
    assert settings.introspection_cache_seconds == 15.0
    assert settings.introspection_url == "http://127.0.0.1:5001/oauth/introspect"
    assert "s3cret" not in repr(settings)
