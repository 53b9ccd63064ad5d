"""The broker's JWKS: fetched once, refetched once for a rotated key, never per bad `kid`."""

from __future__ import annotations

import socket

import anyio
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from mcp_server import Settings, create_app
from mock_broker import database, keys
from tests.mcp_server.live_asgi import LiveAsgiServer
from tests.mcp_server.stack import TIMEOUT, kid_of


def whoami(stack, token: str):
    async def run():
        async with stack.session(token) as session:
            return await session.call_tool("whoami")

    return anyio.run(run)


def rotate_broker_key(broker) -> str:
    """The broker's own two-step rotation (mock_broker.keys): publish, then activate.

    Here the MCP server has not fetched JWKS since the publish step, so it meets the new kid
    for the first time on a token (the case a zero-delay activation creates).
    """
    with broker.app.app_context():
        db = database.session()
        keys.publish_next_key(db)
        active, _retired = keys.activate_next_key(db)
        db.commit()
        return active.kid


def test_the_jwks_is_fetched_once_for_many_requests(stack, jwks_counter):
    before = jwks_counter.count
    for _ in range(3):
        assert whoami(stack, stack.token()).is_error is False

    assert jwks_counter.count - before == 1


def test_a_rotated_broker_key_is_picked_up_with_one_refetch(stack, jwks_counter):
    assert whoami(stack, stack.token()).is_error is False  # caches the current JWKS
    before = jwks_counter.count

    old_kid = kid_of(stack.token())
    new_kid = rotate_broker_key(stack.broker)
    token = stack.token()

    assert kid_of(token) == new_kid != old_kid
    assert whoami(stack, token).is_error is False
    assert jwks_counter.count - before == 1


def test_unknown_kids_refetch_at_most_once_per_cooldown(start_stack, jwks_counter):
    stack = start_stack(jwks_refetch_cooldown=3600)
    assert whoami(stack, stack.token()).is_error is False
    before = jwks_counter.count

    for n in range(3):
        stranger = RSAKey.generate_key(2048, private=True)
        token = jwt.encode({"alg": "RS256", "kid": f"key_unknown_{n}"}, stack.claims(), stranger)
        assert stack.post_tool_call(token).status_code == 401

    assert jwks_counter.count - before == 1


def test_an_unreachable_jwks_is_a_503_not_a_401(broker):
    """A broker outage is ours to report; a 401 would send the client to sign in again."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    server = LiveAsgiServer()
    url = f"{server.url}/mcp"
    settings = Settings(
        server_url=url, broker_env_url=f"http://127.0.0.1:{closed.getsockname()[1]}"
    )
    server.start(create_app(settings))
    try:
        response = requests.post(
            url,
            json={},
            headers={"Authorization": "Bearer " + _any_rs256(kid="k")},
            timeout=TIMEOUT,
        )
    finally:
        server.stop()
        closed.close()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in response.headers


def _any_rs256(kid: str) -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, {"sub": "x"}, RSAKey.generate_key(2048))
