"""Every page of the mock broker a person sees, in real Chromium: it works, it passes axe-core,
it can be used with the keyboard alone, without JavaScript and on a phone-sized screen, it is
not framed by another site (B8), and its CSP is never violated.

The demo sign-in starts where QA starts (the home page's "Start a demo sign-in") and signs in
at the customer side with the demo password. Screenshots: tests/browser/screenshots.py.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from playwright.sync_api import Browser, Page, expect

from mock_broker import database
from mock_broker.models import RegistrationMethod, utcnow
from mock_broker.registration import register_client
from mock_broker.seed import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_NAME,
    DEV_MCP_SERVER_URL,
    DEV_RESOURCE_ID,
    DEV_RESOURCE_NAME,
)
from tests.browser.axe import assert_accessible
from tests.browser.broker_pages import (
    framing_page,
    horizontal_overflow,
    other_origin,
    screenshot,
    sign_in_at_customer,
    start_demo,
    tab_to,
)
from tests.browser.conftest import ConsoleWatch
from tests.helpers import DEMO_EMAIL

pytestmark = pytest.mark.integration

QA_VIEWS = {
    "login-requests": "Recent login requests",
    "clients": "MCP clients",
    "tokens": "Issued tokens",
    "consents": "Remembered consents",
    "faults": "Fault injection",
}


def to_consent(page: Page, stack) -> None:
    start_demo(page, stack.broker.url, stack.idp.url)
    sign_in_at_customer(page, stack.broker.url)


def allow_and_see_token(page: Page, stack) -> None:
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stack.broker.url}/demo/callback?**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Signed in: access token issued")


def authorize_url(stack, client_id: str, redirect_uri: str, scope: str = "notes:read") -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": secrets.token_urlsafe(16),
        "code_challenge": create_s256_code_challenge(secrets.token_urlsafe(48)),
        "code_challenge_method": "S256",
        "resource": DEV_MCP_SERVER_URL,
    }
    return f"{stack.broker.url}/oauth/authorize?{urlencode(query)}"


def assert_error_announced(page: Page, text: str) -> None:
    alert = page.get_by_role("alert")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text(text)


# -- the home page and the demo sign-in ----------------------------------------------------


def test_home_page(page, stack):
    page, console = page
    page.goto(stack.broker.url + "/")

    expect(page.get_by_role("heading", level=1)).to_have_text("The mock broker")
    expect(page.get_by_role("navigation", name="QA tools")).to_be_visible()
    expect(page.get_by_role("main")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "broker-home")
    assert console.csp_violations() == []


def test_demo_sign_in_allow_then_replayed_callback(page, stack):
    page, console = page
    start_demo(page, stack.broker.url, stack.idp.url)
    # The demo's PKCE verifier and state sit in the broker's session cookie.
    cookie = next(c for c in page.context.cookies() if c["name"] == "broker_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    sign_in_at_customer(page, stack.broker.url)
    consent_url = page.url

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Allow {DEMO_CLIENT_NAME} to access {DEV_RESOURCE_NAME}?"
    )
    expect(page.get_by_text(DEMO_EMAIL).first).to_be_visible()
    assert_accessible(page)
    screenshot(page, "broker-consent")

    allow_and_see_token(page, stack)
    claims = page.get_by_role("region", name="Claims")
    expect(claims).to_contain_text(DEMO_EMAIL)
    expect(claims).to_contain_text('"plan": "enterprise"')
    assert_accessible(page)
    screenshot(page, "broker-demo-result")

    # The callback URL works once: opened again (history, a shared link), it explains.
    response = page.goto(consent_url)
    assert response is not None and response.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("This sign-in link no longer works")
    assert_error_announced(page, "Sign-in links work once")
    expect(page.get_by_text("invalid_state", exact=True)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "broker-invalid-state")
    assert console.csp_violations() == []


def test_deny_gives_the_client_access_denied_on_a_friendly_page(page, stack):
    page, console = page
    to_consent(page, stack)

    page.get_by_role("button", name="Deny").click()

    page.wait_for_url(f"{stack.broker.url}/demo/callback?**")
    assert parse_qs(urlsplit(page.url).query)["error"] == ["access_denied"]
    expect(page.get_by_role("heading", level=1)).to_have_text("You did not allow access")
    assert_error_announced(page, "received no token")
    expect(page.get_by_text("access_denied", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Start again")).to_be_visible()
    assert_accessible(page)
    assert console.csp_violations() == []


def test_consent_with_the_keyboard_alone(page, stack):
    page, console = page
    to_consent(page, stack)

    stops = tab_to(page, lambda focus: focus["text"] == "Allow")
    assert stops[0]["text"] == "Skip to content"
    page.keyboard.press("Enter")

    page.wait_for_url(f"{stack.broker.url}/demo/callback?**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Signed in: access token issued")
    assert console.csp_violations() == []


def test_skip_link_moves_focus_to_the_main_content(page, stack):
    page, _ = page
    page.goto(stack.broker.url + "/")

    tab_to(page, lambda focus: focus["text"] == "Skip to content")
    page.keyboard.press("Enter")
    tab_to(page, lambda focus: focus["text"] == "Start a demo sign-in")

    assert page.evaluate("() => document.activeElement.closest('main') !== null")


def test_demo_sign_in_without_javascript(chromium: Browser, stack):
    context = chromium.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 800}
    )
    try:
        page = context.new_page()
        console = ConsoleWatch(page)
        to_consent(page, stack)
        allow_and_see_token(page, stack)
        expect(page.get_by_role("region", name="Claims")).to_contain_text(DEMO_EMAIL)
        assert console.csp_violations() == []
    finally:
        context.close()


def test_usable_375_pixels_wide(chromium: Browser, stack):
    context = chromium.new_context(viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        console = ConsoleWatch(page)
        page.goto(stack.broker.url + "/")
        assert horizontal_overflow(page) == 0, "the home page scrolls sideways"

        to_consent(page, stack)
        assert horizontal_overflow(page) == 0, "the consent page scrolls sideways"
        allow = page.get_by_role("button", name="Allow").bounding_box()
        assert allow is not None and allow["x"] + allow["width"] <= 375
        screenshot(page, "broker-consent-375")

        allow_and_see_token(page, stack)
        assert horizontal_overflow(page) == 0, "the demo result scrolls sideways"
        # The long values (a URL-sized `aud`, the claims) stay inside their own box.
        for block in page.locator("pre").all():
            box = block.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 375
        assert console.csp_violations() == []
    finally:
        context.close()


# -- consent for clients that named themselves -----------------------------------------------


def _register(stack, kind: str, redirect_uri: str) -> str:
    """A client the way DCR or a CIMD fetch leaves it (the document cached, not refetched)."""
    with stack.broker.app.app_context():
        db = database.session()
        if kind == "cimd":
            client, _ = register_client(
                db,
                "Notes Helper",
                [redirect_uri],
                resource_id=None,
                client_id=f"https://tools.example/clients/{secrets.token_hex(4)}.json",
                registration_method=RegistrationMethod.CIMD,
            )
            client.metadata_fetched_at = utcnow()
            client.metadata_expires_at = utcnow() + timedelta(hours=1)
        else:
            client, _ = register_client(
                db,
                "Notes Helper",
                [redirect_uri],
                resource_id=DEV_RESOURCE_ID,
                registration_method=RegistrationMethod.DCR,
            )
        db.commit()
        return client.id


def test_consent_for_a_cimd_client_shows_who_published_it(page, stack):
    page, console = page
    redirect_uri = "https://notes-app.example/oauth/callback"
    client_id = _register(stack, "cimd", redirect_uri)
    arrived: list[str] = []

    def client_site(route) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Notes app</h1>")

    page.route("https://notes-app.example/**", client_site)
    page.goto(authorize_url(stack, client_id, redirect_uri))
    page.wait_for_url(f"{stack.idp.url}/login?**")
    sign_in_at_customer(page, stack.broker.url)

    facts = page.get_by_role("definition")
    expect(facts.filter(has_text="tools.example")).to_have_count(1)
    expect(facts.filter(has_text="notes-app.example")).to_have_count(1)
    expect(page.get_by_text("name given by the application itself")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{redirect_uri}?**")
    assert "code" in parse_qs(urlsplit(arrived[0]).query)
    assert console.csp_violations() == []


def test_consent_for_a_dcr_client_on_loopback_warns(page, stack):
    page, console = page
    with other_origin() as client_site:
        redirect_uri = f"{client_site}/callback"
        client_id = _register(stack, "dcr", redirect_uri)
        page.goto(authorize_url(stack, client_id, redirect_uri))
        page.wait_for_url(f"{stack.idp.url}/login?**")
        sign_in_at_customer(page, stack.broker.url)

        expect(page.get_by_role("definition").filter(has_text="127.0.0.1")).to_have_count(1)
        expect(page.get_by_role("note")).to_contain_text("runs on your own computer")
        assert_accessible(page)

        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(f"{redirect_uri}?**")
        assert parse_qs(urlsplit(page.url).query)["error"] == ["access_denied"]
    assert console.csp_violations() == []


# -- security in the browser -----------------------------------------------------------------


def test_consent_page_refuses_to_be_framed_by_another_site(page, stack):
    """B8: the broker answers with the consent page, and Chromium will not show it framed.

    The sign-in is started by another client than the framed page, so the broker runs the
    documented state-only contract here (bound, it would not show that browser a consent page
    at all: B12)."""
    page, console = page
    http = stack.browser()
    with stack.broker_configured(CALLBACK_MODE="state-only"):
        login = http.page("GET", http.authorize().login_url)
        callback_url = http.handoff_target(http.sign_in_with_password(login))
        _frame_the_consent_page(page, console, stack, callback_url)


def _frame_the_consent_page(page, console, stack, callback_url: str) -> None:
    assert callback_url.startswith(f"{stack.broker.url}/sso/v1/connections/")

    with other_origin({"/": framing_page(callback_url)}) as attacker:
        with page.expect_response(lambda response: "partner:callback" in response.url) as framed:
            page.goto(attacker + "/")
        # The broker did send a consent page (the state was valid) …
        assert framed.value.status == 200
        assert "Allow" in framed.value.text()
        # … and the browser refused to render it inside the attacker's page.
        frame = page.frame_locator("iframe")
        expect(frame.get_by_role("button", name="Allow")).to_have_count(0)
        expect(frame.locator("body")).not_to_contain_text("Allow")
    child = page.main_frame.child_frames[0]
    assert not child.url.startswith(stack.broker.url)
    # The only CSP report is the refusal itself.
    assert console.csp_violations() != []
    assert all("frame-ancestors" in message for message in console.csp_violations())


# -- error pages -----------------------------------------------------------------------------


def test_unknown_state_page(page, stack):
    page, console = page
    response = page.goto(
        f"{stack.broker.url}/sso/v1/connections/conn_dev/partner:callback?state=not-a-state"
    )

    assert response is not None and response.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("This sign-in link no longer works")
    assert_error_announced(page, "start again")
    assert_accessible(page)
    assert console.csp_violations() == []


@pytest.mark.parametrize(
    ("client_id", "redirect_uri", "says"),
    [
        ("no-such-client", None, "invalid_client"),
        (DEMO_CLIENT_ID, "https://evil.example/callback", "redirect"),
    ],
    ids=["unknown-client", "bad-redirect-uri"],
)
def test_authorize_errors_are_shown_not_redirected(page, stack, client_id, redirect_uri, says):
    page, console = page
    response = page.goto(authorize_url(stack, client_id, redirect_uri or stack.demo_redirect_uri))

    assert response is not None and response.status == 400
    assert page.url.startswith(f"{stack.broker.url}/oauth/authorize?")
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong")
    expect(page.get_by_role("alert")).to_have_count(1)
    expect(page.get_by_role("main")).to_contain_text(says)
    assert_accessible(page)
    assert console.csp_violations() == []


# -- the QA views ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def something_happened(stack):
    """One complete sign-in over HTTP, so every QA table has rows to show."""
    http = stack.browser()
    authorization = http.authorize(scope="notes:read offline_access")
    login = http.page("GET", authorization.login_url)
    callback = http.follow(http.sign_in_with_password(login))
    query = http.approve(callback)
    assert http.exchange(query["code"][0], authorization.verifier).status_code == 200


@pytest.mark.parametrize("view", list(QA_VIEWS))
def test_qa_view(page, stack, something_happened, view):
    page, console = page
    page.goto(f"{stack.broker.url}/dev/{view}")

    expect(page.get_by_role("heading", level=1)).to_have_text(QA_VIEWS[view])
    current = page.locator("nav a[aria-current='page']")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("href", f"/dev/{view}")
    tables = page.get_by_role("table")
    if view != "faults":
        expect(tables.first).to_be_visible()
    for header in page.locator("thead th").all():
        assert header.get_attribute("scope") == "col"
    for table in tables.all():
        # Wide tables scroll in their own region, which the keyboard can reach.
        region = table.locator("xpath=ancestor::*[@role='region'][1]")
        expect(region).to_have_attribute("tabindex", "0")
        # At 1024 px every column is in view; scrolling is for narrower windows.
        assert region.evaluate("region => region.scrollWidth <= region.clientWidth"), view
    assert_accessible(page)
    if view == "login-requests":
        screenshot(page, "broker-qa-login-requests")
    assert console.csp_violations() == []


def test_fault_switchboard_form(page, stack):
    page, console = page
    page.goto(f"{stack.broker.url}/dev/faults")
    endpoint = page.get_by_role("region", name="Slow or failing endpoint")
    try:
        # A mistake first: neither a status nor a delay. The page says so, at the field.
        endpoint.get_by_label("Endpoint").select_option("introspection_endpoint")
        endpoint.get_by_label("HTTP status").fill("")
        endpoint.get_by_role("button", name="Arm fault").click()
        assert_error_announced(page, "give a status, a delay, or both")
        status = endpoint.get_by_label("HTTP status")
        expect(status).to_have_attribute("aria-invalid", "true")
        expect(status).to_have_accessible_description("Not armed: give a status, a delay, or both")
        expect(endpoint.get_by_label("Endpoint")).to_have_value("introspection_endpoint")
        assert_accessible(page)

        status.fill("503")
        endpoint.get_by_label("Number of calls").fill("2")
        endpoint.get_by_role("button", name="Arm fault").click()

        page.wait_for_url(f"{stack.broker.url}/dev/faults")
        expect(page.get_by_role("status")).to_have_text("Fault armed.")
        row = page.get_by_role("row").filter(has_text="introspection_endpoint")
        expect(row).to_contain_text("503")
        expect(page.get_by_role("alert")).to_have_count(0)
        assert_accessible(page)
        screenshot(page, "broker-qa-faults")
    finally:
        # The stack is shared: leave no fault armed for the tests that follow.
        page.goto(f"{stack.broker.url}/dev/faults")
        page.get_by_role("region", name="Slow or failing endpoint").get_by_role(
            "button", name="Clear all"
        ).click()
    expect(page.get_by_text("No faults armed")).to_be_visible()
    assert console.csp_violations() == []


def test_qa_rows_link_to_the_user_and_client_details(page, stack, something_happened):
    """A user is shown one way in every view (email and `usr_…` id), linking to a page with
    everything the broker holds about them; a client links to its own page."""
    page, console = page
    page.goto(f"{stack.broker.url}/dev/tokens")
    page.get_by_role("link", name="alice@example.com").first.click()
    page.wait_for_url(f"{stack.broker.url}/dev/users/usr_*")
    expect(page.get_by_role("heading", level=1)).to_have_text("alice@example.com")
    expect(page.get_by_role("table").first).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Broker demo").first.click()
    page.wait_for_url(f"{stack.broker.url}/dev/clients/demo_client")
    expect(page.get_by_role("heading", level=1)).to_have_text("Broker demo")
    assert_accessible(page)
    assert console.csp_violations() == []


def test_debugger_refuses_then_builds_and_runs_a_request(page, stack):
    """The OAuth debugger in Chromium: a refused field is announced at the field, the built
    request is a table, and the sign-in ends on the token, its claims and its introspection.
    Every step is axe-clean."""
    page, console = page
    page.goto(f"{stack.broker.url}/dev/debugger")
    expect(page.get_by_role("heading", level=1)).to_have_text("OAuth debugger")
    expect(page.locator("nav a[aria-current='page']")).to_have_attribute("href", "/dev/debugger")
    assert_accessible(page)

    page.get_by_label("Scope").fill('notes:read "quoted"')
    page.get_by_role("button", name="Build request").click()
    assert_error_announced(page, "The scope must be")
    expect(page.get_by_label("Scope")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)

    page.get_by_label("Scope").fill("notes:read")
    page.get_by_label("Prompt").select_option("consent")
    page.get_by_label("Login hint").fill(DEMO_EMAIL)
    page.get_by_role("button", name="Build request").click()
    parameters = page.get_by_role("table")
    expect(parameters.get_by_role("row").filter(has_text="login_hint")).to_contain_text(DEMO_EMAIL)
    assert_accessible(page)

    page.get_by_role("link", name="Send this request").click()
    page.wait_for_url(f"{stack.idp.url}/login?**")
    sign_in_at_customer(page, stack.broker.url)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stack.broker.url}/dev/debugger/callback?**")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Token issued for")
    expect(page.locator("#introspection")).to_contain_text('"active": true')
    assert_accessible(page)
    assert console.csp_violations() == []


def test_debugger_claim_overrides_form(page, stack):
    """The claim-override form: a refusal announced at its field with the text kept, then the
    saved override in a table; axe-clean both ways."""
    page, console = page
    page.goto(f"{stack.broker.url}/dev/debugger")
    overrides = page.get_by_role("region", name="Claim overrides")
    try:
        overrides.get_by_label("Client id").fill("debugger_client")
        overrides.get_by_label("Claims").fill("[1, 2]")
        overrides.get_by_role("button", name="Save overrides").click()
        assert_error_announced(page, "must be a JSON object")
        claims = page.get_by_role("region", name="Claim overrides").get_by_label("Claims")
        expect(claims).to_have_attribute("aria-invalid", "true")
        expect(claims).to_have_value("[1, 2]")
        assert_accessible(page)

        claims.fill('{"tier": "gold"}')
        page.get_by_role("button", name="Save overrides").click()
        expect(page.get_by_role("status")).to_contain_text("saved for debugger_client")
        expect(page.get_by_role("row").filter(has_text="debugger_client")).to_contain_text("gold")
        assert_accessible(page)
    finally:
        # The stack is shared: leave no override behind.
        page.goto(f"{stack.broker.url}/dev/debugger")
        form = page.get_by_role("region", name="Claim overrides")
        form.get_by_label("Client id").fill("debugger_client")
        form.get_by_role("button", name="Save overrides").click()
    expect(page.get_by_text("No client has claim overrides")).to_be_visible()
    assert console.csp_violations() == []
