"""Helpers for the browser tests of the mock broker's and the upstream stand-in's pages.

Walking the demo sign-in, checks a person would make by eye (is the focus visible, does the
page scroll sideways), screenshots for the docs, and a throwaway web server on another
loopback origin (a site that frames our pages, or a relying party to land on).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Page

from tests.browser import screenshots
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD

#: Enough Tab presses to cross any of these pages; more means focus is trapped or lost.
MAX_TABS = 40

# The focused element's visible focus indicator: an outline or a box-shadow ring.
_FOCUS_STYLE = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const style = getComputedStyle(element);
  return {
    tag: element.tagName.toLowerCase(),
    text: (element.innerText || element.value || element.getAttribute('aria-label') || '').trim(),
    name: element.getAttribute('name'),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== 'none',
  };
}"""


def screenshot(page: Page, name: str) -> None:
    """<name>.png (docs/screenshots/ with UPDATE_SCREENSHOTS=1: tests/browser/screenshots.py)."""
    screenshots.save(page, name)


def start_demo(page: Page, broker_url: str, idp_url: str) -> None:
    """The broker's home page → "Start a demo sign-in" → the customer side's login page."""
    page.goto(broker_url + "/")
    page.get_by_role("button", name="Start a demo sign-in").click()
    page.wait_for_url(f"{idp_url}/login?**")


def sign_in_at_customer(page: Page, broker_url: str) -> None:
    """The customer's password form, as the demo user; ends on the broker's consent page."""
    page.get_by_label("Email").first.fill(DEMO_EMAIL)
    page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{broker_url}/sso/v1/connections/**")


def focus_state(page: Page) -> dict | None:
    """What has the keyboard focus now, and whether it shows a focus indicator."""
    return page.evaluate(_FOCUS_STYLE)


def tab_to(page: Page, found: Callable[[dict], bool]) -> list[dict]:
    """Press Tab until `found(focus)`; asserts every stop on the way shows visible focus.

    Returns the stops, the last being the one found.
    """
    stops: list[dict] = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focus = focus_state(page)
        assert focus is not None, f"Tab lost the focus after {stops}"
        assert focus["outline"] or focus["shadow"], f"focus is invisible on {focus}"
        stops.append(focus)
        if found(focus):
            return stops
    raise AssertionError(f"not reached in {MAX_TABS} Tab presses: {stops}")


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scrolling)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@contextmanager
def other_origin(pages: dict[str, str] | None = None) -> Iterator[str]:
    """A throwaway HTTP server on its own loopback port: another origin than the apps.

    Serves `pages` (path → HTML); any other path gets a plain "arrived" page, so that it can
    stand in for a client's redirect URI. Yields its base URL.
    """
    pages = dict(pages or {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            body = pages.get(path, _ARRIVED).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


_ARRIVED = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Relying party</title></head><body><main><h1>Back at the client</h1></main></body></html>"""


def framing_page(url: str) -> str:
    """An attacker's page that frames `url` (clickjacking, B8)."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Win a prize</title></head><body><main><h1>Click the button to win</h1>
<iframe title="prize" src="{url}" width="800" height="600"></iframe></main></body></html>"""
