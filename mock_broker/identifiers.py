"""Identifiers and secrets: prefixed random ids, and hashes of the secrets the broker keeps.

Every secret the broker stores (client secrets, authorization codes, login-request states) is a
high-entropy random string it generated itself, so a fast SHA-256 digest is enough to make a
database leak useless; slow password hashes are for low-entropy human passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_id(prefix: str) -> str:
    """`prefix_` + 24 hex digits (96 random bits): unguessable and safe in URLs and logs."""
    return f"{prefix}_{secrets.token_hex(12)}"


def new_secret() -> str:
    """256 random bits, URL-safe: client secrets, authorization codes, states."""
    return secrets.token_urlsafe(32)


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(value: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return stored_hash is not None and hmac.compare_digest(secret_hash(value), stored_hash)
