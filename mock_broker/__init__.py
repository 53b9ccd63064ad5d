"""The mock broker: a local stand-in for the hosted OAuth 2.1 broker (see docs/broker-contract.md).

    flask --app mock_broker init-db     # migrate and seed the development values
    flask --app mock_broker run --port 5001

It is a real authorization server for MCP clients — PKCE, RFC 8707 resources, RFC 9207 `iss`,
RS256 JWTs — plus the API and browser callback the customer side uses, a demo client, and QA
switches (faults, revocation, early expiry). It is a development tool: it refuses to serve a
plain-HTTP public URL outside loopback.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from flask_wtf.csrf import CSRFProtect

from mock_broker import (
    cli,
    connections_api,
    consent,
    database,
    demo,
    dev_tools,
    errors,
    metadata,
    oauth_endpoints,
    oauth_server,
)
from mock_broker.config import load_config
from mock_broker.http_headers import add_security_headers

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, overridden by `test_config` (see config.py)."""
    app = Flask(__name__)
    app.config.from_mapping(load_config(test_config))
    database.init_app(app)
    oauth_server.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.after_request(add_security_headers)

    # Machine-to-machine endpoints authenticate with client credentials or bearer tokens, not
    # cookies, so there is no session for a cross-site request to ride on.
    csrf.exempt(connections_api.bp)
    csrf.exempt(oauth_endpoints.token)
    for blueprint in (metadata.bp, oauth_endpoints.bp, consent.bp, connections_api.bp, demo.bp):
        app.register_blueprint(blueprint)
    if app.config["ENV"] == "development":
        app.register_blueprint(dev_tools.bp)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    return app
