"""Response hardening and error pages, for every page the customer side serves.

Headers (C7): pages cannot be framed (CSP frame-ancestors + X-Frame-Options), no Referer
leaves the site (the login URL carries the broker's state), no inline script or style, forms
may post only here — and to the origins a form post redirects to (the broker's callback,
an upstream provider's authorization endpoint), because Chromium applies `form-action` to
the redirect that follows a form post; login methods add theirs with `allow_form_action`.
Every dynamic response is `no-store`: pages hold CSRF tokens and per-user content.

Errors: every failure is a page that says what happened and what to do, with the right 4xx or
5xx status; never a stack trace (E2).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from identity import db
from identity.login_requests import LoginRequestError

_FORM_ACTION = "identity.form_action_origins"


def init_app(app: Flask) -> None:
    app.extensions[_FORM_ACTION] = {_origin(app.config["BROKER_ENV_URL"])}
    app.after_request(_security_headers)
    app.register_error_handler(LoginRequestError, _login_request_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def allow_form_action(app: Flask, url: str) -> None:
    """Let this site's forms lead to `url`'s origin (a redirect after a POST goes there)."""
    app.extensions[_FORM_ACTION].add(_origin(url))


def _security_headers(response):
    targets = " ".join(sorted(current_app.extensions[_FORM_ACTION]))
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"form-action 'self' {targets}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(status: int, title: str, message: str, **context):
    return render_template(
        "error.html", status=status, title=title, message=message, **context
    ), status


def _login_request_error(error: LoginRequestError):
    return _error_page(error.status, error.title, error.message)


def _csrf_error(error: CSRFError):
    # Most often: the page was open while the session changed (signed in from another tab,
    # or it sat too long). Nothing was changed; reloading the page gives a fresh form.
    return _error_page(
        400,
        "This page has expired",
        "Nothing was changed. Go back, reload the page and try again.",
    )


_MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "What was sent is larger than this site accepts."),
    429: ("Too many requests", "Please wait a moment and try again."),
}


def _http_error(error: HTTPException):
    status = error.code or 500
    title, message = _MESSAGES.get(status, (error.name, "Something went wrong."))
    response = error.get_response()
    page, _ = _error_page(status, title, message)
    response.set_data(page)
    response.content_type = "text/html; charset=utf-8"
    return response


def _unexpected_error(error: Exception):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    db.session().rollback()
    return _error_page(
        500,
        "Something went wrong on our side",
        "It has been logged. Please try again in a moment.",
    )
