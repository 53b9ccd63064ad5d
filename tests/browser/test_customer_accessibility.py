"""Accessibility of the customer side beyond axe: keyboard-only sign-in with a visible focus,
no JavaScript needed, and a 375 px wide phone screen without sideways scrolling."""

from __future__ import annotations

import pytest

from tests.browser.customer_pages import (
    PHONE,
    ask_for_magic_link,
    assert_fits,
    browser_page,
    check_page,
    consent_and_see_token,
    link_in_mail,
    mail_count,
    shoot,
    sign_in_with_password,
    start_demo,
    tab_to,
)
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

pytestmark = pytest.mark.integration


def start_demo_by_keyboard(page, stack) -> None:
    page.goto(stack.broker.url + "/")
    tab_to(page, "Start a demo sign-in", check_focus=False)  # the broker's page, not ours
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.idp.url}/login?**")


def consent_by_keyboard(page, stack) -> str:
    page.wait_for_url(f"{stack.broker.url}/sso/v1/connections/**")
    tab_to(page, "Allow", check_focus=False)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.broker.url}/demo/callback?**")
    assert page.get_by_role("heading", name="Signed in: access token issued").is_visible()
    return page.locator("pre").nth(1).inner_text()


def test_password_sign_in_with_the_keyboard_only(page, stack):
    page, console = page
    start_demo_by_keyboard(page, stack)

    # The first Tab reaches the skip link, visible when focused; Enter moves to the content.
    skip = tab_to(page, "Skip to content")
    assert skip["tag"] == "a"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # Forwards to the button, then back up the form with Shift+Tab, typing as we go.
    tab_to(page, "Sign in")
    tab_to(page, "Password", backwards=True)
    page.keyboard.type(DEMO_PASSWORD)
    tab_to(page, "Email", element_id="email", backwards=True)
    page.keyboard.type(DEMO_EMAIL)
    tab_to(page, "Sign in")
    page.keyboard.press("Space")
    claims = consent_by_keyboard(page, stack)
    assert DEMO_EMAIL in claims
    assert console.csp_violations() == []


def test_magic_link_sign_in_with_the_keyboard_only(page, stack):
    page, console = page
    start_demo_by_keyboard(page, stack)
    before = mail_count(stack)
    tab_to(page, "Email", element_id="magic_link-email")
    page.keyboard.type(DEMO_EMAIL)
    tab_to(page, "Email me a sign-in link")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.idp.url}/login/magic_link/sent?**")
    # The sent page is keyboard-usable too: its code field and its way back.
    tab_to(page, "Code")
    tab_to(page, "Back to the sign-in options")

    page.goto(link_in_mail(stack, count=before + 1))  # as if opened from the mail
    tab_to(page, "Continue")
    page.keyboard.press("Space")
    assert DEMO_EMAIL in consent_by_keyboard(page, stack)
    assert console.csp_violations() == []


def test_password_sign_in_without_javascript(chromium, stack):
    with browser_page(chromium, java_script_enabled=False) as (page, console):
        start_demo(page, stack)
        sign_in_with_password(page)
        assert DEMO_EMAIL in consent_and_see_token(page, stack)
        assert console.csp_violations() == []


def test_pages_fit_a_375_px_wide_screen(chromium, stack):
    with browser_page(chromium, viewport=PHONE) as (page, console):
        start_demo(page, stack)
        assert_fits(page)
        assert page.get_by_role("button", name="Sign in", exact=True).is_visible()
        check_page(page, console)
        shoot(page, "login-375")

        # Errors (an empty form here: no throttle counts on the shared stack) still fit.
        page.get_by_role("button", name="Sign in", exact=True).click()
        assert page.get_by_role("alert").is_visible()
        assert_fits(page)

        link = ask_for_magic_link(page, stack)
        assert_fits(page)
        assert page.get_by_role("button", name="Sign in with the code").is_visible()

        page.goto(link)
        assert_fits(page)
        assert page.get_by_role("button", name="Continue").is_visible()

        page.goto(stack.idp.url + "/no-such-page")
        assert_fits(page)
        check_page(page, console)
