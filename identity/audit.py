"""Audit trail: one row per security-relevant event, written in the request's transaction.

Details are chosen by the caller and must never hold a secret, token or password (E1); the
client address and the login request id give the who/where without them.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from identity import db
from identity.models import AuditEvent, User

SIGN_IN_SUCCEEDED = "sign_in.succeeded"
SIGN_IN_FAILED = "sign_in.failed"
SIGN_IN_THROTTLED = "sign_in.throttled"
SIGNED_OUT = "signed_out"
PROFILE_POSTED = "broker.profile_posted"
PROFILE_POST_FAILED = "broker.profile_post_failed"


def record(
    event: str,
    *,
    user: User | None = None,
    login_request_id: str | None = None,
    **detail: Any,
) -> None:
    db.session().add(
        AuditEvent(
            event=event,
            user_id=user.id if user else None,
            login_request_id=login_request_id,
            client_address=request.remote_addr if has_request_context() else None,
            detail=detail,
        )
    )
