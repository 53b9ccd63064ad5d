"""Helpers for the customer side's browser tests (tests/browser/test_customer_*.py).

They drive the pages the way a person does (buttons and labels by their accessible names), read
the mail from the stack's real SMTP sink, and take the screenshots (tests/browser/screenshots.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page
from sqlalchemy import select, update

from identity import db
from identity.models import utcnow
from login_methods.magic_link.tokens import MagicLinkToken, digest
from tests.browser import screenshots
from tests.browser.axe import assert_accessible
from tests.browser.conftest import ConsoleWatch
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

DESKTOP = {"width": 1024, "height": 800}
PHONE = {"width": 375, "height": 740}
LINK = re.compile(r"^(http://\S+/login/magic_link/confirm\?token=\S+)$", re.MULTILINE)


# -- browser contexts -------------------------------------------------------------------------


@contextmanager
def browser_page(chromium: Browser, **context_options) -> Iterator[tuple[Page, ConsoleWatch]]:
    """A page in a fresh context (its own cookies): another device, no JavaScript, a phone."""
    context = chromium.new_context(**{"viewport": DESKTOP, **context_options})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page, ConsoleWatch(page)
    finally:
        context.close()


def shoot(page: Page, name: str) -> None:
    """customer-<name>.png (docs/screenshots/ with UPDATE_SCREENSHOTS=1)."""
    screenshots.save(page, f"customer-{name}")


def check_page(page: Page, console: ConsoleWatch) -> None:
    """What every customer page must pass: axe, and no CSP violation so far."""
    assert_accessible(page)
    assert console.csp_violations() == []


# -- the flow, from the MCP client's side -----------------------------------------------------


def start_demo(page: Page, stack) -> None:
    """The broker home's "Start a demo sign-in" (an authorization as the demo MCP client)."""
    page.goto(stack.broker.url + "/")
    page.get_by_role("button", name="Start a demo sign-in").click()
    page.wait_for_url(f"{stack.idp.url}/login?**")


def consent_and_see_token(page: Page, stack) -> str:
    """At the broker: approve, then the demo client's redirect with a code, exchanged."""
    page.wait_for_url(f"{stack.broker.url}/sso/v1/connections/**")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stack.broker.url}/demo/callback?**")
    assert "code=" in page.url
    assert page.get_by_role("heading", name="Signed in: access token issued").is_visible()
    return page.locator("pre").nth(1).inner_text()


def sign_in_with_password(page: Page, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD):
    panel = page.get_by_role("region", name="Password")
    panel.get_by_label("Email").fill(email)
    panel.get_by_label("Password").fill(password)
    panel.get_by_role("button", name="Sign in", exact=True).click()


# -- magic links --------------------------------------------------------------------------------


def mail_count(stack, to: str = DEMO_EMAIL) -> int:
    return len([message for message in stack.mail.messages() if message["To"] == to])


def link_in_mail(stack, to: str = DEMO_EMAIL, count: int = 1) -> str:
    message = stack.mail.wait_for(to, count=count)[-1]
    return LINK.search(message.get_body(preferencelist=("plain",)).get_content()).group(1)


def ask_for_magic_link(page: Page, stack, email: str = DEMO_EMAIL) -> str:
    """On the login page: "Email me a sign-in link"; returns the link from the mail."""
    before = mail_count(stack, email)
    panel = page.get_by_role("region", name="Email me a sign-in link")
    panel.get_by_label("Email").fill(email)
    panel.get_by_role("button", name="Email me a sign-in link").click()
    page.wait_for_url(f"{stack.idp.url}/login/magic_link/sent?**")
    return link_in_mail(stack, email, count=before + 1)


def expire_link(stack, link: str) -> None:
    """Move the link's expiry into the past, in the customer side's database."""
    token = parse_qs(urlsplit(link).query)["token"][0]
    with stack.idp.app.app_context():
        db.session().execute(
            update(MagicLinkToken)
            .where(MagicLinkToken.token_hash == digest(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session().commit()
        assert db.session().scalar(
            select(MagicLinkToken.expires_at).where(MagicLinkToken.token_hash == digest(token))
        )


# -- keyboard only ------------------------------------------------------------------------------

_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const label = el.labels && el.labels.length ? el.labels[0].textContent
    : (el.getAttribute('aria-label') || el.textContent || el.value || '');
  const style = getComputedStyle(el);
  return {
    name: label.trim().replace(/\\s+/g, ' '),
    id: el.id,
    tag: el.tagName.toLowerCase(),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== 'none',
  };
}"""


def focused(page: Page) -> dict | None:
    return page.evaluate(_FOCUSED)


def tab_to(
    page: Page,
    name: str,
    *,
    element_id: str | None = None,
    backwards: bool = False,
    check_focus: bool = True,
    limit: int = 40,
) -> dict:
    """Press Tab (or Shift+Tab) until the element called `name` has the focus.

    With `check_focus`, every element the focus passes must show it (an outline or a ring):
    on the customer side's pages, where this project owns the styles.
    """
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if now is None:
            continue
        if check_focus:
            assert now["outline"] or now["shadow"], f"focus is not visible on {now}"
        if now["name"] == name and (element_id is None or now["id"] == element_id):
            return now
    raise AssertionError(f"{key} never reached {name!r} ({element_id}) on {page.url}")


# -- another origin, for framing ----------------------------------------------------------------


class FramingSite:
    """A tiny web site on another loopback origin whose pages frame the URLs they are given.

    GET /frame?src=<url> answers a page with an <iframe name="target" src=url>, and an
    <iframe name="control"> of its own /inner page, which proves frames render at all.
    """

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/inner":
                    body = "<!doctype html><title>inner</title><p>Framable control page</p>"
                else:
                    src = parse_qs(parts.query)["src"][0].replace('"', "%22")
                    body = (
                        "<!doctype html><title>framing</title>"
                        f'<iframe name="target" src="{src}" width="600" height="400"></iframe>'
                        '<iframe name="control" src="/inner"></iframe>'
                    )
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FramingSite:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# -- layout -------------------------------------------------------------------------------------


def assert_fits(page: Page, width: int = PHONE["width"]) -> None:
    """No horizontal scrolling, and every primary button fully inside the viewport's width."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} scrolls sideways: {scroll_width}px > {width}px"
    buttons = page.locator(".button.primary")
    for index in range(buttons.count()):
        button = buttons.nth(index)
        assert button.is_visible()
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
