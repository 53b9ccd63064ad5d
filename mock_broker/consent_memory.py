"""Remembered consent: what a user already approved for a client at a resource.

With `REMEMBER_CONSENT` on, a sign-in whose scopes are all among those the user approved
before for the same client and resource skips the consent page (the browser goes straight to
the client with a code); `prompt=consent` always shows it. Approvals accumulate: approving
more scopes later widens what is remembered, never narrows it. A QA page lists and forgets
them. It is off by default so that every sign-in shows the page unless a deployment decides
otherwise (the integration tests walk the page on every sign-in).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mock_broker import database
from mock_broker.models import ConsentGrant, LoginRequest


def _find(db: Session, login_request: LoginRequest) -> ConsentGrant | None:
    return db.scalar(
        select(ConsentGrant).where(
            ConsentGrant.user_id == login_request.user_id,
            ConsentGrant.client_id == login_request.client_id,
            ConsentGrant.resource_id == login_request.resource_id,
        )
    )


def covers(db: Session, login_request: LoginRequest) -> bool:
    """Did this user already approve every scope of this request, for this client and resource?"""
    grant = _find(db, login_request)
    return grant is not None and grant.covers(login_request.scope)


def remember(db: Session, login_request: LoginRequest) -> None:
    """Record an approval (adds its scopes to what was approved before)."""
    grant = _find(db, login_request)
    scopes = login_request.scope.split()
    if grant is None:
        db.add(
            ConsentGrant(
                user_id=login_request.user_id,
                client_id=login_request.client_id,
                resource_id=login_request.resource_id,
                scope=" ".join(dict.fromkeys(scopes)),
            )
        )
    else:
        grant.scope = " ".join(dict.fromkeys([*grant.scope.split(), *scopes]))
        grant.updated_at = database.utcnow()
    db.commit()


def forget(db: Session, grant_id: int | None = None) -> int:
    """Forget one remembered consent, or all of them; how many were forgotten."""
    query = delete(ConsentGrant)
    if grant_id is not None:
        query = query.where(ConsentGrant.id == grant_id)
    result = db.execute(query)
    db.commit()
    return result.rowcount


def all_grants(db: Session) -> list[ConsentGrant]:
    return list(db.scalars(select(ConsentGrant).order_by(ConsentGrant.updated_at.desc())))
