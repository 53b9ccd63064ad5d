"""Security the browser enforces on the customer side's pages (C7): the login page and the
magic-link confirm page refuse to render in a frame of another origin (clickjacking)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.browser.customer_pages import FramingSite, ask_for_magic_link, start_demo

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
