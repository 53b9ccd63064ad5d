"""The browser's return from the customer's login (contract §4), and the consent screen.

The callback spends its one-time value once — the completion value in the browser that started
the sign-in (`browser_binding`, B12), or the `state` in the documented contract's mode — and
binds the login request to this browser (its broker session); the consent form then only works
in that browser, with a CSRF token (B8, B9).
Approving resumes the authlib grant from the stored authorization request and redirects to
the client with a code; denying redirects with `access_denied`. A consent the user gave before
may be remembered (`consent_memory`, REMEMBER_CONSENT): then the callback goes straight to the
client, unless the client sent `prompt=consent`.

The page names where the answer goes: the redirect URI's host, or for a native app's
private-use scheme (RFC 8252 §7.1) the scheme, which picks the application on the user's
device that receives the code. For a client identified by a metadata document (CIMD), the page
also shows the hostname of its `client_id` URL — the only part of what it shows that the
client cannot simply assert (MCP 2025-11-25 security considerations).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    render_template,
    request,
    session,
)

from identity.urls import is_loopback_host
from mock_broker import (
    browser_binding,
    consent_memory,
    database,
    faults,
    login_requests,
    redirect_uris,
)
from mock_broker.errors import error_page
from mock_broker.models import LoginRequest, RegistrationMethod, Resource
from mock_broker.oauth_endpoints import authorization_error
from mock_broker.oauth_server import StoredAuthorizationRequest, authorization_server

bp = Blueprint("consent", __name__)

_SESSION_KEY = "consent_requests"
#: Login requests one browser may have waiting for consent at once (several tabs, clients).
_MAX_PENDING = 10
_MAX_STATE_LENGTH = 512

_INVALID_STATE = (
    "This sign-in link is invalid, expired or was already used. Sign-in links work once and "
    "for about ten minutes. Go back to the application you were signing in to and start again."
)


_STATE_ONLY_REFUSED = (
    " (This broker binds each sign-in to the browser that started it: the customer side must "
    "send the browser to the redirect_uri its profile post was answered with, not build the "
    "callback from the state.)"
)

_OTHER_BROWSER = (
    "This sign-in was started in a different browser, so it has been stopped and nothing was "
    "shared with the application. If you were signing in, go back to the application and start "
    "again, and finish in the browser it opens. If you did not start a sign-in just now, "
    "someone may have sent you this link to get access to your account: you can close this page."
)


@bp.get("/sso/v1/connections/<connection_id>/partner:callback")
@faults.injectable(faults.CALLBACK_ENDPOINT)
def partner_callback(connection_id: str) -> Response:
    db = database.session()
    try:
        login_request = _redeem(db, connection_id)
    except login_requests.OtherBrowser:
        current_app.logger.warning(
            "callback refused: completion value presented by another browser (B12)"
        )
        return error_page("other_browser", _OTHER_BROWSER, 403)
    if login_request is None:
        hint = _STATE_ONLY_REFUSED if _sent_state_only() else ""
        return error_page("invalid_state", _INVALID_STATE + hint)
    if (
        current_app.config["REMEMBER_CONSENT"]
        and login_request.authorize_params.get("prompt") != "consent"
        and consent_memory.covers(db, login_request)
    ):
        return _finish(login_request.id, approved=True)

    pending = [lri for lri in session.get(_SESSION_KEY, []) if lri != login_request.id]
    session[_SESSION_KEY] = [*pending[-(_MAX_PENDING - 1) :], login_request.id]

    resource = db.get(Resource, login_request.resource_id)
    redirect_host = redirect_uris.shown_target(login_request.redirect_uri)
    profile = login_request.profile or {}
    client = login_request.client
    response = make_response(
        render_template(
            "consent.html",
            login_request=login_request,
            client=client,
            client_id_host=(
                urlsplit(client.id).hostname
                if client.registration_method == RegistrationMethod.CIMD
                else None
            ),
            resource=resource,
            redirect_host=redirect_host,
            redirect_is_loopback=not redirect_uris.is_private_use(login_request.redirect_uri)
            and is_loopback_host(redirect_host),
            redirect_is_native=redirect_uris.is_private_use(login_request.redirect_uri),
            scopes=login_request.scope.split(),
            email=profile.get("email"),
            organization=profile.get("organization_external_name"),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _redeem(db, connection_id: str) -> LoginRequest | None:
    """The login request this callback finishes: by completion value (B12) or by state."""
    if browser_binding.enabled():
        value = request.args.get(browser_binding.COMPLETION_PARAMETER, "")
        if not 0 < len(value) <= _MAX_STATE_LENGTH:
            return None
        return login_requests.redeem_completion(
            db, connection_id, value, browser_binding.browser_hash()
        )
    state = request.args.get("state", "")
    if not 0 < len(state) <= _MAX_STATE_LENGTH:
        return None
    return login_requests.redeem_state(db, connection_id, state)


def _sent_state_only() -> bool:
    return (
        browser_binding.enabled()
        and "state" in request.args
        and (browser_binding.COMPLETION_PARAMETER not in request.args)
    )


@bp.post("/oauth/consent")
def decide() -> Response:
    login_request_id = request.form.get("login_request_id", "")
    decision = request.form.get("decision")
    bound = session.get(_SESSION_KEY, [])
    if decision not in ("approve", "deny") or login_request_id not in bound:
        return error_page(
            "invalid_request", "This consent form does not belong to a sign-in in this browser."
        )
    session[_SESSION_KEY] = [lri for lri in bound if lri != login_request_id]
    return _finish(login_request_id, approved=decision == "approve")


def _finish(login_request_id: str, approved: bool) -> Response:
    """Record the decision once, then send the browser to the client with a code or an error."""
    db = database.session()
    login_request: LoginRequest | None = login_requests.decide(db, login_request_id, approved)
    if login_request is None:
        return error_page("invalid_state", _INVALID_STATE)
    if approved:
        consent_memory.remember(db, login_request)

    server = authorization_server()
    stored = StoredAuthorizationRequest(login_request)
    user = login_request.user
    try:
        grant = server.get_consent_grant(stored, end_user=user)
    except OAuth2Error as error:
        return authorization_error(error, stored)
    return server.create_authorization_response(
        stored, grant_user=user if approved else None, grant=grant
    )
