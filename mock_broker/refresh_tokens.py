"""Refresh tokens: issued by policy, rotated on every use, reuse revokes the family.

A refresh token is 256 random bits, opaque, stored only as its SHA-256 digest, and bound to
the client, user, scope and resource of the grant (one authorization code) it belongs to.

- Issued only to clients registered for the `refresh_token` grant type (RFC 7591
  `grant_types`), and then as `REFRESH_TOKEN_POLICY` says. OAuth leaves issuing one to the
  authorization server (RFC 6749 §1.5) and has no way to ask for one; the `offline_access`
  scope is OpenID Connect's way, which MCP's refresh-token guidance adopts for servers that
  advertise it, while clients built on the TypeScript SDK register the grant and never ask for
  the scope. `refresh_grant` (the default) issues one to every client registered for the
  grant, so those clients stay signed in; `offline_access` issues one only when that scope was
  requested and granted, the OIDC-strict reading. A client without the grant never gets one.
- Rotated on every use, for public and confidential clients alike (B4; OAuth 2.1 §4.3.1
  requires it of public clients, and one rule is simpler to reason about): the presented
  token is spent and a successor issued. The successor keeps the grant's full scope (RFC 6749
  §6) even when the request narrowed the access token's scope.
- Reuse of a spent token means two parties hold it, so the whole family — every refresh and
  access token of the grant — is revoked (RFC 9700 §4.14.2).
- **Grace window** (`REFRESH_REUSE_GRACE`, default 10 s, 0 to turn off, at most 60 s —
  config refuses more): a token presented again within that many seconds of its rotation is
  refused with `invalid_grant` *without* revoking the family (B15). Two copies of one client
  refreshing at once (a restart, two tabs) therefore do not kill the winner's tokens
  (fastmcp#4901, HQBase#41), and the loser never gets a pair of its own: one rotation yields
  exactly one successor. (Auth0/Okta-style "leeway" hands the loser the *same* successor;
  the broker keeps only hashes, so that would mean storing successors encrypted — a key to
  manage for a case the client recovers from by re-reading its stored token.) After the
  window, a reuse revokes the family. The conditional update in `spend` makes "first use"
  atomic, so two concurrent requests cannot both rotate one token.
- Inactivity expiry (`REFRESH_TOKEN_TTL`, default 30 days): each token expires that long after
  it was issued, and every use issues a new one, so only a grant left unused expires.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mock_broker import database, tokens
from mock_broker.identifiers import new_secret, secret_hash
from mock_broker.models import OFFLINE_ACCESS, AuthorizationCode, OAuthClient, RefreshToken


def should_issue(client: OAuthClient, scope: str) -> bool:
    """Only to clients registered for the refresh grant, and then as the policy says."""
    if not client.check_grant_type("refresh_token"):
        return False
    if current_app.config["REFRESH_TOKEN_POLICY"] == OFFLINE_ACCESS:  # a policy name, no secret
        return OFFLINE_ACCESS in scope.split()
    return True


def issue(
    db: Session,
    code: AuthorizationCode,
    client: OAuthClient,
    scope: str,
    parent: RefreshToken | None = None,
) -> str:
    """Create a refresh token for the grant of `code`; returns it (only its hash is kept)."""
    token = new_secret()
    now = database.utcnow()
    db.add(
        RefreshToken(
            token_hash=secret_hash(token),
            authorization_code_id=code.id,
            parent_id=parent.id if parent else None,
            client_id=client.id,
            user_id=code.user_id,
            resource_id=code.resource_id,
            scope=scope,
            issued_at=now,
            expires_at=now + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"]),
        )
    )
    return token


def find(db: Session, token: str) -> RefreshToken | None:
    return db.scalar(select(RefreshToken).where(RefreshToken.token_hash == secret_hash(token)))


def is_active(db: Session, row: RefreshToken) -> bool:
    """Not revoked, not expired, never rotated, from a code never replayed.

    A rotated token is never active, not even within the grace window: the grace only spares
    its family, it does not make the spent token usable (B15).
    """
    if row.revoked_at is not None or row.rotated_at is not None:
        return False
    if database.utcnow() >= row.expires_at:
        return False
    code = db.get(AuthorizationCode, row.authorization_code_id)
    return code is not None and code.replayed_at is None


def refuse_reuse(db: Session, row: RefreshToken) -> None:
    """`row` was presented although already rotated: outside the grace, revoke its family.

    Within the grace window nothing changes (the caller refuses the request all the same), so a
    concurrent copy of the client does not revoke the successor the winner just received (B15).
    A reuse outside it means two parties hold the token (RFC 9700 §4.14.2): the revocation is
    committed at once, because the caller then fails the request.
    """
    if row.rotated_at is None or _within_grace(row, database.utcnow()):
        return
    revoke_family(db, row)
    db.commit()


def spend(db: Session, row: RefreshToken) -> bool:
    """Spend `row` for one refresh; False when another request spent it first.

    One conditional update spends a fresh token, so of two concurrent uses exactly one wins
    (on PostgreSQL the loser's update waits for the winner's commit, then matches no row). The
    loser is a reuse like any other: refused, and the family revoked only outside the grace.
    """
    spent = db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(rotated_at=database.utcnow())
    )
    if spent.rowcount == 1:
        return True
    db.refresh(row)
    refuse_reuse(db, row)
    return False


def revoke_family(db: Session, row: RefreshToken) -> None:
    """Revoke every refresh and access token of the grant `row` belongs to."""
    tokens.revoke_tokens_from_code(db, row.authorization_code_id)


def _within_grace(row: RefreshToken, now: object) -> bool:
    grace = current_app.config["REFRESH_REUSE_GRACE"]
    return (
        grace > 0
        and row.rotated_at is not None
        and now <= row.rotated_at + timedelta(seconds=grace)
    )
