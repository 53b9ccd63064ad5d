"""Headless Debian Chromium driven by Playwright (no browser download: /usr/bin/chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.chromium import ARGS, require_chromium


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Module scope: Playwright's sync API runs an event loop in this thread while it lives,
    # and other modules run their own (anyio) loops here afterwards.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_chromium(), args=ARGS)
        yield browser
        browser.close()


class ConsoleWatch:
    """Console messages of a page; CSP violations among them fail the test that looks."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", lambda message: self.messages.append(message.text))

    def csp_violations(self) -> list[str]:
        return [text for text in self.messages if "Content Security Policy" in text]


@pytest.fixture
def page(chromium: Browser) -> Iterator[tuple[Page, ConsoleWatch]]:
    context = chromium.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page, ConsoleWatch(page)
    context.close()
