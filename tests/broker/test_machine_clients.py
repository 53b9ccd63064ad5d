"""client_credentials for machine MCP clients (B16): agents calling an MCP server as themselves.

A confidential client an operator registered for `client_credentials` gets an access token
for its resource with scopes and no user: `iss` the resource's issuer, `aud` [MCP server URL,
`res_…`] as for user tokens (B5), `sub` its own client id (RFC 9068 §2.2), no profile claims
and no refresh token. Other clients cannot use the grant, and the customer backend's M2M
credentials keep their own token (test_client_credentials.py).
"""

from __future__ import annotations

import pytest
import requests

from mock_broker import database
from mock_broker.registration import (
    RegistrationError,
    create_resource_server_client,
    register_client,
    register_machine_client,
)
from mock_broker.seed import DEV_MCP_SERVER_URL, DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT


@pytest.fixture(scope="module")
def machine(broker) -> tuple[str, str]:
    with broker.app.app_context():
        db = database.session()
        client, secret = register_machine_client(db, "Nightly report agent", DEV_RESOURCE_ID)
        db.commit()
        return client.id, secret


def token_request(broker, auth, **form) -> requests.Response:
    return requests.post(
        f"{broker.url}/oauth/token",
        data={"grant_type": "client_credentials", **form},
        auth=auth,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("resource", [DEV_MCP_SERVER_URL, DEV_RESOURCE_ID, None])
def test_a_machine_client_gets_an_audience_bound_token_without_a_user(broker, machine, resource):
    form = {"scope": "notes:read"} | ({"resource": resource} if resource else {})
    response = token_request(broker, machine, **form)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "notes:read"
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store"
    claims = broker.claims(body["access_token"])
    assert claims["iss"] == broker.issuer
    assert claims["aud"] == [DEV_MCP_SERVER_URL, DEV_RESOURCE_ID]
    assert claims["sub"] == claims["client_id"] == claims["azp"] == machine[0]
    assert claims["scope"] == "notes:read"
    assert not {"email", "name", "custom_claims", "roles"} & set(claims)


def test_the_secret_may_be_posted_if_registered_so(broker):
    with broker.app.app_context():
        db = database.session()
        client, secret = register_machine_client(
            db, "Posting agent", DEV_RESOURCE_ID, "client_secret_post"
        )
        db.commit()

    response = token_request(broker, None, client_id=client.id, client_secret=secret)

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "notes:read notes:write"  # the resource's, by default


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"resource": "https://files.example/mcp"}, "invalid_target"),
        ({"resource": f"{DEV_MCP_SERVER_URL}/"}, "invalid_target"),
        ({"scope": "files:read"}, "invalid_scope"),
        ({"scope": "notes:read offline_access"}, "invalid_scope"),
    ],
)
def test_a_machine_client_gets_only_its_resource_and_its_scopes(broker, machine, form, error):
    response = token_request(broker, machine, **form)

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_two_resources_in_one_request_are_refused(broker, machine):
    response = requests.post(
        f"{broker.url}/oauth/token",
        data=[
            ("grant_type", "client_credentials"),
            ("resource", DEV_MCP_SERVER_URL),
            ("resource", DEV_RESOURCE_ID),
        ],
        auth=machine,
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_a_wrong_secret_is_invalid_client(broker, machine):
    response = token_request(broker, (machine[0], "wrong"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_client_registered_for_user_sign_in_cannot_use_client_credentials(broker):
    """Confidential, but registered for authorization_code: no token without a user."""
    with broker.app.app_context():
        db = database.session()
        client, secret = register_client(
            db, "Web app", [broker.demo_redirect_uri], DEV_RESOURCE_ID, "client_secret_basic"
        )
        db.commit()

    response = token_request(broker, (client.id, secret))

    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_a_public_client_cannot_use_client_credentials(broker):
    response = token_request(broker, None, client_id="demo_client")

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")


def test_a_machine_client_cannot_start_a_user_sign_in(broker, machine):
    params = {
        k: v for k, v in broker.authorize_params(client_id=machine[0]).items() if k != "_verifier"
    }
    response = requests.get(
        f"{broker.url}/oauth/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
    )

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_machine_client_must_be_confidential():
    with pytest.raises(RegistrationError):
        register_machine_client(None, "Public agent", DEV_RESOURCE_ID, "none")  # type: ignore[arg-type]


def test_a_machine_token_is_introspected_and_revoked_like_any_access_token(broker, machine):
    token = token_request(broker, machine).json()["access_token"]
    with broker.app.app_context():
        db = database.session()
        rsc, rsc_secret = create_resource_server_client(db, "Machine tests", DEV_RESOURCE_ID)
        db.commit()

    def active() -> bool:
        answer = broker.post_form("/oauth/introspect", {"token": token}, auth=(rsc.id, rsc_secret))
        return answer.json()["active"]

    assert active() is True
    revoked = broker.post_form("/oauth/revoke", {"token": token}, auth=machine)
    assert revoked.status_code == 200
    assert active() is False
