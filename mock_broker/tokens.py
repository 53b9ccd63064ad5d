"""Signing, recording, verifying and revoking the broker's JWTs.

Three kinds of token, all RS256 JWTs with a `kid` and `typ: at+jwt` (RFC 9068):

- user access tokens for MCP servers: `iss` is the resource's issuer, `aud` is
  [MCP server URL, `res_…`] (RFC 8707 audience binding, B5), `sub` is the broker user `usr_…`;
- machine access tokens for MCP servers (client_credentials of a machine MCP client): bound
  like user tokens, `sub` is the client's own id and there is no user;
- M2M tokens for the broker's own API: `iss` and `aud` are the environment URL (mock choice:
  the hosted broker does not publish its M2M audience), `sub` is the `skc_…` client id. The
  API checks `aud`, so a user access token can never be used against it.

Every token is recorded by `jti`, which is what lets the broker revoke tokens that are
otherwise self-contained.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import update
from sqlalchemy.orm import Session

from mock_broker import database, keys
from mock_broker.identifiers import new_secret
from mock_broker.models import (
    AuthorizationCode,
    IssuedToken,
    OAuthClient,
    RefreshToken,
    TokenKind,
)
from mock_broker.resources import issuer_for

#: Profile fields copied into user access tokens under the same name (mock choice; the
#: hosted broker documents only custom_claims, org and roles).
_PROFILE_CLAIMS = (
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "roles",
    "groups",
)


class InvalidTokenError(Exception):
    """A bearer token the API must refuse (answered 401 `invalid_token`)."""


def issue_m2m_token(db: Session, client_id: str) -> dict[str, Any]:
    """client_credentials: an M2M token for the broker's API, returned as a token response."""
    env_url = current_app.config["ENV_URL"]
    ttl = current_app.config["M2M_TOKEN_TTL"]
    claims = {"iss": env_url, "aud": [env_url], "sub": client_id, "client_id": client_id}
    return _issue(db, claims, ttl, TokenKind.M2M, client_id)


def issue_access_token(
    db: Session, code: AuthorizationCode, client: OAuthClient, scope: str | None = None
) -> dict[str, Any]:
    """A user access token for the grant the code started: at the code exchange, and at every
    refresh of that grant (then with the refresh request's `scope`, possibly narrower)."""
    resource = code.resource
    scope = code.scope if scope is None else scope
    profile: dict[str, Any] = code.login_request.profile or {}
    claims: dict[str, Any] = {
        "iss": issuer_for(resource.id),
        "aud": [resource.mcp_server_url, resource.id],
        "sub": code.user_id,
        "client_id": client.id,
        "azp": client.id,
        "scope": scope,
    }
    claims.update({name: profile[name] for name in _PROFILE_CLAIMS if name in profile})
    if "organization_external_id" in profile:
        claims["org_id"] = profile["organization_external_id"]  # mock choice of claim name
    if "organization_external_name" in profile:
        claims["org_name"] = profile["organization_external_name"]  # mock choice
    if "custom_attributes" in profile:
        claims["custom_claims"] = profile["custom_attributes"]  # published name
    _apply_claim_overrides(claims, client)
    ttl = current_app.config["ACCESS_TOKEN_TTL"]
    token = _issue(db, claims, ttl, TokenKind.ACCESS, client.id, code)
    token["scope"] = scope
    return token


def issue_client_token(db: Session, client: OAuthClient, scope: str) -> dict[str, Any]:
    """client_credentials for a machine MCP client: an access token for its resource, bound
    to it like a user's (B5), with no user — `sub` is the client (RFC 9068 §2.2) and no
    profile claim is present, so the MCP server can tell it is serving a client."""
    resource = client.active_resource
    claims: dict[str, Any] = {
        "iss": issuer_for(resource.id),
        "aud": [resource.mcp_server_url, resource.id],
        "sub": client.id,
        "client_id": client.id,
        "azp": client.id,
        "scope": scope,
    }
    _apply_claim_overrides(claims, client)
    ttl = current_app.config["ACCESS_TOKEN_TTL"]
    token = _issue(db, claims, ttl, TokenKind.ACCESS, client.id, resource_id=resource.id)
    token["scope"] = scope
    return token


