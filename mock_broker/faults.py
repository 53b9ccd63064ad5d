"""Fault injection: make the broker misbehave on purpose, so QA can test how clients cope.

Two kinds of switch, each armed "for the next N calls":

- **endpoint faults** (`inject`): the next N calls to an endpoint wait `delay` seconds (a slow
  or, with a shorter client timeout, a timed-out broker), then answer `status` with a JSON
  error body — or, without a status, answer normally after the delay. For the profile API the
  default error codes are the contract's (400 invalid_request, 401 invalid_token, 404
  not_found, 409 login_request_completed, 410 login_request_expired);
- **behaviour switches** (`inject_switch`): a wrong `iss` in the next authorization responses
  (a client must refuse it: RFC 9207 mix-up defence), a metadata document whose `issuer` does
  not match its URL (a client must refuse it: RFC 8414 §3.3), login requests that expire
  after `lifetime` seconds instead of ten minutes, and a profile post answered with a
  `redirect_uri` that is not the broker's callback (the customer side must refuse it: B12, C3).

A switch lives in the database, so a test, the CLI and the dev page can all set it and every
worker sees it; each call spends one count with a conditional update, so N means N even under
concurrency.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import wraps

from flask import Flask, Response, g, jsonify
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mock_broker import database
from mock_broker.errors import error_page
from mock_broker.models import Fault

USER_ENDPOINT = "user_endpoint"
TOKEN_ENDPOINT = "token_endpoint"  # noqa: S105 - a name, not a secret
AUTHORIZATION_ENDPOINT = "authorization_endpoint"
CALLBACK_ENDPOINT = "callback_endpoint"
REGISTRATION_ENDPOINT = "registration_endpoint"
REVOCATION_ENDPOINT = "revocation_endpoint"
INTROSPECTION_ENDPOINT = "introspection_endpoint"
METADATA_ENDPOINT = "metadata_endpoint"
JWKS_ENDPOINT = "jwks_endpoint"
#: Endpoints that can be made slow or failing; the first two are what the customer side calls.
TARGETS = (
    USER_ENDPOINT,
    TOKEN_ENDPOINT,
    AUTHORIZATION_ENDPOINT,
    CALLBACK_ENDPOINT,
    REGISTRATION_ENDPOINT,
    REVOCATION_ENDPOINT,
    INTROSPECTION_ENDPOINT,
    METADATA_ENDPOINT,
    JWKS_ENDPOINT,
)
_PAGES = (AUTHORIZATION_ENDPOINT, CALLBACK_ENDPOINT)  # answered with an HTML error page

WRONG_ISS = "wrong_iss"
METADATA_ISSUER_MISMATCH = "metadata_issuer_mismatch"
EARLY_EXPIRY = "early_expiry"
FOREIGN_CALLBACK = "foreign_callback"
SWITCHES = (WRONG_ISS, METADATA_ISSUER_MISMATCH, EARLY_EXPIRY, FOREIGN_CALLBACK)

#: Where a FOREIGN_CALLBACK answer points: not the broker (the customer side must refuse it).
FOREIGN_CALLBACK_URL = "https://callback.invalid/sso/v1/connections/conn/partner:callback"

#: Upper bound of an injected delay: enough to trip any sane client timeout, short enough
#: that a forgotten switch cannot tie up the server's threads for long.
MAX_DELAY = 30.0
#: Upper bounds of a fault's count and an early expiry's lifetime: far beyond any QA use, and
#: within every database's INTEGER (a larger value was an overflow, a 500: E2).
MAX_COUNT = 1_000_000
MAX_LIFETIME = 24 * 3600

_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_DEFAULT_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    429: "slow_down",
    503: "temporarily_unavailable",
}
#: The profile API's contract errors (docs/broker-contract.md §3).
_USER_ENDPOINT_ERRORS = {
    **_DEFAULT_ERRORS,
    401: "invalid_token",
    404: "not_found",
    409: "login_request_completed",
    410: "login_request_expired",
}


def inject(
    app: Flask,
    target: str,
    status: int | None = 500,
    count: int = 1,
    error: str | None = None,
    delay: float = 0.0,
) -> None:
    """Make the next `count` calls to `target` wait `delay` s, then answer `status` (if any)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    if status is not None and not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status, 400 to 599")
    if not 0 <= delay <= MAX_DELAY:
        raise ValueError(f"delay must be 0 to {MAX_DELAY:g} seconds")
    if status is None and delay == 0:
        raise ValueError("give a status, a delay, or both")
    if error is not None and not _ERROR_CODE.fullmatch(error):
        raise ValueError("error must be an OAuth-style code: lowercase letters and underscores")
    _arm(app, target, count, status=status or 0, error=error, delay_seconds=delay)


def inject_delay(app: Flask, target: str, seconds: float, count: int = 1) -> None:
    """Make the next `count` calls to `target` answer normally, but `seconds` late."""
    inject(app, target, status=None, count=count, delay=seconds)


