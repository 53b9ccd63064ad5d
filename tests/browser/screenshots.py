"""Where the browser tests put their screenshots.

`UPDATE_SCREENSHOTS=1 make test` rewrites docs/screenshots/ (the pictures the README shows);
otherwise they go to a throwaway directory, so a test run leaves the working tree as it was
(a screenshot differs by a few bytes on every run).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

from playwright.sync_api import Page

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@cache
def directory() -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    throwaway = Path(tempfile.mkdtemp(prefix="screenshots-"))
    atexit.register(shutil.rmtree, throwaway, True)
    return throwaway


def save(page: Page, name: str) -> Path:
    """<directory>/<name>.png: the whole page at the viewport's width."""
    path = directory() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
