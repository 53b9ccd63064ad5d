"""Returning users in real Chromium, with a client like the MCP clients people use: registered
over DCR with a loopback redirect URI on a port of its own, and remembered consent at the broker.

What HTTP-level tests cannot see: Chromium applies the CSP `form-action` of the page whose form
started a navigation to every redirect that follows. When the broker remembers consent, its
callback redirects straight to the client, so the chain that began with the customer's login
form (a password, "Continue as …") ends at the client's own URL, which no `form-action` of ours
can list. These tests follow the chain to the client's redirect URI, for the first sign-in and
for a returning user.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests

from mock_broker.seed import DEV_MCP_SERVER_URL, DEV_RESOURCE_ID
from tests.browser.customer_pages import sign_in_with_password
from tests.mcp_client import LoopbackCallback
from tests.stack import Stack, pkce_pair

pytestmark = pytest.mark.integration


@pytest.fixture
def remembering(tmp_path) -> Iterator[tuple[Stack, LoopbackCallback, str]]:
    """A stack whose broker remembers consent (as the hosted one does), and a DCR client."""
    with (
        Stack(tmp_path, broker_overrides={"REMEMBER_CONSENT": True}) as stack,
        LoopbackCallback() as client,
    ):
        registered = requests.post(
            f"{stack.broker.url}/api/v1/resources/{DEV_RESOURCE_ID}/clients:register",
            json={
                "client_name": "Loopback MCP client",
                "redirect_uris": [client.url],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            },
            timeout=10,
        )
        assert registered.status_code == 201, registered.text
        yield stack, client, registered.json()["client_id"]


def authorize_url(stack: Stack, client: LoopbackCallback, client_id: str) -> str:
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": client.url,
        "scope": "notes:read",
        "state": "client-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": DEV_MCP_SERVER_URL,
    }
    return f"{stack.broker.url}/oauth/authorize?{urlencode(query)}"


def test_a_returning_user_reaches_the_client_from_continue_as(page, remembering):
    stack, client, client_id = remembering
    page, console = page
    page.goto(authorize_url(stack, client, client_id))
    sign_in_with_password(page)
    page.wait_for_url(f"{stack.broker.url}/sso/v1/connections/**")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{client.url}?**")
    assert "code=" in client.received[-1]

    # The second sign-in: the broker remembers the consent and goes straight to the client.
    page.goto(authorize_url(stack, client, client_id))
    page.get_by_role("button", name="Continue as Alice").click()
    page.wait_for_url(f"{client.url}?**")
    assert len(client.received) == 2 and "code=" in client.received[-1]
    assert console.csp_violations() == []


def test_a_returning_user_reaches_the_client_from_the_password_form(chromium, remembering):
    """Another browser of the same user: the password form's POST starts the chain."""
    stack, client, client_id = remembering
    for _ in range(2):  # the first approves consent, the second finds it remembered
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(authorize_url(stack, client, client_id))
        sign_in_with_password(page)
        if not client.received:
            page.wait_for_url(f"{stack.broker.url}/sso/v1/connections/**")
            page.get_by_role("button", name="Allow").click()
        page.wait_for_url(f"{client.url}?**")
        context.close()
    assert len(client.received) == 2
