"""The OAuth 2.1 authorization server, built from authlib's components.

authlib does the protocol work (request validation, client authentication, PKCE, error
responses, RFC 9207 `iss`); this module binds it to the broker's models and tightens it where
OAuth 2.1 / RFC 9700 and the MCP authorization spec ask for more than authlib's defaults:

- PKCE with S256 is required of every client (authlib accepts `plain`, and lets confidential
  clients skip PKCE) — B1;
- redirect URIs match exactly (native apps' private-use schemes too), but a loopback redirect
  may use any port — B2 (models.py, redirect_uris.py);
- codes are single-use and ≤ 60 s, and a replayed code revokes its tokens — B3;
- the RFC 8707 `resource` must name the client's resource; tokens are bound to it — B5;
- every authorization response, errors included, carries the resource's `iss` — B6;
- refresh tokens by policy (REFRESH_TOKEN_POLICY), rotated, reuse revokes the family — B4
  (`refresh_tokens`);
- a `client_id` that is an https URL is a Client ID Metadata Document, fetched and checked
  before it is trusted — B7 (`metadata_documents`).

Resuming after the customer's login: /oauth/authorize validates the request with authlib, then
stores the validated parameters on the login request and sends the browser away. When the
user consents, `StoredAuthorizationRequest` rebuilds an authlib request from those parameters
and the grant runs again, unchanged — so the client, redirect URI, scope and PKCE challenge are
re-validated against the current registration at the moment the code is issued.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    RefreshTokenGrant,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, Response, current_app, g
from flask import request as flask_request
from sqlalchemy import select, update

from identity.oauth_requests import ConfiguredUrlRequest
from identity.pkce import S256CodeChallenge
from identity.urls import is_loopback_host
from mock_broker import database, faults, metadata_documents, refresh_tokens, tokens
from mock_broker.identifiers import secret_hash
from mock_broker.models import (
    M2M_AUTH_METHODS,
    OFFLINE_ACCESS,
    AuthorizationCode,
    BrokerUser,
    LoginRequest,
    LoginRequestStatus,
    M2MClient,
    OAuthClient,
    RefreshToken,
    RegistrationMethod,
)
from mock_broker.resources import find_resource, issuer_for

_EXTENSION = "mock_broker.oauth"

#: The authorization-request parameters kept on a login request to rebuild the grant.
AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "prompt",
)


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown or not allowed."""

    error = "invalid_target"


class StoredAuthorizationRequest(OAuth2Request):
    """An authorization request rebuilt from the parameters a login request stored."""

    def __init__(self, login_request: LoginRequest) -> None:
        params = login_request.authorize_params
        uri = f"{current_app.config['ENV_URL']}/oauth/authorize?{urlencode(params)}"
        super().__init__("GET", uri)
        self.payload = BasicOAuth2Payload(params)
        self.login_request_id = login_request.id

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return {}


class ResourceIssuerParameter(IssuerParameter):
    """RFC 9207 `iss` for a broker with one issuer per resource.

    authlib's hook sees only the response, so the grant names the issuer on `flask.g` at the
    moment it trusts the client's redirect URI — the moment from which errors are redirected.
    """

    def add_issuer_parameter(self, authorization_server: object, response: Response) -> None:
        # authlib's version asks get_issuer() twice; a QA switch must be spent once.
        issuer = self.get_issuer()
        if issuer and response.location:
            response.location = add_params_to_uri(response.location, {"iss": issuer})

    def get_issuer(self) -> str | None:
        issuer = g.get("oauth_issuer")
        if issuer and faults.take_switch(faults.WRONG_ISS):
            # QA: a response from "another" issuer, which a client must refuse (mix-up defence).
            return f"{current_app.config['ENV_URL']}/resources/res_wrong_issuer"
        return issuer


