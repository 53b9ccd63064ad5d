"""The broker API the customer backend calls: receive the signed-in user's profile (contract §3).

    POST /api/v1/connections/{connection_id}/auth-requests/{login_request_id}/user
    Authorization: Bearer <M2M access token>

Checks run in this order: the bearer token (401), the connection and that the token's client
owns it (404 / 401), the body (400), then the login request (404 / 409 / 410). Every answer
is JSON, `{"error", "error_description"}` on failure, and no input reaches a 500. Success is
`{"auth_request_id": …}`, plus `redirect_uri` — where to send the browser — when sign-ins are
bound to the browser (`browser_binding`, B12).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import update

from mock_broker import browser_binding, database, faults
from mock_broker.models import Connection, LoginRequest, LoginRequestStatus
from mock_broker.profile import ProfileError, parse_profile
from mock_broker.tokens import InvalidTokenError, verify_m2m_token

bp = Blueprint("connections_api", __name__, url_prefix="/api/v1")


def api_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    if error == "invalid_token":
        # RFC 6750 §3: the scheme and the error, so clients know to fetch a new token.
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@bp.post("/connections/<connection_id>/auth-requests/<login_request_id>/user")
def receive_user(connection_id: str, login_request_id: str) -> Response:
    if (fault := faults.take(faults.USER_ENDPOINT)) is not None:
        return fault
    db = database.session()

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return api_error(401, "invalid_token", "Send the M2M access token as a Bearer token.")
    try:
        m2m_client_id = verify_m2m_token(db, token.strip())
    except InvalidTokenError as error:
        return api_error(401, "invalid_token", str(error))

    connection = db.get(Connection, connection_id)
    if connection is None:
        return api_error(404, "not_found", "No such connection.")
    if connection.m2m_client_id != m2m_client_id:
        return api_error(401, "invalid_token", "This token's client does not own the connection.")

    if request.mimetype != "application/json":
        return api_error(400, "invalid_request", "The body must be JSON (application/json).")
    try:
        profile = parse_profile(request.get_data(cache=False))
    except ProfileError as error:
        return api_error(400, "invalid_request", str(error))

    login_request = db.get(LoginRequest, login_request_id)
    if login_request is None or login_request.connection_id != connection_id:
        return api_error(404, "not_found", "No such login request for this connection.")

    # Store (or replace) the profile only while the login request is still waiting for it and
    # alive, in one conditional update, so a racing callback cannot be overwritten. When
    # sign-ins are bound to the browser (B12), each post also replaces the one-time completion
    # value, and the answer names the callback URL that carries it.
    values = {"profile": profile, "status": LoginRequestStatus.PROFILE_RECEIVED}
    callback_url = None
    if browser_binding.enabled():
        callback_url, values["completion_hash"] = browser_binding.new_completion(connection_id)
    if faults.take_switch(faults.FOREIGN_CALLBACK):
        callback_url = f"{faults.FOREIGN_CALLBACK_URL}?completion=injected"
    now = database.utcnow()
    stored = db.execute(
        update(LoginRequest)
        .where(
            LoginRequest.id == login_request_id,
            LoginRequest.status.in_(
                (LoginRequestStatus.PENDING, LoginRequestStatus.PROFILE_RECEIVED)
            ),
            LoginRequest.expires_at > now,
        )
        .values(**values)
    )
    if stored.rowcount == 1:
        db.commit()
        answer = {"auth_request_id": login_request_id}
        if callback_url is not None:
            answer["redirect_uri"] = callback_url
        return jsonify(answer)
    db.rollback()
    if login_request.status in (LoginRequestStatus.PENDING, LoginRequestStatus.PROFILE_RECEIVED):
        return api_error(410, "login_request_expired", "The login request expired; sign in again.")
    return api_error(
        409, "login_request_completed", "This login request already went through the callback."
    )
