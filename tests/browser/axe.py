"""axe-core accessibility checks inside the real browser.

axe-core (npm, pinned in tests/browser/axe/) is injected into the page under test and run
there; a page passes when axe reports no violation of impact "serious" or "critical".
`make test` installs it (`npm ci --prefix tests/browser/axe`).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def violations(page: Page) -> list[dict]:
    """axe's serious and critical violations on the page as it is now."""
    if not AXE_JS.exists():
        raise RuntimeError("axe-core is missing: npm ci --prefix tests/browser/axe")
    # Evaluated through the DevTools protocol, not as a <script>: the pages' CSP forbids
    # inline scripts, and must stay on while they are tested.
    page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {
            "id": item["id"],
            "impact": item["impact"],
            "help": item["help"],
            "nodes": [node["target"] for node in item["nodes"]][:5],
        }
        for item in result["violations"]
        if item["impact"] in BLOCKING
    ]


def assert_accessible(page: Page) -> None:
    found = violations(page)
    assert found == [], f"axe found serious/critical violations on {page.url}: {found}"
