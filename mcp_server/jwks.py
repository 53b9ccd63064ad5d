"""The broker's signing keys (`{BROKER_ENV_URL}/keys`), fetched once and cached by `kid`.

Why a cache with these rules:

- fetching per request would make every MCP call depend on the broker being up and fast;
- a token signed with a key we have not seen means the broker rotated its key, so an unknown
  `kid` triggers one refetch — but at most one per cooldown, so tokens with invented `kid`s
  cannot make this server hammer the broker;
- the cache also expires (`jwks_max_age`), so a key the broker retired stops being trusted;
- every fetch has timeouts, and concurrent requests share one fetch (a lock).

A broker that cannot be reached raises `JwksUnavailableError`: a server-side outage (503), not
the client's bad token (401, which would send the client back through sign-in for nothing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import httpx2
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

logger = logging.getLogger(__name__)


class JwksUnavailableError(RuntimeError):
    """The JWKS could not be fetched or parsed."""


class JwksCache:
    def __init__(
        self,
        url: str,
        timeout: httpx2.Timeout,
        max_age: float,
        refetch_cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = httpx2.AsyncClient(timeout=timeout, follow_redirects=False)
        self._max_age = max_age
        self._refetch_cooldown = refetch_cooldown
        self._clock = clock
        self._lock = anyio.Lock()
        self._keys: dict[str, RSAKey] = {}
        self._fetched_at: float | None = None
        self._last_refetch: float | None = None
        self.fetch_count = 0

    async def key(self, kid: str) -> RSAKey | None:
        """The RSA key with this `kid`, refetching the JWKS once if it is unknown; else None."""
        async with self._lock:
            now = self._clock()
            if self._fetched_at is None:
                await self._fetch()
            elif now - self._fetched_at >= self._max_age:
                await self._refresh_keeping_stale_keys()
            elif kid not in self._keys and self._may_refetch(now):
                self._last_refetch = now
                await self._fetch()
            return self._keys.get(kid)

    async def _refresh_keeping_stale_keys(self) -> None:
        """A scheduled refresh that fails keeps the keys we have: they were valid an hour ago."""
        try:
            await self._fetch()
        except JwksUnavailableError:
            self._fetched_at = self._clock()  # try again after another max_age, not per request

    def _may_refetch(self, now: float) -> bool:
        return self._last_refetch is None or now - self._last_refetch >= self._refetch_cooldown

    async def _fetch(self) -> None:
        self.fetch_count += 1
        try:
            response = await self._client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            key_set = KeySet.import_key_set(response.json())
        except (httpx2.HTTPError, ValueError, LookupError, TypeError, JoseError) as error:
            logger.warning("Could not fetch the broker's JWKS from %s: %s", self.url, error)
            raise JwksUnavailableError(f"Could not fetch the JWKS from {self.url}.") from error
        # Only RSA signing keys with a kid are usable for RS256 tokens; anything else is ignored.
        self._keys = {
            key.kid: key
            for key in key_set.keys
            if isinstance(key, RSAKey) and key.kid and key.get("use", "sig") == "sig"
        }
        self._fetched_at = self._clock()

    async def aclose(self) -> None:
        await self._client.aclose()
