"""The relying party's back-channel calls: /token and /userinfo.

Both authenticate with credentials (the client's secret, the bearer token), never cookies, so
they are exempt from CSRF. Their answers are never cached (RFC 6749 §5.1).
"""

from __future__ import annotations

from flask import Blueprint, Response

from upstream_idp.oauth_server import authorization_server

bp = Blueprint("oidc", __name__)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/token")
def token() -> Response:
    return _no_store(authorization_server().create_token_response())


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    return _no_store(authorization_server().create_endpoint_response("userinfo"))
