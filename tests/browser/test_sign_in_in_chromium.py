"""The federated login in a real browser: what HTTP-level tests cannot see (CSP applied to
redirects after form posts, cookies across the apps' ports, SameSite on cross-site returns).

Each test starts where QA starts, the mock broker's "Start a demo sign-in", and ends on the
demo page that shows the access token, verified against the broker's JWKS.
"""

from __future__ import annotations

import pytest

from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

pytestmark = pytest.mark.integration


def start_demo(page, stack) -> None:
    page.goto(stack.broker.url + "/")
    page.get_by_role("button", name="Start a demo sign-in").click()
    page.wait_for_url(f"{stack.idp.url}/login?**")


def consent_and_see_token(page, stack) -> str:
    page.wait_for_url(f"{stack.broker.url}/sso/v1/connections/**")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stack.broker.url}/demo/callback?**")
    assert page.get_by_role("heading", name="Signed in: access token issued").is_visible()
    return page.locator("pre").nth(1).inner_text()


def test_password_sign_in_in_chromium(page, stack):
    page, console = page
    start_demo(page, stack)
    page.get_by_label("Email").first.fill(DEMO_EMAIL)
    page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    claims = consent_and_see_token(page, stack)
    assert DEMO_EMAIL in claims and '"plan": "enterprise"' in claims
    assert console.csp_violations() == []


def test_upstream_oidc_sign_in_in_chromium(page, standin):
    """Regression: form-action must admit the provider, or Chromium blocks the redirect."""
    stack = standin()
    page, console = page
    start_demo(page, stack)
    page.get_by_role("button", name="Sign in with Stand-in").click()
    page.wait_for_url(f"{stack.upstream.url}/authorize?**")
    page.get_by_label("Username").fill("nora")
    page.get_by_label("Email", exact=True).fill("nora@example.com")
    page.get_by_role("button", name="Continue").click()
    claims = consent_and_see_token(page, stack)
    assert "nora@example.com" in claims
    assert console.csp_violations() == []


def test_login_page_passes_axe(page, stack):
    from tests.browser.axe import assert_accessible

    page, console = page
    start_demo(page, stack)
    assert_accessible(page)
    assert console.csp_violations() == []


def test_thirty_abandoned_provider_starts_still_leave_a_working_sign_in(page, standin):
    """E4: each "Sign in with …" keeps its state, nonce and PKCE verifier in the session
    cookie; abandoned ones used to pile up until the cookie passed 4 KB and Chromium dropped
    it, which broke sign-in. Only the newest few are kept now."""
    stack = standin()
    page, console = page
    start_demo(page, stack)
    login_url = page.url
    sizes = []
    for _ in range(30):
        page.get_by_role("button", name="Sign in with Stand-in").click()
        page.wait_for_url(f"{stack.upstream.url}/authorize?**")
        cookie = next(c for c in page.context.cookies(stack.idp.url) if c["name"] == "idp_session")
        sizes.append(len(cookie["name"]) + len(cookie["value"]))
        page.goto(login_url)  # changed their mind: back to the login page
    assert max(sizes) < 4096 and sizes[-1] == pytest.approx(sizes[10], rel=0.1)  # bounded

    page.get_by_role("button", name="Sign in with Stand-in").click()
    page.wait_for_url(f"{stack.upstream.url}/authorize?**")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Email", exact=True).fill("olga@example.com")
    page.get_by_role("button", name="Continue").click()
    assert "olga@example.com" in consent_and_see_token(page, stack)
    assert console.csp_violations() == []