class BrokerAuthorizationCodeGrant(AuthorizationCodeGrant):
    """The authorization code grant for MCP clients, bound to the broker's models."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    @classmethod
    def check_authorization_endpoint(cls, request: OAuth2Request) -> bool:
        # The only authorization grant, so it also answers unsupported response types: authlib
        # would echo the raw value into error_description, which it refuses (ValueError) for
        # characters RFC 6749 §5.2 forbids there.
        return True

    def validate_authorization_request(self) -> str:
        payload = self.request.payload
        if payload.response_type != "code":
            redirect_uri = self.validate_authorization_redirect_uri(
                self.request, self._requested_client()
            )
            raise UnsupportedResponseTypeError(
                payload.response_type,
                description="Only response_type=code is supported.",
                redirect_uri=redirect_uri,
            )
        redirect_uri = super().validate_authorization_request()
        self._validate_resource(redirect_uri)
        return redirect_uri

    def _requested_client(self) -> OAuthClient | M2MClient:
        client = self.server.query_client(self.request.payload.client_id or "")
        if client is None:
            raise InvalidClientError(description="The client does not exist on this server.")
        return client

    def validate_authorization_redirect_uri(self, request: OAuth2Request, client: object) -> str:
        """Exact match (loopback port aside, B2); fixed messages that never echo the input."""
        if not isinstance(client, OAuthClient):
            raise InvalidRequestError("This client cannot use the authorization endpoint.")
        requested = request.payload.redirect_uri
        if requested:
            if not client.check_redirect_uri(requested):
                raise InvalidRequestError("The redirect_uri is not registered for this client.")
            redirect_uri = requested
        else:
            redirect_uri = client.get_default_redirect_uri()
            if not redirect_uri:
                raise InvalidRequestError("Missing 'redirect_uri' in request.")
        self._bind_resource(request, client)
        g.oauth_issuer = issuer_for(client.active_resource.id)
        g.oauth_redirect_vetted = redirect_is_vetted(client, redirect_uri)
        return redirect_uri

    def _bind_resource(self, request: OAuth2Request, client: OAuthClient) -> None:
        """A CIMD client belongs to no resource: the request's one `resource` names it.

        Without a known resource there is no issuer to put in an `iss`, so this error is shown
        to the user rather than redirected (B6: no authorization response without `iss`).
        """
        if client.resource_id is not None:
            return
        values = request.payload.datalist.get("resource", [])
        resource = find_resource(database.session(), values[0]) if len(values) == 1 else None
        if resource is None:
            raise InvalidTargetError(
                "This client is identified by a metadata document URL, so the request must "
                "name exactly one known resource (RFC 8707 'resource')."
            )
        client.bind_resource(resource)

    def _validate_resource(self, redirect_uri: str) -> None:
        """RFC 8707: one `resource`, naming the client's resource (its URL or `res_…` id).

        A missing `resource` means the client's resource (some MCP clients omit it); any
        other value is `invalid_target`, redirected like every error after this point.
        """
        values = self.request.payload.datalist.get("resource", [])
        client: OAuthClient = self.request.client
        if len(values) > 1:
            raise InvalidTargetError("Send one 'resource' per request.", redirect_uri=redirect_uri)
        if values and not client.active_resource.matches(values[0]):
            raise InvalidTargetError(
                "The resource is unknown or not registered for this client.",
                redirect_uri=redirect_uri,
            )

    def save_authorization_code(self, code: str, request: StoredAuthorizationRequest) -> None:
        db = database.session()
        now = database.utcnow()
        client: OAuthClient = request.client
        db.add(
            AuthorizationCode(
                code_hash=secret_hash(code),
                client_id=client.id,
                redirect_uri=request.payload.redirect_uri,
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                resource_id=client.active_resource.id,
                scope=request.scope,
                user_id=request.user.id,
                login_request_id=request.login_request_id,
                expires_at=now + timedelta(seconds=current_app.config["AUTH_CODE_TTL"]),
            )
        )
        db.execute(
            update(LoginRequest)
            .where(LoginRequest.id == request.login_request_id)
            .values(status=LoginRequestStatus.CODE_ISSUED)
        )
        # A user let this client in: it is in use, and no longer expires unused (E4).
        db.execute(
            update(OAuthClient)
            .where(OAuthClient.id == client.id, OAuthClient.first_used_at.is_(None))
            .values(first_used_at=now)
        )
        db.commit()

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        """Find and spend the code in one conditional update, so it works at most once (B3).

        A code spent before is a replay: the code is flagged and every token issued from it is
        revoked (RFC 6749 §4.1.2, RFC 9700 §4.5). Any use spends the code, a failed one too.
        """
        db = database.session()
        now = database.utcnow()
        row = db.scalar(
            select(AuthorizationCode).where(AuthorizationCode.code_hash == secret_hash(code))
        )
        if row is None or row.client_id != client.id:
            return None
        spent = db.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
        )
        if spent.rowcount == 0:
            db.execute(
                update(AuthorizationCode)
                .where(AuthorizationCode.id == row.id)
                .values(replayed_at=now)
            )
            tokens.revoke_tokens_from_code(db, row.id)
            db.commit()
            return None
        db.commit()
        return row if now < row.expires_at else None

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # RFC 8707 §2.2: a `resource` on the token request must be the one the code was for.
        values = self.request.payload.datalist.get("resource", [])
        code: AuthorizationCode = self.request.authorization_code
        if len(values) > 1 or (values and not code.resource.matches(values[0])):
            raise InvalidTargetError("The resource does not match the authorization request.")

    def authenticate_user(self, authorization_code: AuthorizationCode) -> BrokerUser | None:
        return database.session().get(BrokerUser, authorization_code.user_id)

    def generate_token(self, *args: object, **kwargs: object) -> dict[str, object]:
        """A user access token for the code's resource (authlib's default is an opaque string),
        and a refresh token when the policy gives the client one (B4)."""
        db = database.session()
        code: AuthorizationCode = self.request.authorization_code
        client: OAuthClient = self.request.client
        token = tokens.issue_access_token(db, code, client)
        if refresh_tokens.should_issue(client, code.scope):
            token["refresh_token"] = refresh_tokens.issue(db, code, client, code.scope)
        return token

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Keep the spent code (a replay must be recognised); record the exchange instead."""
        db = database.session()
        db.execute(
            update(LoginRequest)
            .where(LoginRequest.id == authorization_code.login_request_id)
            .values(status=LoginRequestStatus.EXCHANGED)
        )
        db.commit()


