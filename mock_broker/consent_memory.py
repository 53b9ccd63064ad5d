"""Remembered consent: what a user already approved for a client at a resource.

With `REMEMBER_CONSENT` on, a sign-in whose scopes are all among those the user approved
before for the same client and resource skips the consent page (the browser goes straight to
the client with a code); `prompt=consent` always shows it. Approvals accumulate: approving
more scopes later widens what is remembered, never narrows it. A QA page lists and forgets
them. It is on by default, as at the hosted broker; the test stacks turn it off so that
every sign-in meets the consent page.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
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
    """Record an approval (adds its scopes to what was approved before).

    Insert-if-absent, then update the row under a lock: two approvals finishing at once (two
    tabs, a retried POST) both count, and neither fails on the unique key.
    """
    now = database.utcnow()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.execute(
        insert(ConsentGrant)
        .values(
            user_id=login_request.user_id,
            client_id=login_request.client_id,
            resource_id=login_request.resource_id,
            scope="",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    grant = db.scalars(
        select(ConsentGrant)
        .where(
            ConsentGrant.user_id == login_request.user_id,
            ConsentGrant.client_id == login_request.client_id,
            ConsentGrant.resource_id == login_request.resource_id,
        )
        # Lock the grant row only: its eager-loaded relationships are outer joins, which
        # PostgreSQL cannot lock.
        .with_for_update(of=ConsentGrant)
        .execution_options(populate_existing=True)
    ).one()
    grant.scope = " ".join(dict.fromkeys([*grant.scope.split(), *login_request.scope.split()]))
    grant.updated_at = now
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
