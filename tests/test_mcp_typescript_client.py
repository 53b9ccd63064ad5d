"""End to end with the official MCP TypeScript SDK client (npm @modelcontextprotocol/sdk,
pinned in tests/mcp_ts_client/, under Node.js 20), the client most MCP tools are built on,
against the sample MCP server, the mock broker and the customer side, every one on a free
(so non-default) port, with headless Chromium as the person signing in.

Unlike the Python SDK, it sends no `prompt=consent`, so the broker remembers consent and the
second sign-in goes from "Continue as" straight back to the client: the path that used to
leave returning users on the login page. Then step-up (403 `insufficient_scope` → a new
authorization with the union of the scopes), refresh, and a Client ID Metadata Document.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.chromium import ARGS, require_chromium
from tests.helpers import DEMO_EMAIL
from tests.mail_sink import free_port
from tests.test_mcp_end_to_end import McpDeployment, cimd_deployment, deploy, documents
from tests.ts_mcp_client import run_client

__all__ = ["cimd_deployment", "documents"]  # fixtures shared with the Python SDK's tests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[McpDeployment]:
    with deploy(tmp_path_factory.mktemp("ts-mcp"), REMEMBER_CONSENT=True) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_chromium(), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium) -> Iterator[Page]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def scope_of(authorization_url: str) -> set[str]:
    return set(parse_qs(urlsplit(authorization_url).query)["scope"][0].split())


def test_first_sign_in_then_a_returning_user_with_remembered_consent(deployment, page, tmp_path):
    state = tmp_path / "client.json"
    first = run_client(page, deployment.url, state, ["whoami"])
    assert first.tools()["whoami"]["result"]["email"] == DEMO_EMAIL
    assert len(first.authorizations) == 1 and first.consent_pages == 1
    assert "prompt" not in parse_qs(urlsplit(first.authorizations[0]).query)

    # The user comes back later: same registration, no tokens, the same browser.
    state.write_text(state.read_text().replace('"tokens"', '"dropped_tokens"'))
    second = run_client(page, deployment.url, state, ["whoami"])
    assert second.tools()["whoami"]["result"]["email"] == DEMO_EMAIL
    assert len(second.authorizations) == 1
    assert second.consent_pages == 0  # remembered: "Continue as" led straight to the client


def test_step_up_to_notes_write_after_insufficient_scope(deployment, page, tmp_path):
    run = run_client(page, deployment.url, tmp_path / "client.json", ["whoami", "add_note"])
    assert len(run.authorizations) == 2
    assert scope_of(run.authorizations[0]) == {"notes:read"}  # the least needed to connect
    assert {"notes:read", "notes:write"} <= scope_of(run.authorizations[1])
    assert run.tools()["add_note"]["isError"] is False


def test_a_dead_access_token_is_refreshed_without_the_user(deployment, page, tmp_path):
    run = run_client(
        page, deployment.url, tmp_path / "client.json", ["whoami", "break_token", "list_notes"]
    )
    assert len(run.authorizations) == 1  # the refresh needed no second sign-in
    tokens = run.tokens()
    assert len(tokens) == 2 and all(saved["refresh"] for saved in tokens)
    assert run.tools()["list_notes"]["isError"] is False


def test_a_client_id_metadata_document_instead_of_registration(
    cimd_deployment, documents, page, tmp_path
):
    port = free_port()
    metadata_url = documents.serve_document(
        "/ts-sdk-client.json",
        client_name="TypeScript SDK via CIMD",
        redirect_uris=[f"http://127.0.0.1:{port}/callback"],
    )
    run = run_client(
        page,
        cimd_deployment.url,
        tmp_path / "client.json",
        ["whoami"],
        port=port,
        CLIENT_METADATA_URL=metadata_url,
    )
    me = run.tools()["whoami"]["result"]
    assert me["email"] == DEMO_EMAIL and me["client_id"] == metadata_url  # no registration
    assert documents.hits["/ts-sdk-client.json"] >= 1
