"""Small helpers for tests that use Flask's test client."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from identity.cli import DEMO_EMAIL, DEMO_PASSWORD
from tests.databases import database_url

__all__ = ["DEMO_EMAIL", "DEMO_PASSWORD", "csrf_token", "customer_test_config"]

_CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def customer_test_config(tmp_path: Path, broker_url: str, **overrides: Any) -> dict[str, Any]:
    """The customer side in development mode (the mock broker's documented credentials)."""
    return {
        "TESTING": True,
        "APP_ENV": "development",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url(tmp_path, "identity"),
        "BROKER_ENV_URL": broker_url,
        # Every test browser comes from 127.0.0.1; the limit has tests of its own (E4).
        "LOGIN_REQUEST_ADDRESS_LIMIT": 100_000,
        **overrides,
    }
