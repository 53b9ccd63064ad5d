"""Bounds on what an anonymous client can make the customer side store (E4).

`GET /login` is the one page anyone can call without a form or a CSRF token, and each new
(browser, login_request_id) pair is a row. Two bounds keep that finite:

- per browser, at most `LOGIN_REQUEST_MAX_PER_BROWSER` pending login requests are kept; a new
  one drops the oldest (C2 still holds: several tabs, several MCP clients work at once);
- per client address (the proxy's client address when `TRUSTED_PROXY_HOPS` is set, see
  identity/proxy.py), at most `LOGIN_REQUEST_ADDRESS_LIMIT` new login requests per
  `LOGIN_REQUEST_ADDRESS_WINDOW` seconds, counted in the database so that every instance shares
  the count; beyond it the answer is 429 with Retry-After until the window ends.

A client that drops its cookies is a new browser each time: the per-address limit is what
bounds it. The limit is a fixed window rather than the throttle's growing delays, because
the traffic it counts is legitimate sign-ins too: a busy office behind one NAT address must
get its quota back every window, not be locked out for longer each time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import current_app, request
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from identity import db
from identity.models import PendingLoginRequest, ThrottleCounter, utcnow

#: Prefix of the rate-limit rows in `throttle_counters` (one row per address).
LOGIN_REQUEST_KEY = "login_request.address:"


def admit(key: str, limit: int, window: int, now: datetime | None = None) -> int:
    """Count one more event for `key`; 0 when it is within `limit` per `window` seconds,
    otherwise the seconds until the window ends (and the event is not counted).

    The row lives in `throttle_counters`: `failures` counts the window's events and
    `last_failure_at` is when the window started (so housekeeping purges it like any
    throttle row). Insert-if-absent then SELECT … FOR UPDATE: instances counting at once
    all count, and none hits a unique-key error.
    """
    now = now or utcnow()
    session = db.session()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(ThrottleCounter)
        .values(key=key, failures=0, last_failure_at=now)
        .on_conflict_do_nothing()
    )
    counter = session.scalars(
        select(ThrottleCounter)
        .where(ThrottleCounter.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    ends = counter.last_failure_at + timedelta(seconds=window)
    if now >= ends:  # a new window
        counter.failures, counter.last_failure_at = 0, now
        ends = now + timedelta(seconds=window)
    if counter.failures >= limit:
        return max(1, math.ceil((ends - now).total_seconds()))
    counter.failures += 1
    session.flush()
    return 0


def admit_login_request() -> int:
    """The per-address limit on new pending login requests; see `admit`."""
    config = current_app.config
    return admit(
        LOGIN_REQUEST_KEY + (request.remote_addr or "unknown"),
        config["LOGIN_REQUEST_ADDRESS_LIMIT"],
        config["LOGIN_REQUEST_ADDRESS_WINDOW"],
    )


def keep_newest_login_requests(browser_hash: str) -> int:
    """Drop this browser's login requests beyond the newest LOGIN_REQUEST_MAX_PER_BROWSER;
    how many were dropped. The caller commits."""
    keep = current_app.config["LOGIN_REQUEST_MAX_PER_BROWSER"]
    session = db.session()
    ids = list(
        session.scalars(
            select(PendingLoginRequest.id)
            .where(PendingLoginRequest.browser_hash == browser_hash)
            .order_by(PendingLoginRequest.created_at.desc(), PendingLoginRequest.id.desc())
            .offset(keep)
        )
    )
    delete_login_requests(ids)
    return len(ids)


def delete_login_requests(ids: list[int]) -> int:
    """Delete pending login requests, after every login method forgot its rows about them
    (a method's table may refer to them: LoginMethod.forget_login_requests); how many."""
    if not ids:
        return 0
    from login_methods.registry import method_classes  # the registry imports identity modules

    session = db.session()
    for cls in method_classes(current_app):
        cls.forget_login_requests(session, ids)
    result = session.execute(delete(PendingLoginRequest).where(PendingLoginRequest.id.in_(ids)))
    return result.rowcount
