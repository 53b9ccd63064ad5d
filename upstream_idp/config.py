"""Configuration: `UPSTREAM_IDP_*` environment variables, then test overrides.

Every setting has a working local default (see `settings`), because the stand-in is a
development tool. What is refused is what would be dangerous or confusing: an issuer in plain
HTTP on a non-loopback host, a client that could not work, a code that outlives 60 seconds.
"""

from __future__ import annotations

import os
from typing import Any

from identity.urls import url_problem
from upstream_idp import settings

# (config key, environment variable, default). Durations are seconds.
_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("ISSUER", "UPSTREAM_IDP_ISSUER", settings.DEV_ISSUER),
    ("DATABASE_URL", "UPSTREAM_IDP_DATABASE_URL", ""),
    ("SECRET_KEY", "UPSTREAM_IDP_SECRET_KEY", settings.DEV_SECRET_KEY),
    ("SIGNING_KEY", "UPSTREAM_IDP_SIGNING_KEY", ""),
    ("SIGNING_KEY_FILE", "UPSTREAM_IDP_SIGNING_KEY_FILE", ""),
    ("AUTH_CODE_TTL", "UPSTREAM_IDP_AUTH_CODE_TTL", "60"),
    ("TOKEN_TTL", "UPSTREAM_IDP_TOKEN_TTL", "3600"),
)
_DURATIONS = ("AUTH_CODE_TTL", "TOKEN_TTL")

#: RFC 9700 §4.2.1 wants codes short-lived; the mock broker uses the same cap.
MAX_AUTH_CODE_TTL = 60

TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class ConfigError(RuntimeError):
    """Unsafe or malformed configuration; the message says what to set."""


def load_config(test_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the app config from the environment, apply overrides, and refuse unusable values."""
    config: dict[str, Any] = {key: os.environ.get(env, default) for key, env, default in _SETTINGS}
    config["CLIENTS"] = [_client_from_environment()]
    config.update(test_config or {})

    for key in _DURATIONS:
        try:
            config[key] = int(config[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number of seconds.") from None
        if config[key] <= 0:
            raise ConfigError(f"{key} must be positive.")
    if config["AUTH_CODE_TTL"] > MAX_AUTH_CODE_TTL:
        raise ConfigError(f"AUTH_CODE_TTL must be at most {MAX_AUTH_CODE_TTL} seconds.")

    config["ISSUER"] = _checked_url("UPSTREAM_IDP_ISSUER", str(config["ISSUER"])).rstrip("/")
    config["CLIENTS"] = [_checked_client(client) for client in config["CLIENTS"]]
    client_ids = [client["client_id"] for client in config["CLIENTS"]]
    if not client_ids or len(set(client_ids)) != len(client_ids):
        raise ConfigError("CLIENTS must register at least one client, each client_id once.")
    if not config["SECRET_KEY"]:
        raise ConfigError("UPSTREAM_IDP_SECRET_KEY must not be empty.")

    # Read by authlib's bearer token generator: the access token lives as long as the id_token.
    config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": config["TOKEN_TTL"]}

    secure = config["ISSUER"].startswith("https://")
    # Every app of the stack runs on 127.0.0.1, and browsers share cookies across ports:
    # Flask's default `session` cookie would overwrite the other apps' sessions and CSRF tokens.
    config.setdefault("SESSION_COOKIE_NAME", "upstream_session")
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    config.setdefault("SESSION_COOKIE_SECURE", secure)
    config.setdefault("MAX_CONTENT_LENGTH", 64 * 1024)
    # The login form may sit open while QA edits claims; the CSRF token lives with the session.
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    return config


def _client_from_environment() -> dict[str, Any]:
    """The one default client, from `UPSTREAM_IDP_CLIENT_*` or the development values."""
    return {
        "client_id": os.environ.get("UPSTREAM_IDP_CLIENT_ID", settings.DEV_CLIENT_ID),
        "client_secret": os.environ.get("UPSTREAM_IDP_CLIENT_SECRET", settings.DEV_CLIENT_SECRET),
        "redirect_uris": os.environ.get(
            "UPSTREAM_IDP_REDIRECT_URIS", settings.DEV_REDIRECT_URI
        ).split(),
        "token_endpoint_auth_method": os.environ.get(
            "UPSTREAM_IDP_TOKEN_ENDPOINT_AUTH_METHOD", settings.DEV_TOKEN_ENDPOINT_AUTH_METHOD
        ),
    }


def _checked_client(client: Any) -> dict[str, Any]:
    """A client registration with every field present and usable, normalised to plain types."""
    if not isinstance(client, dict):
        raise ConfigError("Each entry of CLIENTS must be a dict.")
    client_id = client.get("client_id")
    secret = client.get("client_secret")
    if not isinstance(client_id, str) or not client_id:
        raise ConfigError("Each client needs a non-empty client_id.")
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"Client {client_id!r} needs a non-empty client_secret.")
    redirect_uris = client.get("redirect_uris")
    if isinstance(redirect_uris, str):
        redirect_uris = redirect_uris.split()
    if not redirect_uris:
        raise ConfigError(f"Client {client_id!r} needs at least one redirect URI.")
    for uri in redirect_uris:
        _checked_url(f"redirect URI of client {client_id!r}", uri, allow_query=True)
    method = client.get("token_endpoint_auth_method", settings.DEV_TOKEN_ENDPOINT_AUTH_METHOD)
    if method not in TOKEN_ENDPOINT_AUTH_METHODS:
        raise ConfigError(
            f"Client {client_id!r}: token_endpoint_auth_method must be one of "
            f"{', '.join(TOKEN_ENDPOINT_AUTH_METHODS)}."
        )
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": list(redirect_uris),
        "token_endpoint_auth_method": method,
    }


def _checked_url(name: str, url: str, allow_query: bool = False) -> str:
    if problem := url_problem(url, allow_query):
        raise ConfigError(f"{name} {problem}.")
    return url
