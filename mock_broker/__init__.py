"""The mock broker: a local stand-in for the hosted OAuth 2.1 broker (see docs/broker-contract.md).

    flask --app mock_broker init-db     # migrate and seed the development values
    flask --app mock_broker run --port 5001

It is a real authorization server for MCP clients — PKCE, RFC 8707 resources, RFC 9207 `iss`,
RS256 JWTs, rotating refresh tokens, dynamic client registration (RFC 7591), Client ID
Metadata Documents, revocation (RFC 7009) and introspection (RFC 7662) — plus the API and
browser callback the customer side uses, a demo client, and QA switches (faults, revocation,
early expiry).

Endpoints (`{res}` is a `res_…` id):

    GET  /.well-known/oauth-authorization-server/resources/{res}   RFC 8414 metadata
    GET  /resources/{res}/.well-known/oauth-authorization-server   (hosted broker's path)
    GET  /keys                                                     JWKS
    GET  /oauth/authorize          POST /oauth/token
    POST /oauth/revoke             POST /oauth/introspect
    POST /api/v1/resources/{res}/clients:register                  RFC 7591
    POST /api/v1/connections/{conn}/auth-requests/{lri}/user       the profile (contract §3)
    GET  /sso/v1/connections/{conn}/partner:callback               the browser's return
    /dev/…                                                         QA pages (development)

It is a development tool: it refuses to serve a plain-HTTP public URL outside loopback.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from identity import input_guard, logging_setup, proxy
from mock_broker import (
    cli,
    connections_api,
    consent,
    database,
    debugger,
    demo,
    dev_tools,
    display_text,
    dynamic_registration,
    errors,
    introspection,
    metadata,
    oauth_endpoints,
    oauth_server,
    revocation,
)
from mock_broker.config import load_config
from mock_broker.http_headers import add_security_headers

log = logging.getLogger(__name__)
csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, overridden by `test_config` (see config.py)."""
    app = Flask(__name__)
    app.config.from_mapping(load_config(test_config))
    # First, so that every later hook's log lines and early answers carry the request id
    # (the customer side's, when it sent one with the profile post).
    logging_setup.init_app(app, app.config["LOG_FORMAT"], access_logger="mock_broker.access")
    database.init_app(app)
    oauth_server.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    input_guard.init_app(app)  # NUL in any input: a clear 400, never a database error
    cli.init_app(app)
    display_text.init_app(app)  # the `shown` filter for client-supplied text (B14)
    app.after_request(add_security_headers)

    # Machine-to-machine endpoints authenticate with client credentials or bearer tokens, not
    # cookies, so there is no session for a cross-site request to ride on.
    for exempt in (connections_api.bp, dynamic_registration.bp, revocation.bp, introspection.bp):
        csrf.exempt(exempt)
    csrf.exempt(oauth_endpoints.token)
    for blueprint in (
        metadata.bp,
        oauth_endpoints.bp,
        consent.bp,
        connections_api.bp,
        dynamic_registration.bp,
        revocation.bp,
        introspection.bp,
        demo.bp,
    ):
        app.register_blueprint(blueprint)
    if app.config["ENV"] == "development":
        app.register_blueprint(dev_tools.bp)
        app.register_blueprint(debugger.bp)

    @app.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process answers."""
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Readiness: the database answers a `SELECT 1`."""
        try:
            database.session().execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            # The exception text may name the database host and user: logged by type only.
            log.warning("readiness check failed: database unreachable (%s)", type(error).__name__)
            return jsonify(status="unavailable", reason="database unreachable"), 503
        return jsonify(status="ok"), 200

    proxy.init_app(app, app.config["TRUSTED_PROXY_HOPS"])
    return app
