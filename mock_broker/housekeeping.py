"""`flask --app mock_broker housekeeping`: purge what has expired at the broker (E4).

Anyone can call /oauth/authorize with the public demo client (or any https client_id with a
valid metadata document), and each call is a login request; every sign-in leaves a code,
access tokens and, with `offline_access`, a refresh-token family. Nothing a live flow needs is
deleted, and everything is kept `MOCK_BROKER_HOUSEKEEPING_GRACE` (a day) past its end, so the
QA views still show recent history:

- issued tokens (M2M and access) expired before the cutoff: a revocation record matters only
  while the token is valid;
- a grant — its authorization code, the code's refresh-token family and access tokens — only
  once the code expired and *every* refresh token of the family is revoked or expired before
  the cutoff. While any member is alive the whole family stays, rotated tokens included: a
  rotated token presented again must still be recognised as a reuse and revoke the family
  (B4), and a replayed code must still revoke its tokens (B3);
- login requests expired before the cutoff that no remaining code refers to (a refresh reads
  the profile through the code's login request);
- clients created from a Client ID Metadata Document whose cached copy expired before the
  cutoff and that nothing refers to any more: the next use fetches the document again;
- dynamically registered clients no user ever signed in with (`first_used_at` unset: no code
  was ever issued to them) registered more than `UNUSED_CLIENT_TTL` ago, that nothing refers
  to (no sign-in under way): many MCP clients register again at every restart, leaving the
  old registration unused for ever. A client that was used once is kept, like clients an
  operator registered;
- rate-limit counters whose window ended before the cutoff.

Remembered consent, users, used and operator-registered clients and signing keys (see
prune-signing-keys) are not expiring state and are kept. Each step is one conditional DELETE,
so several instances may run this at once, and sign-ins may go on meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, false, not_, or_, select
from sqlalchemy.orm import Session

from mock_broker import database, rate_limits
from mock_broker.models import (
    AuthorizationCode,
    ConsentGrant,
    IssuedToken,
    LoginRequest,
    OAuthClient,
    RefreshToken,
    RegistrationMethod,
)


def purge(
    db: Session,
    grace: int,
    now: datetime | None = None,
    unused_client_ttl: int | None = None,
    longest_window: int = 0,
) -> dict[str, int]:
    """Delete what ended more than `grace` seconds before `now`; {table: rows deleted}.

    `unused_client_ttl` (seconds; None keeps them) is how old a never-used DCR client must
    be to go; `longest_window` is the longest rate-limit window, after which a counter ended.
    """
    now = now or database.utcnow()
    cutoff = now - timedelta(seconds=grace)
    counts: dict[str, int] = {}

    def run(table: str, statement) -> None:
        counts[table] = counts.get(table, 0) + db.execute(statement).rowcount

    # A grant is alive while any refresh token of its family or any access token from it is.
    family_alive = exists().where(
        RefreshToken.authorization_code_id == AuthorizationCode.id,
        or_(RefreshToken.revoked_at.is_(None), RefreshToken.revoked_at >= cutoff),
        RefreshToken.expires_at >= cutoff,
    )
    token_alive = exists().where(
        IssuedToken.authorization_code_id == AuthorizationCode.id,
        IssuedToken.expires_at >= cutoff,
    )
    dead = and_(AuthorizationCode.expires_at < cutoff, not_(family_alive), not_(token_alive))
    # Children first, in one transaction: the family and its tokens, then the codes.
    run("issued_tokens", delete(IssuedToken).where(IssuedToken.expires_at < cutoff))
    run(
        "refresh_tokens",
        delete(RefreshToken).where(
            RefreshToken.authorization_code_id.in_(select(AuthorizationCode.id).where(dead))
        ),
    )
    run("authorization_codes", delete(AuthorizationCode).where(dead))
    db.commit()

    run(
        "login_requests",
        delete(LoginRequest).where(
            LoginRequest.expires_at < cutoff,
            not_(exists().where(AuthorizationCode.login_request_id == LoginRequest.id)),
        ),
    )
    db.commit()

    referenced = or_(
        exists().where(LoginRequest.client_id == OAuthClient.id),
        exists().where(AuthorizationCode.client_id == OAuthClient.id),
        exists().where(RefreshToken.client_id == OAuthClient.id),
        exists().where(ConsentGrant.client_id == OAuthClient.id),
    )
    expired_copy = and_(
        OAuthClient.registration_method == RegistrationMethod.CIMD,
        OAuthClient.metadata_expires_at < cutoff,
    )
    never_used = (
        and_(
            OAuthClient.registration_method == RegistrationMethod.DCR,
            OAuthClient.first_used_at.is_(None),
            OAuthClient.created_at < now - timedelta(seconds=unused_client_ttl),
        )
        if unused_client_ttl is not None
        else false()
    )
    run(
        "oauth_clients",
        delete(OAuthClient).where(or_(expired_copy, never_used), not_(referenced)),
    )
    db.commit()

    counts["rate_limit_counters"] = rate_limits.purge_ended(db, cutoff, longest_window)
    db.commit()
    return counts
