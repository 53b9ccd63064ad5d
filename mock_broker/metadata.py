"""Discovery: RFC 8414 metadata per resource, and the JWKS every issuer shares.

Each resource is its own authorization server (issuer `{ENV_URL}/resources/{res_id}`), with
the document at both the RFC 8414 path-inserted location and the hosted broker's
issuer-relative one. Only what the mock implements is advertised.

QA: the `metadata_issuer_mismatch` switch serves a document whose `issuer` has a trailing
slash — the classic mismatch a client must refuse (RFC 8414 §3.3).
"""

from __future__ import annotations

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from flask import Blueprint, Response, current_app, jsonify

from mock_broker import database, faults, keys
from mock_broker.http_headers import allow_cors
from mock_broker.models import M2M_AUTH_METHODS, Resource
from mock_broker.resources import issuer_for
from mock_broker.revocation import CLIENT_AUTH_METHODS as REVOCATION_AUTH_METHODS

bp = Blueprint("metadata", __name__)


def authorization_server_metadata(resource: Resource) -> AuthorizationServerMetadata:
    env_url = current_app.config["ENV_URL"]
    metadata = AuthorizationServerMetadata(
        issuer=issuer_for(resource.id),
        authorization_endpoint=f"{env_url}/oauth/authorize",
        token_endpoint=f"{env_url}/oauth/token",
        jwks_uri=f"{env_url}/keys",
        registration_endpoint=f"{env_url}/api/v1/resources/{resource.id}/clients:register",
        revocation_endpoint=f"{env_url}/oauth/revoke",
        revocation_endpoint_auth_methods_supported=REVOCATION_AUTH_METHODS,
        introspection_endpoint=f"{env_url}/oauth/introspect",
        introspection_endpoint_auth_methods_supported=list(M2M_AUTH_METHODS),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        token_endpoint_auth_methods_supported=["none", *M2M_AUTH_METHODS],
        code_challenge_methods_supported=["S256"],
        scopes_supported=resource.scopes_supported,
        authorization_response_iss_parameter_supported=True,
        client_id_metadata_document_supported=True,
    )
    metadata.validate()
    return metadata


@bp.route(
    "/.well-known/oauth-authorization-server/resources/<resource_id>", methods=["GET", "OPTIONS"]
)
@bp.route(
    "/resources/<resource_id>/.well-known/oauth-authorization-server", methods=["GET", "OPTIONS"]
)
@allow_cors("GET")
@faults.injectable(faults.METADATA_ENDPOINT)
def oauth_authorization_server(resource_id: str) -> Response:
    resource = database.session().get(Resource, resource_id)
    if resource is None:
        response = jsonify(error="not_found", error_description="No such resource.")
        response.status_code = 404
        return response
    metadata = dict(authorization_server_metadata(resource))
    if faults.take_switch(faults.METADATA_ISSUER_MISMATCH):
        metadata["issuer"] += "/"
    return jsonify(metadata)


@bp.route("/keys", methods=["GET", "OPTIONS"])
@allow_cors("GET")
@faults.injectable(faults.JWKS_ENDPOINT)
def jwks() -> Response:
    return jsonify(keys.public_jwks(database.session()))
