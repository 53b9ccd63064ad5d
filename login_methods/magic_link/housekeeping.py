"""The magic-link method's part of `flask housekeeping` (E4): tokens past their expiry.

A token is useless after `expires_at` (spending checks it, C13), used or not; it is kept for
the grace period only so that the audit trail and debugging can still find it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from login_methods.magic_link.tokens import MagicLinkToken


def purge_expired(session: Session, cutoff: datetime) -> dict[str, int]:
    result = session.execute(delete(MagicLinkToken).where(MagicLinkToken.expires_at < cutoff))
    return {MagicLinkToken.__tablename__: result.rowcount}
