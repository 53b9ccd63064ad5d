"""The QA pages: clients and how they were registered, issued tokens, and the new CLI."""

from __future__ import annotations

import requests

from mock_broker import database
from mock_broker.models import ResourceServerClient
from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT


def test_clients_page_shows_how_each_client_was_registered(broker):
    registered = requests.post(
        f"{broker.url}/api/v1/resources/{DEV_RESOURCE_ID}/clients:register",
        json={"client_name": "Listed agent", "redirect_uris": ["https://agent.example/cb"]},
        timeout=TIMEOUT,
    ).json()

    page = requests.get(f"{broker.url}/dev/clients", timeout=TIMEOUT)

    assert page.status_code == 200
    assert registered["client_id"] in page.text
    assert "Listed agent" in page.text
    assert "seeded" in page.text and "dcr" in page.text
    assert "<script" not in page.text and "style=" not in page.text


def test_tokens_page_shows_decoded_claims_and_state(broker):
    body = broker.tokens()
    jti = broker.claims(body["access_token"])["jti"]
    broker.post_form("/oauth/revoke", {"token": body["refresh_token"], "client_id": "demo_client"})

    page = requests.get(f"{broker.url}/dev/tokens", timeout=TIMEOUT)

    assert page.status_code == 200
    assert jti[:12] in page.text
    assert "revoked" in page.text
    assert "offline_access" in page.text
    assert body["refresh_token"] not in page.text  # never shown: stored hashed
    assert body["access_token"] not in page.text


def test_cli_creates_resource_server_credentials_that_can_introspect(broker):
    result = broker.app.test_cli_runner().invoke(
        args=["create-resource-server-client", "--resource", DEV_RESOURCE_ID, "--name", "Notes"]
    )
    assert result.exit_code == 0, result.output
    client_id = result.output.split("client_id=")[1].split()[0]
    secret = result.output.split("client_secret=")[1].split()[0]
    body = broker.tokens("notes:read")

    response = broker.post_form(
        "/oauth/introspect", {"token": body["access_token"]}, auth=(client_id, secret)
    )

    assert response.json()["active"] is True
    with broker.app.app_context():
        assert database.session().get(ResourceServerClient, client_id).secret_hash != secret


def test_cli_forgets_consents(broker):
    result = broker.app.test_cli_runner().invoke(args=["forget-consents"])

    assert result.exit_code == 0
    assert "Forgot" in result.output
