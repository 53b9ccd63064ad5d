"""The customer side in real Chromium: each login method, from the broker's "Start a demo
sign-in" to the demo MCP client's redirect with a code (the page showing its access token).

Every page on the way passes axe-core and no test sees a CSP violation; the key pages are
photographed (customer-*.png; tests/browser/screenshots.py).
"""

from __future__ import annotations

import pytest

from tests.browser.customer_pages import (
    ask_for_magic_link,
    browser_page,
    check_page,
    consent_and_see_token,
    shoot,
    sign_in_with_password,
    start_demo,
)
from tests.helpers import DEMO_EMAIL

pytestmark = pytest.mark.integration


def test_password_then_continue_as_in_the_same_browser(page, stack):
    page, console = page
    start_demo(page, stack)
    check_page(page, console)
    sign_in_with_password(page)
    claims = consent_and_see_token(page, stack)
    assert DEMO_EMAIL in claims and '"plan": "enterprise"' in claims

    # C6 in the browser: the session cookie is HttpOnly and SameSite=Lax.
    session = next(c for c in page.context.cookies() if c["name"] == "idp_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"

    # A second authorization in the same browser: no password, "Continue as …".
    start_demo(page, stack)
    continue_as = page.get_by_role("button", name="Continue as Alice")
    assert continue_as.is_visible()
    assert page.get_by_role("button", name="Use another account").is_visible()
    check_page(page, console)
    shoot(page, "continue-as")
    continue_as.click()
    assert DEMO_EMAIL in consent_and_see_token(page, stack)
    assert console.csp_violations() == []


def test_magic_link_in_the_same_browser(page, stack):
    page, console = page
    start_demo(page, stack)
    link = ask_for_magic_link(page, stack)
    assert page.get_by_role("heading", name="Check your email").is_visible()
    assert page.get_by_role("status").filter(has_text=DEMO_EMAIL).is_visible()
    check_page(page, console)
    shoot(page, "magic-link-sent")

    # C15 in the browser: the verifier cookie is HttpOnly, Lax, and only for the method's paths.
    verifier = next(c for c in page.context.cookies() if c["name"] == "idp_magic_link")
    assert verifier["httpOnly"] and verifier["sameSite"] == "Lax"
    assert verifier["path"] == "/login/magic_link/"

    page.goto(link)  # as if clicked in the mail
    assert page.get_by_role("heading", name="Finish signing in").is_visible()
    assert page.get_by_text(f"Continue as {DEMO_EMAIL}?").is_visible()
    check_page(page, console)
    shoot(page, "magic-link-confirm")
    page.get_by_role("button", name="Continue").click()
    assert DEMO_EMAIL in consent_and_see_token(page, stack)

    # The link is spent: opening it again says so, with a way forward.
    response = page.goto(link)
    assert response.status == 410
    assert page.get_by_role("heading", name="This sign-in link was already used").is_visible()
    check_page(page, console)


def test_magic_link_opened_on_another_device_relays_a_code(page, chromium, stack):
    page, console = page
    start_demo(page, stack)
    link = ask_for_magic_link(page, stack)

    with browser_page(chromium) as (phone, phone_console):  # no verifier cookie there
        phone.goto(link)
        assert phone.get_by_role(
            "heading", name="This link was opened in another browser"
        ).is_visible()
        assert DEMO_EMAIL not in phone.content()
        check_page(phone, phone_console)
        phone.get_by_role("button", name="Show me a code").click()
        phone.get_by_role("heading", name="Type this code in the other window").wait_for()
        code = phone.locator("p.code").inner_text()
        assert phone.get_by_text("The code, one character at a time").count() == 1
        check_page(phone, phone_console)
        shoot(phone, "magic-link-other-device-code")

    # A wrong code first: announced, and tied to the field.
    field = page.get_by_role("textbox", name="Code")
    field.fill("AAAA-AAAA")
    page.get_by_role("button", name="Sign in with the code").click()
    alert = page.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    field = page.get_by_role("textbox", name="Code")
    assert field.get_attribute("aria-invalid") == "true"
    assert "code-error" in field.get_attribute("aria-describedby").split()
    check_page(page, console)

    field.fill(code.lower())  # typed into the first window, as people do
    page.get_by_role("button", name="Sign in with the code").click()
    assert DEMO_EMAIL in consent_and_see_token(page, stack)
    assert console.csp_violations() == []


def test_upstream_oidc_with_its_errors_then_success(page, standin):
    stack = standin()
    page, console = page
    start_demo(page, stack)
    for name in ("Sign in", "Email me a sign-in link", "Sign in with Stand-in"):
        assert page.get_by_role("button", name=name, exact=True).is_visible()
    check_page(page, console)
    shoot(page, "login")

    # Cancelled at the provider.
    page.get_by_role("button", name="Sign in with Stand-in").click()
    page.wait_for_url(f"{stack.upstream.url}/authorize?**")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(f"{stack.idp.url}/login/oidc/standin/callback?**")
    assert page.get_by_role("heading", name="Signing in with Stand-in was cancelled").is_visible()
    assert page.get_by_role("alert").is_visible()
    check_page(page, console)
    shoot(page, "upstream-error")

    # A faulty id_token (bad signature) is refused.
    page.get_by_role("link", name="Back to the sign-in page").click()
    page.get_by_role("button", name="Sign in with Stand-in").click()
    page.wait_for_url(f"{stack.upstream.url}/authorize?**")
    page.get_by_label("Username").fill("nora")
    page.get_by_label("Email", exact=True).fill("nora@example.com")
    page.get_by_label("Issue a faulty id_token").select_option("bad_signature")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{stack.idp.url}/login/oidc/standin/callback?**")
    heading = page.get_by_role("heading", name="Stand-in's answer could not be verified")
    assert heading.is_visible()
    check_page(page, console)

    # And then a correct one signs in.
    page.get_by_role("link", name="Back to the sign-in page").click()
    page.get_by_role("button", name="Sign in with Stand-in").click()
    page.wait_for_url(f"{stack.upstream.url}/authorize?**")
    page.get_by_label("Username").fill("nora")
    page.get_by_label("Email", exact=True).fill("nora@example.com")
    page.get_by_role("button", name="Continue").click()
    assert "nora@example.com" in consent_and_see_token(page, stack)
    assert console.csp_violations() == []
