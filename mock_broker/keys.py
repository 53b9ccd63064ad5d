"""The broker's RS256 signing key and its published JWKS (`/keys`).

The key is generated once, on first initialisation, and kept in the database: resource
servers cache JWKS by `kid`, so a key that changed on every restart would break every token
they had already accepted.
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from mock_broker.identifiers import new_id
from mock_broker.models import SigningKey

ALGORITHM = "RS256"


def ensure_signing_key(db: Session) -> None:
    """Generate the signing key unless one exists (idempotent)."""
    if db.scalar(select(SigningKey.kid).limit(1)) is not None:
        return
    kid = new_id("key")
    key = RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM}, private=True
    )
    db.add(SigningKey(kid=kid, private_jwk=key.as_dict(private=True)))


def signing_key(db: Session) -> RSAKey:
    """The newest key: the one new tokens are signed with."""
    row = db.scalars(select(SigningKey).order_by(SigningKey.created_at.desc()).limit(1)).one()
    return RSAKey.import_key(row.private_jwk)


def key_set(db: Session) -> KeySet:
    """Every key still published, for verifying tokens the broker issued."""
    rows = db.scalars(select(SigningKey)).all()
    return KeySet([RSAKey.import_key(row.private_jwk) for row in rows])


def public_jwks(db: Session) -> dict[str, Any]:
    return key_set(db).as_dict(private=False)
