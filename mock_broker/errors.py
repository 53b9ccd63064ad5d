"""Error responses: an HTML page for people, JSON for the API and protocol endpoints."""

from __future__ import annotations

from flask import Flask, Response, make_response, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from identity.protocol_errors import json_or_page

_JSON_PREFIXES = (
    "/api/",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/keys",
    "/.well-known/",
    "/resources/",
)


#: Headings that say more than "Something went wrong" for the errors people meet most.
_HEADINGS = {
    "invalid_state": "This sign-in link no longer works",
    "other_browser": "This sign-in was started in another browser",
    "csrf_failed": "This form has expired",
}


def error_page(error: str, description: str, status: int = 400) -> Response:
    """A page that says what went wrong and what to do, with the OAuth error code."""
    heading = _HEADINGS.get(error, "Something went wrong")
    return make_response(
        render_template("error.html", error=error, description=description, heading=heading),
        status,
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        return error_page(
            "csrf_failed",
            "This form expired or did not come from this page. Go back, reload, and try again.",
        )

    app.register_error_handler(HTTPException, json_or_page(_JSON_PREFIXES, error_page))
