"""Validating the broker's access tokens: the MCP SDK's `TokenVerifier`, for RS256 JWTs.

The broker issues self-contained JWTs (RFC 9068 style), so validation is local: no call to
the broker per request, only the cached JWKS. A token is accepted only if all of these hold:

- the header says `alg: RS256` with a `kid` (never `none`, never HMAC — a public key must
  not double as a shared secret) and the signature verifies with that broker key;
- `iss` is this resource's issuer, `{BROKER_ENV_URL}/resources/{res_id}` (another resource's
  issuer, or another broker environment, is refused);
- `aud` contains this server's URL: RFC 8707 audience binding, so a token the broker issued
  for a different MCP server cannot be replayed here (checklist B5);
- `exp` is in the future and `iat` is not, within a small leeway; `sub` is present.

With `MCP_TOKEN_CHECK=introspection` a token that passes all of these is then looked up at
the broker (`introspection`), and refused unless the broker says it is active: that is what
makes a revocation at the broker reach this server before the token expires. The local
checks come first so that made-up tokens never cost a call to the broker.

Anything else answers None, which the SDK's `BearerAuthBackend` turns into "not
authenticated" and our access guard into a 401.
"""

from __future__ import annotations

import logging
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from mcp.server.auth.provider import AccessToken, TokenVerifier

from mcp_server.introspection import Introspector
from mcp_server.jwks import JwksCache

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"


class BrokerTokenVerifier(TokenVerifier):
    def __init__(
        self,
        jwks: JwksCache,
        issuer: str,
        audience: str,
        leeway: int,
        introspector: Introspector | None = None,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.introspector = introspector

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError):
            return None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            return None
        key = await self.jwks.key(kid)  # may raise JwksUnavailableError: a 503, not a 401
        if key is None:
            return None
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
            self._claims_registry().validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as error:
            logger.info("Refused an access token: %s", error)
            return None
        # May raise IntrospectionUnavailableError: a 503 as well.
        if self.introspector is not None and not await self.introspector.is_active(
            token, float(decoded.claims["exp"])
        ):
            logger.info("Refused an access token the broker says is not active.")
            return None
        return self._access_token(token, decoded.claims)

    def _claims_registry(self) -> jwt.JWTClaimsRegistry:
        return jwt.JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},  # a list matches if it contains it
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        )

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        scope = claims.get("scope")
        client_id = claims.get("client_id") or claims.get("azp") or ""
        return AccessToken(
            token=token,
            client_id=str(client_id),
            scopes=scope.split() if isinstance(scope, str) else [],
            expires_at=int(claims["exp"]),
            # Checked above; reported so the SDK's own resource check agrees (defence in depth).
            resource=self.audience,
            subject=claims["sub"],
            claims=claims,
        )
