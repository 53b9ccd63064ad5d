"""The broker's RS256 signing keys, their rotation, and the published JWKS (`/keys`).

Keys live in the database: resource servers cache JWKS by `kid`, so a key that changed on
every restart would break every token they had already accepted. For the same reason a
rotation has three states, derived from two timestamps on `SigningKey`:

- **pending** (`activated_at` unset): published in JWKS but signing nothing, so caches learn
  the new `kid` before any token carries it;
- **active** (`activated_at` set, `retired_at` unset): signs every new token; exactly one;
- **retired** (`retired_at` set): signs nothing, stays published while tokens it signed may
  still be presented, then `prune_retired_keys` deletes it (and its private half).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mock_broker.database import utcnow
from mock_broker.identifiers import new_id
from mock_broker.models import IssuedToken, SigningKey

ALGORITHM = "RS256"

#: A request that read the old key just before an activation committed may record its token
#: a moment after `retired_at`; pruning waits for tokens issued this long after, too.
IN_FLIGHT_MARGIN = timedelta(seconds=60)


class KeyRotationError(Exception):
    """A rotation step that cannot be taken now; the message says why."""


def _generate(db: Session, now: datetime, active: bool) -> SigningKey:
    kid = new_id("key")
    key = RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM}, private=True
    )
    row = SigningKey(
        kid=kid,
        private_jwk=key.as_dict(private=True),
        created_at=now,
        activated_at=now if active else None,
    )
    db.add(row)
    db.flush()
    return row


def _active(db: Session) -> SigningKey | None:
    return db.scalars(
        select(SigningKey)
        .where(SigningKey.activated_at.is_not(None), SigningKey.retired_at.is_(None))
        .order_by(SigningKey.activated_at.desc())
        .limit(1)
    ).first()


def _pending(db: Session) -> SigningKey | None:
    return db.scalars(
        select(SigningKey).where(SigningKey.activated_at.is_(None)).order_by(SigningKey.created_at)
    ).first()


def ensure_signing_key(db: Session) -> None:
    """Generate an active key unless one exists (idempotent; run at every start)."""
    if _active(db) is None:
        _generate(db, utcnow(), active=True)


#: Imported keys by kid. Importing a private RSA JWK validates it (~40 ms); a kid names one
#: key for good (it is never reused or changed), so each process imports each key once.
_imported: dict[str, RSAKey] = {}
_imported_lock = threading.Lock()


def _import(row: SigningKey) -> RSAKey:
    key = _imported.get(row.kid)
    if key is None:
        key = RSAKey.import_key(row.private_jwk)
        with _imported_lock:
            _imported[row.kid] = key
    return key


def signing_key(db: Session) -> RSAKey:
    """The active key: the one new tokens are signed with."""
    row = _active(db)
    if row is None:
        raise KeyRotationError("No active signing key: run `flask init-db`.")
    return _import(row)


def publish_next_key(db: Session) -> tuple[SigningKey, bool]:
    """Rotation step 1: a pending key, published in JWKS but not yet signing.

    Idempotent: an existing pending key is returned rather than a second one made, so a
    retried or scheduled step cannot pile up keys. Returns (key, created).
    """
    pending = _pending(db)
    if pending is not None:
        return pending, False
    return _generate(db, utcnow(), active=False), True


def activate_next_key(
    db: Session, min_published: timedelta = timedelta(0), now: datetime | None = None
) -> tuple[SigningKey, SigningKey | None]:
    """Rotation step 2: the pending key starts signing and the active one is retired.

    Refused until the pending key has been published for `min_published` (give resource
    servers' JWKS caches that long to learn it). Returns (new active key, retired key).
    """
    now = now or utcnow()
    pending = _pending(db)
    if pending is None:
        raise KeyRotationError("No pending key: run `rotate-signing-key` first.")
    ready_at = pending.created_at + min_published
    if now < ready_at:
        raise KeyRotationError(
            f"Key {pending.kid} has been published since {pending.created_at:%H:%M:%S}Z; "
            f"it may sign from {ready_at:%H:%M:%S}Z."
        )
    old = _active(db)
    if old is not None:
        old.retired_at = now
    pending.activated_at = now
    db.flush()
    return pending, old


def prune_retired_keys(db: Session, max_token_ttl: int, now: datetime | None = None) -> list[str]:
    """Delete retired keys no unexpired token can need; returns their kids.

    A key goes once it was retired at least `max_token_ttl` seconds ago (the longest lifetime
    of a token it signed) and no token recorded while it signed (until `IN_FLIGHT_MARGIN`
    after retirement) is still unexpired — which also covers TTLs changed since.
    """
    now = now or utcnow()
    pruned = []
    retired = db.scalars(select(SigningKey).where(SigningKey.retired_at.is_not(None))).all()
    for row in retired:
        assert row.activated_at is not None and row.retired_at is not None
        if now < row.retired_at + timedelta(seconds=max_token_ttl):
            continue
        signed_from = row.activated_at.replace(microsecond=0)  # issued_at is whole seconds
        live = db.scalar(
            select(func.count())
            .select_from(IssuedToken)
            .where(
                IssuedToken.issued_at >= signed_from,
                IssuedToken.issued_at <= row.retired_at + IN_FLIGHT_MARGIN,
                IssuedToken.expires_at > now,
            )
        )
        if live:
            continue
        db.delete(row)
        pruned.append(row.kid)
    db.flush()
    return pruned


def key_states(db: Session) -> list[SigningKey]:
    """Every stored key, oldest first (for the CLI's report)."""
    return list(db.scalars(select(SigningKey).order_by(SigningKey.created_at)).all())


def key_set(db: Session) -> KeySet:
    """Every key still published (pending, active, retired), for verifying tokens."""
    rows = db.scalars(select(SigningKey)).all()
    return KeySet([_import(row) for row in rows])


def public_jwks(db: Session) -> dict[str, Any]:
    return key_set(db).as_dict(private=False)
