"""`flask housekeeping`: purge what has expired on the customer side (E4).

Every row purged here was already useless to a sign-in before the purge; it is kept a
`HOUSEKEEPING_GRACE` longer (default a day) so that the audit trail, support and debugging
can still look at it. So the command is safe while sign-ins run, and on several instances at
once: each step is one conditional DELETE (per batch), and a row that another instance deleted
first is simply not counted twice.

- pending login requests: `expires_at` before the cutoff (completed or not; `load` refuses
  them once expired), after the login methods forgot their rows about them;
- sign-ins: revoked before the cutoff, or started more than SESSION_LIFETIME before it (the
  session cookie is refused after SESSION_LIFETIME; the sign-in row is its server side);
- throttle and rate-limit counters: unblocked, and quiet for longer than their window, which
  is exactly when a counter means the same as no counter;
- the login methods' own tables (`LoginMethod.purge_expired`: magic-link tokens, OIDC
  identities waiting for proof);
- audit events older than AUDIT_RETENTION_DAYS (0 keeps them for ever).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, or_, select

from identity import bounds, db
from identity.models import AuditEvent, PendingLoginRequest, SignIn, ThrottleCounter, utcnow

#: Pending login requests deleted per transaction: short locks, bounded memory.
BATCH = 500


def purge(app: Flask, grace: int, now: datetime | None = None) -> dict[str, int]:
    """Delete what expired more than `grace` seconds before `now`; {table: rows deleted}."""
    from login_methods.registry import method_classes  # the registry imports identity modules

    now = now or utcnow()
    cutoff = now - timedelta(seconds=grace)
    config = app.config
    session = db.session()
    counts: dict[str, int] = {}

    for cls in method_classes(app):
        for table, deleted in cls.purge_expired(session, cutoff).items():
            counts[table] = counts.get(table, 0) + deleted
        session.commit()

    counts[PendingLoginRequest.__tablename__] = 0
    while ids := list(
        session.scalars(
            select(PendingLoginRequest.id)
            .where(PendingLoginRequest.expires_at < cutoff)
            .order_by(PendingLoginRequest.id)
            .limit(BATCH)
        )
    ):
        deleted = bounds.delete_login_requests(ids)
        session.commit()
        counts[PendingLoginRequest.__tablename__] += deleted

    started_before = cutoff - timedelta(seconds=config["SESSION_LIFETIME"])
    counts[SignIn.__tablename__] = _delete(
        delete(SignIn).where(or_(SignIn.revoked_at < cutoff, SignIn.created_at < started_before))
    )

    window = max(config["THROTTLE_WINDOW"], config["LOGIN_REQUEST_ADDRESS_WINDOW"])
    counts[ThrottleCounter.__tablename__] = _delete(
        delete(ThrottleCounter).where(
            ThrottleCounter.last_failure_at < cutoff - timedelta(seconds=window),
            or_(ThrottleCounter.blocked_until.is_(None), ThrottleCounter.blocked_until < cutoff),
        )
    )

    if days := config["AUDIT_RETENTION_DAYS"]:
        counts[AuditEvent.__tablename__] = _delete(
            delete(AuditEvent).where(AuditEvent.occurred_at < now - timedelta(days=days))
        )
    return counts


def _delete(statement) -> int:
    session = db.session()
    deleted = session.execute(statement).rowcount
    session.commit()
    return deleted
