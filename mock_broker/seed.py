"""The fixed development values every local setup shares (documented in the README).

The customer side's development configuration and the tests import these constants, so both
sides agree without copying strings. None of them is a secret: they exist only on a laptop.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from mock_broker import database, keys
from mock_broker.identifiers import secret_hash
from mock_broker.models import (
    Connection,
    M2MClient,
    OAuthClient,
    RegistrationMethod,
    Resource,
    ResourceServerClient,
)
from mock_broker.registration import (
    DEFAULT_GRANT_TYPES,
    create_connection,
    create_m2m_client,
    create_resource_server_client,
    register_client,
    register_resource,
)

DEV_M2M_CLIENT_ID = "skc_dev_customer_idp"
DEV_M2M_CLIENT_SECRET = "dev-broker-secret-not-for-production"  # noqa: S105 - public dev value
DEV_CONNECTION_ID = "conn_dev"
DEV_RESOURCE_ID = "res_dev_notes"
DEV_RESOURCE_NAME = "Notes (demo MCP server)"
DEV_MCP_SERVER_URL = "http://127.0.0.1:5003/mcp"  # the default of MOCK_BROKER_DEV_MCP_SERVER_URL
DEV_RESOURCE_SCOPES = ("notes:read", "notes:write")
#: The sample MCP server's own credentials for introspection (MCP_TOKEN_CHECK=introspection).
DEV_INTROSPECTION_CLIENT_ID = "rsc_dev_notes"
DEV_INTROSPECTION_CLIENT_SECRET = "dev-introspection-secret-not-for-production"  # noqa: S105
DEMO_CLIENT_ID = "demo_client"
DEMO_CLIENT_NAME = "Broker demo"
DEMO_REDIRECT_PATH = "/demo/callback"
#: The OAuth debugger's client (/dev/debugger): confidential, so that it may introspect the
#: tokens issued to it, and bound to no resource, so that it can sign in to every resource
#: (each request names one with RFC 8707 `resource`, as a metadata-document client does).
DEBUGGER_CLIENT_ID = "debugger_client"
DEBUGGER_CLIENT_NAME = "Broker OAuth debugger"
DEBUGGER_CLIENT_SECRET = "dev-debugger-secret-not-for-production"  # noqa: S105 - public dev value
DEBUGGER_REDIRECT_PATH = "/dev/debugger/callback"
DEBUGGER_AUTH_METHOD = "client_secret_post"


def demo_redirect_uri(env_url: str) -> str:
    return env_url + DEMO_REDIRECT_PATH


def debugger_redirect_uri(env_url: str) -> str:
    return env_url + DEBUGGER_REDIRECT_PATH


def seed(app: Flask) -> None:
    """Create the signing key and the development values (idempotent).

    The connection's login endpoint, the demo resource's URL and the demo client's redirect URI
    follow the current configuration, so they are brought up to date on every run: a database
    seeded under one port keeps working when the apps are started on others.
    """
    db = database.session()
    keys.ensure_signing_key(db)
    if db.get(M2MClient, DEV_M2M_CLIENT_ID) is None:
        create_m2m_client(db, "Development customer IdP", DEV_M2M_CLIENT_ID, DEV_M2M_CLIENT_SECRET)
    connection = db.get(Connection, DEV_CONNECTION_ID) or create_connection(
        db, DEV_M2M_CLIENT_ID, app.config["LOGIN_ENDPOINT"], DEV_CONNECTION_ID
    )
    connection.login_endpoint = app.config["LOGIN_ENDPOINT"]
    resource = db.get(Resource, DEV_RESOURCE_ID) or register_resource(
        db,
        DEV_RESOURCE_NAME,
        app.config["DEV_MCP_SERVER_URL"],
        list(DEV_RESOURCE_SCOPES),
        DEV_CONNECTION_ID,
        DEV_RESOURCE_ID,
    )
    resource.mcp_server_url = app.config["DEV_MCP_SERVER_URL"]
    if db.get(ResourceServerClient, DEV_INTROSPECTION_CLIENT_ID) is None:
        create_resource_server_client(
            db,
            "Notes (demo MCP server)",
            DEV_RESOURCE_ID,
            DEV_INTROSPECTION_CLIENT_ID,
            DEV_INTROSPECTION_CLIENT_SECRET,
        )
    demo_redirect = [demo_redirect_uri(app.config["ENV_URL"])]
    demo = db.get(OAuthClient, DEMO_CLIENT_ID)
    if demo is None:
        register_client(
            db,
            DEMO_CLIENT_NAME,
            demo_redirect,
            DEV_RESOURCE_ID,
            client_id=DEMO_CLIENT_ID,
            registration_method=RegistrationMethod.SEEDED,
        )
    else:
        demo.redirect_uris = demo_redirect
        demo.grant_types = list(DEFAULT_GRANT_TYPES)
        demo.registration_method = RegistrationMethod.SEEDED
    if app.config["ENV"] == "development":
        _seed_debugger_client(db, debugger_redirect_uri(app.config["ENV_URL"]))
    else:
        _disable_debugger_client(db)
    db.commit()


def _seed_debugger_client(db: Session, redirect_uri: str) -> None:
    """The debugger's client, its redirect URI and secret brought up to date like the demo's."""
    debugger = db.get(OAuthClient, DEBUGGER_CLIENT_ID)
    if debugger is None:
        debugger, _ = register_client(
            db,
            DEBUGGER_CLIENT_NAME,
            [redirect_uri],
            None,
            DEBUGGER_AUTH_METHOD,
            client_id=DEBUGGER_CLIENT_ID,
            registration_method=RegistrationMethod.SEEDED,
        )
    debugger.redirect_uris = [redirect_uri]
    debugger.resource_id = None
    debugger.token_endpoint_auth_method = DEBUGGER_AUTH_METHOD
    debugger.secret_hash = secret_hash(DEBUGGER_CLIENT_SECRET)
    debugger.grant_types = list(DEFAULT_GRANT_TYPES)
    debugger.registration_method = RegistrationMethod.SEEDED


def _disable_debugger_client(db: Session) -> None:
    """Outside development there is no debugger page, and the client's secret is public: a
    database seeded in development keeps the row (codes and tokens refer to it) but the
    client can no longer start a sign-in, redeem a code or refresh."""
    debugger = db.get(OAuthClient, DEBUGGER_CLIENT_ID)
    if debugger is not None:
        debugger.redirect_uris = []
        debugger.grant_types = []
