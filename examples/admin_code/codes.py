"""Admin codes: issue one, store only its keyed digest, spend it once.

An operator reads the code to a person, so it must be short enough to type: 10 characters
from an alphabet without look-alikes (no 0/O, 1/I/L), about 49 bits. Online that is plenty:
with the default throttle an attacker gets about fifteen guesses per account in a code's ten
minutes, odds below one in 10^13. Offline it is not: unkeyed sha256 digests leaked from the
database could be searched exhaustively by rented GPUs within a code's lifetime. So the digest
is an HMAC keyed with the app's SECRET_KEY; the database alone reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ForeignKey, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from identity import db
from identity.db import Base
from identity.models import User, UTCDateTime, utcnow

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10


class AdminCode(Base):
    """The live code of one user: its digest, its deadline, and when it was spent."""

    __tablename__ = "admin_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: issuing a code replaces the user's earlier one, so at most one can be guessed.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def issue(user: User, ttl: timedelta) -> tuple[str, datetime]:
    """A new code for `user` (replacing any earlier one) and its deadline; the caller commits."""
    session = db.session()
    session.execute(delete(AdminCode).where(AdminCode.user_id == user.id))
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    now = utcnow()
    record = AdminCode(
        user_id=user.id, code_digest=digest(code), created_at=now, expires_at=now + ttl
    )
    session.add(record)
    session.flush()
    return f"{code[:5]}-{code[5:]}", record.expires_at


def redeem(email: str, code: str) -> User | None:
    """Spend `code` if it is the unexpired, unused code of the enabled account `email`.

    One conditional UPDATE both decides and spends, so of two concurrent submissions of a code
    only one can win; it runs the same way whether or not the account exists. The caller
    commits.
    """
    now = utcnow()
    account_id = select(User.id).where(User.email == email, User.disabled_at.is_(None))
    user_id = db.session().scalar(
        update(AdminCode)
        .where(
            AdminCode.user_id == account_id.scalar_subquery(),
            AdminCode.code_digest == digest(code),
            AdminCode.used_at.is_(None),
            AdminCode.expires_at > now,
        )
        .values(used_at=now)
        .returning(AdminCode.user_id)
    )
    return db.session().get(User, user_id) if user_id is not None else None


def digest(code: str) -> str:
    """HMAC-SHA256 of the code as issued: case, spaces and hyphens as typed do not matter."""
    canonical = "".join(code.split()).replace("-", "").upper()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"admin_code:{canonical}".encode(), hashlib.sha256).hexdigest()
