"""Native apps' private-use URI scheme redirects (RFC 8252 §7.1), over DCR, CIMD and the CLI.

A desktop MCP client registers `com.example.app:/callback` (or Cursor's
`cursor://anysphere.cursor-retrieval/oauth/callback`) and receives the code there: in HTTP
tests that is the `Location` of the consent form's answer. Such a redirect is matched exactly
(B2), is not vetted for error redirects when the client registered it itself (B13), and
schemes that run code, read files or are ambiguous are refused at registration.
"""

from __future__ import annotations

import secrets

import pytest
import requests

from mock_broker import create_app
from mock_broker.config import ConfigError
from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.document_server import DocumentServer, resolver
from tests.broker.flows import TIMEOUT, redirect_query

PATH = f"/api/v1/resources/{DEV_RESOURCE_ID}/clients:register"
NATIVE = "com.example.app:/callback"
CURSOR = "cursor://anysphere.cursor-retrieval/oauth/callback"


def _register(broker, *redirect_uris: str) -> requests.Response:
    return requests.post(
        f"{broker.url}{PATH}",
        json={
            "client_name": "Desktop agent",
            "redirect_uris": list(redirect_uris),
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "application_type": "native",
        },
        timeout=TIMEOUT,
    )


def _client(broker, *redirect_uris: str) -> str:
    response = _register(broker, *redirect_uris)
    assert response.status_code == 201, response.text
    return response.json()["client_id"]


@pytest.mark.parametrize(
    "uri",
    [NATIVE, CURSOR, "com.example.app://oauth/callback?flow=mcp", "net.example.tool:/cb"],
    ids=["path-only", "cursor", "authority-and-query", "other-domain"],
)
def test_b2_dcr_accepts_private_use_scheme_redirects(broker, uri):
    response = _register(broker, uri)

    assert response.status_code == 201, response.text
    assert response.json()["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("javascript:alert(1)", "javascript"),
        ("JavaScript:alert(1)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("file:///etc/passwd", "file"),
        ("vbscript:msgbox(1)", "vbscript"),
        ("about:blank", "about"),
        ("blob:https://app.example/0a1b", "blob"),
        ("myapp:/callback", "period"),
        ("intent://scan/?S.browser_fallback_url=https://evil.example", "period"),
        ("ms-settings:privacy", "period"),
        ("com.example.app:/cb#fragment", "fragment"),
        ("com.example.app:", "path"),
        ("com.example.app://user:pw@host/cb", "credentials"),
        ("com.example.app:/c b", "printable"),
    ],
    ids=[
        "javascript",
        "javascript-mixed-case",
        "data",
        "file",
        "vbscript",
        "about",
        "blob",
        "no-period",
        "android-intent",
        "ms-settings",
        "fragment",
        "nothing-after-scheme",
        "credentials",
        "space",
    ],
)
def test_b2_dangerous_or_ambiguous_schemes_are_refused(broker, uri, reason):
    response = _register(broker, uri)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"
    assert reason in response.json()["error_description"]


def test_a_native_client_signs_in_with_pkce_end_to_end(broker):
    client_id = _client(broker, NATIVE)
    flow = broker.start_login(
        client_id=client_id, redirect_uri=NATIVE, scope="notes:read offline_access"
    )
    assert flow.post_profile().status_code == 200

    page = flow.callback()
    assert page.status_code == 200
    assert "<code>com.example.app:</code>" in page.text  # B8: where the answer goes
    assert "application on this device" in page.text
    # No form-action in the CSP: browsers apply it to the redirect after the form's POST too,
    # and the consent form's answer goes to the client's redirect URI, whatever its scheme.
    assert "form-action" not in page.headers["Content-Security-Policy"]
    approved = flow.submit_consent(page.text, "approve")

    assert approved.status_code == 302, approved.text
    assert approved.headers["Location"].startswith(NATIVE + "?")
    query = redirect_query(approved)
    assert query["state"] == flow.client_state
    assert query["iss"] == broker.issuer  # B6
    exchanged = flow.exchange(query["code"], client_id=client_id, redirect_uri=NATIVE)
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    assert broker.claims(tokens["access_token"])["client_id"] == client_id
    assert broker.refresh(tokens["refresh_token"], client_id=client_id).status_code == 200


def test_cursor_style_redirect_signs_in_and_shows_its_scheme(broker):
    client_id = _client(broker, CURSOR)
    flow = broker.start_login(client_id=client_id, redirect_uri=CURSOR, scope="notes:read")
    assert flow.post_profile().status_code == 200

    page = flow.callback()
    approved = flow.submit_consent(page.text, "approve")

    assert "<code>cursor:</code>" in page.text
    assert approved.headers["Location"].startswith(CURSOR + "?")
    code = redirect_query(approved)["code"]
    assert flow.exchange(code, client_id=client_id, redirect_uri=CURSOR).status_code == 200


