"""CORS for browser-based MCP clients (R1): preflights from any origin, readable challenges.

A browser-based client (MCP Inspector, a web app) runs on another origin than the server. It
sends a preflight before every POST with `Authorization`, then must read `WWW-Authenticate`
from the 401 to find the broker, and `Mcp-Session-Id` from the initialize answer: both only
if the server exposes them. Tokens are bearer headers, never cookies, so any origin may call
and credentials mode is never allowed. The broker's authorization endpoint has no CORS at all
(`tests/broker/test_discovery.py::test_b10_no_cors_on_the_authorization_endpoint`).
"""

from __future__ import annotations

import pytest
import requests

from tests.mcp_server.stack import TIMEOUT

ORIGIN = "https://inspector.example"  # not the server's origin, not loopback
REQUEST_HEADERS = "authorization, content-type, mcp-session-id, mcp-protocol-version, last-event-id"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "browser", "version": "1"},
    },
}


def preflight(url: str, method: str = "POST", headers: str = REQUEST_HEADERS):
    return requests.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
        timeout=TIMEOUT,
    )


def listed(response: requests.Response, header: str) -> set[str]:
    return {value.strip().lower() for value in response.headers.get(header, "").split(",")}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_preflight_from_any_origin_is_allowed_for_the_mcp_headers(stack, method):
    response = preflight(stack.url, method)

    assert response.status_code in (200, 204), response.text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert {"get", "post", "delete"} <= listed(response, "Access-Control-Allow-Methods")
    assert set(REQUEST_HEADERS.split(", ")) <= listed(response, "Access-Control-Allow-Headers")
    assert "Access-Control-Allow-Credentials" not in response.headers  # bearer tokens only


def test_a_preflight_allows_the_2026_routing_headers(stack):
    """2026-07-28 requests mirror the method, the name and tool arguments into headers."""
    response = preflight(
        stack.url, "POST", "mcp-protocol-version, mcp-method, mcp-name, mcp-param-region"
    )

    assert response.status_code in (200, 204), response.text
    assert {"mcp-method", "mcp-name", "mcp-param-region"} <= listed(
        response, "Access-Control-Allow-Headers"
    )


@pytest.mark.parametrize(
    ("method", "headers"),
    [("POST", "authorization, cookie"), ("POST", "x-anything"), ("PUT", "content-type")],
)
def test_a_preflight_for_anything_else_is_refused_clearly(stack, method, headers):
    response = preflight(stack.url, method, headers)

    assert response.status_code == 400
    assert "not allowed" in response.text
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_preflight_needs_no_token(stack):
    """Browsers never send credentials on a preflight: a 401 here would block every call."""
    response = preflight(stack.url)

    assert response.status_code in (200, 204)
    assert "WWW-Authenticate" not in response.headers


def test_a_cross_origin_401_lets_the_browser_read_the_challenge(stack):
    response = requests.post(
        stack.url, json=INITIALIZE, headers={"Origin": ORIGIN}, timeout=TIMEOUT
    )

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert {"www-authenticate", "mcp-session-id"} <= listed(
        response, "Access-Control-Expose-Headers"
    )
    assert "resource_metadata=" in response.headers["WWW-Authenticate"]


def test_a_cross_origin_403_lets_the_browser_read_the_scope_to_step_up_to(stack):
    response = stack.post_tool_call(stack.token(scope="notes:read"), tool="add_note")
    cross_origin = requests.post(
        stack.url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add_note"}},
        headers={
            "Origin": ORIGIN,
            "Authorization": response.request.headers["Authorization"],
            "Accept": "application/json, text/event-stream",
        },
        timeout=TIMEOUT,
    )

    assert cross_origin.status_code == 403
    assert cross_origin.headers["Access-Control-Allow-Origin"] == "*"
    assert "www-authenticate" in listed(cross_origin, "Access-Control-Expose-Headers")


def test_a_cross_origin_initialize_is_served_and_exposes_the_session_id(stack):
    response = requests.post(
        stack.url,
        json=INITIALIZE,
        headers={
            "Origin": ORIGIN,
            "Authorization": f"Bearer {stack.token()}",
            "Accept": "application/json, text/event-stream",
        },
        timeout=TIMEOUT,
    )

    assert response.status_code == 200, response.text
    assert response.headers["Mcp-Session-Id"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "mcp-session-id" in listed(response, "Access-Control-Expose-Headers")


def test_dns_rebinding_is_still_refused_by_host(stack):
    """Any Origin may call, but only under our own Host: a rebound name is not us."""
    response = requests.post(
        stack.url,
        json=INITIALIZE,
        headers={
            "Host": "rebound.example",
            "Origin": "http://rebound.example",
            "Authorization": f"Bearer {stack.token()}",
            "Accept": "application/json, text/event-stream",
        },
        timeout=TIMEOUT,
    )

    assert response.status_code == 421


def test_the_protected_resource_metadata_answers_a_preflight(stack):
    response = preflight(stack.settings.resource_metadata_url, "GET", "mcp-protocol-version")

    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
