"""The QA pages: clients and how they were registered, issued tokens, and the new CLI."""

from __future__ import annotations

import pytest
import requests
from bs4 import BeautifulSoup
from sqlalchemy import select

from mock_broker import database
from mock_broker.models import ConsentGrant, ResourceServerClient
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


def _user_links(html: str) -> set[str]:
    """The user links of a QA page: the one way each page names a user."""
    soup = BeautifulSoup(html, "html.parser")
    return {a["href"] for a in soup.select('a[href*="/dev/users/"]')}


def test_every_qa_view_names_a_user_one_way_and_links_to_their_page(broker):
    body = broker.tokens("notes:read offline_access")
    user_id = broker.claims(body["access_token"])["sub"]
    assert user_id.startswith("usr_")
    with broker.app.app_context():  # a remembered consent, so the consents page lists it too
        db = database.session()
        if db.scalar(select(ConsentGrant).where(ConsentGrant.user_id == user_id)) is None:
            db.add(
                ConsentGrant(
                    user_id=user_id,
                    client_id="demo_client",
                    resource_id=DEV_RESOURCE_ID,
                    scope="notes:read offline_access",
                )
            )
            db.commit()
    href = f"/dev/users/{user_id}"

    for view in ("/dev/login-requests", "/dev/tokens", "/dev/consents"):
        page = requests.get(f"{broker.url}{view}", timeout=TIMEOUT)
        assert page.status_code == 200, view
        assert href in _user_links(page.text), view
        soup = BeautifulSoup(page.text, "html.parser")
        link = soup.select_one(f'a[href="{href}"]')
        assert link.get_text() == "alice@example.com" and user_id in link.parent.get_text()

    details = requests.get(f"{broker.url}{href}", timeout=TIMEOUT)
    assert details.status_code == 200
    text = BeautifulSoup(details.text, "html.parser").get_text(" ")
    assert "alice@example.com" in text and user_id in text
    assert "notes:read offline_access" in text  # its login request, tokens and consent
    assert "/dev/clients/demo_client" in details.text
    assert "<script" not in details.text and "style=" not in details.text


def test_a_client_page_lists_what_was_issued_to_it(broker):
    body = broker.tokens()
    jti = broker.claims(body["access_token"])["jti"]

    listed = requests.get(f"{broker.url}/dev/clients", timeout=TIMEOUT).text
    assert "/dev/clients/demo_client" in listed
    page = requests.get(f"{broker.url}/dev/clients/demo_client", timeout=TIMEOUT)
    assert page.status_code == 200
    assert jti[:12] in page.text and broker.demo_redirect_uri in page.text
    assert "/dev/users/usr_" in page.text


@pytest.mark.parametrize("path", ["/dev/users/usr_nobody", "/dev/clients/no_such_client"])
def test_an_unknown_user_or_client_page_is_a_404_page(broker, path):
    page = requests.get(f"{broker.url}{path}", timeout=TIMEOUT)
    assert page.status_code == 404 and "No " in page.text and "Traceback" not in page.text
