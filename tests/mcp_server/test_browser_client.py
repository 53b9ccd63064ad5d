"""A real browser on another origin calls the MCP server with fetch() (R1).

Headless Chromium enforces CORS exactly as a browser-based MCP client meets it: the
`Authorization` and JSON `Content-Type` headers force a preflight, and a response header the
server does not expose reads as null in the page. The page is served from another port, so
its origin differs from the server's.
"""

from __future__ import annotations

import anyio
import pytest
from playwright.async_api import async_playwright

from tests.chromium import ARGS, require_chromium
from tests.servers import serving

pytestmark = pytest.mark.integration

FETCHES = """async ({url, token}) => {
    const initialize = JSON.stringify({
        jsonrpc: "2.0", id: 1, method: "initialize",
        params: {protocolVersion: "2025-11-25", capabilities: {},
                 clientInfo: {name: "page", version: "1"}},
    });
    const headers = {"Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream"};
    const anonymous = await fetch(url, {method: "POST", headers, body: initialize});
    const signedIn = await fetch(url, {
        method: "POST", body: initialize,
        headers: {...headers, "Authorization": "Bearer " + token},
    });
    return {
        anonymousStatus: anonymous.status,
        challenge: anonymous.headers.get("WWW-Authenticate"),
        signedInStatus: signedIn.status,
        sessionId: signedIn.headers.get("Mcp-Session-Id"),
    };
}"""


def blank_page(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<!doctype html><title>Another origin</title>"]


def test_a_page_on_another_origin_reads_the_challenge_and_the_session_id(stack):
    token = stack.token()

    async def run(page_url: str):
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=require_chromium(), args=ARGS
            )
            try:
                page = await browser.new_page()
                await page.goto(page_url)
                return await page.evaluate(FETCHES, {"url": stack.url, "token": token})
            finally:
                await browser.close()

    with serving(blank_page) as other_origin:
        result = anyio.run(run, f"{other_origin.url}/healthz")

    assert result["anonymousStatus"] == 401
    assert f'resource_metadata="{stack.settings.resource_metadata_url}"' in result["challenge"]
    assert result["signedInStatus"] == 200
    assert result["sessionId"]
