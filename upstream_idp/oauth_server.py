"""The OpenID Provider, assembled from authlib's server components.

authlib does the protocol work: request validation, client authentication, PKCE, nonce replay,
the id_token (signed with joserfc), /userinfo and the RFC 9207 `iss` parameter. This module
binds it to the stand-in's storage and states where it is stricter than authlib's defaults:

- PKCE with S256 is required (authlib accepts `plain` and lets confidential clients skip it);
- `openid` and a `nonce` are required: the stand-in exists to exercise an RP's OIDC checks;
- no authorization parameter may appear twice (authlib checks five of them);
- redirect URIs match exactly, and errors about them never echo the input;
- codes live at most 60 s and work once; a replayed code revokes the tokens issued from it;
- every authorization response, errors included, carries `iss` (RFC 9207).

The login page shows the form on GET and posts it back to the same URL, query string and all:
authlib validates the authorization request again on POST, so nothing about the request is
kept between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeGrant,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode, UserInfo, UserInfoEndpoint
from flask import Flask, Response, current_app
from flask import request as flask_request
from joserfc.jwk import RSAKey
from sqlalchemy import delete, exists, select, update

from identity.oauth_requests import ConfiguredUrlRequest
from identity.pkce import S256CodeChallenge
from upstream_idp import database, faults, keys
from upstream_idp.claims import StandInUser
from upstream_idp.clients import Client, find_client
from upstream_idp.models import AccessToken, AuthorizationCode, now, secret_hash
from upstream_idp.settings import SCOPES_SUPPORTED

_EXTENSION = "upstream_idp.oauth"
#: The nonce is stored with the code (to refuse replays), so its size is bounded.
MAX_NONCE_LENGTH = 512


class StandInIssuerParameter(IssuerParameter):
    """RFC 9207: authorization responses name their issuer (a mix-up defence for the RP)."""

    def get_issuer(self) -> str:
        return current_app.config["ISSUER"]


class StandInOpenIDCode(OpenIDCode):
    """authlib's OpenID extension of the code grant: the id_token, and the QA faults in it."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        """A nonce used before by this client is a replay (OpenID Connect Core §15.5.2)."""
        return bool(
            database.session().scalar(
                select(
                    exists().where(
                        AuthorizationCode.client_id == request.payload.client_id,
                        AuthorizationCode.nonce == nonce,
                    )
                )
            )
        )

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return keys.signing_key()

    def get_encode_header(self, client: Client) -> dict[str, str]:
        # The kid lets an RP pick the key from /jwks, and notice when it changes.
        return {"alg": keys.ALGORITHM, "kid": keys.signing_key().kid}

    def validate_openid_authorization_request(
        self, grant: AuthorizationCodeGrant, redirect_uri: str
    ) -> None:
        nonce = grant.request.payload.data.get("nonce") or ""
        if len(nonce) > MAX_NONCE_LENGTH:
            raise InvalidRequestError(f"The nonce may be at most {MAX_NONCE_LENGTH} characters.")
        super().validate_openid_authorization_request(grant, redirect_uri)

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        issued = now()
        return {
            "iss": current_app.config["ISSUER"],
            "aud": client.get_client_id(),
            "iat": issued,
            "exp": issued + current_app.config["TOKEN_TTL"],
        }

    def get_authorization_code_claims(
        self, authorization_code: AuthorizationCode
    ) -> dict[str, Any]:
        """nonce and auth_time from the code; with a claim fault, the wrong iat/exp/aud/nonce.

        authlib applies these after the client claims, so a fault here overrides them.
        """
        claims = super().get_authorization_code_claims(authorization_code)
        return faults.apply_to_claims(
            authorization_code.fault,
            claims,
            now(),
            current_app.config["TOKEN_TTL"],
            authorization_code.client_id,
        )

    def generate_user_info(self, user: StandInUser, scope: str) -> UserInfo:
        return user.user_info(scope)

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        id_token = super().encode_id_token(token, request)
        if request.authorization_code.fault == faults.BAD_SIGNATURE:
            return faults.break_signature(id_token)
        return id_token


