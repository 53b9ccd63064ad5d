"""The customer side's tables.

Everything that must survive a restart or be shared by several workers lives here: users,
pending login requests, signed-in sessions, throttle counters and the audit trail.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime; use identity.models.utcnow()")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(UserMixin, Base):
    """A person who can sign in here. Its `subject` is the stable `sub` sent to the broker."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random, never reused or derived from the email: the broker keys its user on it.
    subject: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: str(uuid.uuid4()))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(400))
    preferred_username: Mapped[str | None] = mapped_column(String(200))
    picture: Mapped[str | None] = mapped_column(String(2000))
    locale: Mapped[str | None] = mapped_column(String(35))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    phone_number_verified: Mapped[bool | None] = mapped_column()
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    organization_external_id: Mapped[str | None] = mapped_column(String(200))
    organization_external_name: Mapped[str | None] = mapped_column(String(200))
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    password_hash: Mapped[str | None] = mapped_column(Text)
    # Rotated on password change and on disable: every existing session stops working.
    session_epoch: Mapped[str] = mapped_column(
        String(64), default=lambda: secrets.token_urlsafe(16)
    )
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def get_id(self) -> str:
        # Flask-Login keeps this in the session: a new epoch (password change, disable)
        # makes every older session's id stale, so those sessions sign out.
        return f"{self.id}:{self.session_epoch}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.disabled_at is None

    @property
    def display_name(self) -> str:
        return self.name or self.preferred_username or self.email


class PendingLoginRequest(Base):
    """A broker login request (contract §1) waiting for a sign-in in one browser (C2).

    Keyed by (browser, login_request_id): several can be pending in one browser (two tabs, two
    MCP clients), and a request seen in another browser is a different, unrelated row.
    """

    __tablename__ = "pending_login_requests"
    __table_args__ = (UniqueConstraint("browser_hash", "login_request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64), index=True)
    login_request_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What the broker said when it refused the profile for good: `unknown` (404), `completed`
    # (409) or `expired` (410). Reopening the request then says so instead of posting again.
    broker_verdict: Mapped[str | None] = mapped_column(String(16))


class SignIn(Base):
    """One signed-in browser session; revoking the row logs that browser out (C6)."""

    __tablename__ = "sign_ins"

    # sha256 of the random id kept in the session cookie, so a database leak yields no session.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    method: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class ThrottleCounter(Base):
    """Failed attempts for one key (an account or a client address), for growing delays (C10)."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Who did what, when, from where — never a secret, token or password (E1)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_occurred_at", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    login_request_id: Mapped[str | None] = mapped_column(String(128))
    client_address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
