"""The two things the stand-in remembers: authorization codes and access tokens.

Neither is stored in the clear: the tables key them by their sha256, so a copied database file
holds nothing a browser or RP could replay. Times are whole seconds since the epoch, like the
`iat` and `exp` of the tokens they describe.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin
from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from upstream_idp.claims import StandInUser
from upstream_idp.clients import Client, find_client
from upstream_idp.database import Base


def secret_hash(value: str) -> str:
    """How codes and tokens are looked up: by hash, never by the value itself."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def now() -> int:
    return int(time.time())


class AuthorizationCode(Base, AuthorizationCodeMixin):
    """A code issued at /authorize, spent once at /token (see `oauth_server`)."""

    __tablename__ = "authorization_codes"
    __table_args__ = (Index("ix_authorization_codes_client_nonce", "client_id", "nonce"),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scope: Mapped[str] = mapped_column(String(255))
    nonce: Mapped[str | None] = mapped_column(String(512))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(16))
    #: The claims QA typed on the login page, `sub` included.
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The QA fault the id_token of this code will carry (`faults.NONE` for a correct one).
    fault: Mapped[str] = mapped_column(String(32))
    auth_time: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[int | None] = mapped_column(Integer)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


class AccessToken(Base, TokenMixin):
    """A bearer token for /userinfo, with the claims it answers with."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The code it was issued from: a replayed code revokes it (RFC 6749 §4.1.2).
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(255))
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_at: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Integer)

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_at - self.issued_at

    def is_expired(self) -> bool:
        return now() >= self.expires_at

    def is_revoked(self) -> bool:
        return False  # revoked tokens are deleted

    def get_user(self) -> StandInUser:
        return StandInUser(claims=self.claims)

    def get_client(self) -> Client | None:
        return find_client(self.client_id)
