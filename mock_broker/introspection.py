"""Token introspection (RFC 7662): `POST /oauth/introspect`, for resource servers and clients.

Who may ask (RFC 7662 §2.1 requires the caller to be authorised, or the endpoint becomes a
token-scanning oracle):

- **an MCP server**, with resource-server credentials made by
  `flask --app mock_broker create-resource-server-client --resource res_…` (`rsc_…` id and
  secret, Basic or form post). It learns about tokens *for its own resource* only: a token
  for another resource is `{"active": false}`, exactly what a wrong audience must look like
  to it (B5);
- **a confidential MCP client**, with its own credentials, about tokens issued to it.

Public clients cannot introspect (they have no credentials), and the customer backend's M2M
credentials are for the profile API, not this. The answer is `{"active": false}` for anything
unknown, expired, revoked or not the caller's; otherwise the token's claims. No CORS: this is
a server-to-server call, and RFC 9700 §2.6 does not list it among the endpoints that may have
it.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from mock_broker import database, faults, refresh_tokens, tokens
from mock_broker.models import OAuthClient, ResourceServerClient
from mock_broker.oauth_server import authorization_server, safe_client_secret_basic
from mock_broker.resources import issuer_for

bp = Blueprint("introspection", __name__, url_prefix="/oauth")

_INACTIVE: dict[str, Any] = {"active": False}
_ACCESS_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")


def _query_caller(client_id: str) -> ResourceServerClient | OAuthClient | None:
    db = database.session()
    return db.get(ResourceServerClient, client_id) or db.get(OAuthClient, client_id)


_authenticate = ClientAuthentication(_query_caller)
_authenticate.register("client_secret_basic", safe_client_secret_basic)


@bp.post("/introspect")
@faults.injectable(faults.INTROSPECTION_ENDPOINT)
def introspect() -> Response:
    server = authorization_server()
    oauth_request = server.create_oauth2_request(request)
    try:
        caller = _authenticate(
            oauth_request, ["client_secret_basic", "client_secret_post"], "introspection"
        )
        token = request.form.get("token")
        if not token:
            raise InvalidRequestError("Missing 'token' in request.")
    except OAuth2Error as error:
        response = server.handle_error_response(oauth_request, error)
    else:
        response = jsonify(_introspect(database.session(), token, caller))
    response.headers["Cache-Control"] = "no-store"
    return response


def _allowed(caller: ResourceServerClient | OAuthClient, client_id: str, resource_id: str) -> bool:
    if isinstance(caller, ResourceServerClient):
        return caller.resource_id == resource_id
    return caller.id == client_id


def _introspect(
    db: Session, token: str, caller: ResourceServerClient | OAuthClient
) -> dict[str, Any]:
    record = tokens.decode_access_token(db, token)
    if record is not None:
        if not _allowed(caller, record.client_id, record.resource_id or "") or not (
            tokens.is_active(db, record)
        ):
            return _INACTIVE
        claims = record.claims or {}
        return {
            "active": True,
            "token_type": "Bearer",
            **{name: claims[name] for name in _ACCESS_CLAIMS if name in claims},
        }
    row = refresh_tokens.find(db, token)
    if row is None or not _allowed(caller, row.client_id, row.resource_id):
        return _INACTIVE
    if not refresh_tokens.is_active(db, row):
        return _INACTIVE
    return {
        "active": True,
        "scope": row.scope,
        "client_id": row.client_id,
        "sub": row.user_id,
        "iss": issuer_for(row.resource_id),
        "aud": [row.resource.mcp_server_url, row.resource_id],
        "iat": int(row.issued_at.timestamp()),
        "exp": int(row.expires_at.timestamp()),
    }
