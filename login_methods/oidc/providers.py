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
JSON object mapping profile fields to claim names, over the standard ones: roles, groups and
the organization fields have none, so only a mapping here lets a provider fill them),
SYNC_FIELDS (the profile fields the provider owns, written at every sign-in, C24: default
given_name, family_name, name, picture and locale plus every field CLAIMS maps; "none" for
none; nothing else a provider sends ever changes the local record), CLAIMS_OPTIONS
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

#: Profile fields with a standard OIDC claim (OIDC Core §5.1), read from that claim by default.
STANDARD_CLAIMS = {
    field: field
    for field in ("given_name", "family_name", "name", "preferred_username", "picture", "locale")
}
#: Profile fields a provider's claims may fill (identity.models.User columns); those without a
#: standard claim (who someone is to the application) only through CLAIMS.
MAPPABLE_FIELDS = (
    *STANDARD_CLAIMS,
    "roles",
    "groups",
    "organization_external_id",
    "organization_external_name",
)
#: What a provider owns unless SYNC_FIELDS says otherwise (C24), plus every field CLAIMS maps.
DEFAULT_SYNC_FIELDS = ("given_name", "family_name", "name", "picture", "locale")
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
    claims: dict[str, str] = field(default_factory=lambda: dict(STANDARD_CLAIMS))
    #: The profile fields this provider writes at each sign-in (C24); no other field changes.
    sync_fields: tuple[str, ...] = DEFAULT_SYNC_FIELDS
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


def _names(value: Any) -> tuple[str, ...]:
    """A comma-separated list of profile fields ("" or "none" for none at all)."""
    names = tuple(name.strip() for name in str(value).split(",") if name.strip())
    if names in ((), ("none",)):
        return ()
    unknown = [name for name in names if name not in MAPPABLE_FIELDS]
    if unknown:
        raise ValueError(f"unknown profile fields {unknown}")
    return names


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
        mapped = get("CLAIMS", {}, _json_object)
        unknown = set(mapped) - set(MAPPABLE_FIELDS)
        if unknown or not all(isinstance(claim, str) and claim for claim in mapped.values()):
            raise ConfigError(
                f"LOGIN_METHOD_OIDC_{prefix}_CLAIMS maps unknown profile fields: {sorted(unknown)}"
                if unknown
                else f"LOGIN_METHOD_OIDC_{prefix}_CLAIMS: each field maps to a claim name"
            )
        claims = {**STANDARD_CLAIMS, **mapped}
        sync_fields = get("SYNC_FIELDS", None, _names)
        if sync_fields is None:
            extra = [name for name in mapped if name not in DEFAULT_SYNC_FIELDS]
            sync_fields = (*DEFAULT_SYNC_FIELDS, *extra)
        unclaimed = [name for name in sync_fields if name not in claims]
        if unclaimed:
            raise ConfigError(
                f"LOGIN_METHOD_OIDC_{prefix}_SYNC_FIELDS names fields with no claim: {unclaimed}"
                f" (map them in LOGIN_METHOD_OIDC_{prefix}_CLAIMS)"
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
                sync_fields=tuple(sync_fields),
                claims_options=get("CLAIMS_OPTIONS", {}, _json_object),
                leeway=get("LEEWAY", 120, int),
                timeout=get("TIMEOUT", 10.0, float),
                ca_file=get("CA_FILE"),
            )
        )
    return providers
