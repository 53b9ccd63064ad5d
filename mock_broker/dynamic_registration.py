"""Dynamic client registration (RFC 7591), one endpoint per resource, as the hosted broker has:

    POST {ENV_URL}/api/v1/resources/{res_id}/clients:register
    Content-Type: application/json

Registration is open (no initial access token), as MCP clients expect. A registered client
belongs to that resource. The answer is 201 with the `client_id` (`mcp_…`, never an https URL,
so it cannot be mistaken for a metadata document), `client_id_issued_at`, the secret for a
confidential client (`client_secret_expires_at` 0: it does not expire), and the metadata as
registered — which may differ from what was sent (defaults filled in, unknown fields dropped),
so clients must use the answer. Errors are 400 `invalid_redirect_uri` or
`invalid_client_metadata` (RFC 7591 §3.2.2).

Registrations are limited per client address (E4, `rate_limits`): valid ones count, and past
`REGISTRATION_ADDRESS_LIMIT` per `REGISTRATION_ADDRESS_WINDOW` the answer is 429
`too_many_registrations` with `Retry-After`, and nothing is stored. A client no user ever
signed in with expires at housekeeping after `UNUSED_CLIENT_TTL`.

authlib's `rfc7591.ClientRegistrationEndpoint` was not used: it is bound to one issuer and one
client model with its own metadata claims classes, and the per-resource layout plus the
broker's narrower rules (no private_key_jwt, loopback-only http) are shorter written here.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request

from mock_broker import database, faults, rate_limits
from mock_broker.client_metadata import ClientMetadataError, validate
from mock_broker.http_headers import allow_cors
from mock_broker.models import RegistrationMethod, Resource
from mock_broker.registration import register_client

bp = Blueprint("dynamic_registration", __name__, url_prefix="/api/v1")

UNNAMED_CLIENT = "Unnamed client"


def _error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return response


@bp.route("/resources/<resource_id>/clients:register", methods=["POST", "OPTIONS"])
@allow_cors("POST")
@faults.injectable(faults.REGISTRATION_ENDPOINT)
def register(resource_id: str) -> Response:
    db = database.session()
    resource = db.get(Resource, resource_id)
    if resource is None:
        return _error("not_found", "No such resource.", 404)
    if request.mimetype != "application/json":
        return _error("invalid_client_metadata", "Send the metadata as application/json.")
    try:
        data = json.loads(request.get_data(cache=False))
        metadata = validate(data, resource)
    except (ValueError, RecursionError) as error:
        if isinstance(error, ClientMetadataError):
            return _error(error.error, error.description)
        return _error("invalid_client_metadata", "The body must be a JSON object.")

    if wait := rate_limits.admit_registration(db):
        db.commit()  # the counter row, so that every instance sees the same window
        response = _error(
            "too_many_registrations",
            "Too many client registrations from this address; try again later. A client "
            "should reuse its registration (client_id) across restarts rather than register "
            "again.",
            429,
        )
        response.headers["Retry-After"] = str(wait)
        response.headers["Cache-Control"] = "no-store"
        return response
    client, secret = register_client(
        db,
        metadata.get("client_name", UNNAMED_CLIENT),
        metadata["redirect_uris"],
        resource.id,
        metadata["token_endpoint_auth_method"],
        grant_types=metadata["grant_types"],
        registration_method=RegistrationMethod.DCR,
        metadata={k: v for k, v in metadata.items() if k not in _COLUMNS},
    )
    db.commit()
    body = {
        "client_id": client.id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        **metadata,
    }
    if secret is not None:
        body.update(client_secret=secret, client_secret_expires_at=0)
    response = jsonify(body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"  # it may carry a secret
    return response


#: Metadata kept in columns of their own rather than in `client_metadata`.
_COLUMNS = ("redirect_uris", "token_endpoint_auth_method", "grant_types")
