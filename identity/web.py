"""Response hardening and error pages, for every page the customer side serves.

Headers (C7): pages cannot be framed (CSP frame-ancestors + X-Frame-Options), no Referer
leaves the site (the login URL carries the broker's state), no inline script or style, forms
may post only here — and to the origins a form post redirects to (the broker's callback,
an upstream provider's authorization endpoint), because Chromium applies `form-action` to
the redirect that follows a form post; login methods add theirs with `allow_form_action`.
Every dynamic response is `no-store`: pages hold CSRF tokens and per-user content.

Branding (BRAND_* settings, checked in identity/config.py): the colours are served as CSS
variables by `GET /brand.css`, generated once at start and cacheable (its URL carries a hash of
its content), because the CSP forbids inline styles; base.html links it before style.css. An
https logo's origin is added to `img-src`.

Errors: every failure is a page that says what happened and what to do, with the right 4xx or
5xx status; never a stack trace (E2).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    has_request_context,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from identity import db
from identity.config import parse_hex_color
from identity.login_requests import LoginRequestError

_FORM_ACTION = "identity.form_action_origins"
_BRAND_CSS = "identity.brand_css"
_IMG_SRC = "identity.img_src"
BRAND_CSS_ENDPOINT = "brand_css"
_CACHEABLE = {"static", BRAND_CSS_ENDPOINT}


def init_app(app: Flask) -> None:
    app.extensions[_FORM_ACTION] = {_origin(app.config["BROKER_ENV_URL"])}
    css = brand_stylesheet(app.config)
    app.extensions[_BRAND_CSS] = (css, hashlib.sha256(css.encode()).hexdigest()[:16])
    logo = app.config.get("BRAND_LOGO_URL") or ""
    app.extensions[_IMG_SRC] = _origin(logo) if logo.startswith("https://") else ""
    app.add_url_rule("/brand.css", BRAND_CSS_ENDPOINT, _brand_css)
    app.context_processor(_brand_context)
    app.after_request(_security_headers)
    app.register_error_handler(LoginRequestError, _login_request_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected_error)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def allow_form_action(app: Flask, url: str) -> None:
    """Let this site's forms lead to `url`'s origin (a redirect after a POST goes there)."""
    app.extensions[_FORM_ACTION].add(_origin(url))


def brand_stylesheet(config) -> str:
    """The CSS variables of the BRAND_* settings (validated by config.check_config)."""
    primary = parse_hex_color(config["BRAND_PRIMARY_COLOR"])
    accent = parse_hex_color(config["BRAND_ACCENT_COLOR"])
    darker = tuple(round(channel * 0.8) for channel in primary)  # hover: 20 % darker

    def hex_color(rgb) -> str:
        return "#{:02x}{:02x}{:02x}".format(*rgb)

    return (
        "/* Generated from the BRAND_* settings (identity/config.py, identity/web.py). */\n"
        ":root {\n"
        f"  --brand: {hex_color(primary)};\n"
        f"  --brand-dark: {hex_color(darker)};\n"
        f"  --accent: {hex_color(accent)};\n"
        "}\n"
    )


def _brand_css():
    css, version = current_app.extensions[_BRAND_CSS]
    response = Response(css, mimetype="text/css")
    # The link carries ?v=<hash of the content>: a new brand is a new URL, so caching is safe.
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.set_etag(version)
    return response.make_conditional(request)


def _brand_context() -> dict:
    if not has_request_context():  # e.g. an email rendered by a CLI command: no pages
        return {}
    _, version = current_app.extensions[_BRAND_CSS]
    return {
        "brand_css_url": url_for(BRAND_CSS_ENDPOINT, v=version),
        "brand_logo_url": current_app.config.get("BRAND_LOGO_URL") or None,
    }


def _security_headers(response):
    targets = " ".join(sorted(current_app.extensions[_FORM_ACTION]))
    images = " ".join(filter(None, ["'self' data:", current_app.extensions[_IMG_SRC]]))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {images}; "
        f"form-action 'self' {targets}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint not in _CACHEABLE:
        response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(status: int, title: str, message: str, **context):
    return render_template(
        "error.html", status=status, title=title, message=message, **context
    ), status


def _login_request_error(error: LoginRequestError):
    page, status = _error_page(error.status, error.title, error.message)
    retry_after = getattr(error, "retry_after", None)  # 429 (E4)
    return page, status, ({"Retry-After": str(retry_after)} if retry_after else {})


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


def _database_unavailable(error: OperationalError):
    """The database is busy (SQLite's lock held past the busy timeout) or unreachable: nothing
    of this request was kept, nothing earlier was lost, and trying again will likely work."""
    current_app.logger.warning(
        "database unavailable on %s %s (%s)", request.method, request.path, type(error).__name__
    )
    db.session().rollback()
    page, status = _error_page(
        503,
        "We're busy right now",
        "Nothing was lost. Please wait a few seconds and try again.",
    )
    return page, status, {"Retry-After": "5"}


def _unexpected_error(error: Exception):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    db.session().rollback()
    return _error_page(
        500,
        "Something went wrong on our side",
        "It has been logged. Please try again in a moment.",
    )
