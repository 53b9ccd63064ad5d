"""Creating the broker's configuration objects: M2M clients, connections, resources, clients.

Used by the seed and by the CLI. Each function adds and flushes (so the rows exist, in order,
for what refers to them) and leaves the commit to the caller: a seed or a command is one
transaction.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from identity.urls import is_loopback_host
from mock_broker.display_text import refused_character
from mock_broker.identifiers import new_id, new_secret, secret_hash
from mock_broker.models import (
    M2M_AUTH_METHODS,
    Connection,
    M2MClient,
    OAuthClient,
    RegistrationMethod,
    Resource,
    ResourceServerClient,
    resource_key,
)
from mock_broker.redirect_uris import redirect_uri_problem
from mock_broker.resources import canonical_url, find_resource

CLIENT_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
#: Registered clients may refresh; refresh tokens are issued only with offline_access anyway.
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
CLIENT_CREDENTIALS = "client_credentials"


class RegistrationError(ValueError):
    """A registration was refused; the message says why."""


def create_m2m_client(
    db: Session, name: str, client_id: str | None = None, secret: str | None = None
) -> tuple[M2MClient, str]:
    """Create API credentials; returns the client and its secret (shown once, stored hashed)."""
    secret = secret or new_secret()
    client = M2MClient(id=client_id or new_id("skc"), name=name, secret_hash=secret_hash(secret))
    db.add(client)
    db.flush()
    return client, secret


def create_connection(
    db: Session, m2m_client_id: str, login_endpoint: str, connection_id: str | None = None
) -> Connection:
    _require_web_url(login_endpoint, "login endpoint")
    connection = Connection(
        id=connection_id or new_id("conn")[:32],
        login_endpoint=login_endpoint,
        m2m_client_id=m2m_client_id,
    )
    db.add(connection)
    db.flush()
    return connection


def register_resource(
    db: Session,
    name: str,
    mcp_server_url: str,
    scopes: list[str],
    connection_id: str,
    resource_id: str | None = None,
) -> Resource:
    _require_web_url(mcp_server_url, "MCP server URL")
    if urlsplit(mcp_server_url).fragment:
        raise RegistrationError("An RFC 8707 resource URL must not have a fragment.")
    if resource_key(mcp_server_url) is None:
        raise RegistrationError("The MCP server URL must not contain user info.")
    # Stored canonical (lowercase scheme and host, no default port): the form tokens carry
    # in `aud`; a URL equivalent to a registered one would make `resource` ambiguous.
    mcp_server_url = canonical_url(mcp_server_url)
    if find_resource(db, mcp_server_url) is not None:
        raise RegistrationError(f"A resource with the URL {mcp_server_url} is already registered.")
    resource = Resource(
        id=resource_id or new_id("res"),
        name=name,
        mcp_server_url=mcp_server_url,
        scopes=" ".join(dict.fromkeys(scopes)),
        connection_id=connection_id,
    )
    db.add(resource)
    db.flush()
    return resource


def register_client(
    db: Session,
    name: str,
    redirect_uris: list[str],
    resource_id: str | None,
    auth_method: str = "none",
    client_id: str | None = None,
    *,
    grant_types: list[str] | None = None,
    registration_method: str = RegistrationMethod.CLI,
    metadata: dict[str, object] | None = None,
) -> tuple[OAuthClient, str | None]:
    """Register an MCP client; returns it and its secret (None for a public client).

    `resource_id` None makes a client of no resource, whose requests each name one (the seeded
    debugger client; CIMD clients are the same, but are never registered here)."""
    if auth_method not in CLIENT_AUTH_METHODS:
        raise RegistrationError(f"auth method must be one of {', '.join(CLIENT_AUTH_METHODS)}.")
    if not redirect_uris:
        raise RegistrationError("At least one redirect URI is required.")
    _require_plain_text(name, "client name")
    for uri in redirect_uris:
        # The same rules as DCR and CIMD: https, loopback http, or a native app's scheme.
        if problem := redirect_uri_problem(uri):
            raise RegistrationError(f"Each redirect URI {problem}.")
    secret = None if auth_method == "none" else new_secret()
    client = OAuthClient(
        id=client_id or new_id("mcp"),
        name=name,
        secret_hash=secret_hash(secret) if secret else None,
        redirect_uris=list(redirect_uris),
        grant_types=list(grant_types or DEFAULT_GRANT_TYPES),
        token_endpoint_auth_method=auth_method,
        resource_id=resource_id,
        registration_method=registration_method,
        client_metadata=dict(metadata or {}),
    )
    db.add(client)
    db.flush()
    return client, secret


def register_machine_client(
    db: Session,
    name: str,
    resource_id: str,
    auth_method: str = "client_secret_basic",
    client_id: str | None = None,
) -> tuple[OAuthClient, str]:
    """Register a machine MCP client (an agent acting as itself): `client_credentials` only,
    for one resource, always confidential (a grant with no user needs a secret, RFC 6749
    §4.4). It has no redirect URI, so it can never start a user's sign-in. Only an operator
    registers one (this function, the CLI): DCR and CIMD cannot ask for the grant."""
    if auth_method not in M2M_AUTH_METHODS:
        raise RegistrationError(f"auth method must be one of {', '.join(M2M_AUTH_METHODS)}.")
    _require_plain_text(name, "client name")
    secret = new_secret()
    client = OAuthClient(
        id=client_id or new_id("mcp"),
        name=name,
        secret_hash=secret_hash(secret),
        redirect_uris=[],
        grant_types=[CLIENT_CREDENTIALS],
        token_endpoint_auth_method=auth_method,
        resource_id=resource_id,
        registration_method=RegistrationMethod.CLI,
        client_metadata={},
    )
    db.add(client)
    db.flush()
    return client, secret


def create_resource_server_client(
    db: Session,
    name: str,
    resource_id: str,
    client_id: str | None = None,
    secret: str | None = None,
) -> tuple[ResourceServerClient, str]:
    """Credentials for an MCP server to call introspection for its own resource's tokens."""
    secret = secret or new_secret()
    client = ResourceServerClient(
        id=client_id or new_id("rsc"),
        name=name,
        secret_hash=secret_hash(secret),
        resource_id=resource_id,
    )
    db.add(client)
    db.flush()
    return client, secret


def _require_web_url(url: str, what: str) -> None:
    """https anywhere, plain http only on loopback (RFC 9700 §2.6, MCP authorization)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistrationError(f"The {what} must be an absolute http(s) URL.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise RegistrationError(f"The {what} must use https unless it is on loopback.")


def _require_plain_text(text: str, what: str) -> None:
    """Shown on the consent page: no control, bidirectional or invisible characters (B14)."""
    if character := refused_character(text):
        raise RegistrationError(
            f"The {what} must not contain control or format characters ({character})."
        )
