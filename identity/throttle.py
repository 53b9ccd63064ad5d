"""Growing delays after failed sign-ins, per account and per client address (C10).

Counters live in the database so every worker sees the same numbers. Each key gets a few free
failures, then each further failure blocks the key for twice as long as the last, up to a cap;
a quiet period resets the count. A block never lasts longer than the cap, and browsers that
signed in to the account before carry a device token (OWASP "device cookies") that exempts
them from the account's block, so an attacker cannot lock the real user out indefinitely.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Response, current_app, make_response, request
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from identity import audit, db
from identity.models import ThrottleCounter, User, utcnow


@dataclass(frozen=True)
class Key:
    """A throttled key, the failures it may have before delays start, and the first delay.

    `base_delay` None means THROTTLE_BASE_DELAY; rate limits on costly actions (sending an
    email) start higher than sign-in delays.
    """

    name: str
    free_failures: int
    base_delay: int | None = None


def account_key(normalized_identifier: str) -> Key:
    # Keyed on what was typed, whether or not an account exists: the throttle must not
    # reveal which accounts exist (C8).
    return Key(f"account:{normalized_identifier}", _config("THROTTLE_ACCOUNT_FREE_FAILURES"))


def address_key(address: str | None) -> Key:
    return Key(f"address:{address or 'unknown'}", _config("THROTTLE_ADDRESS_FREE_FAILURES"))


def device_key(device_id: str) -> Key:
    return Key(f"device:{device_id}", _config("THROTTLE_ACCOUNT_FREE_FAILURES"))


def _config(name: str) -> int:
    return current_app.config[name]


def wait_message(seconds: int, what: str = "Too many attempts.") -> str:
    """ "Too many attempts. Try again in 2 minutes." for a wait of `seconds`: the real wait,
    in seconds under a minute, else in minutes rounded up (never a shorter wait than true)."""
    if seconds < 60:
        return f"{what} Try again in {seconds} second{'s' if seconds != 1 else ''}."
    minutes = -(-seconds // 60)
    return f"{what} Try again in {minutes} minute{'s' if minutes > 1 else ''}."


def retry_after(keys: list[Key], now: datetime | None = None) -> int:
    """Seconds until every key is unblocked; 0 when an attempt may go ahead."""
    now = now or utcnow()
    names = [key.name for key in keys]
    rows = db.session().scalars(select(ThrottleCounter).where(ThrottleCounter.key.in_(names)))
    waits = [(row.blocked_until - now).total_seconds() for row in rows if row.blocked_until]
    return max([0, *(math.ceil(wait) for wait in waits)])


def register_failure(keys: list[Key], now: datetime | None = None) -> None:
    now = now or utcnow()
    window = timedelta(seconds=_config("THROTTLE_WINDOW"))
    session = db.session()
    for key in keys:
        counter = _locked_counter(key.name, now)
        if now - counter.last_failure_at > window:
            counter.failures = 0
        counter.failures += 1
        counter.last_failure_at = now
        over = counter.failures - key.free_failures
        if over >= 0:  # the free ones are used up: the next attempt waits
            base = key.base_delay or _config("THROTTLE_BASE_DELAY")
            delay = min(base * 2**over, _config("THROTTLE_MAX_DELAY"))
            counter.blocked_until = now + timedelta(seconds=delay)
    session.flush()


def clear(keys: list[Key]) -> None:
    session = db.session()
    for counter in session.scalars(
        select(ThrottleCounter).where(ThrottleCounter.key.in_([key.name for key in keys]))
    ):
        session.delete(counter)
    session.flush()


def _locked_counter(name: str, now: datetime) -> ThrottleCounter:
    """The counter row for `name`, created if missing, locked for update where supported.

    Insert-if-absent then SELECT … FOR UPDATE: two workers failing at once both count, and
    neither hits a unique-key error.
    """
    session = db.session()
    dialect = session.get_bind().dialect.name
    values = {"key": name, "failures": 0, "last_failure_at": now}
    if dialect == "postgresql":
        session.execute(postgresql.insert(ThrottleCounter).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(ThrottleCounter).values(values).on_conflict_do_nothing())
    query = (
        select(ThrottleCounter)
        .where(ThrottleCounter.key == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one()


# -- device cookies: browsers that signed in to an account before ---------------------------

DEVICE_COOKIE = "idp_device"
DEVICE_COOKIE_MAX_AGE = 180 * 24 * 3600


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="throttle.device-cookie")


def _account_digest(normalized_identifier: str) -> str:
    return hashlib.sha256(normalized_identifier.encode()).hexdigest()[:32]


def keys_for_attempt(normalized_identifier: str) -> list[Key]:
    """The keys an attempt counts against: the address, plus the account — or, for a browser
    that proved this account before, its own device key instead of the account's."""
    keys = [address_key(request.remote_addr)]
    token = request.cookies.get(DEVICE_COOKIE)
    if token:
        try:
            account, device_id = _device_serializer().loads(token, max_age=DEVICE_COOKIE_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            account = device_id = None
        if account == _account_digest(normalized_identifier) and device_id:
            return [*keys, device_key(device_id)]
    return [*keys, account_key(normalized_identifier)]


def remember_device(response: Response, normalized_identifier: str) -> None:
    """After a successful sign-in: mark this browser as one that proved the account."""
    token = _device_serializer().dumps(
        [_account_digest(normalized_identifier), secrets.token_urlsafe(16)]
    )
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=DEVICE_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        path="/login/",
    )


# -- one sign-in attempt, as every method that checks a secret sees it ----------------------


@dataclass
class Attempt:
    """A sign-in attempt for one account: throttled before the check, audited, and on success
    forgiven and remembered. Methods that check a secret (a password, a code) share it, so
    switching methods buys an attacker no extra guesses against an account."""

    method: str
    identifier: str
    login_request_id: str
    keys: list[Key]

    @classmethod
    def start(cls, method: str, identifier: str, login_request_id: str) -> Attempt:
        return cls(method, identifier, login_request_id, keys_for_attempt(identifier))

    def wait(self) -> int:
        """Seconds before this attempt may be checked; 0 to go ahead. A block is audited."""
        seconds = retry_after(self.keys)
        if seconds:
            audit.record(
                audit.SIGN_IN_THROTTLED,
                login_request_id=self.login_request_id,
                method=self.method,
                identifier=self.identifier,
                retry_after=seconds,
            )
            db.session().commit()
        return seconds

    def failed(self, user: User | None, reason: str) -> None:
        """Count the failure against every key and audit why (for operators, never the secret)."""
        register_failure(self.keys)
        audit.record(
            audit.SIGN_IN_FAILED,
            user=user,
            login_request_id=self.login_request_id,
            method=self.method,
            identifier=self.identifier,
            reason=reason,
        )
        db.session().commit()

    def succeeded(self, result: ResponseReturnValue) -> Response:
        """Forgive the account's failures (not the address's: one success does not excuse a
        sweep across other accounts) and remember this browser for the account."""
        clear([key for key in self.keys if not key.name.startswith("address:")])
        # `result` (the sign-in and hand-off) has committed its own work already; without this
        # commit the forgiveness would be rolled back at the end of the request.
        db.session().commit()
        response = make_response(result)
        remember_device(response, self.identifier)
        return response