def _apply_claim_overrides(claims: dict[str, Any], client: OAuthClient) -> None:
    """QA: the client's claim overrides (set on the debugger page), merged over the profile's
    custom claims. Only inside `custom_claims`: an override can never change what binds the
    token (`iss`, `aud`, `sub`, `client_id`, `scope`)."""
    if client.claim_overrides:
        custom = claims.get("custom_claims")
        claims["custom_claims"] = {
            **(custom if isinstance(custom, dict) else {}),
            **client.claim_overrides,
        }


def _issue(
    db: Session,
    claims: dict[str, Any],
    ttl: int,
    kind: str,
    client_id: str,
    code: AuthorizationCode | None = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    now = database.utcnow().replace(microsecond=0)
    jti = new_secret()
    claims = {**claims, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + ttl, "jti": jti}
    key = keys.signing_key(db)
    header = {"alg": keys.ALGORITHM, "kid": key.kid, "typ": "at+jwt"}
    db.add(
        IssuedToken(
            jti=jti,
            kind=kind,
            subject=claims["sub"],
            client_id=client_id,
            resource_id=code.resource_id if code else resource_id,
            authorization_code_id=code.id if code else None,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl),
            claims=claims,
        )
    )
    return {
        "access_token": jwt.encode(header, claims, key),
        "token_type": "Bearer",
        "expires_in": ttl,
    }


def verify_m2m_token(db: Session, token: str) -> str:
    """Check an API bearer token; returns its M2M client id or raises InvalidTokenError.

    Signature (RS256 only, by `kid`), issuer, audience and expiry are checked, then the
    token's record: it must be an M2M token this broker issued and has not revoked.
    """
    env_url = current_app.config["ENV_URL"]
    try:
        decoded = jwt.decode(token, keys.key_set(db), algorithms=[keys.ALGORITHM])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": env_url},
            aud={"essential": True, "value": env_url},
            exp={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidTokenError(
            "The access token is malformed, expired or not for this API."
        ) from error
    record = db.get(IssuedToken, decoded.claims["jti"])
    if record is None or record.kind != TokenKind.M2M or not is_active(db, record):
        raise InvalidTokenError("The access token has been revoked.")
    return record.client_id


def is_active(db: Session, record: IssuedToken) -> bool:
    """Not revoked, not expired, and not issued from a code that was later replayed.

    The replay check reads the code as well as the `revoked` flag: a replay racing the first
    exchange may flag the code before that exchange has recorded its token.
    """
    if record.revoked or database.utcnow() >= record.expires_at:
        return False
    if record.authorization_code_id is None:
        return True
    code = db.get(AuthorizationCode, record.authorization_code_id)
    return code is not None and code.replayed_at is None


def token_is_active(app: Flask, jti: str) -> bool:
    """Introspection for tests and QA tools: is the token with this `jti` still valid?"""
    with app.app_context():
        db = database.session()
        record = db.get(IssuedToken, jti)
        return record is not None and is_active(db, record)


def decode_access_token(db: Session, token: str) -> IssuedToken | None:
    """The record of a user access token this broker signed (signature checked), or None.

    Expiry and revocation are not checked here: introspection and revocation look them up on
    the record (`is_active`).
    """
    try:
        decoded = jwt.decode(token, keys.key_set(db), algorithms=[keys.ALGORITHM])
    except (JoseError, ValueError, TypeError):
        return None
    jti = decoded.claims.get("jti")
    record = db.get(IssuedToken, jti) if isinstance(jti, str) else None
    return record if record is not None and record.kind == TokenKind.ACCESS else None


def revoke_tokens_from_code(db: Session, code_id: int) -> None:
    """Revoke a whole grant: every access and refresh token issued from one code (B3, B4)."""
    db.execute(
        update(IssuedToken).where(IssuedToken.authorization_code_id == code_id).values(revoked=True)
    )
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.authorization_code_id == code_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=database.utcnow())
    )


def revoke_m2m_tokens(app: Flask, client_id: str) -> int:
    """Revoke every M2M token of a client (QA: make a cached customer token get a 401)."""
    with app.app_context():
        db = database.session()
        result = db.execute(
            update(IssuedToken)
            .where(
                IssuedToken.client_id == client_id,
                IssuedToken.kind == TokenKind.M2M,
                IssuedToken.revoked.is_(False),
            )
            .values(revoked=True)
        )
        db.commit()
        return result.rowcount
