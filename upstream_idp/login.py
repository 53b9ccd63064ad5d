"""/authorize: the login page that accepts any username and lets QA write the claims.

GET validates the authorization request with authlib and shows the form; the form posts back
to the same URL, query string included, where authlib validates the request again before a
code is issued, so nothing is kept in between and a tampered query fails like a fresh one.
Until the client and its redirect URI are known to match, errors are shown here and never
redirected (RFC 6749 §4.1.2.1); after that, they go to the client with `state` and `iss`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeGrant, OAuth2Error
from flask import Blueprint, Response, make_response, render_template, request

from upstream_idp import faults
from upstream_idp.claims import LoginForm
from upstream_idp.errors import error_page
from upstream_idp.oauth_server import authorization_server

bp = Blueprint("login", __name__)

CONTINUE = "continue"
CANCEL = "cancel"


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    server = authorization_server()
    if request.method == "GET":
        try:
            grant = server.get_consent_grant()
        except OAuth2Error as error:
            return _authorization_error(error)
        return _login_page(LoginForm(), grant)

    action = request.form.get("action")
    if action not in (CONTINUE, CANCEL):
        return error_page("invalid_request", "Use the Continue or Cancel button of the form.")
    form = LoginForm.from_form(request.form)
    user = form.validate() if action == CONTINUE else None
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _authorization_error(error)
    if action == CONTINUE and user is None:
        return _login_page(form, grant, status=400)
    # With no user, authlib answers the client `access_denied` (RFC 6749 §4.1.2.1).
    return server.create_authorization_response(grant_user=user, grant=grant)


def _authorization_error(error: OAuth2Error) -> Response:
    if error.redirect_uri:
        return authorization_server().redirect_error(None, error)
    return error_page(error.error, error.description or "The authorization request is invalid.")


def _login_page(form: LoginForm, grant: AuthorizationCodeGrant, status: int = 200) -> Response:
    response = make_response(
        render_template(
            "login.html",
            form=form,
            faults=faults.FAULTS,
            client_id=grant.client.get_client_id(),
            redirect_host=urlsplit(grant.redirect_uri).netloc,
            scopes=grant.request.scope.split(),
            action_url=request.full_path,
        ),
        status,
    )
    # The page carries a CSRF token and the request's state: keep it out of caches.
    response.headers["Cache-Control"] = "no-store"
    return response
