"""A sign-in finishes only in the browser that started it (B12).

The attack this stops: an attacker calls /oauth/authorize with its own client and PKCE
verifier, reads the customer login URL (`/login?login_request_id=…&state=…`) from the
redirect, and sends that link to a victim. The victim signs in; the customer side posts the
victim's profile. If `state` alone finished the sign-in, the attacker — who has `state` — could
take the callback from its own browser, approve consent itself and redeem the code: the
victim's identity in the attacker's tokens.

Two values, held by two different parties, are needed at the callback:

- **The browser.** /oauth/authorize puts a random id in the browser's broker session (a Lax,
  HttpOnly cookie) and stores its hash on the login request. The victim's browser never called
  /oauth/authorize for the attacker's request, so it does not have it.
- **A one-time completion value.** The profile post's answer names the callback URL to send
  the browser to, carrying a fresh 256-bit value (stored hashed, replaced by each post, spent
  once). It travels from the broker to the customer backend and then only through the browser
  the customer side just signed in, so the attacker, who has the binding, does not have it.

The attacker lacks the value; the victim lacks the binding. A callback that has the value in
the wrong browser is refused with a page that says why, and the login request is closed.

`MOCK_BROKER_CALLBACK_MODE=state-only` turns this off: the broker then behaves exactly as the
hosted broker's documented contract (the state alone finishes), for proving that the customer
side works with both.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import quote, urlencode

from flask import current_app, session

from mock_broker.identifiers import new_secret, secret_hash

_BROWSER_KEY = "browser"
#: The callback's query parameter that carries the one-time completion value.
COMPLETION_PARAMETER = "completion"


def enabled() -> bool:
    return current_app.config["CALLBACK_MODE"] == "bound"


def browser_hash(create: bool = False) -> str | None:
    """sha256 of this browser's random id in its broker session; made on first use if asked."""
    browser = session.get(_BROWSER_KEY)
    if not isinstance(browser, str):
        if not create:
            return None
        browser = session[_BROWSER_KEY] = secrets.token_urlsafe(32)
    return hashlib.sha256(browser.encode()).hexdigest()


def new_completion(connection_id: str) -> tuple[str, str]:
    """A fresh completion value: (the callback URL that carries it, the hash to store)."""
    value = new_secret()
    base = current_app.config["ENV_URL"]
    path = f"/sso/v1/connections/{quote(connection_id, safe='')}/partner:callback"
    return f"{base}{path}?{urlencode({COMPLETION_PARAMETER: value})}", secret_hash(value)
