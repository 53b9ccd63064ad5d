"""RFC 9728 protected-resource metadata, and that it leads a client to the right broker."""

from __future__ import annotations

import requests

from tests.mcp_server.stack import TIMEOUT


def test_protected_resource_metadata_names_the_broker_issuer_and_scopes(stack):
    assert stack.settings.resource_metadata_url == (
        f"{stack.server.url}/.well-known/oauth-protected-resource/mcp"
    )
    response = requests.get(stack.settings.resource_metadata_url, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json() == {
        "resource": stack.url,
        "authorization_servers": [f"{stack.broker.url}/resources/{stack.settings.resource_id}"],
        "scopes_supported": ["notes:read", "notes:write"],  # never offline_access
        "bearer_methods_supported": ["header"],
        "resource_name": "Notes (sample MCP server)",
    }


def test_the_advertised_authorization_server_publishes_metadata_with_that_issuer(stack):
    """What the SDK client checks next: RFC 8414 metadata whose issuer is exactly the entry."""
    issuer = requests.get(stack.settings.resource_metadata_url, timeout=TIMEOUT).json()[
        "authorization_servers"
    ][0]
    path = issuer.removeprefix(stack.broker.url)
    response = requests.get(
        f"{stack.broker.url}/.well-known/oauth-authorization-server{path}", timeout=TIMEOUT
    )

    assert response.status_code == 200
    assert response.json()["issuer"] == issuer


def test_metadata_is_readable_cross_origin_for_browser_clients(stack):
    response = requests.get(
        stack.settings.resource_metadata_url,
        headers={"Origin": "http://127.0.0.1:6274"},
        timeout=TIMEOUT,
    )

    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_healthz(stack):
    response = requests.get(f"{stack.server.url}/healthz", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
