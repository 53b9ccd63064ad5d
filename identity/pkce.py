"""PKCE for the authorization servers in this repository (the mock broker, the OIDC stand-in):
S256 only, and required of every client (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1, B1)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import AuthorizationCodeGrant, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge


class S256CodeChallenge(CodeChallenge):
    """authlib's PKCE extension, refusing `plain` and a missing challenge with a clear error."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with method S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)
