"""Security the browser enforces on the customer side's pages (C7): the login page and the
magic-link confirm page refuse to render in a frame of another origin (clickjacking). And a
forwarded sign-in link, played by two real browsers (B12)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from mock_broker.seed import DEV_CONNECTION_ID
from tests.browser.customer_pages import (
    FramingSite,
    ask_for_magic_link,
    browser_page,
    check_page,
    shoot,
    sign_in_with_password,
    start_demo,
)

pytestmark = pytest.mark.integration

FRAME_REFUSAL = "frame-ancestors 'none'"


def framed_text(page, site: FramingSite, url: str) -> str:
    """Open a page of `site` that frames `url`; the text the frame rendered."""
    page.goto(f"{site.url}/frame?{urlencode({'src': url})}")
    control = page.frame(name="control")
    assert control is not None and "Framable control page" in control.content()  # frames work
    target = page.frame(name="target")
    assert target is not None
    return target.evaluate("document.body ? document.body.innerText : ''")


def test_login_and_magic_link_confirm_pages_refuse_to_be_framed(page, stack):
    page, console = page
    start_demo(page, stack)
    login_url = page.url
    link = ask_for_magic_link(page, stack)
    # Unframed, in this very browser, both pages render (the confirm page: thanks to the
    # verifier cookie, which the same-site frame below would also carry).
    page.goto(link)
    assert page.get_by_role("heading", name="Finish signing in").is_visible()

    with FramingSite() as site:  # another origin: another loopback port
        assert site.url != stack.idp.url
        for url, content in ((login_url, "Sign in"), (link, "Finish signing in")):
            before = len(console.csp_violations())
            text = framed_text(page, site, url)
            assert content not in text and "Acme Identity" not in text
            # Chromium's own record of the refusal: the frame-ancestors directive, nothing else.
            refusals = console.csp_violations()[before:]
            assert refusals and all(FRAME_REFUSAL in message for message in refusals), refusals

    # The refusals above are the only CSP messages of the whole test.
    assert all(FRAME_REFUSAL in message for message in console.csp_violations())


def test_b12_a_forwarded_link_stops_at_the_broker_in_the_victims_browser(page, chromium, stack):
    """The attacker's Chromium starts a demo sign-in and forwards the login link; the victim's
    Chromium signs in with it and is told, at the broker, that the sign-in was stopped. The
    attacker's browser, taking the callback with the state it knows, gets no consent page."""
    attacker, _ = page
    start_demo(attacker, stack)
    forwarded = attacker.url
    state = parse_qs(urlsplit(forwarded).query)["state"][0]

    with browser_page(chromium) as (victim, console):
        victim.goto(forwarded)
        sign_in_with_password(victim)
        victim.wait_for_url(f"{stack.broker.url}/sso/v1/connections/**")
        heading = victim.get_by_role("heading", name="This sign-in was started in another browser")
        assert heading.is_visible()
        assert victim.get_by_role("button", name="Allow").count() == 0
        check_page(victim, console)
        shoot(victim, "forwarded-link-stopped")

    callback = f"{stack.broker.url}/sso/v1/connections/{DEV_CONNECTION_ID}/partner:callback"
    response = attacker.goto(f"{callback}?{urlencode({'state': state})}")
    assert response.status == 400
    assert attacker.get_by_role("button", name="Allow").count() == 0
