"""The RS256 key id_tokens are signed with, and the JWKS (`/jwks`) that publishes it.

The key comes from `SIGNING_KEY` (a PEM) when set; otherwise it is generated once and kept in
`SIGNING_KEY_FILE` (default: in the instance folder), because relying parties cache JWKS by
`kid`, and a key that changed on every restart would make their cached copy reject new tokens
until they refetch. The `kid` is the key's RFC 7638 thumbprint: the same key, the same id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from joserfc.jwk import KeySet, RSAKey

from upstream_idp.config import ConfigError

ALGORITHM = "RS256"
KEY_FILE = "upstream_idp_signing_key.pem"
_EXTENSION = "upstream_idp.signing_key"


def init_app(app: Flask) -> None:
    pem = app.config.get("SIGNING_KEY")
    if not pem:
        path = Path(app.config.get("SIGNING_KEY_FILE") or Path(app.instance_path) / KEY_FILE)
        app.config["SIGNING_KEY_FILE"] = str(path)
        pem = _key_file_pem(path)
    try:
        key = RSAKey.import_key(pem)
    except ValueError:
        key = None
    if key is None or not key.is_private:
        raise ConfigError("SIGNING_KEY must be a private RSA key in PEM form.")
    app.extensions[_EXTENSION] = RSAKey.import_key(
        pem, parameters={"kid": key.thumbprint(), "use": "sig", "alg": ALGORITHM}
    )


def _key_file_pem(path: Path) -> bytes:
    """Read the instance key, creating it (owner-readable only) on first start.

    Written to a private temporary file and linked into place, so a second process starting at
    the same moment never reads a half-written key: the first link wins, both use that key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(RSAKey.generate_key(2048, private=True).as_pem(private=True))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()


def signing_key() -> RSAKey:
    return current_app.extensions[_EXTENSION]


def public_jwks() -> dict[str, Any]:
    return KeySet([signing_key()]).as_dict(private=False)
