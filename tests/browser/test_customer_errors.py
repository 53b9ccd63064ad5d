"""The customer side's error pages in real Chromium: each says what happened and what to do,
announces itself to assistive technology, passes axe-core, and raises no CSP violation."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from mock_broker import faults
from tests.browser.customer_pages import (
    ask_for_magic_link,
    check_page,
    consent_and_see_token,
    expire_link,
    shoot,
    sign_in_with_password,
    start_demo,
)
from tests.helpers import DEMO_EMAIL

pytestmark = pytest.mark.integration


def assert_password_error(page, message: str) -> None:
    """The error is announced (role=alert) and both fields point at it."""
    alert = page.get_by_role("alert")
    assert alert.inner_text().strip() == message
    alert_id = alert.get_attribute("id")
    panel = page.get_by_role("region", name="Password")
    for label in ("Email", "Password"):
        field = panel.get_by_label(label)
        assert field.get_attribute("aria-invalid") == "true"
        assert alert_id in field.get_attribute("aria-describedby").split()


def test_wrong_password_unknown_user_and_throttle(page, fresh_stack):
    # A private stack (throttle counters): one free failure per account, then a long block.
    stack = fresh_stack(THROTTLE_ACCOUNT_FREE_FAILURES=1, THROTTLE_BASE_DELAY=600)
    page, console = page
    start_demo(page, stack)

    with page.expect_response(f"{stack.idp.url}/login/password/") as answer:
        sign_in_with_password(page, password="not the right password at all")
    assert answer.value.status == 422
    assert_password_error(page, "The email or password is incorrect.")
    # The email stays, the password is never echoed back.
    panel = page.get_by_role("region", name="Password")
    assert panel.get_by_label("Email").input_value() == DEMO_EMAIL
    assert panel.get_by_label("Password").input_value() == ""
    check_page(page, console)
    shoot(page, "password-error")

    with page.expect_response(f"{stack.idp.url}/login/password/") as answer:
        sign_in_with_password(page, email="nobody@example.com", password="whatever it is")
    assert answer.value.status == 422  # the same answer as a wrong password (C8)
    assert_password_error(page, "The email or password is incorrect.")
    check_page(page, console)

    with page.expect_response(f"{stack.idp.url}/login/password/") as answer:
        sign_in_with_password(page, email="nobody@example.com", password="and again")
    assert answer.value.status == 429
    assert answer.value.headers["retry-after"]
    assert_password_error(
        page,
        "Too many attempts. Try again in 10 minutes. Or ask for a sign-in link by email instead.",
    )
    check_page(page, console)


def test_empty_password_form_errors_are_announced_and_tied_to_fields(page, stack):
    page, console = page
    start_demo(page, stack)
    page.get_by_role("region", name="Password").get_by_role("button", name="Sign in").click()
    summary = page.get_by_role("alert")
    assert "Enter your email." in summary.inner_text()
    assert "Enter your password." in summary.inner_text()
    panel = page.get_by_role("region", name="Password")
    for label, message in (("Email", "Enter your email."), ("Password", "Enter your password.")):
        field = panel.get_by_label(label)
        assert field.get_attribute("aria-invalid") == "true"
        described = page.locator(f"#{field.get_attribute('aria-describedby')}")
        assert described.inner_text() == message
        # The summary links to the field (no JavaScript needed to get there).
        assert summary.get_by_role("link", name=message).get_attribute("href") == (
            f"#{field.get_attribute('id')}"
        )
    check_page(page, console)


def test_magic_link_address_error_is_announced_and_tied_to_the_field(page, stack):
    page, console = page
    start_demo(page, stack)
    panel = page.get_by_role("region", name="Email me a sign-in link")
    panel.get_by_label("Email").fill("not an address")
    panel.get_by_role("button", name="Email me a sign-in link").click()
    alert = page.get_by_role("alert")
    assert "Enter an email address like name@example.com." in alert.inner_text()
    field = page.get_by_role("region", name="Email me a sign-in link").get_by_label("Email")
    assert field.get_attribute("aria-invalid") == "true"
    described = page.locator(f"#{field.get_attribute('aria-describedby')}")
    assert described.inner_text() == "Enter an email address like name@example.com."
    check_page(page, console)


def test_c16_magic_link_limit_page_says_how_long_to_wait(page, fresh_stack):
    stack = fresh_stack(LOGIN_METHOD_MAGIC_LINK_EMAIL_LIMIT=1)
    page, console = page
    start_demo(page, stack)
    ask_for_magic_link(page, stack)
    page.go_back()  # to the login page, as someone who did not see the mail arrive would
    panel = page.get_by_role("region", name="Email me a sign-in link")
    panel.get_by_label("Email").fill(DEMO_EMAIL)
    with page.expect_response(f"{stack.idp.url}/login/magic_link/") as answer:
        panel.get_by_role("button", name="Email me a sign-in link").click()
    assert answer.value.status == 429 and answer.value.headers["retry-after"]
    alert = page.get_by_role("alert")
    assert "Too many sign-in links were asked for. Try again in" in alert.inner_text()
    check_page(page, console)
    shoot(page, "magic-link-limited")


def test_c19_oidc_account_that_must_be_proven_first(page, standin):
    stack = standin(TRUST_EMAIL="false")
    page, console = page
    start_demo(page, stack)
    page.get_by_role("button", name="Sign in with Stand-in").click()
    page.wait_for_url(f"{stack.upstream.url}/authorize?**")
    page.get_by_label("Username").fill("mallory")
    page.get_by_label("Email", exact=True).fill(DEMO_EMAIL)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{stack.idp.url}/login/oidc/standin/callback?**")
    assert page.get_by_role("heading", name="You already have an account here").is_visible()
    check_page(page, console)
    shoot(page, "oidc-link-required")

    # The owner proves the account with the password: signed in, and the link is made.
    page.get_by_role("link", name="Sign in to connect Stand-in").click()
    assert page.get_by_text("To connect your Stand-in account").is_visible()
    check_page(page, console)
    sign_in_with_password(page)
    assert DEMO_EMAIL in consent_and_see_token(page, stack)
    assert console.csp_violations() == []


def test_magic_link_expired_and_tampered(page, stack):
    page, console = page
    start_demo(page, stack)
    link = ask_for_magic_link(page, stack)

    tampered = page.goto(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
    assert tampered.status == 400
    assert page.get_by_role("heading", name="This sign-in link is not valid").is_visible()
    check_page(page, console)

    expire_link(stack, link)
    expired = page.goto(link)
    assert expired.status == 410
    assert page.get_by_role("heading", name="This sign-in link has expired").is_visible()
    assert page.get_by_text("ask for a new link").is_visible()
    check_page(page, console)


def test_profile_post_failure_shows_a_working_retry(page, stack):
    page, console = page
    start_demo(page, stack)
    # One more 500 than the customer side's retries (2): this sign-in's post fails for good.
    faults.inject(stack.broker.app, faults.USER_ENDPOINT, status=500, count=3)
    try:
        with page.expect_response(f"{stack.idp.url}/login/password/") as answer:
            sign_in_with_password(page)
        assert answer.value.status == 502
        assert page.url == f"{stack.idp.url}/login/password/"  # not sent on to the broker
        assert page.get_by_role("heading", name="We couldn't finish signing you in").is_visible()
        assert "couldn't reach the authorization service" in page.get_by_role("alert").inner_text()
        check_page(page, console)
        shoot(page, "handoff-failed")
    finally:
        faults.clear(stack.broker.app, faults.USER_ENDPOINT)
    page.get_by_role("button", name="Try again").click()
    assert DEMO_EMAIL in consent_and_see_token(page, stack)
    assert console.csp_violations() == []


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        ("/login", 400, "This sign-in link is not valid"),
        ("/login?" + urlencode({"login_request_id": "lri_<x>", "state": "s"}), 400, None),
        ("/no-such-page", 404, "Page not found"),
    ],
    ids=["login-without-parameters", "login-malformed-request", "not-found"],
)
def test_error_pages(page, stack, path, status, heading):
    page, console = page
    response = page.goto(stack.idp.url + path)
    assert response.status == status
    assert page.get_by_text(f"Error {status}").is_visible()
    h1 = page.get_by_role("heading", level=1)
    assert h1.count() == 1
    if heading:
        assert h1.inner_text() == heading
    check_page(page, console)


def test_home_page_signed_out(page, stack):
    page, console = page
    page.goto(stack.idp.url + "/")
    assert page.get_by_role("heading", name="Acme Identity", level=1).is_visible()
    for landmark in ("banner", "main", "contentinfo"):
        assert page.get_by_role(landmark).count() == 1
    check_page(page, console)


def test_dev_outbox(page, stack):
    page, console = page
    start_demo(page, stack)
    link = ask_for_magic_link(page, stack)
    page.goto(f"{stack.idp.url}/dev/outbox")
    assert page.get_by_role("heading", name="Outbox", level=1).is_visible()
    assert page.get_by_role("link", name=link).first.is_visible()
    check_page(page, console)
