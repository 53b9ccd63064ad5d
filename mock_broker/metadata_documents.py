"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP 2025-11-25).

A client whose `client_id` is an https URL is described by the JSON document at that URL.
The broker resolves such a client at the authorization endpoint and at the token endpoint:

- the URL must be https, with a path, without fragment, user:password or `.`/`..` segments,
  and fit the client id column (255 characters) — B7;
- it is fetched by `document_fetcher` (SSRF guard, pinned connection, no redirects, 5 KB,
  time cap);
- the document must be a JSON object whose `client_id` equals the URL exactly, with
  `client_name` and `redirect_uris` (MCP requires both), no `client_secret*` fields, and
  `token_endpoint_auth_method` `none` or absent (`private_key_jwt` is refused as unsupported);
- a valid document is cached in the client's row. Its lifetime follows the response's
  `Cache-Control`: `max-age` is clamped to [`CIMD_CACHE_MIN`, `CIMD_CACHE_MAX`] (30 s and 24 h
  by default: a floor so one sign-in does not fetch three times, a ceiling so a changed or
  withdrawn document takes effect within a day); `no-store`/`no-cache` mean "fetch again
  next time"; no header means the floor. Failures and invalid documents are never cached:
  the next use fetches again.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mock_broker import client_metadata, database, document_fetcher
from mock_broker.models import OAuthClient, RegistrationMethod

MAX_DOCUMENT_BYTES = 5 * 1024
MAX_URL_LENGTH = 255  # oauth_clients.id
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


class MetadataDocumentError(Exception):
    """The client's metadata document is unusable; the message says why (shown to users)."""


def is_document_url(client_id: str) -> bool:
    """A client id that names a metadata document (checked further by `check_url`)."""
    return client_id[:8].lower() == "https://" or client_id[:7].lower() == "http://"


def check_url(url: str) -> None:
    """The B7 rules for a CIMD client_id URL; raises MetadataDocumentError."""
    if len(url) > MAX_URL_LENGTH:
        raise MetadataDocumentError(f"A client_id URL must be at most {MAX_URL_LENGTH} chars.")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise MetadataDocumentError("A client_id URL must not contain spaces or control chars.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it rejects malformed ports
    except ValueError:
        raise MetadataDocumentError("The client_id is not a valid URL.") from None
    if parts.scheme != "https" or not parts.hostname:
        raise MetadataDocumentError("A client_id URL must be an absolute https URL.")
    if "@" in parts.netloc:
        raise MetadataDocumentError("A client_id URL must not contain a user or password.")
    if "#" in url:
        raise MetadataDocumentError("A client_id URL must not have a fragment.")
    segments = parts.path.split("/")[1:]
    if not parts.path or parts.path == "/":
        raise MetadataDocumentError("A client_id URL must have a path.")
    if any(unquote(segment) in (".", "..") for segment in segments):
        raise MetadataDocumentError("A client_id URL must not contain . or .. segments.")


def resolve(db: Session, url: str) -> OAuthClient:
    """The client the document at `url` describes: from the cache, or fetched and validated."""
    check_url(url)
    client = db.get(OAuthClient, url)
    now = database.utcnow()
    if client is not None and client.registration_method != RegistrationMethod.CIMD:
        raise MetadataDocumentError("This client_id is registered otherwise.")
    if client is not None and client.metadata_expires_at and now < client.metadata_expires_at:
        return client

    config = current_app.config
    host = urlsplit(url).hostname
    try:
        fetched = document_fetcher.fetch(
            url,
            max_bytes=MAX_DOCUMENT_BYTES,
            timeout=config["CIMD_TIMEOUT"],
            allow_private=config["CIMD_ALLOW_PRIVATE_ADDRESSES"],
            ca_file=config["CIMD_CA_FILE"] or None,
            resolver=config["CIMD_RESOLVER"],
        )
    except document_fetcher.FetchError as error:
        raise MetadataDocumentError(
            f"The client's metadata document at {host} could not be fetched: {error}."
        ) from error
    metadata = validate_document(url, fetched.body)
    lifetime = cache_lifetime(fetched.headers.get("cache-control", ""))
    return _store(db, url, metadata, now, now + timedelta(seconds=lifetime))


def validate_document(url: str, body: bytes) -> dict[str, Any]:
    """Check a fetched document against the CIMD and MCP rules; its normalised metadata."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MetadataDocumentError("The client's metadata document is not JSON.") from None
    if not isinstance(document, dict):
        raise MetadataDocumentError("The client's metadata document must be a JSON object.")
    if document.get("client_id") != url:
        raise MetadataDocumentError(
            "The metadata document's client_id does not equal the URL it was fetched from."
        )
    for name in ("client_name", "redirect_uris"):
        if name not in document:
            raise MetadataDocumentError(f"The metadata document must include {name}.")
    if any(str(name).startswith("client_secret") for name in document):
        raise MetadataDocumentError("A metadata document must not contain a client secret.")
    if document.get("token_endpoint_auth_method", "none") != "none":
        raise MetadataDocumentError(
            "A metadata-document client must use token_endpoint_auth_method none "
            "(private_key_jwt is not supported by this broker)."
        )
    try:
        return client_metadata.validate(document, None, default_auth_method="none")
    except client_metadata.ClientMetadataError as error:
        raise MetadataDocumentError(f"The metadata document is invalid: {error}") from None


def cache_lifetime(cache_control: str) -> int:
    """Seconds to keep a valid document, from its Cache-Control header (see module docs)."""
    config = current_app.config
    directives = cache_control.lower()
    if "no-store" in directives or "no-cache" in directives:
        return 0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return config["CIMD_CACHE_MIN"]
    return max(config["CIMD_CACHE_MIN"], min(int(match.group(1)), config["CIMD_CACHE_MAX"]))


def _store(
    db: Session, url: str, metadata: dict[str, Any], now: object, expires_at: object
) -> OAuthClient:
    values = {
        "name": metadata["client_name"],
        "secret_hash": None,
        "redirect_uris": metadata["redirect_uris"],
        "grant_types": metadata["grant_types"],
        "token_endpoint_auth_method": "none",
        "resource_id": None,
        "registration_method": RegistrationMethod.CIMD,
        "client_metadata": metadata,
        "metadata_fetched_at": now,
        "metadata_expires_at": expires_at,
    }
    client = db.get(OAuthClient, url)
    if client is None:
        client = OAuthClient(id=url, **values)
        db.add(client)
        try:
            db.commit()
            return client
        except IntegrityError:  # fetched concurrently by another request: update that row
            db.rollback()
            client = db.get(OAuthClient, url, populate_existing=True)
            if client is None:
                raise MetadataDocumentError("The client could not be stored.") from None
    for name, value in values.items():
        setattr(client, name, value)
    db.commit()
    return client
