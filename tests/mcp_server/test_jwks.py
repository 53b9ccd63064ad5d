"""The broker's JWKS: fetched once, refetched once for a rotated key, never per bad `kid`."""

from __future__ import annotations

import socket
from datetime import timedelta

import anyio
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from mcp_server import Settings, create_app
from mock_broker import database
from mock_broker.models import SigningKey
from tests.mcp_server.live_asgi import LiveAsgiServer
from tests.mcp_server.stack import TIMEOUT, kid_of


def whoami(stack, token: str):
    async def run():
        async with stack.session(token) as session:
            return await session.call_tool("whoami")

    return anyio.run(run)


def rotate_broker_key(broker) -> None:
    """What a broker does on key rotation: a new newest key, the old one still published."""
    with broker.app.app_context():
        db = database.session()
        newest = max(key.created_at for key in db.query(SigningKey))
        key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
        kid = f"key_rotated_{key.thumbprint()[:16]}"
        db.add(
            SigningKey(
                kid=kid,
                private_jwk={**key.as_dict(private=True), "kid": kid},
                created_at=newest + timedelta(seconds=1),
            )
        )
        db.commit()


def test_the_jwks_is_fetched_once_for_many_requests(stack, jwks_counter):
    before = jwks_counter.count
    for _ in range(3):
        assert whoami(stack, stack.token()).is_error is False

    assert jwks_counter.count - before == 1


def test_a_rotated_broker_key_is_picked_up_with_one_refetch(stack, jwks_counter):
    assert whoami(stack, stack.token()).is_error is False  # caches the current JWKS
    before = jwks_counter.count

    rotate_broker_key(stack.broker)
    token = stack.token()

    assert kid_of(token).startswith("key_rotated_")
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
