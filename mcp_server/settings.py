"""Configuration: which MCP server this is and which broker resource issues its tokens.

Three values tie the server to the broker, and all three must match what the broker has
registered for the resource (Scalekit dashboard → MCP servers, or the mock's seed):

- `MCP_SERVER_URL`: the URL clients connect to. It is the RFC 8707 resource identifier, so it
  is what tokens must carry in `aud` and what the protected-resource metadata names;
- `BROKER_ENV_URL`: the broker environment (JWKS at `{env}/keys`);
- `MCP_RESOURCE_ID`: the `res_…` id; the issuer is `{env}/resources/{res_id}`.

How tokens are checked (`MCP_TOKEN_CHECK`, see `token_verifier`): `jwt` (default) locally
only; `introspection` locally and then at the broker's RFC 7662 endpoint, with the server's
own credentials (`MCP_INTROSPECTION_CLIENT_ID` / `_SECRET`: a resource-server client, made
by `flask --app mock_broker create-resource-server-client --resource res_…`, or the seeded
`rsc_dev_notes` locally) and an optional cache (`MCP_INTROSPECTION_CACHE_SECONDS`, default 0).

Plain http is refused outside loopback: a bearer token sent in clear text is a stolen token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from identity.urls import url_problem

#: Scope needed for any MCP request; tools may need more (see tools.TOOL_SCOPES).
READ_SCOPE = "notes:read"
WRITE_SCOPE = "notes:write"

#: MCP_TOKEN_CHECK values: local JWT checks only, or local checks and then the broker's word.
JWT = "jwt"
INTROSPECTION = "introspection"
TOKEN_CHECKS = (JWT, INTROSPECTION)


class SettingsError(ValueError):
    """Unusable configuration; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    server_url: str = "http://127.0.0.1:5003/mcp"
    broker_env_url: str = "http://127.0.0.1:5001"
    resource_id: str = "res_dev_notes"
    host: str = "127.0.0.1"
    port: int = 5003
    #: Every scope the server understands, advertised in its metadata. Not `offline_access`:
    #: that is the authorization server's business (MCP 2026-07-28).
    scopes_supported: tuple[str, ...] = (READ_SCOPE, WRITE_SCOPE)
    #: Clock-skew allowance for `exp`/`iat`, in seconds.
    leeway: int = 30
    #: Timeouts for fetching the JWKS, in seconds (connect, read).
    jwks_connect_timeout: float = 3.05
    jwks_read_timeout: float = 5.0
    #: A cached JWKS is refreshed after this long, so retired keys stop being trusted.
    jwks_max_age: float = 3600.0
    #: At most one refetch per this many seconds for unknown `kid`s, so tokens with made-up
    #: key ids cannot turn the server into a JWKS-fetching amplifier.
    jwks_refetch_cooldown: float = 10.0
    #: `jwt` or `introspection` (TOKEN_CHECKS).
    token_check: str = JWT
    #: The server's own credentials at the broker's introspection endpoint.
    introspection_client_id: str = ""
    introspection_client_secret: str = field(default="", repr=False)
    #: Empty: the broker's `{BROKER_ENV_URL}/oauth/introspect`.
    introspection_url: str = ""
    #: How long an introspection answer is reused, in seconds: 0 (default) asks every time,
    #: so a revocation is seen on the next request; more saves calls but keeps a revoked
    #: token working for up to this long (never past the token's own expiry).
    introspection_cache_seconds: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_url", _checked_url("MCP_SERVER_URL", self.server_url))
        env = _checked_url("BROKER_ENV_URL", self.broker_env_url).rstrip("/")
        object.__setattr__(self, "broker_env_url", env)
        if not self.resource_id:
            raise SettingsError("MCP_RESOURCE_ID must be the broker's res_… id for this server.")
        if self.token_check not in TOKEN_CHECKS:
            raise SettingsError(f"MCP_TOKEN_CHECK must be one of {', '.join(TOKEN_CHECKS)}.")
        url = self.introspection_url or f"{env}/oauth/introspect"
        object.__setattr__(self, "introspection_url", _checked_url("MCP_INTROSPECTION_URL", url))
        if self.token_check == INTROSPECTION and not (
            self.introspection_client_id and self.introspection_client_secret
        ):
            raise SettingsError(
                "MCP_TOKEN_CHECK=introspection needs MCP_INTROSPECTION_CLIENT_ID and "
                "MCP_INTROSPECTION_CLIENT_SECRET (the server's resource-server credentials)."
            )
        if not self.introspection_cache_seconds >= 0:
            raise SettingsError("MCP_INTROSPECTION_CACHE_SECONDS must be 0 or more seconds.")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls.__dataclass_fields__
        try:
            port = int(env.get("MCP_SERVER_PORT", defaults["port"].default))
        except ValueError:
            raise SettingsError("MCP_SERVER_PORT must be a port number.") from None
        try:
            cache_seconds = float(env.get("MCP_INTROSPECTION_CACHE_SECONDS", "0"))
        except ValueError:
            raise SettingsError("MCP_INTROSPECTION_CACHE_SECONDS must be a number.") from None
        return cls(
            server_url=env.get("MCP_SERVER_URL", defaults["server_url"].default),
            broker_env_url=env.get("BROKER_ENV_URL", defaults["broker_env_url"].default),
            resource_id=env.get("MCP_RESOURCE_ID", defaults["resource_id"].default),
            host=env.get("MCP_SERVER_HOST", defaults["host"].default),
            port=port,
            token_check=env.get("MCP_TOKEN_CHECK", JWT),
            introspection_client_id=env.get("MCP_INTROSPECTION_CLIENT_ID", ""),
            introspection_client_secret=env.get("MCP_INTROSPECTION_CLIENT_SECRET", ""),
            introspection_url=env.get("MCP_INTROSPECTION_URL", ""),
            introspection_cache_seconds=cache_seconds,
        )

    @property
    def issuer(self) -> str:
        """The broker's per-resource issuer: tokens' `iss`, and the PRM authorization server."""
        return f"{self.broker_env_url}/resources/{self.resource_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.broker_env_url}/keys"

    @property
    def resource_metadata_url(self) -> str:
        """RFC 9728 §3.1: `/.well-known/oauth-protected-resource` inserted before the path."""
        parts = urlsplit(self.server_url)
        return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{parts.path}"

    @property
    def mcp_path(self) -> str:
        return urlsplit(self.server_url).path or "/"


def _checked_url(name: str, url: str) -> str:
    if problem := url_problem(url):
        raise SettingsError(f"{name} {problem}.")
    return url
