"""Upstream OpenID Providers, configured without code.

    LOGIN_METHOD_OIDC_PROVIDERS=google,okta
    LOGIN_METHOD_OIDC_GOOGLE_LABEL=Google
    LOGIN_METHOD_OIDC_GOOGLE_ISSUER=https://accounts.google.com
    LOGIN_METHOD_OIDC_GOOGLE_CLIENT_ID=…
    LOGIN_METHOD_OIDC_GOOGLE_CLIENT_SECRET=…
    LOGIN_METHOD_OIDC_GOOGLE_TRUST_EMAIL=true

Per provider (all but ISSUER/DISCOVERY_URL, CLIENT_ID and CLIENT_SECRET optional):
LABEL, ISSUER (discovery at ISSUER/.well-known/openid-configuration) and/or DISCOVERY_URL
(the metadata's `issuer` must equal ISSUER, or the URL the discovery URL is the well-known
path of: OIDC Discovery §4.3, C23; a multi-tenant provider whose metadata names a template
such as `…/{tenantid}/v2.0` is configured with that ISSUER and CLAIMS_OPTIONS for the tokens),
SCOPES (default "openid email profile"), AUTH_METHOD (client_secret_basic or
client_secret_post), TRUST_EMAIL (the provider's verified emails may link to existing local
accounts; default false), JIT (create a local user on first sign-in; default true), CLAIMS (a
JSON object mapping profile fields to claim names, over the standard ones), CLAIMS_OPTIONS
(JSON, authlib claims options, e.g. an accepted issuer list for multi-tenant providers), LEEWAY
(clock skew in seconds, default 120), TIMEOUT (seconds per call, default 10), CA_FILE.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from identity.config import ConfigError

NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

#: Profile fields a provider's claims may fill (identity.models.User columns).
DEFAULT_CLAIMS = {
    "given_name": "given_name",
    "family_name": "family_name",
    "name": "name",
    "preferred_username": "preferred_username",
    "picture": "picture",
    "locale": "locale",
    "groups": "groups",
}
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    issuer: str  # what the discovery document must say its issuer is
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"
    auth_method: str = "client_secret_basic"
    trust_email: bool = False
    jit: bool = True
    claims: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLAIMS))
    claims_options: dict[str, Any] = field(default_factory=dict)
    leeway: int = 120
    timeout: float = 10.0
    ca_file: str | None = None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{value!r} is not a yes/no value")


def _json_object(value: Any) -> dict:
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object")
    return parsed


def load(setting) -> list[Provider]:
    """The configured providers, in order; `setting(key, default, cast)` reads method settings."""
    names = [name.strip() for name in str(setting("PROVIDERS", "")).split(",") if name.strip()]
    if not names:
        raise ConfigError("LOGIN_METHOD_OIDC_PROVIDERS names no provider")
    providers = []
    for name in names:
        if not NAME.fullmatch(name):
            raise ConfigError(
                f"LOGIN_METHOD_OIDC_PROVIDERS: {name!r} is not a short lowercase name"
            )
        prefix = name.upper()

        def get(key: str, default: Any = None, cast=None, _prefix=prefix):
            return setting(f"{_prefix}_{key}", default, cast)

        issuer, discovery = get("ISSUER"), get("DISCOVERY_URL")
        if issuer and not discovery:
            discovery = f"{issuer.rstrip('/')}{WELL_KNOWN}"
        elif discovery and not issuer:
            if not discovery.endswith(WELL_KNOWN):
                raise ConfigError(
                    f"LOGIN_METHOD_OIDC_{prefix}_DISCOVERY_URL is not at {WELL_KNOWN}: set"
                    f" LOGIN_METHOD_OIDC_{prefix}_ISSUER to the issuer its document names"
                )
            issuer = discovery.removesuffix(WELL_KNOWN)
        client_id, client_secret = get("CLIENT_ID"), get("CLIENT_SECRET")
        if not discovery or not client_id or not client_secret:
            raise ConfigError(
                f"OIDC provider {name!r} needs LOGIN_METHOD_OIDC_{prefix}_ISSUER (or"
                f" _DISCOVERY_URL), _CLIENT_ID and _CLIENT_SECRET"
            )
        auth_method = get("AUTH_METHOD", "client_secret_basic")
        if auth_method not in AUTH_METHODS:
            raise ConfigError(
                f"LOGIN_METHOD_OIDC_{prefix}_AUTH_METHOD must be one of {AUTH_METHODS}"
            )
        scopes = get("SCOPES", "openid email profile")
        if "openid" not in scopes.split():
            raise ConfigError(f"LOGIN_METHOD_OIDC_{prefix}_SCOPES must include openid")
        claims = {**DEFAULT_CLAIMS, **get("CLAIMS", {}, _json_object)}
        unknown = set(claims) - set(DEFAULT_CLAIMS)
        if unknown:
            raise ConfigError(
                f"LOGIN_METHOD_OIDC_{prefix}_CLAIMS maps unknown profile fields: {sorted(unknown)}"
            )
        providers.append(
            Provider(
                name=name,
                label=get("LABEL", name.replace("_", " ").title()),
                issuer=issuer,
                discovery_url=discovery,
                client_id=client_id,
                client_secret=client_secret,
                scopes=scopes,
                auth_method=auth_method,
                trust_email=get("TRUST_EMAIL", False, _flag),
                jit=get("JIT", True, _flag),
                claims=claims,
                claims_options=get("CLAIMS_OPTIONS", {}, _json_object),
                leeway=get("LEEWAY", 120, int),
                timeout=get("TIMEOUT", 10.0, float),
                ca_file=get("CA_FILE"),
            )
        )
    return providers
