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
  just-in-time sign-up; otherwise the answer is the same "sign in to connect" page a known
  address gets, so a provider that can assert any address learns nothing about who has an
  account here (C8).

An account created just in time from an address the provider did not prove (not trusted for
email, or `email_verified` not true) keeps that identity marked `email_unproven`: when someone
later proves the address another way (a magic link), that identity is detached, the sessions
it started end, and the owner is told, so pre-registering someone's address upstream does not
keep a way into their account (C22).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity import db, profile_fields, users
from identity.db import Base
from identity.models import PendingLoginRequest, User, UTCDateTime, utcnow
from identity.profile_fields import ProfileFieldError
from identity.users import UserError
from login_methods.oidc.providers import Provider

log = logging.getLogger(__name__)

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
    #: True only when this identity created its account from an address it did not prove
    #: (C22): proving the address another way detaches it.
    email_unproven: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


@dataclass(frozen=True)
class Decision:
    """What to do with a verified upstream identity."""

    kind: str  # "sign_in" | "link_and_sign_in" | "create" | "prove_first" | "refuse"
    user: User | None = None
    reason: str | None = None
    email: str | None = None  # the upstream address, normalised, for "create"


class _Unusable:
    """The provider sent an email that is not an address we can use."""


UNUSABLE = _Unusable()


def upstream_email(claims: dict[str, Any]) -> str | _Unusable | None:
    """The upstream email normalised like local ones; None if absent, UNUSABLE if invalid
    (`not-an-email`, a reserved domain like `corp.local`): never an error page's 500."""
    email = claims.get("email")
    if email is None or email == "":
        return None
    if not isinstance(email, str):
        return UNUSABLE
    try:
        return users.normalize_email(email)
    except UserError:
        return UNUSABLE


def find(issuer: str, subject: str) -> LinkedIdentity | None:
    return db.session().scalar(
        select(LinkedIdentity).where(
            LinkedIdentity.issuer == issuer, LinkedIdentity.subject == subject
        )
    )


def email_proven_upstream(provider: Provider, claims: dict[str, Any]) -> bool:
    """Whether this provider's word on the address counts as proof (C19)."""
    return provider.trust_email and claims.get("email_verified") is True


def decide(provider: Provider, claims: dict[str, Any]) -> Decision:
    linked = find(claims["iss"], claims["sub"])
    if linked is not None:
        if not linked.user.is_active:
            return Decision("refuse", linked.user, reason="disabled")
        return Decision("sign_in", linked.user)
    email = upstream_email(claims)
    local = users.find_by_email(email) if isinstance(email, str) else None
    if local is not None:
        if local.is_active and email_proven_upstream(provider, claims) and local.email_verified:
            return Decision("link_and_sign_in", local)
        # A disabled account gets the same answer: saying so would tell who has one (C8).
        return Decision("prove_first", local)
    if not provider.jit:
        # No account with this address: the same answer as for a known one (C8).
        return Decision("prove_first")
    if email is None:
        return Decision("refuse", reason="no_email")
    if email is UNUSABLE:
        return Decision("refuse", reason="bad_email")
    return Decision("create", email=email)


def link(
    user: User, provider: Provider, claims: dict[str, Any], email_unproven: bool = False
) -> LinkedIdentity:
    email = upstream_email(claims)
    identity = LinkedIdentity(
        user_id=user.id,
        provider=provider.name,
        issuer=claims["iss"],
        subject=claims["sub"],
        email=email if isinstance(email, str) else None,
        email_unproven=email_unproven,
    )
    db.session().add(identity)
    return identity


def create_user(
    provider: Provider, claims: dict[str, Any], email: str
) -> tuple[User, LinkedIdentity]:
    """Just-in-time sign-up: a local user from the claims, linked to this identity. Its email
    is verified only if the provider's word counts as proof; if not, the link is marked
    `email_unproven` (C22)."""
    proven = email_proven_upstream(provider, claims)
    user = users.create_user(email, email_verified=proven)
    apply_claims(user, provider, claims)
    return user, link(user, provider, claims, email_unproven=not proven)


def apply_claims(user: User, provider: Provider, claims: dict[str, Any]) -> None:
    """Write the fields this provider owns (C24) from the claims it sent; nothing else.

    A claim that is absent leaves its field alone (the scope may not include it); a value the
    field's rules refuse (identity/profile_fields.py) is ignored and logged, not stored.
    """
    for field in provider.sync_fields:
        claim = provider.claims[field]
        if claim not in claims:
            continue
        try:
            value = profile_fields.clean(field, claims[claim])
        except ProfileFieldError as error:
            log.warning("claim %r from %s ignored: %s", claim, provider.name, error)
            continue
        setattr(user, field, value)


def detach_unproven(user: User) -> list[LinkedIdentity]:
    """Remove the identities that created `user` from an address they did not prove (C22);
    called when the address has just been proven another way."""
    session = db.session()
    detached = list(
        session.scalars(
            select(LinkedIdentity).where(
                LinkedIdentity.user_id == user.id, LinkedIdentity.email_unproven.is_(True)
            )
        )
    )
    for identity in detached:
        session.delete(identity)
    return detached


# -- proving the local account first ------------------------------------------------------


class PendingLink(Base):
    """An upstream identity waiting to be linked once the user proves the local account.

    Kept per pending login request (which belongs to one browser and follows it across the
    session rotation at sign-in), so the proof must happen in that browser, for that
    request, by that local user, within minutes. With just-in-time sign-up off, an address
    with no account gets a row too, with no user: nothing can complete it, and the answer
    and the pages after it are the same as for a known address (C8).
    """

    __tablename__ = "oidc_pending_links"

    pending_login_request_id: Mapped[int] = mapped_column(
        ForeignKey("pending_login_requests.id"), primary_key=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def remember_pending_link(
    pending: PendingLoginRequest, user: User | None, provider: Provider, claims: dict[str, Any]
) -> None:
    session = db.session()
    existing = session.get(PendingLink, pending.id)
    if existing is not None:
        session.delete(existing)
        session.flush()
    email = upstream_email(claims)
    session.add(
        PendingLink(
            pending_login_request_id=pending.id,
            user_id=user.id if user is not None else None,
            provider=provider.name,
            issuer=claims["iss"],
            subject=claims["sub"],
            email=email if isinstance(email, str) else None,
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
    if link_row is None or link_row.user_id is None or link_row.user_id != user.id:
        return None
    if find(link_row.issuer, link_row.subject):
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
