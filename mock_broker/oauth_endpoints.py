"""The authorization and token endpoints MCP clients call.

GET /oauth/authorize validates the request with authlib and, instead of showing a login form,
records a login request and sends the browser to the customer's login endpoint (contract §1).
The broker comes back to this flow at the callback and the consent form (see `consent`).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from flask import Blueprint, Response, g, redirect

from mock_broker import database, faults, login_requests
from mock_broker.errors import error_page
from mock_broker.http_headers import allow_cors
from mock_broker.oauth_server import authorization_server

bp = Blueprint("oauth", __name__, url_prefix="/oauth")


#: Added to the error page when the redirect URI was valid but not vetted (B13).
UNVETTED_REDIRECT = (
    "The application's return address was registered by the application itself, so this "
    "broker does not send you there automatically. Close this page and try again from the "
    "application, or tell its developer about the error above."
)


def authorization_error(error: OAuth2Error, request: OAuth2Request | None = None) -> Response:
    """Before the redirect URI is trusted, tell the user (never redirect to an unchecked URL);
    after, tell the client, with `error`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207, B6).

    `request` is the stored request of a sign-in the user has interacted with (consent); without
    one, the error was found before any interaction, and goes to the client only when its
    redirect URI is vetted (RFC 9700 §4.11.2, B13): otherwise a 400 page that names the error
    and neither links nor redirects to the client.
    """
    description = error.description or "The authorization request is invalid."
    if error.redirect_uri and (request is not None or g.get("oauth_redirect_vetted")):
        return authorization_server().redirect_error(request, error)
    if error.redirect_uri:
        return error_page(error.error, f"{description} {UNVETTED_REDIRECT}")
    return error_page(error.error, description)


@bp.get("/authorize")
@faults.injectable(faults.AUTHORIZATION_ENDPOINT)
def authorize() -> Response:
    try:
        grant = authorization_server().get_consent_grant()
    except OAuth2Error as error:
        return authorization_error(error)
    return redirect(login_requests.create(database.session(), grant), 302)


@bp.route("/token", methods=["POST", "OPTIONS"])
@allow_cors("POST")
def token() -> Response:
    response = faults.take(faults.TOKEN_ENDPOINT) or authorization_server().create_token_response()
    # RFC 6749 §5.1 and B11: token responses, errors and injected faults too, are never cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
