"""Magic-link tokens: random, stored only as hashes, short-lived, bound to a browser, spent once.

C13: the emailed token has 256 random bits; the table keeps its sha256 (a database leak gives
no usable link), the user, the pending login request, an expiry of at most 15 minutes and the
time it was used. C15: it also keeps the sha256 of a verifier held in an HttpOnly SameSite=Lax
cookie of the browser that asked, so the link completes only there. Spending is one
conditional UPDATE (`used_at IS NULL AND expires_at > now AND verifier matches`), so two
concurrent confirms cannot both succeed.

A link opened on another device can produce a short relay code to type into the original
window; the code is stored hashed on the same row and spends the same token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import db
from identity.db import Base
from identity.models import User, UTCDateTime, utcnow

MAX_TTL = 15 * 60
# Unambiguous characters (no 0/O, 1/I/L): 8 of them ≈ 40 bits, typed by hand.
RELAY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RELAY_LENGTH = 8


class MagicLinkToken(Base):
    __tablename__ = "magic_link_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32), default="sign_in")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    login_request_id: Mapped[str] = mapped_column(String(128))
    verifier_hash: Mapped[str] = mapped_column(String(64), index=True)
    relay_code_hash: Mapped[str | None] = mapped_column(String(64))
    requested_from: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class Problem(Enum):
    """Why a link cannot be spent here; each gets its own honest page."""

    UNKNOWN = "unknown"  # never issued, or tampered with
    EXPIRED = "expired"
    USED = "used"
    OTHER_BROWSER = "other_browser"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_verifier() -> str:
    return secrets.token_urlsafe(32)


def issue(user: User, login_request_id: str, verifier: str, ttl: int, address: str | None) -> str:
    """Store a new token for `user` and return it (the only time it exists in clear)."""
    token = secrets.token_urlsafe(32)
    db.session().add(
        MagicLinkToken(
            token_hash=digest(token),
            user_id=user.id,
            login_request_id=login_request_id,
            verifier_hash=digest(verifier),
            requested_from=address,
            expires_at=utcnow() + timedelta(seconds=min(ttl, MAX_TTL)),
        )
    )
    return token


def find(token: str) -> MagicLinkToken | None:
    """Read-only lookup (GET and HEAD must change nothing: C14)."""
    if not token or len(token) > 200:
        return None
    return db.session().scalar(
        select(MagicLinkToken).where(MagicLinkToken.token_hash == digest(token))
    )


def problem(row: MagicLinkToken | None, verifier: str | None) -> Problem | None:
    if row is None:
        return Problem.UNKNOWN
    if row.used_at is not None:
        return Problem.USED
    if row.expires_at <= utcnow():
        return Problem.EXPIRED
    if verifier is None or not secrets.compare_digest(row.verifier_hash, digest(verifier)):
        return Problem.OTHER_BROWSER
    return None


def spend(row: MagicLinkToken, verifier: str) -> bool:
    """Use the token, once: True for exactly one caller, whatever the concurrency."""
    result = db.session().execute(
        update(MagicLinkToken)
        .where(
            MagicLinkToken.id == row.id,
            MagicLinkToken.used_at.is_(None),
            MagicLinkToken.expires_at > utcnow(),
            MagicLinkToken.verifier_hash == digest(verifier),
        )
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


def issue_relay_code(row: MagicLinkToken) -> str:
    """A short code for the original window; a new one replaces any earlier one."""
    code = "".join(secrets.choice(RELAY_ALPHABET) for _ in range(RELAY_LENGTH))
    row.relay_code_hash = digest(code)
    return code


def normalize_relay_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def spend_by_relay_code(login_request_id: str, verifier: str, code: str) -> MagicLinkToken | None:
    """Spend the unused token of this browser and login request whose relay code is `code`."""
    code_hash = digest(normalize_relay_code(code))
    now = utcnow()
    session = db.session()
    row = session.scalar(
        select(MagicLinkToken).where(
            MagicLinkToken.verifier_hash == digest(verifier),
            MagicLinkToken.login_request_id == login_request_id,
            MagicLinkToken.relay_code_hash == code_hash,
            MagicLinkToken.used_at.is_(None),
            MagicLinkToken.expires_at > now,
        )
    )
    if row is None:
        return None
    result = session.execute(
        update(MagicLinkToken)
        .where(MagicLinkToken.id == row.id, MagicLinkToken.used_at.is_(None))
        .values(used_at=now)
    )
    return row if result.rowcount == 1 else None