def inject_switch(app: Flask, switch: str, count: int = 1, lifetime: int | None = None) -> None:
    """Arm a behaviour switch; EARLY_EXPIRY needs the login requests' `lifetime` in seconds."""
    if switch not in SWITCHES:
        raise ValueError(f"switch must be one of {', '.join(SWITCHES)}")
    if switch == EARLY_EXPIRY and (lifetime is None or not 1 <= lifetime <= MAX_LIFETIME):
        raise ValueError(f"early expiry needs a lifetime of 1 to {MAX_LIFETIME} seconds")
    if switch != EARLY_EXPIRY:
        lifetime = None  # only early expiry has one; anything else typed there is ignored
    _arm(app, switch, count, status=0, lifetime_seconds=lifetime)


def _arm(app: Flask, target: str, count: int, **values: object) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be 1 to {MAX_COUNT}")
    with app.app_context():
        db = database.session()
        fault = db.get(Fault, target) or Fault(target=target)
        fault.error, fault.delay_seconds, fault.lifetime_seconds = None, 0.0, None
        for name, value in values.items():
            setattr(fault, name, value)
        fault.remaining_count = count
        db.add(fault)
        db.commit()


def clear(app: Flask, target: str | None = None) -> None:
    """Remove one fault, or all of them."""
    with app.app_context():
        db = database.session()
        query = delete(Fault) if target is None else delete(Fault).where(Fault.target == target)
        db.execute(query)
        db.commit()


def active_faults(db: Session) -> list[Fault]:
    return list(db.scalars(select(Fault).where(Fault.remaining_count > 0).order_by(Fault.target)))


def _armed() -> frozenset[str]:
    """The targets armed now, read once per request (kept in `g`, never across requests).

    Most requests pass several fault points while nothing is armed: one SELECT answers them
    all, where a conditional UPDATE per point cost a write statement and a rollback each
    (bench/flow.py measured it at a sixth of the broker's CPU per sign-in).
    """
    if "armed_faults" not in g:
        g.armed_faults = frozenset(
            database.session().scalars(select(Fault.target).where(Fault.remaining_count > 0))
        )
    return g.armed_faults


def _spend(target: str) -> Fault | None:
    """Spend one count of the fault armed for `target`; the fault, or None if none is armed."""
    if target not in _armed():
        return None
    db = database.session()
    spent = db.execute(
        update(Fault)
        .where(Fault.target == target, Fault.remaining_count > 0)
        .values(remaining_count=Fault.remaining_count - 1)
    )
    if spent.rowcount == 0:
        db.rollback()
        return None
    db.commit()
    return db.get(Fault, target, populate_existing=True)


def take(target: str) -> Response | None:
    """If a fault is armed for `target`, spend one count: wait, and return its error (if any)."""
    fault = _spend(target)
    if fault is None:
        return None
    # Hand the connection back to the pool before any injected wait: a slow fault must not
    # hold a database connection (the fault's values are loaded; the view starts afresh).
    database.session().close()
    if fault.delay_seconds:
        time.sleep(min(fault.delay_seconds, MAX_DELAY))  # the fault *is* the slowness
    if not fault.status:
        return None
    defaults = _USER_ENDPOINT_ERRORS if target == USER_ENDPOINT else _DEFAULT_ERRORS
    error = fault.error or defaults.get(fault.status, "server_error")
    description = "Injected fault (mock broker QA switch)."
    if target in _PAGES:
        return error_page(error, description, fault.status)
    response = jsonify(error=error, error_description=description)
    response.status_code = fault.status
    if fault.status == 401 and target == USER_ENDPOINT:
        response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return response


def take_switch(switch: str) -> bool:
    """Spend one count of a behaviour switch; True if it was armed."""
    return _spend(switch) is not None


def take_lifetime(switch: str) -> int | None:
    """Spend one count of a lifetime switch; its lifetime in seconds, or None."""
    fault = _spend(switch)
    return fault.lifetime_seconds if fault is not None else None


def injectable(target: str) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Decorate a view so that faults armed for `target` apply to it (place it under CORS)."""

    def decorate(view: Callable[..., object]) -> Callable[..., object]:
        @wraps(view)
        def wrapper(*args: object, **kwargs: object) -> object:
            return take(target) or view(*args, **kwargs)

        return wrapper

    return decorate


#: The answers the customer side's broker client retries (identity/broker_client.py).
RETRIED_STATUSES = frozenset({500, 502, 503, 504})


def customer_side_sees(fault: Fault, retries: int) -> str | None:
    """What an armed fault on the profile post does to the customer side, whose broker client
    tries `retries` more times on a 5xx (MOCK_BROKER_CUSTOMER_RETRIES mirrors its
    BROKER_RETRIES) and fetches a new M2M token once on a 401 — so QA can tell how many
    failures a sign-in absorbs before the user sees the "couldn't finish" page."""
    if fault.target != USER_ENDPOINT or not fault.status:
        return None
    left, attempts = fault.remaining_count, retries + 1
    if fault.status in RETRIED_STATUSES:
        if left <= retries:
            return f"absorbed: the next sign-in's profile post succeeds on attempt {left + 1}"
        return (
            f"the next sign-in fails after {attempts} attempts and shows 'Try again'"
            f" ({left - attempts} left after it)"
        )
    if fault.status == 401:
        if left == 1:
            return "absorbed: the customer side fetches a new M2M token once and posts again"
        return "the next sign-in fails: one new M2M token does not get past it"
    return f"not retried: the next {left} sign-in(s) show the failure page"
