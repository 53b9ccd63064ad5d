"""Error responses: an HTML page for people, JSON for the protocol endpoints."""

from __future__ import annotations

from flask import Flask, Response, make_response, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from identity.protocol_errors import json_or_page

_JSON_PREFIXES = ("/token", "/userinfo", "/jwks", "/.well-known/", "/healthz")


def error_page(error: str, description: str, status: int = 400) -> Response:
    """A page that says what went wrong and what to do, titled with the OAuth error code."""
    return make_response(
        render_template("error.html", error=error, description=description), status
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        return error_page(
            "csrf_failed",
            "This form expired or did not come from this page. Go back to the application, "
            "start the sign-in again, and submit the new form.",
        )

    app.register_error_handler(HTTPException, json_or_page(_JSON_PREFIXES, error_page))
