"""Client ID Metadata Documents (B7): fetched safely, validated, cached within limits.

The documents are served over real HTTPS by `document_server` (see its docstring for how a
hostname reaches 127.0.0.1 without DNS and how TLS stays verified).
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from mock_broker import database
from mock_broker.models import OAuthClient
from mock_broker.seed import DEV_MCP_SERVER_URL
from tests.broker.document_server import DocumentServer, Route, resolver
from tests.broker.flows import redirect_query

REDIRECT_URI = "http://127.0.0.1:7777/callback"


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    server = DocumentServer(tmp_path_factory.mktemp("cimd")).start()
    yield server
    server.stop()


@pytest.fixture
def settings(broker, documents):
    """The fetcher trusts the test CA and resolves test hostnames; private addresses allowed."""
    return {
        "CIMD_CA_FILE": str(documents.ca_file),
        "CIMD_RESOLVER": resolver,
        "CIMD_ALLOW_PRIVATE_ADDRESSES": True,
        "CIMD_TIMEOUT": 2,
    }


@pytest.fixture
def cimd(broker, documents, settings):
    with broker.configured(**settings):
        yield documents


def _path() -> str:
    return f"/clients/{secrets.token_hex(6)}.json"  # a fresh URL: nothing cached for it


def _authorize(broker, client_id: str, **overrides):
    overrides.setdefault("redirect_uri", REDIRECT_URI)
    return broker.authorize(client_id=client_id, **overrides)


def _assert_refused(response, reason: str = "") -> None:
    """An error page for the user; never a redirect to the unverified redirect URI (B7)."""
    assert response.status_code == 400, response.headers.get("Location")
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "invalid_client" in response.text
    assert reason in response.text


def test_b7_a_cimd_client_signs_in_end_to_end(broker, cimd):
    url = cimd.serve_document(_path())
    flow = broker.start_login(
        client_id=url, redirect_uri=REDIRECT_URI, scope="notes:read offline_access"
    )
    assert flow.post_profile().status_code == 200

    page = flow.callback()
    assert "CIMD Agent" in page.text
    assert "<code>cimd.test</code>" in page.text  # the client_id's hostname (MCP 2025-11-25)
    approved = flow.submit_consent(page.text, "approve")
    query = redirect_query(approved)
    assert approved.headers["Location"].startswith(REDIRECT_URI + "?")
    assert query["iss"] == broker.issuer
    response = flow.exchange(query["code"], client_id=url, redirect_uri=REDIRECT_URI)

    assert response.status_code == 200, response.text
    body = response.json()
    claims = broker.claims(body["access_token"])
    assert claims["client_id"] == url
    assert claims["iss"] == broker.issuer
    assert broker.refresh(body["refresh_token"], client_id=url).status_code == 200
    with broker.app.app_context():
        client = database.session().get(OAuthClient, url)
        assert client.registration_method == "cimd"
        assert client.resource_id is None
        assert client.metadata_fetched_at is not None


def test_b7_document_client_id_must_equal_the_url(broker, cimd):
    url = cimd.serve_document(_path(), client_id="https://cimd.test/someone-else.json")

    _assert_refused(_authorize(broker, url), "does not equal the URL")


@pytest.mark.parametrize("hostname", ["cimd.test", "private.test", "metadata.test", "mixed.test"])
def test_b7_urls_resolving_to_private_addresses_are_refused(broker, cimd, settings, hostname):
    path = _path()
    cimd.serve_document(path)

    with broker.configured(CIMD_ALLOW_PRIVATE_ADDRESSES=False):
        response = _authorize(broker, cimd.url(path, hostname))

    _assert_refused(response, "private, loopback, link-local or reserved")
    assert cimd.hits[path] == 0  # refused before connecting


@pytest.mark.parametrize("hostname", ["127.0.0.1", "[::1]", "mapped.test"])
def test_b7_ip_literals_and_mapped_addresses_are_checked_too(broker, cimd, hostname):
    path = _path()

    with broker.configured(CIMD_ALLOW_PRIVATE_ADDRESSES=False):
        response = _authorize(broker, cimd.url(path, hostname))

    # refused for the address itself, not for a failed connection or TLS check later on
    _assert_refused(response, "private, loopback, link-local or reserved")
    assert cimd.hits[path] == 0


def test_b7_oversized_document_is_refused(broker, cimd):
    url = cimd.serve_document(_path(), client_name="x" * 150, contacts=["a" * 200] * 30)

    _assert_refused(_authorize(broker, url), "larger than 5120 bytes")


def test_b7_oversized_document_without_content_length_stops_at_the_cap(broker, cimd):
    path = _path()
    url = cimd.serve(path, Route(body=b" " * 100_000 + b"{}", content_length=False))

    _assert_refused(_authorize(broker, url), "larger than 5120 bytes")


def test_b7_redirecting_document_is_not_followed(broker, cimd):
    target = _path()
    cimd.serve_document(target)
    path = _path()
    url = cimd.serve(path, Route(status=302, headers={"Location": cimd.url(target)}))

    _assert_refused(_authorize(broker, url), "redirect")
    assert cimd.hits[target] == 0


def test_b7_slow_document_hits_the_time_cap(broker, cimd):
    url = cimd.serve(_path(), Route(hold=True))
    started = time.monotonic()

    with broker.configured(CIMD_TIMEOUT=1):
        response = _authorize(broker, url)

    _assert_refused(response, "could not be fetched")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("status", [404, 500, 201])
def test_b7_only_200_counts(broker, cimd, status):
    url = cimd.serve(_path(), Route(status=status, body=b"{}"))

    _assert_refused(_authorize(broker, url), f"HTTP {status}")


def test_b7_certificate_is_verified(broker, cimd):
    url = cimd.serve_document(_path())

    with broker.configured(CIMD_CA_FILE=""):  # the system bundle does not know the test CA
        _assert_refused(_authorize(broker, url), "could not be fetched")


def test_b7_errors_are_not_cached(broker, cimd):
    path = _path()
    url = cimd.serve(path, Route(status=500))
    _assert_refused(_authorize(broker, url))

    cimd.serve_document(path)  # fixed
    response = _authorize(broker, url)

    assert response.status_code == 302
    assert "login_request_id=" in response.headers["Location"]
    assert cimd.hits[path] == 2


def test_b7_invalid_documents_are_not_cached(broker, cimd):
    path = _path()
    url = cimd.serve_document(path, client_name=None)
    _assert_refused(_authorize(broker, url), "client_name")

    cimd.serve_document(path)

    assert _authorize(broker, url).status_code == 302


def _expire_cache(broker, url: str) -> None:
    with broker.app.app_context():
        db = database.session()
        db.execute(
            update(OAuthClient)
            .where(OAuthClient.id == url)
            .values(metadata_expires_at=database.utcnow() - timedelta(seconds=1))
        )
        db.commit()


def _cached_for(broker, url: str) -> timedelta:
    with broker.app.app_context():
        client = database.session().get(OAuthClient, url)
        return client.metadata_expires_at - client.metadata_fetched_at


def test_b7_cache_honours_max_age(broker, cimd):
    path = _path()
    url = cimd.serve_document(path, headers={"Cache-Control": "public, max-age=300"})

    assert _authorize(broker, url).status_code == 302
    assert _authorize(broker, url).status_code == 302
    assert cimd.hits[path] == 1
    assert _cached_for(broker, url) == timedelta(seconds=300)

    _expire_cache(broker, url)
    assert _authorize(broker, url).status_code == 302
    assert cimd.hits[path] == 2


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [("max-age=5", 30), ("max-age=999999999", 86400), ("", 30), ("no-store", 0)],
    ids=["below-floor", "above-ceiling", "absent", "no-store"],
)
def test_b7_cache_lifetime_is_clamped(broker, cimd, cache_control, seconds):
    headers = {"Cache-Control": cache_control} if cache_control else {}
    url = cimd.serve_document(_path(), headers=headers)

    assert _authorize(broker, url).status_code == 302

    assert _cached_for(broker, url) == timedelta(seconds=seconds)


def test_b7_no_store_documents_are_fetched_on_every_use(broker, cimd):
    path = _path()
    url = cimd.serve_document(path, headers={"Cache-Control": "no-store"})

    _authorize(broker, url)
    _authorize(broker, url)

    assert cimd.hits[path] == 2


@pytest.mark.parametrize(
    "client_id",
    [
        "http://cimd.test/client.json",
        "https://cimd.test",
        "https://cimd.test/",
        "https://cimd.test/client.json#frag",
        "https://user:pw@cimd.test/client.json",
        "https://cimd.test/a/../client.json",
        "https://cimd.test/./client.json",
        "https://cimd.test/a/%2e%2e/client.json",
        "https://cimd.test/" + "a" * 300,
        "https://cimd.test/a b",
    ],
    ids=[
        "http",
        "no-path",
        "root-path",
        "fragment",
        "credentials",
        "dot-dot",
        "dot",
        "encoded-dot-dot",
        "too-long",
        "space",
    ],
)
def test_b7_client_id_url_rules(broker, cimd, client_id):
    _assert_refused(_authorize(broker, client_id))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"redirect_uris": None}, "redirect_uris"),
        ({"client_secret": "s3cret"}, "client secret"),
        ({"client_secret_expires_at": 0}, "client secret"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "none"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "private_key_jwt"),
        ({"redirect_uris": ["http://evil.example/cb"]}, "https"),
        ({"grant_types": ["client_credentials"]}, "grant_types"),
    ],
    ids=[
        "no-redirect-uris",
        "secret",
        "secret-expiry",
        "secret-method",
        "private-key-jwt",
        "http-redirect",
        "grant-type",
    ],
)
def test_b7_invalid_documents_are_refused(broker, cimd, fields, reason):
    url = cimd.serve_document(_path(), **fields)

    _assert_refused(_authorize(broker, url), reason)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_b7_documents_that_are_not_json_objects_are_refused(broker, cimd, body):
    url = cimd.serve(_path(), Route(body=body))

    _assert_refused(_authorize(broker, url))


def test_b2_cimd_redirect_uri_must_be_in_the_document(broker, cimd):
    url = cimd.serve_document(_path())

    response = _authorize(broker, url, redirect_uri="https://evil.example/callback")

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_b5_a_cimd_client_must_name_a_known_resource(broker, cimd):
    url = cimd.serve_document(_path())

    for resource in (None, "https://unknown.example/mcp"):
        response = _authorize(broker, url, resource=resource)
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert "invalid_target" in response.text
    assert _authorize(broker, url, resource=DEV_MCP_SERVER_URL).status_code == 302


def test_b5_a_cimd_client_names_its_resource_in_any_case_of_scheme_and_host(broker, cimd):
    """A CIMD client has no resource of its own: the spelling must still find the resource."""
    url = cimd.serve_document(_path())
    flow = broker.start_login(
        client_id=url, redirect_uri=REDIRECT_URI, resource="HTTP://127.0.0.1:5003/mcp"
    )

    response = flow.exchange(flow.code(), client_id=url, redirect_uri=REDIRECT_URI)

    assert response.status_code == 200, response.text
    assert broker.claims(response.json()["access_token"])["aud"][0] == DEV_MCP_SERVER_URL
    refused = _authorize(broker, url, resource=DEV_MCP_SERVER_URL + "/")
    assert refused.status_code == 400
    assert "invalid_target" in refused.text


def test_b7_a_failing_document_at_the_token_endpoint_is_invalid_client(broker, cimd):
    path = _path()
    url = cimd.serve_document(path, headers={"Cache-Control": "no-store"})
    flow = broker.start_login(client_id=url, redirect_uri=REDIRECT_URI)
    code = flow.code()
    cimd.serve(path, Route(status=500))

    response = flow.exchange(code, client_id=url, redirect_uri=REDIRECT_URI)

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_b13_a_cimd_client_gets_error_redirects_only_to_a_loopback_uri(broker, cimd):
    """The document is the client's own assertion: its https redirect URIs are not vetted."""
    https_uri = "https://agent.example/callback"
    url = cimd.serve_document(_path(), redirect_uris=[https_uri, REDIRECT_URI])

    to_https = _authorize(broker, url, redirect_uri=https_uri, scope="bogus")
    to_loopback = _authorize(broker, url, scope="bogus")

    assert to_https.status_code == 400, to_https.headers.get("Location")
    assert "Location" not in to_https.headers
    assert "invalid_scope" in to_https.text
    assert to_loopback.status_code == 302
    assert redirect_query(to_loopback)["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"client_name": "Claude\u202e (official)"}, "client_name"),
        ({"client_name": "Claude\ud800"}, "client_name"),
        ({"client_uri": "https://agent\u200b.example"}, "client_uri"),
        ({"redirect_uris": ["http://127.0.0.1:7777/c\ufeffallback"]}, "redirect URI"),
    ],
    ids=["rlo-name", "lone-surrogate-name", "zwsp-uri", "bom-redirect"],
)
def test_b14_a_document_with_spoofing_characters_is_refused(broker, cimd, fields, field):
    url = cimd.serve_document(_path(), **fields)

    _assert_refused(_authorize(broker, url), field)
    with broker.app.app_context():
        assert database.session().get(OAuthClient, url) is None  # nothing stored