class BrokerRefreshTokenGrant(RefreshTokenGrant):
    """The refresh_token grant: rotation, reuse detection, RFC 8707 `resource` (B4, B5).

    authlib checks client authentication as registered (confidential clients authenticate,
    public ones send their client_id), that the token belongs to the client, and that a
    requested `scope` only narrows the grant (widening is `invalid_scope`).
    """

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        db = database.session()
        row = refresh_tokens.find(db, refresh_token)
        if row is None or row.revoked_at is not None:
            return None
        refresh_tokens.refuse_reuse(db, row)  # a spent token: revokes outside the grace (B4)
        return row if refresh_tokens.is_active(db, row) else None

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # RFC 8707 §2.2: a `resource` on the refresh request must be the grant's (or omitted).
        values = self.request.payload.datalist.get("resource", [])
        row: RefreshToken = self.request.refresh_token
        if len(values) > 1 or (values and not row.resource.matches(values[0])):
            raise InvalidTargetError("The resource does not match the refresh token's grant.")

    def authenticate_user(self, refresh_token: RefreshToken) -> BrokerUser | None:
        return database.session().get(BrokerUser, refresh_token.user_id)

    def issue_token(self, user: BrokerUser, refresh_token: RefreshToken) -> dict[str, object]:
        db = database.session()
        if not refresh_tokens.spend(db, refresh_token):
            raise InvalidGrantError("The refresh token was already used.")
        client: OAuthClient = self.request.client
        code = refresh_token.authorization_code
        scope = self.request.payload.scope or refresh_token.scope
        token = tokens.issue_access_token(db, code, client, " ".join(scope.split()))
        token["refresh_token"] = refresh_tokens.issue(
            db, code, client, refresh_token.scope, parent=refresh_token
        )
        return token

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Already spent by `issue_token`; `save_token` committed it with the new tokens."""


class BrokerClientCredentialsGrant(ClientCredentialsGrant):
    """client_credentials, with the secret in a Basic header or the form body, for two kinds
    of confidential client:

    - the customer backend's M2M credentials (`skc_…`): a token for the broker's API, no scope;
    - a machine MCP client (an `OAuthClient` an operator registered for this grant, B16): a
      token for its resource (RFC 8707 `resource` optional, but if sent it must name that
      resource), with scopes of that resource and no user. Never `offline_access`: this grant
      has no refresh token (RFC 6749 §4.4.3). authlib refuses every other client
      (`check_grant_type`: public clients and clients registered for sign-in).
    """

    TOKEN_ENDPOINT_AUTH_METHODS = list(M2M_AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        client = self.request.client
        scope = self.request.payload.scope
        if isinstance(client, M2MClient):
            if scope:
                raise InvalidScopeError("M2M tokens carry no scope; omit the scope parameter.")
            return
        values = self.request.payload.datalist.get("resource", [])
        if len(values) > 1 or (values and not client.active_resource.matches(values[0])):
            raise InvalidTargetError("The resource is unknown or not registered for this client.")
        allowed = client.get_allowed_scope(scope)
        if allowed is None or OFFLINE_ACCESS in allowed.split():
            raise InvalidScopeError("Ask only for scopes of this client's resource.")
        self._granted_scope = allowed

    def generate_token(self, *args: object, **kwargs: object) -> dict[str, object]:
        client = self.request.client
        if isinstance(client, M2MClient):
            return tokens.issue_m2m_token(database.session(), client.id)
        return tokens.issue_client_token(database.session(), client, self._granted_scope)


class BrokerAuthorizationServer(AuthorizationServer):
    """authlib's Flask authorization server with the broker's grants and RFC 9207 `iss`."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, query_client=_query_client, save_token=_commit_token)
        self.issuer_parameter = ResourceIssuerParameter()
        self.register_extension(self.issuer_parameter)
        self.register_grant(BrokerAuthorizationCodeGrant, [S256CodeChallenge()])
        self.register_grant(BrokerRefreshTokenGrant)
        self.register_grant(BrokerClientCredentialsGrant)
        self.register_client_auth_method("client_secret_basic", safe_client_secret_basic)

    def create_oauth2_request(self, request: object) -> OAuth2Request:
        # A stored request (see the module docstring) is used as is; otherwise Flask's, at the
        # configured URL: authlib's transport check must not follow the Host header (E2).
        if isinstance(request, OAuth2Request):
            return request
        return ConfiguredUrlRequest(flask_request, current_app.config["ENV_URL"])

    def redirect_error(self, request: OAuth2Request | None, error: OAuth2Error) -> Response:
        """An error the client must hear about: redirect to it with `error`, `state`, `iss`."""
        response = self.handle_error_response(request, error)
        self.issuer_parameter.add_issuer_parameter(self, response)
        return response


