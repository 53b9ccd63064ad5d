"""The upstream stand-in's pages in real Chromium: the login page with its editable claims
(Continue, Cancel, mistakes announced at their fields, the keyboard alone, a narrow screen),
its error page and its home page — each passing axe-core, none violating the CSP.

The stand-in runs alone here, with one registered client whose redirect URI is a throwaway
page on another loopback origin: where the browser lands says what the client was told.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from playwright.sync_api import Browser, Page, expect

from tests import databases
from tests.browser.axe import assert_accessible
from tests.browser.broker_pages import (
    horizontal_overflow,
    other_origin,
    screenshot,
    tab_to,
)
from tests.browser.conftest import ConsoleWatch
from tests.servers import LiveServer
from upstream_idp import create_app

pytestmark = pytest.mark.integration

CLIENT_ID = "customer-idp-browser-test"


@dataclass(frozen=True)
class StandIn:
    url: str
    redirect_uri: str

    def authorize_url(self, client_id: str = CLIENT_ID, **overrides: str) -> str:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid email profile groups",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": create_s256_code_challenge(secrets.token_urlsafe(48)),
            "code_challenge_method": "S256",
            **overrides,
        }
        return f"{self.url}/authorize?{urlencode(query)}"


@pytest.fixture(scope="module")
def standin(tmp_path_factory, signing_key) -> Iterator[StandIn]:
    with other_origin() as relying_party:
        redirect_uri = f"{relying_party}/login/oidc/standin/callback"
        server = LiveServer()
        server.app = create_app(
            {
                "TESTING": True,
                "ISSUER": server.url,
                "DATABASE_URL": (
                    f"sqlite:///{tmp_path_factory.mktemp('standin') / 'upstream.sqlite3'}"
                ),
                "SIGNING_KEY": signing_key,
                "SECRET_KEY": "upstream-browser-test-secret-key",
                "CLIENTS": [
                    {
                        "client_id": CLIENT_ID,
                        "client_secret": "browser-test-secret",
                        "redirect_uris": [redirect_uri],
                        "token_endpoint_auth_method": "client_secret_basic",
                    }
                ],
            }
        )
        server.start()
        try:
            yield StandIn(url=server.url, redirect_uri=redirect_uri)
        finally:
            server.stop()
            databases.dispose(server.app)


def back_at_client(page: Page, standin: StandIn) -> dict[str, list[str]]:
    page.wait_for_url(f"{standin.redirect_uri}?**")
    return parse_qs(urlsplit(page.url).query)


def test_login_page_fill_claims_and_continue(page, standin):
    page, console = page
    page.goto(standin.authorize_url())

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to {CLIENT_ID}")
    expect(page.get_by_role("group", name="Claims to issue")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "standin-login")

    page.get_by_label("Username").fill("nora")
    page.get_by_label("Email", exact=True).fill("nora@example.com")
    page.get_by_label("The email is verified").uncheck()
    page.get_by_label("Given name").fill("Nora")
    page.get_by_label("Groups").fill("engineering, admins")
    page.get_by_role("button", name="Continue").click()

    query = back_at_client(page, standin)
    assert query["code"] and query["iss"] == [standin.url]
    assert console.csp_violations() == []


def test_cancel_tells_the_client_access_denied(page, standin):
    page, console = page
    page.goto(standin.authorize_url())

    page.get_by_role("button", name="Cancel").click()

    assert back_at_client(page, standin)["error"] == ["access_denied"]
    assert console.csp_violations() == []


def test_login_form_with_the_keyboard_alone(page, standin):
    page, console = page
    page.goto(standin.authorize_url())

    stops = tab_to(page, lambda focus: focus["name"] == "username")
    assert stops[0]["text"] == "Skip to content"
    page.keyboard.type("kim")
    # Every control of the form on the way shows where the focus is.
    stops = tab_to(page, lambda focus: focus["text"] == "Continue")
    assert {"email", "email_verified", "no_email", "groups", "fault"} <= {
        stop["name"] for stop in stops
    }
    page.keyboard.press("Enter")

    assert "code" in back_at_client(page, standin)
    assert console.csp_violations() == []


def test_mistakes_are_announced_and_tied_to_their_fields(page, standin):
    page, console = page
    page.goto(standin.authorize_url())

    page.get_by_label("Username").fill("two words")
    page.get_by_role("button", name="Continue").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Some fields need a change")
    username = page.get_by_label("Username")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(username).to_have_value("two words")
    expect(username).to_have_accessible_description(
        "Any username works. It becomes the sub claim. The username becomes sub: up to 255 "
        "printable ASCII characters, no spaces."
    )
    # The summary links to the field, and following the link puts the cursor there.
    alert.get_by_role("link", name="Username").click()
    expect(username).to_be_focused()
    assert_accessible(page)

    username.fill("two-words")
    page.get_by_role("button", name="Continue").click()
    assert "code" in back_at_client(page, standin)
    assert console.csp_violations() == []


def test_error_page_for_an_unknown_client(page, standin):
    page, console = page
    response = page.goto(standin.authorize_url(client_id="nobody-registered-this"))

    assert response is not None and response.status == 400
    assert page.url.startswith(f"{standin.url}/authorize?")  # shown here, never redirected
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong")
    expect(page.get_by_role("alert")).to_have_count(1)
    expect(page.get_by_text("invalid_client", exact=True)).to_be_visible()
    assert_accessible(page)
    assert console.csp_violations() == []


def test_home_page(page, standin):
    page, console = page
    page.goto(standin.url + "/")

    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text(standin.redirect_uri)).to_be_visible()
    assert_accessible(page)
    assert console.csp_violations() == []


def test_login_page_375_pixels_wide_and_without_javascript(chromium: Browser, standin):
    context = chromium.new_context(
        java_script_enabled=False, viewport={"width": 375, "height": 740}
    )
    try:
        page = context.new_page()
        console = ConsoleWatch(page)
        page.goto(standin.authorize_url())
        assert horizontal_overflow(page) == 0, "the login page scrolls sideways"

        page.get_by_label("Username").fill("nora")
        page.get_by_role("button", name="Continue").click()

        assert "code" in back_at_client(page, standin)
        assert console.csp_violations() == []
    finally:
        context.close()