@pytest.mark.parametrize(
    "requested",
    [
        "com.example.app:/callback/extra",
        "com.example.app:/callbackx",
        "com.example.app:/callback?x=1",
        "com.example.app:/Callback",
        "Com.Example.App:/callback",
        "com.example.appx:/callback",
        "com.example.app://callback",
        "com.example.app:/callback/",
        "com.example.app:/callback#x",
        "com.example.app:80/callback",
    ],
    ids=[
        "longer-path",
        "path-prefix",
        "added-query",
        "path-case",
        "scheme-case",
        "other-scheme",
        "authority-form",
        "trailing-slash",
        "fragment",
        "port",
    ],
)
def test_b2_private_use_redirects_match_exactly(broker, requested):
    client_id = _client(broker, NATIVE)

    response = broker.authorize(client_id=client_id, redirect_uri=requested)

    assert response.status_code == 400, response.headers.get("Location")
    assert "Location" not in response.headers
    assert "invalid_request" in response.text


def test_b13_a_self_registered_private_use_redirect_gets_no_error_redirect(broker):
    client_id = _client(broker, NATIVE)

    response = broker.authorize(client_id=client_id, redirect_uri=NATIVE, scope="bogus")

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_scope" in response.text
    assert "com.example.app" not in response.text  # no link to the unvetted URI either


def test_b13_a_denial_after_consent_goes_to_the_private_use_redirect(broker):
    client_id = _client(broker, NATIVE)
    flow = broker.start_login(client_id=client_id, redirect_uri=NATIVE)
    assert flow.post_profile().status_code == 200

    denied = flow.decide("deny")

    assert denied.status_code == 302
    assert denied.headers["Location"].startswith(NATIVE + "?")
    assert redirect_query(denied)["error"] == "access_denied"


def test_the_cli_registers_a_private_use_redirect_and_refuses_a_dangerous_one(broker):
    runner = broker.app.test_cli_runner()
    base = ["register-client", "--name", "Desktop", "--resource", DEV_RESOURCE_ID]

    accepted = runner.invoke(args=[*base, "--redirect-uri", NATIVE])
    refused = runner.invoke(args=[*base, "--redirect-uri", "javascript:alert(1)"])
    undotted = runner.invoke(args=[*base, "--redirect-uri", "myapp:/callback"])

    assert accepted.exit_code == 0, accepted.output
    assert refused.exit_code != 0 and "javascript" in refused.output
    assert undotted.exit_code != 0 and "period" in undotted.output
    assert "Traceback" not in refused.output + undotted.output


# --- Client ID Metadata Documents with a private-use redirect ---------------------------------


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    server = DocumentServer(tmp_path_factory.mktemp("cimd-native")).start()
    yield server
    server.stop()


@pytest.fixture
def cimd(broker, documents):
    with broker.configured(
        CIMD_CA_FILE=str(documents.ca_file),
        CIMD_RESOLVER=resolver,
        CIMD_ALLOW_PRIVATE_ADDRESSES=True,
        CIMD_TIMEOUT=2,
    ):
        yield documents


def _document_path() -> str:
    return f"/native/{secrets.token_hex(6)}.json"


def test_a_cimd_client_with_a_private_use_redirect_signs_in(broker, cimd):
    url = cimd.serve_document(_document_path(), redirect_uris=[NATIVE])
    flow = broker.start_login(client_id=url, redirect_uri=NATIVE, scope="notes:read")
    assert flow.post_profile().status_code == 200

    approved = flow.decide("approve")

    assert approved.headers["Location"].startswith(NATIVE + "?")
    query = redirect_query(approved)
    assert query["iss"] == broker.issuer
    exchanged = flow.exchange(query["code"], client_id=url, redirect_uri=NATIVE)
    assert exchanged.status_code == 200, exchanged.text


def test_b13_a_cimd_private_use_redirect_is_not_vetted(broker, cimd):
    url = cimd.serve_document(_document_path(), redirect_uris=[NATIVE])

    response = broker.authorize(client_id=url, redirect_uri=NATIVE, scope="bogus")

    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize("uri", ["myapp:/callback", "javascript:alert(1)"])
def test_a_cimd_document_with_a_refused_scheme_is_refused(broker, cimd, uri):
    url = cimd.serve_document(_document_path(), redirect_uris=[uri])

    response = broker.authorize(client_id=url, redirect_uri=uri)

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.text


# --- The operator's exceptions to the period rule ---------------------------------------------


@pytest.mark.parametrize("value", ["javascript", "cursor, data", "https", "my app!", "1abc"])
def test_dangerous_or_malformed_exceptions_refuse_to_start(tmp_path, monkeypatch, value):
    monkeypatch.setenv("MOCK_BROKER_NATIVE_SCHEMES_WITHOUT_PERIOD", value)

    with pytest.raises(ConfigError, match="MOCK_BROKER_NATIVE_SCHEMES_WITHOUT_PERIOD"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_the_exceptions_are_configurable(tmp_path, monkeypatch, broker):
    monkeypatch.setenv("MOCK_BROKER_NATIVE_SCHEMES_WITHOUT_PERIOD", "MyApp, other")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert app.config["NATIVE_SCHEMES_WITHOUT_PERIOD"] == ("myapp", "other")

    with broker.configured(NATIVE_SCHEMES_WITHOUT_PERIOD=("myapp",)):
        listed = _register(broker, "myapp:/callback")
        cursor = _register(broker, CURSOR)

    assert listed.status_code == 201, listed.text
    assert cursor.status_code == 400  # the default exception, no longer listed
