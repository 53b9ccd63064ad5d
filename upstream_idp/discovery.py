"""Discovery (OpenID Connect Discovery 1.0) and the JWKS: what an RP reads before it starts.

Only what the stand-in implements is advertised, so an RP configured from this document alone
uses PKCE S256, RS256 and the client authentication it was registered with. Both documents are
public and cookie-free, so any origin may read them.
"""

from __future__ import annotations

from authlib.oauth2.rfc9207 import AuthorizationServerMetadata as IssuerParameterMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import Blueprint, Response, current_app, jsonify

from upstream_idp import keys
from upstream_idp.claims import ISSUED_CLAIMS
from upstream_idp.config import TOKEN_ENDPOINT_AUTH_METHODS
from upstream_idp.settings import SCOPES_SUPPORTED

bp = Blueprint("discovery", __name__)


def provider_metadata() -> OpenIDProviderMetadata:
    issuer = current_app.config["ISSUER"]
    metadata = OpenIDProviderMetadata(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        userinfo_endpoint=f"{issuer}/userinfo",
        jwks_uri=f"{issuer}/jwks",
        scopes_supported=list(SCOPES_SUPPORTED),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=[keys.ALGORITHM],
        token_endpoint_auth_methods_supported=list(TOKEN_ENDPOINT_AUTH_METHODS),
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            *ISSUED_CLAIMS,
        ],
        authorization_response_iss_parameter_supported=True,
    )
    metadata.validate(metadata_classes=[IssuerParameterMetadata])
    return metadata


def _public(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    return _public(jsonify(provider_metadata()))


@bp.get("/jwks")
def jwks() -> Response:
    return _public(jsonify(keys.public_jwks()))
