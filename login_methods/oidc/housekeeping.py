"""The OIDC method's part of housekeeping (E4): identities waiting for proof, once expired.

`oidc_pending_links` rows refer to pending login requests, so they also go when the core drops
those requests (a browser over its cap, or housekeeping). Linked identities are accounts, not
expiring state: they are never purged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from login_methods.oidc.identities import PendingLink


def purge_expired(session: Session, cutoff: datetime) -> dict[str, int]:
    result = session.execute(delete(PendingLink).where(PendingLink.expires_at < cutoff))
    return {PendingLink.__tablename__: result.rowcount}


def forget_login_requests(session: Session, ids: list[int]) -> None:
    session.execute(delete(PendingLink).where(PendingLink.pending_login_request_id.in_(ids)))
