"""RFC 8707 `resource` values: which spellings of a resource's URL name it (B5).

The MCP authorization spec (2026-07-28) asks servers to accept case differences in scheme and
host. The broker compares the URL's parts: scheme and host case-insensitively, an explicit
default port (`:443` on https, `:80` on http) as its absence, and an empty path as "/"
(RFC 3986 §6.2.2.1, §6.2.3). The path, the query and everything else are compared exactly: a
trailing "/" after a path, another path case, a percent-encoding, user info or a fragment name
another resource (or none), and are `invalid_target`. Tokens carry the registered, canonical
URL in `aud` whatever spelling the client used.
"""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from mock_broker import database
from mock_broker.models import Resource
from mock_broker.registration import register_resource
from mock_broker.seed import DEV_CONNECTION_ID, DEV_MCP_SERVER_URL, DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, redirect_query

# (registered URL, a spelling of it that must name it)
ACCEPTED = [
    (DEV_MCP_SERVER_URL, "HTTP://127.0.0.1:5003/mcp"),
    ("https://notes.example/mcp", "https://NOTES.Example/mcp"),
    ("https://notes.example/mcp", "HTTPS://notes.example:443/mcp"),
    ("http://localhost/mcp", "http://LocalHost:80/mcp"),
    ("https://root.example", "https://root.example/"),
    ("https://slash.example/", "https://SLASH.example"),
    ("https://[::1]:8443/mcp", "HTTPS://[::1]:8443/mcp"),
]
ACCEPTED_IDS = [
    "scheme-case",
    "host-case",
    "default-https-port",
    "default-http-port",
    "root-trailing-slash",
    "root-without-slash",
    "ipv6-literal",
]
REFUSED = [
    "http://127.0.0.1:5003/mcp/",
    "http://127.0.0.1:5003/MCP",
    "http://127.0.0.1:5003/%6Dcp",
    "http://127.0.0.1:5004/mcp",
    "http://127.0.0.1/mcp",
    "https://127.0.0.1:5003/mcp",
    "http://127.0.0.1:5003/mcp?x=1",
    "http://127.0.0.1:5003/mcp#top",
    "http://user@127.0.0.1:5003/mcp",
    "127.0.0.1:5003/mcp",
    "RES_DEV_NOTES",
]
REFUSED_IDS = [
    "trailing-slash-after-path",
    "path-case",
    "percent-encoded",
    "other-port",
    "port-dropped",
    "other-scheme",
    "query",
    "fragment",
    "user-info",
    "no-scheme",
    "id-case",
]


@pytest.fixture(scope="module")
def resources(broker) -> dict[str, str]:
    """Resources at the registered URLs above, each with a DCR client of its own: url → client."""
    clients = {}
    with broker.app.app_context():
        db = database.session()
        for url in dict.fromkeys(url for url, _ in ACCEPTED if url != DEV_MCP_SERVER_URL):
            resource = register_resource(db, url, url, ["notes:read"], DEV_CONNECTION_ID)
            clients[url] = resource.id
        db.commit()
    for url, resource_id in list(clients.items()):
        response = requests.post(
            f"{broker.url}/api/v1/resources/{resource_id}/clients:register",
            json={
                "redirect_uris": [broker.demo_redirect_uri],
                "token_endpoint_auth_method": "none",
            },
            timeout=TIMEOUT,
        )
        assert response.status_code == 201, response.text
        clients[url] = response.json()["client_id"]
    clients[DEV_MCP_SERVER_URL] = "demo_client"
    return clients


@pytest.mark.parametrize(("registered", "spelling"), ACCEPTED, ids=ACCEPTED_IDS)
def test_b5_spellings_of_the_resource_url_are_accepted_and_aud_is_canonical(
    broker, resources, registered, spelling
):
    client_id = resources[registered]
    flow = broker.start_login(client_id=client_id, resource=spelling, scope="notes:read")
    code = flow.code()

    response = flow.exchange(code, client_id=client_id, resource=registered)

    assert response.status_code == 200, response.text
    assert broker.claims(response.json()["access_token"])["aud"][0] == registered


@pytest.mark.parametrize(("registered", "spelling"), ACCEPTED, ids=ACCEPTED_IDS)
def test_b5_the_token_request_may_spell_the_resource_differently(
    broker, resources, registered, spelling
):
    client_id = resources[registered]
    flow = broker.start_login(client_id=client_id, resource=registered, scope="notes:read")

    response = flow.exchange(flow.code(), client_id=client_id, resource=spelling)

    assert response.status_code == 200, response.text
    assert broker.claims(response.json()["access_token"])["aud"][0] == registered


@pytest.mark.parametrize("spelling", REFUSED, ids=REFUSED_IDS)
def test_b5_other_spellings_are_invalid_target_at_authorize(broker, spelling):
    params = broker.authorize_params(resource=spelling)

    response = broker.authorize(resource=spelling, state=params["state"])

    assert response.status_code == 302, response.text  # the seeded client: vetted (B13)
    query = redirect_query(response)
    assert query["error"] == "invalid_target"
    assert query["state"] == params["state"]


@pytest.mark.parametrize("spelling", REFUSED, ids=REFUSED_IDS)
def test_b5_other_spellings_are_invalid_target_at_the_token_endpoint(broker, spelling):
    flow = broker.start_login(scope="notes:read")

    response = flow.exchange(flow.code(), resource=spelling)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_target"


def test_b5_a_refresh_may_spell_the_resource_differently(broker):
    tokens = broker.tokens("notes:read offline_access")

    same = broker.refresh(tokens["refresh_token"], resource="HTTP://127.0.0.1:5003/mcp")
    other = broker.refresh(same.json()["refresh_token"], resource=DEV_MCP_SERVER_URL + "/")

    assert same.status_code == 200, same.text
    assert broker.claims(same.json()["access_token"])["aud"] == [
        DEV_MCP_SERVER_URL,
        DEV_RESOURCE_ID,
    ]
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_target"


def _register_resource(broker, url: str):
    return broker.app.test_cli_runner().invoke(
        args=[
            "register-resource",
            "--name",
            "Shouting",
            "--mcp-server-url",
            url,
            "--scope",
            "a",
            "--connection",
            DEV_CONNECTION_ID,
        ]
    )


def _stored_urls(broker) -> list[str]:
    with broker.app.app_context():
        return list(database.session().scalars(select(Resource.mcp_server_url)))


def test_register_resource_stores_the_canonical_url_and_refuses_an_equivalent_one(broker):
    registered = _register_resource(broker, "HTTPS://Shout.Example:443/Path/MCP")
    equivalent = _register_resource(broker, "https://shout.example/Path/MCP")
    before = len(_stored_urls(broker))
    root = _register_resource(broker, "https://shout-root.example")
    root_with_slash = _register_resource(broker, "https://shout-root.example/")

    assert registered.exit_code == 0, registered.output
    assert "https://shout.example/Path/MCP" in _stored_urls(broker)
    assert equivalent.exit_code != 0 and "already" in equivalent.output
    assert root.exit_code == 0, root.output
    assert root_with_slash.exit_code != 0 and "already" in root_with_slash.output
    assert len(_stored_urls(broker)) == before + 1