#: Clients whose redirect URIs an operator registered (seed data, the CLI): vetted by a person.
_VETTED_REGISTRATIONS = (RegistrationMethod.SEEDED, RegistrationMethod.CLI)


def redirect_is_vetted(client: OAuthClient, redirect_uri: str) -> bool:
    """May an error found before the user interacted be redirected here automatically? (B13)

    RFC 9700 §4.11.2: not to a redirect URI nobody vetted, or the broker is an open redirector
    for anyone who registers `https://evil.example/landing` (registration is open) and sends
    a bad `scope`. Vetted are an operator's registrations, and loopback redirects (RFC 8252
    §7.3): they land on the user's own machine. A DCR client's URIs and a CIMD client's (its
    document is the client's own assertion) are not, whatever their scheme — a private-use
    scheme (`com.example.app:`) included: any application on the device may claim it, and
    an automatic redirect would launch that handler with attacker-chosen parameters from the
    broker's page without the user having done anything (RFC 8252 §8.6).
    """
    if client.registration_method in _VETTED_REGISTRATIONS:
        return True
    parts = urlsplit(redirect_uri)
    return parts.scheme == "http" and is_loopback_host(parts.hostname or "")


def _query_client(client_id: str) -> OAuthClient | M2MClient | None:
    """A registered client, or — for an https URL — the client its metadata document describes.

    A document that cannot be fetched or is invalid is `invalid_client` with the reason: at
    the authorization endpoint that is an error page, never a redirect to a redirect URI that
    nothing vouches for (B7).
    """
    db = database.session()
    if metadata_documents.is_document_url(client_id):
        try:
            return metadata_documents.resolve(db, client_id)
        except metadata_documents.MetadataDocumentError as error:
            raise InvalidClientError(description=str(error)) from error
    return db.get(OAuthClient, client_id) or db.get(M2MClient, client_id)


def safe_client_secret_basic(
    query_client: Callable[[str], object], request: OAuth2Request
) -> object | None:
    """authlib's client_secret_basic, except that a Basic header that does not decode (non-ASCII
    base64, bytes that are not UTF-8) is a failed authentication, not a 500 from authlib."""
    try:
        return authenticate_client_secret_basic(query_client, request)
    except ValueError:  # UnicodeDecodeError and binascii.Error are ValueErrors too
        return None


def _commit_token(token: dict[str, object], request: OAuth2Request) -> None:
    """The token was recorded by `tokens` when it was signed; make that durable."""
    database.session().commit()


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = BrokerAuthorizationServer(app)


def authorization_server() -> BrokerAuthorizationServer:
    """The current app's authorization server."""
    return current_app.extensions[_EXTENSION]
