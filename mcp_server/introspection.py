"""Asking the broker whether a token is still active: RFC 7662 token introspection.

Why: the broker's tokens are self-contained JWTs, so a server that only checks them locally
accepts a token revoked at the broker (RFC 7009) until it expires — up to an hour. In
`MCP_TOKEN_CHECK=introspection` mode the verifier asks the broker after its local checks
pass, so a revocation reaches this server on the next request.

The call is authenticated with the server's own resource-server credentials (HTTP Basic,
RFC 7662 §2.1); the broker answers `active: true` only for tokens of this server's own
resource. Anything that is not a clear answer — the broker unreachable, a 5xx, our
credentials refused, a body that is not an introspection response — raises
`IntrospectionUnavailableError`, a 503 for the client: it is our outage, and a 401 would
only send the user to sign in again.

The optional cache (`cache_seconds`) keeps answers per token (by SHA-256, never the token
itself) for that long, and never past the token's `exp`. It saves a call per request at the
price of the immediacy above: a revoked token keeps working until its entry ages out.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import httpx2

logger = logging.getLogger(__name__)

#: Cached answers kept at most (the oldest go first): a bound on memory, whatever is sent.
MAX_CACHED = 10_000


class IntrospectionUnavailableError(Exception):
    """The broker gave no usable answer: a 503, not a 401."""


class Introspector:
    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        timeout: httpx2.Timeout,
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._auth = httpx2.BasicAuth(client_id, client_secret)
        self._client = httpx2.AsyncClient(timeout=timeout, follow_redirects=False)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    async def is_active(self, token: str, expires_at: float) -> bool:
        """Does the broker say this token is active (for our resource)?"""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        active = await self._ask(token)
        if self._cache_seconds > 0:
            self._cache[key] = (active, min(now + self._cache_seconds, expires_at))
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return active

    async def _ask(self, token: str) -> bool:
        try:
            response = await self._client.post(
                self.url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"Accept": "application/json"},
            )
            response.raise_for_status()
            active = response.json()["active"]
        except (httpx2.HTTPError, ValueError, LookupError, TypeError) as error:
            logger.warning("Could not introspect a token at %s: %s", self.url, error)
            raise IntrospectionUnavailableError(f"Could not introspect at {self.url}.") from error
        if not isinstance(active, bool):
            raise IntrospectionUnavailableError("The introspection answer has no boolean active.")
        return active

    async def aclose(self) -> None:
        await self._client.aclose()
