"""Token revocation (RFC 7009): `POST /oauth/revoke`, for the client the token was issued to.

The client authenticates as it registered (a public client sends its `client_id`). Revoking an
access token revokes that token; revoking a refresh token revokes its whole grant — every
refresh and access token issued from the same authorization code (RFC 7009 §2.1 "SHOULD also
invalidate all access tokens based on the same authorization grant"). An unknown, expired or
already revoked token is answered 200 all the same (§2.2), so the endpoint tells nobody what
exists; a token of *another* client is refused with `invalid_grant` (§2.1, RFC 6749 §5.2).
`token_type_hint` is optional and only an optimisation, so the broker looks in both places.
CORS is allowed (browser-based MCP clients sign out too).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Error
from flask import Blueprint, Response, jsonify, request

from mock_broker import database, faults, refresh_tokens, tokens
from mock_broker.http_headers import allow_cors
from mock_broker.oauth_server import authorization_server

bp = Blueprint("revocation", __name__, url_prefix="/oauth")

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


@bp.route("/revoke", methods=["POST", "OPTIONS"])
@allow_cors("POST")
@faults.injectable(faults.REVOCATION_ENDPOINT)
def revoke() -> Response:
    server = authorization_server()
    oauth_request = server.create_oauth2_request(request)
    try:
        client = server.authenticate_client(oauth_request, CLIENT_AUTH_METHODS, "revocation")
        token = request.form.get("token")
        if not token:
            raise InvalidRequestError("Missing 'token' in request.")
        _revoke(token, client.get_client_id())
    except OAuth2Error as error:
        response = server.handle_error_response(oauth_request, error)
    else:
        response = jsonify({})
    response.headers["Cache-Control"] = "no-store"
    return response


def _revoke(token: str, client_id: str) -> None:
    db = database.session()
    row = refresh_tokens.find(db, token)
    if row is not None:
        if row.client_id != client_id:
            raise InvalidGrantError("The token was issued to another client.")
        refresh_tokens.revoke_family(db, row)
    elif (record := tokens.decode_access_token(db, token)) is not None:
        if record.client_id != client_id:
            raise InvalidGrantError("The token was issued to another client.")
        record.revoked = True
    db.commit()
