"""Headless Debian Chromium for Playwright: the binary and the flags that keep it offline.

No browser is downloaded: Playwright drives the distribution's /usr/bin/chromium. Without the
background-networking flags Chromium keeps trying to reach Google's hosts from this closed
network.
"""

from __future__ import annotations

import shutil

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return CHROMIUM
