"""Fixed-window rate limits counted in the database, so that every instance shares the count.

Used for dynamic client registration (E4): registration is open, as MCP clients expect, and
some clients register again at every restart, so without a bound one address can fill the
client table. The window is fixed rather than sliding or growing: a team behind one NAT
address gets its quota back every window. The same shape as the customer side's
`identity/bounds.py`, in the broker's own table (`rate_limit_counters`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import current_app, request
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mock_broker.database import utcnow
from mock_broker.models import RateLimitCounter

#: Prefix of the registration rows (one per client address).
REGISTRATION_KEY = "registration.address:"


def admit(db: Session, key: str, limit: int, window: int, now: datetime | None = None) -> int:
    """Count one more event for `key`: 0 when it is within `limit` per `window` seconds,
    otherwise the seconds until the window ends (and the event is not counted).

    Insert-if-absent, then SELECT … FOR UPDATE: instances counting at once all count, and none
    hits a unique-key error. The caller commits, with what the event stored: a failure after
    this call rolls the count back with it.
    """
    now = now or utcnow()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.execute(
        insert(RateLimitCounter)
        .values(key=key, count=0, window_started_at=now)
        .on_conflict_do_nothing()
    )
    counter = db.scalars(
        select(RateLimitCounter)
        .where(RateLimitCounter.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    ends = counter.window_started_at + timedelta(seconds=window)
    if now >= ends:  # a new window
        counter.count, counter.window_started_at = 0, now
        ends = now + timedelta(seconds=window)
    if counter.count >= limit:
        return max(1, math.ceil((ends - now).total_seconds()))
    counter.count += 1
    db.flush()
    return 0


def admit_registration(db: Session) -> int:
    """The per-address limit on dynamic registrations (REGISTRATION_ADDRESS_LIMIT per
    REGISTRATION_ADDRESS_WINDOW); behind a proxy the address ProxyFix took from the trusted
    hops (TRUSTED_PROXY_HOPS), so a forged X-Forwarded-For buys nothing."""
    config = current_app.config
    return admit(
        db,
        REGISTRATION_KEY + (request.remote_addr or "unknown"),
        config["REGISTRATION_ADDRESS_LIMIT"],
        config["REGISTRATION_ADDRESS_WINDOW"],
    )


def purge_ended(db: Session, cutoff: datetime, longest_window: int) -> int:
    """Delete counters whose window ended before `cutoff`; how many (housekeeping)."""
    started_before = cutoff - timedelta(seconds=longest_window)
    return db.execute(
        delete(RateLimitCounter).where(RateLimitCounter.window_started_at < started_before)
    ).rowcount
