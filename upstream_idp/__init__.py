"""The upstream stand-in: a local OpenID Provider for trying "sign in with <provider>" by hand.

    flask --app upstream_idp run --port 5002

Like the mock OAuth servers QA teams use (navikt/mock-oauth2-server), its login page accepts
any username and lets you write the claims it will issue (email, email_verified, names,
groups), so every account-linking rule of the customer side can be tried; a QA switch on the
same page makes the id_token wrong on purpose (nonce, audience, expiry, signature). Under the
hood it is a real provider built from authlib's server components: code flow with PKCE S256,
nonce, RS256 id_tokens, /userinfo, discovery, RFC 9207 `iss`. It is a development tool: it has
no accounts, and it refuses a plain-HTTP issuer outside loopback.

Development defaults (client id, secret, redirect URI) live in `upstream_idp.settings`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template
from flask_wtf.csrf import CSRFProtect

from identity import input_guard
from upstream_idp import (
    cli,
    clients,
    database,
    discovery,
    errors,
    keys,
    login,
    oauth_server,
    oidc_endpoints,
)
from upstream_idp.config import load_config
from upstream_idp.http_headers import add_security_headers

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, overridden by `test_config` (see config.py)."""
    app = Flask(__name__)
    app.config.from_mapping(load_config(test_config))
    database.init_app(app)
    keys.init_app(app)
    clients.init_app(app)
    oauth_server.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    input_guard.init_app(app)  # NUL in any input: a clear 400, never a database error
    cli.init_app(app)
    app.after_request(add_security_headers)

    # The back channel authenticates with the client secret or a bearer token, not cookies.
    csrf.exempt(oidc_endpoints.bp)
    for blueprint in (discovery.bp, login.bp, oidc_endpoints.bp):
        app.register_blueprint(blueprint)

    @app.get("/")
    def home() -> str:
        return render_template("home.html", clients=app.config["CLIENTS"])

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    return app
