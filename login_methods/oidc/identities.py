"""Linked identities and the linking policy (C19).

An upstream account is known by (`iss`, `sub`) — never by its email, which providers let
people change and some do not verify (the "nOAuth" mistake). On a first sign-in:

- an existing local account with the same email is linked automatically only when the
  provider is trusted for email, the upstream `email_verified` is true, and the local email is
  verified: otherwise an attacker who controls an upstream account with someone's address
  (or who pre-registered a local account with it) could take the account over;
- otherwise the user first proves the local account with another method (password, magic
  link), in this browser, and the identity is linked at that sign-in;
- with no local account, a user is created from the claims when the provider allows
  just-in-time sign-up, and refused otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import db, users
from identity.db import Base
from identity.models import PendingLoginRequest, User, UTCDateTime, utcnow
from login_methods.oidc.providers import Provider

PENDING_LINK_TTL = timedelta(minutes=10)


class LinkedIdentity(Base):
    __tablename__ = "linked_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))  # as last seen; informational only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


@dataclass(frozen=True)
class Decision:
    """What to do with a verified upstream identity."""

    kind: str  # "sign_in" | "link_and_sign_in" | "create" | "prove_first" | "refuse"
    user: User | None = None
    reason: str | None = None


def find(issuer: str, subject: str) -> LinkedIdentity | None:
    return db.session().scalar(
        select(LinkedIdentity).where(
            LinkedIdentity.issuer == issuer, LinkedIdentity.subject == subject
        )
    )


def decide(provider: Provider, claims: dict[str, Any]) -> Decision:
    linked = find(claims["iss"], claims["sub"])
    if linked is not None:
        if not linked.user.is_active:
            return Decision("refuse", linked.user, reason="disabled")
        return Decision("sign_in", linked.user)
    email = claims.get("email")
    local = users.find_by_email(email) if isinstance(email, str) and email else None
    if local is not None:
        if not local.is_active:
            return Decision("refuse", local, reason="disabled")
        if provider.trust_email and claims.get("email_verified") is True and local.email_verified:
            return Decision("link_and_sign_in", local)
        return Decision("prove_first", local)
    if not provider.jit:
        return Decision("refuse", reason="no_account")
    if not isinstance(email, str) or not email:
        return Decision("refuse", reason="no_email")
    return Decision("create")


def link(user: User, provider: Provider, claims: dict[str, Any]) -> LinkedIdentity:
    identity = LinkedIdentity(
        user_id=user.id,
        provider=provider.name,
        issuer=claims["iss"],
        subject=claims["sub"],
        email=claims.get("email"),
    )
    db.session().add(identity)
    return identity


def create_user(provider: Provider, claims: dict[str, Any]) -> User:
    """Just-in-time sign-up: a local user from the claims (its email is verified only if the
    provider is trusted for email and says so)."""
    user = users.create_user(
        claims["email"],
        email_verified=provider.trust_email and claims.get("email_verified") is True,
    )
    apply_claims(user, provider, claims)
    return user


def apply_claims(user: User, provider: Provider, claims: dict[str, Any]) -> None:
    """Copy the mapped profile claims the provider sent (the provider is their source)."""
    for field, claim in provider.claims.items():
        value = claims.get(claim)
        if field == "groups":
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                user.groups = value
        elif isinstance(value, str) and value:
            setattr(user, field, value[:200])


# -- proving the local account first ------------------------------------------------------


class PendingLink(Base):
    """An upstream identity waiting to be linked once the user proves the local account.

    Kept per pending login request (which belongs to one browser and follows it across the
    session rotation at sign-in), so the proof must happen in that browser, for that
    request, by that local user, within minutes.
    """

    __tablename__ = "oidc_pending_links"

    pending_login_request_id: Mapped[int] = mapped_column(
        ForeignKey("pending_login_requests.id"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def remember_pending_link(
    pending: PendingLoginRequest, user: User, provider: Provider, claims: dict[str, Any]
) -> None:
    session = db.session()
    existing = session.get(PendingLink, pending.id)
    if existing is not None:
        session.delete(existing)
        session.flush()
    session.add(
        PendingLink(
            pending_login_request_id=pending.id,
            user_id=user.id,
            provider=provider.name,
            issuer=claims["iss"],
            subject=claims["sub"],
            email=claims.get("email"),
            expires_at=utcnow() + PENDING_LINK_TTL,
        )
    )


def pending_link(pending: PendingLoginRequest) -> PendingLink | None:
    link_row = db.session().get(PendingLink, pending.id)
    if link_row is None or link_row.expires_at <= utcnow():
        return None
    return link_row


def complete_pending_link(pending: PendingLoginRequest, user: User) -> LinkedIdentity | None:
    """After `user` signed in for `pending` with another method: link what was waiting."""
    link_row = pending_link(pending)
    if link_row is None or link_row.user_id != user.id or find(link_row.issuer, link_row.subject):
        return None
    db.session().delete(link_row)
    identity = LinkedIdentity(
        user_id=user.id,
        provider=link_row.provider,
        issuer=link_row.issuer,
        subject=link_row.subject,
        email=link_row.email,
    )
    db.session().add(identity)
    return identity
