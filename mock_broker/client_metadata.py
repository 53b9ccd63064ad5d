"""Validation of OAuth client metadata (RFC 7591 §2), shared by DCR and CIMD documents.

What the broker accepts is what it implements: the authorization code grant (with refresh
tokens), response type `code`, client authentication `none`, `client_secret_basic` or
`client_secret_post`, and redirect URIs that are https, plain http on loopback (RFC 8252
§7.3, MCP authorization) or a native app's private-use scheme (RFC 8252 §7.1), without
fragments (`redirect_uris`). `private_key_jwt` (and so `jwks`/`jwks_uri`) is
refused as unsupported rather than silently downgraded. Metadata the broker does not know is
ignored, as RFC 7591 §2 requires; what it keeps is returned normalised. Every string kept
may be shown to a person, so none may carry control, bidirectional or invisible format
characters (B14, `display_text`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mock_broker.display_text import refused_character
from mock_broker.models import Resource
from mock_broker.redirect_uris import MAX_URL, redirect_uri_problem

AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")
APPLICATION_TYPES = ("web", "native")
MAX_REDIRECT_URIS = 20
MAX_NAME = 200
MAX_STRING = 255
_URL_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri")
_STRING_FIELDS = ("software_id", "software_version")


class ClientMetadataError(ValueError):
    """Refused metadata: `error` is `invalid_redirect_uri` or `invalid_client_metadata`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _invalid(description: str) -> ClientMetadataError:
    return ClientMetadataError("invalid_client_metadata", description)


def validate(
    data: object, resource: Resource | None, default_auth_method: str = "client_secret_basic"
) -> dict[str, Any]:
    """Check client metadata; returns the normalised metadata the broker will store.

    `default_auth_method` is RFC 7591's default for DCR; a CIMD document defaults to `none`.
    `resource`, when given, limits a registered `scope` to that resource's scopes.
    """
    if not isinstance(data, dict):
        raise _invalid("The client metadata must be a JSON object.")
    metadata: dict[str, Any] = {"redirect_uris": validate_redirect_uris(data.get("redirect_uris"))}

    auth_method = data.get("token_endpoint_auth_method", default_auth_method)
    if auth_method == "private_key_jwt":
        raise _invalid("private_key_jwt is not supported by this broker; use none.")
    if auth_method not in AUTH_METHODS:
        raise _invalid(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}.")
    if "jwks" in data or "jwks_uri" in data:
        raise _invalid("jwks and jwks_uri are not supported (no private_key_jwt).")
    metadata["token_endpoint_auth_method"] = auth_method

    grant_types = _string_list(data, "grant_types", ["authorization_code"])
    if "authorization_code" not in grant_types or not set(grant_types) <= set(GRANT_TYPES):
        raise _invalid("grant_types must include authorization_code and may add refresh_token.")
    metadata["grant_types"] = list(dict.fromkeys(grant_types))
    if set(_string_list(data, "response_types", ["code"])) != {"code"}:
        raise _invalid('response_types must be ["code"].')
    metadata["response_types"] = ["code"]

    application_type = data.get("application_type", "web")
    if application_type not in APPLICATION_TYPES:
        raise _invalid("application_type must be web or native.")
    metadata["application_type"] = application_type

    if "client_name" in data:
        metadata["client_name"] = _string(data, "client_name", MAX_NAME)
    for name in _URL_FIELDS:
        if name in data:
            metadata[name] = _https_url(data, name)
    for name in _STRING_FIELDS:
        if name in data:
            metadata[name] = _string(data, name, MAX_STRING)
    if "contacts" in data:
        metadata["contacts"] = _string_list(data, "contacts", [])[:10]
    if "scope" in data:
        metadata["scope"] = _scope(data, resource)
    return metadata


def validate_redirect_uris(value: object) -> list[str]:
    """Required, non-empty; each one `redirect_uris.redirect_uri_problem` accepts."""
    if not isinstance(value, list) or not value:
        raise ClientMetadataError("invalid_redirect_uri", "redirect_uris is required: a list.")
    if len(value) > MAX_REDIRECT_URIS:
        raise ClientMetadataError(
            "invalid_redirect_uri", f"At most {MAX_REDIRECT_URIS} redirect URIs."
        )
    for uri in value:
        problem = redirect_uri_problem(uri) if isinstance(uri, str) else "must be a string"
        if problem:
            raise ClientMetadataError("invalid_redirect_uri", f"Each redirect URI {problem}.")
    return list(dict.fromkeys(value))


def _string(data: dict[str, Any], name: str, max_length: int) -> str:
    value = data[name]
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise _invalid(f"{name} must be a non-empty string of at most {max_length} characters.")
    if character := refused_character(value):  # B14: bidi, invisible and control characters
        raise _invalid(f"{name} must not contain control or format characters ({character}).")
    return value


def _string_list(data: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = data.get(name, default)
    if not isinstance(value, list) or not all(
        isinstance(item, str) and len(item) <= MAX_STRING for item in value
    ):
        raise _invalid(f"{name} must be a list of strings.")
    for item in value:
        if character := refused_character(item):
            raise _invalid(f"{name} must not contain control or format characters ({character}).")
    return value


def _https_url(data: dict[str, Any], name: str) -> str:
    value = _string(data, name, MAX_URL)
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        raise _invalid(f"{name} must be an https URL.")
    return value


def _scope(data: dict[str, Any], resource: Resource | None) -> str:
    value = _string(data, "scope", 1000)
    scopes = value.split()
    if resource is not None and not set(scopes) <= set(resource.scopes_supported):
        raise _invalid(f"scope must be among: {' '.join(resource.scopes_supported)}.")
    return " ".join(dict.fromkeys(scopes))
