"""Configuration: which MCP server this is and which broker resource issues its tokens.

Three values tie the server to the broker, and all three must match what the broker has
registered for the resource (Scalekit dashboard → MCP servers, or the mock's seed):

- `MCP_SERVER_URL`: the URL clients connect to. It is the RFC 8707 resource identifier, so it
  is what tokens must carry in `aud` and what the protected-resource metadata names;
- `BROKER_ENV_URL`: the broker environment (JWKS at `{env}/keys`);
- `MCP_RESOURCE_ID`: the `res_…` id; the issuer is `{env}/resources/{res_id}`.

Plain http is refused outside loopback: a bearer token sent in clear text is a stolen token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from identity.urls import url_problem

#: Scope needed for any MCP request; tools may need more (see tools.TOOL_SCOPES).
READ_SCOPE = "notes:read"
WRITE_SCOPE = "notes:write"


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_url", _checked_url("MCP_SERVER_URL", self.server_url))
        env = _checked_url("BROKER_ENV_URL", self.broker_env_url).rstrip("/")
        object.__setattr__(self, "broker_env_url", env)
        if not self.resource_id:
            raise SettingsError("MCP_RESOURCE_ID must be the broker's res_… id for this server.")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls.__dataclass_fields__
        try:
            port = int(env.get("MCP_SERVER_PORT", defaults["port"].default))
        except ValueError:
            raise SettingsError("MCP_SERVER_PORT must be a port number.") from None
        return cls(
            server_url=env.get("MCP_SERVER_URL", defaults["server_url"].default),
            broker_env_url=env.get("BROKER_ENV_URL", defaults["broker_env_url"].default),
            resource_id=env.get("MCP_RESOURCE_ID", defaults["resource_id"].default),
            host=env.get("MCP_SERVER_HOST", defaults["host"].default),
            port=port,
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
