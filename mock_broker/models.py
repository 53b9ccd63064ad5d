"""The mock broker's tables, as SQLAlchemy 2.x declarative models.

The client models implement authlib's `ClientMixin` and the code model its
`AuthorizationCodeMixin`, so authlib's grants can use them directly. Secrets, codes and states
are stored only as SHA-256 digests (see `identifiers`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin
from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity.urls import is_loopback_host
from mock_broker.database import Base, UTCDateTime, utcnow
from mock_broker.identifiers import secret_matches

#: The scope that asks for a refresh token; advertised by every resource (MCP 2026-07-28).
OFFLINE_ACCESS = "offline_access"

M2M_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class M2MClient(Base, ClientMixin):
    """A customer backend's API credentials (`skc_…`): client_credentials only."""

    __tablename__ = "m2m_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def get_client_id(self) -> str:
        return self.id

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # The hosted broker's docs show the secret in the form body; its SDKs use Basic.
        return method in M2M_AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        # M2M tokens carry no scopes; asking for one is an error rather than silently ignored.
        return None if scope else ""


class Connection(Base):
    """The customer's login connection (`conn_…`): where the broker sends browsers to sign in."""

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    login_endpoint: Mapped[str] = mapped_column(String(2048))
    m2m_client_id: Mapped[str] = mapped_column(ForeignKey("m2m_clients.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Resource(Base):
    """One protected MCP server (`res_…`); its issuer is `{ENV_URL}/resources/{id}`."""

    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mcp_server_url: Mapped[str] = mapped_column(String(2048), unique=True)
    scopes: Mapped[str] = mapped_column(Text)  # space-separated, without offline_access
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    connection: Mapped[Connection] = relationship(lazy="joined")

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def scopes_supported(self) -> list[str]:
        return [*self.scope_list, OFFLINE_ACCESS]

    def matches(self, resource_indicator: str) -> bool:
        """RFC 8707 `resource`: the `res_…` id, or the MCP server URL compared by its parts
        (`resource_key`: scheme and host case, default port and empty path tolerated)."""
        if resource_indicator == self.id:
            return True
        key = resource_key(resource_indicator)
        return key is not None and key == resource_key(self.mcp_server_url)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def resource_key(url: str) -> tuple[str, str, int | None, str, str] | None:
    """What identifies an http(s) resource URL: (scheme, host, port, path, query), with the
    equivalences of RFC 3986 §6.2.2.1 and §6.2.3 applied — scheme and host lowercased, a
    default port as None, an empty path as "/" — and nothing else. None for a URL that names
    no resource: not http(s), no host, a malformed port, user info or a fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or "@" in parts.netloc
        or "#" in url
    ):
        return None
    if port == _DEFAULT_PORTS[parts.scheme]:
        port = None
    return (parts.scheme, parts.hostname, port, parts.path or "/", parts.query)


class RegistrationMethod:
    """How a client came to exist (shown on the QA page)."""

    SEEDED = "seeded"
    CLI = "cli"
    DCR = "dcr"  # RFC 7591 dynamic client registration
    CIMD = "cimd"  # a Client ID Metadata Document fetched from the client_id URL


class OAuthClient(Base, ClientMixin):
    """An MCP client, public (auth method `none`) or confidential.

    A registered client (seeded, CLI, DCR) belongs to one resource, as with the hosted
    broker's per-resource registration endpoint; that resource's issuer is the `iss` of every
    authorization response to it. A CIMD client (its id is the https URL of its metadata
    document) belongs to no resource: each request names one with RFC 8707 `resource`, and the
    grant binds it for that request (`bind_resource`).
    """

    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(ForeignKey("resources.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registration_method: Mapped[str] = mapped_column(String(16), default=RegistrationMethod.CLI)
    # RFC 7591 metadata beyond the columns above (client_uri, logo_uri, scope, software_id…).
    client_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # CIMD only: when the document was fetched, and until when the copy may be used.
    metadata_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    metadata_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a user first let it in (its first code); a DCR client never used expires (E4).
    first_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # QA only (the debugger page): merged into `custom_claims` of every access token issued
    # to this client; None for none (SQL NULL, not JSON null, so that "has overrides" is a
    # plain IS NOT NULL). Never settable by the client itself.
    claim_overrides: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    resource: Mapped[Resource | None] = relationship(lazy="joined")

    _bound_resource = None  # not mapped: the resource of the request being validated

    def bind_resource(self, resource: Resource) -> None:
        """Name the resource of the current request (a CIMD client has none of its own)."""
        self._bound_resource = resource

    @property
    def active_resource(self) -> Resource:
        resource = self._bound_resource or self.resource
        if resource is None:
            raise LookupError("no resource bound to this client for the current request")
        return resource

    @property
    def self_registered(self) -> bool:
        """Registered by the client itself (DCR, CIMD): its name is its own claim (B14)."""
        return self.registration_method in (RegistrationMethod.DCR, RegistrationMethod.CIMD)

    def get_client_id(self) -> str:
        return self.id

    def get_default_redirect_uri(self) -> str | None:
        # OAuth 2.1 §2.3.2: the parameter may be omitted only when exactly one is registered.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The default scopes when none are asked for; None (invalid_scope) for unknown ones.

        The default is the scope the client registered (RFC 7591 `scope`) or, without one, the
        resource's scopes. The limit is the resource's scopes, not the registered ones: MCP
        clients register with the scope of their first challenge and later step up (MCP
        2025-11-25 "scope challenge handling"), which a registered limit would break.
        """
        resource = self.active_resource
        if not scope:
            return (self.client_metadata or {}).get("scope") or resource.scopes
        requested = scope.split()
        if not set(requested) <= set(resource.scopes_supported):
            return None
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(_redirect_uri_matches(redirect_uri, uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def _redirect_uri_matches(requested: str, registered: str) -> bool:
    """Exact string match, except that a loopback http redirect may use any port.

    RFC 9700 §4.1.3 and B2 require exact matching; RFC 8252 §7.3 lets native apps bind an
    ephemeral port, so for `http://127.0.0.1`, `http://[::1]` and `http://localhost` every
    component other than the port must still match exactly. A private-use scheme redirect
    (`com.example.app:/callback`, RFC 8252 §7.1) is compared as a whole string, its scheme's
    case included (RFC 8252 §8.4): the client sends what it registered.
    """
    if requested == registered:
        return True
    want, have = _without_port(registered), _without_port(requested)
    if want is None or want[0] != "http" or not is_loopback_host(want[1] or ""):
        return False
    return have == want


def _without_port(url: str) -> tuple[str | None, ...] | None:
    """The URL's parts other than the port, or None when the URL or its port is malformed."""
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # reading .port also rejects non-numeric and out-of-range ports
            return None
    except ValueError:
        return None
    return (
        parts.scheme,
        parts.hostname,
        parts.username,
        parts.password,
        parts.path,
        parts.query,
        parts.fragment,
    )


class BrokerUser(Base):
    """A user as the broker knows them (`usr_…`), keyed by (connection, the customer's `sub`)."""

    __tablename__ = "broker_users"
    __table_args__ = (UniqueConstraint("connection_id", "external_sub"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    external_sub: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginRequestStatus:
    """The life of a login request, in order. `expired` is derived from `expires_at`."""

    PENDING = "pending"  # created by /oauth/authorize, browser sent to the login endpoint
    PROFILE_RECEIVED = "profile_received"  # the customer posted the user (may post again)
    AWAITING_CONSENT = "awaiting_consent"  # the browser came back through the callback
    CONSENTED = "consented"  # the user approved; the code is being issued
    CODE_ISSUED = "code_issued"  # the browser was sent to the client with a code
    DENIED = "denied"  # the user declined; the client got access_denied
    # The callback came from a browser other than the one that started the request (B12).
    REFUSED = "refused"
    EXCHANGED = "exchanged"  # the client redeemed the code for tokens
    EXPIRED = "expired"

    #: States in which the login request can still expire (nothing final happened yet).
    OPEN = (PENDING, PROFILE_RECEIVED, AWAITING_CONSENT)


class LoginRequest(Base):
    """One pending sign-in (`lri_…`), made by /oauth/authorize and finished by consent.

    `authorize_params` holds the validated authorization request exactly as the client sent
    it, so that the authlib grant can be rebuilt and re-validated when the user consents.
    """

    __tablename__ = "login_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # B12: the browser that called /oauth/authorize (a hash of the random id in its broker
    # session), and the one-time value the profile post's answer sends that browser back with.
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    completion_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id"))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scope: Mapped[str] = mapped_column(Text)
    authorize_params: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32), default=LoginRequestStatus.PENDING)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("broker_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    user: Mapped[BrokerUser | None] = relationship()

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    @property
    def effective_status(self) -> str:
        if self.status in LoginRequestStatus.OPEN and self.is_expired():
            return LoginRequestStatus.EXPIRED
        return self.status


class AuthorizationCode(Base, AuthorizationCodeMixin):
    """A single-use authorization code, bound to everything the token request must repeat (B3).

    The row outlives its use: `used_at` makes the code single-use, and a second use sets
    `replayed_at`, which revokes every token issued from the code (RFC 6749 §4.1.2).
    """

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id"))
    # The redirect_uri parameter as sent (None if omitted): the token request must repeat it.
    redirect_uri: Mapped[str | None] = mapped_column(String(2048))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id"))
    scope: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(ForeignKey("broker_users.id"))
    login_request_id: Mapped[str] = mapped_column(ForeignKey("login_requests.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    resource: Mapped[Resource] = relationship(lazy="joined")
    login_request: Mapped[LoginRequest] = relationship()

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class TokenKind:
    M2M = "m2m"
    ACCESS = "access"


class IssuedToken(Base):
    """A record of every JWT the broker signed, so that it can be revoked and audited."""

    __tablename__ = "issued_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    resource_id: Mapped[str | None] = mapped_column(ForeignKey("resources.id"))
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id"), index=True
    )
    revoked: Mapped[bool] = mapped_column(default=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The signed claims, for introspection's answers and the QA page (no secret in them).
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RefreshToken(Base):
    """An opaque refresh token, stored as a hash, bound to client, user, scope and resource.

    Every token of one grant (one authorization code) is a family: `authorization_code_id`
    names it, so revoking a family also revokes the grant's access tokens, and a replayed code
    revokes the refresh tokens too. A use rotates the token (`rotated_at`, successor issued);
    see `refresh_tokens` for reuse detection and the grace window.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    authorization_code_id: Mapped[int] = mapped_column(
        ForeignKey("authorization_codes.id"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("refresh_tokens.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("broker_users.id"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id"))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    resource: Mapped[Resource] = relationship(lazy="joined")
    authorization_code: Mapped[AuthorizationCode] = relationship()

    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: ClientMixin) -> bool:
        return self.client_id == client.get_client_id()


class ConsentGrant(Base):
    """Scopes a user approved for a client at a resource, remembered (REMEMBER_CONSENT)."""

    __tablename__ = "consent_grants"
    __table_args__ = (UniqueConstraint("user_id", "client_id", "resource_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("broker_users.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id"))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[BrokerUser] = relationship(lazy="joined")
    client: Mapped[OAuthClient] = relationship(lazy="joined")

    def covers(self, scope: str) -> bool:
        return set(scope.split()) <= set(self.scope.split())


class ResourceServerClient(Base, ClientMixin):
    """Credentials of an MCP server (`rsc_…`): they may only introspect its resource's tokens."""

    __tablename__ = "resource_server_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def get_client_id(self) -> str:
        return self.id

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "introspection" and method in M2M_AUTH_METHODS


class SigningKey(Base):
    """An RS256 private key as a JWK, persisted so that JWKS and `kid` survive restarts.

    Its rotation state follows from two timestamps (see `keys`): pending until `activated_at`,
    active until `retired_at`, retired after; a pruned key is deleted. A mock keeps the key in
    the database in clear; a production broker would keep it in a KMS/HSM.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def state(self) -> str:
        if self.activated_at is None:
            return "pending"
        return "active" if self.retired_at is None else "retired"


class RateLimitCounter(Base):
    """Events counted for one key (e.g. registrations from one client address) in a fixed
    window, shared by every instance through the database (`rate_limits`, E4)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Fault(Base):
    """A QA switch for the next `remaining_count` calls to `target` (see `faults`).

    An endpoint fault waits `delay_seconds`, then answers `status` (0: answer normally).
    The behaviour switches (wrong `iss`, early expiry…) use `lifetime_seconds` where needed.
    """

    __tablename__ = "faults"

    target: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(64))
    remaining_count: Mapped[int] = mapped_column(Integer)
    delay_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    lifetime_seconds: Mapped[int | None] = mapped_column(Integer)