class StandInCodeGrant(AuthorizationCodeGrant):
    """The authorization code grant, bound to the stand-in's clients and tables."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    @classmethod
    def check_authorization_endpoint(cls, request: OAuth2Request) -> bool:
        # The only grant, so it answers unsupported response types too: authlib would echo the
        # raw value into error_description, which it refuses (ValueError) for characters
        # RFC 6749 §5.2 forbids there.
        return True

    @staticmethod
    def validate_no_multiple_request_parameter(request: OAuth2Request) -> None:
        """RFC 6749 §3.1: no parameter more than once, including nonce, prompt and PKCE's
        (authlib checks five); which of two values would be meant is anyone's guess."""
        if any(len(values) > 1 for values in request.args.listvalues()):
            raise InvalidRequestError("A parameter appears more than once in the request.")

    def validate_authorization_request(self) -> str:
        payload = self.request.payload
        if payload.response_type != "code":
            raise UnsupportedResponseTypeError(
                payload.response_type,
                description="Only response_type=code is supported.",
                redirect_uri=self.validate_authorization_redirect_uri(
                    self.request, self._requested_client()
                ),
            )
        redirect_uri = super().validate_authorization_request()
        if "openid" not in self.request.scope.split():
            raise InvalidScopeError(
                "This is an OpenID Provider: include 'openid' in scope.", redirect_uri=redirect_uri
            )
        return redirect_uri

    def _requested_client(self) -> Client:
        client = find_client(self.request.payload.client_id or "")
        if client is None:
            raise InvalidClientError(description="The client does not exist on this server.")
        return client

    def validate_authorization_redirect_uri(self, request: OAuth2Request, client: Client) -> str:
        """Exact match, required (OIDC Core §3.1.2.1); messages that never echo the input."""
        requested = request.payload.redirect_uri
        if not requested:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        if not client.check_redirect_uri(requested):
            raise InvalidRequestError("The redirect_uri is not registered for this client.")
        return requested

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: StandInUser = request.user
        issued = now()
        db = database.session()
        db.add(
            AuthorizationCode(
                code_hash=secret_hash(code),
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=request.payload.data.get("nonce"),
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                claims=user.claims,
                fault=user.fault,
                auth_time=issued,
                expires_at=issued + current_app.config["AUTH_CODE_TTL"],
            )
        )
        db.commit()

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """Find and spend the code in one conditional UPDATE, so it works at most once.

        Any use spends it, a failed one too. A code spent before is a replay: the tokens issued
        from it are revoked (RFC 6749 §4.1.2, RFC 9700 §4.5).
        """
        db = database.session()
        row = db.get(AuthorizationCode, secret_hash(code))
        if row is None or row.client_id != client.get_client_id():
            return None
        spent = db.execute(
            update(AuthorizationCode)
            .where(
                AuthorizationCode.code_hash == row.code_hash, AuthorizationCode.used_at.is_(None)
            )
            .values(used_at=now())
        )
        if spent.rowcount == 0:
            db.execute(delete(AccessToken).where(AccessToken.code_hash == row.code_hash))
            db.commit()
            return None
        db.commit()
        return row if now() < row.expires_at else None

    def authenticate_user(self, authorization_code: AuthorizationCode) -> StandInUser:
        return StandInUser(claims=authorization_code.claims, fault=authorization_code.fault)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Keep the spent code: a replay must be recognised, and its nonce stays used."""


class StandInBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> AccessToken | None:
        token = database.session().get(AccessToken, secret_hash(token_string))
        # A token of a client no longer configured is worthless: its client cannot be named.
        return token if token is not None and token.get_client() is not None else None


class StandInUserInfoEndpoint(UserInfoEndpoint):
    """/userinfo: the same claims as the id_token, as the access token's scope allows."""

    def get_issuer(self) -> str:
        return current_app.config["ISSUER"]

    def generate_user_info(self, user: StandInUser, scope: str) -> UserInfo:
        return user.user_info(scope)


class StandInAuthorizationServer(AuthorizationServer):
    """authlib's Flask authorization server with the stand-in's grant and endpoints."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, query_client=find_client, save_token=_save_token)
        self.scopes_supported = list(SCOPES_SUPPORTED)
        self.issuer_parameter = StandInIssuerParameter()
        self.register_extension(self.issuer_parameter)
        self.register_grant(
            StandInCodeGrant, [S256CodeChallenge(), StandInOpenIDCode(require_nonce=True)]
        )
        self.register_client_auth_method("client_secret_basic", _client_secret_basic)
        protector = ResourceProtector()
        protector.register_token_validator(StandInBearerTokenValidator())
        self.register_endpoint(StandInUserInfoEndpoint(resource_protector=protector))

    def create_oauth2_request(self, request: object) -> OAuth2Request:
        """The request at the configured issuer URL: authlib's transport check must not follow
        the Host header, or `Host: evil.example` makes /token and /userinfo a 500 (E2)."""
        if isinstance(request, OAuth2Request):
            return request
        return ConfiguredUrlRequest(flask_request, current_app.config["ISSUER"])

    def redirect_error(self, request: OAuth2Request | None, error: OAuth2Error) -> Response:
        """An error the client must hear about: redirect to it with `error`, `state`, `iss`."""
        response = self.handle_error_response(request, error)
        self.issuer_parameter.add_issuer_parameter(self, response)
        return response


def _client_secret_basic(
    query_client: Callable[[str], Client | None], request: OAuth2Request
) -> Client | None:
    """authlib's client_secret_basic, except that a Basic header with non-ASCII characters, or
    whose decoded bytes are not UTF-8, is a failed authentication: authlib lets the ValueError
    (UnicodeDecodeError among them) become a 500."""
    try:
        return authenticate_client_secret_basic(query_client, request)
    except ValueError:
        return None


def _save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Keep the access token (hashed) with the claims /userinfo will answer with."""
    issued = now()
    code: AuthorizationCode = request.authorization_code
    db = database.session()
    db.add(
        AccessToken(
            token_hash=secret_hash(token["access_token"]),
            code_hash=code.code_hash,
            client_id=request.client.get_client_id(),
            scope=token.get("scope", code.scope),
            claims=code.claims,
            issued_at=issued,
            expires_at=issued + int(token["expires_in"]),
        )
    )
    db.commit()


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = StandInAuthorizationServer(app)


def authorization_server() -> StandInAuthorizationServer:
    """The current app's authorization server."""
    return current_app.extensions[_EXTENSION]
