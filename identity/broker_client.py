"""The broker client: the customer backend's machine-to-machine calls (contract §2 and §3).

One client per process (C20). It holds a client-credentials access token from authlib's
OAuth2Session and reuses it until shortly before it expires (`expires_in` varies between
brokers, so it is never assumed), fetches a new one when it is about to expire, and once more
if the broker answers 401 (the token was revoked or the broker restarted). Every call has a
connect and a read timeout, and connection errors and 5xx answers are retried a bounded number
of times with backoff (C21): posting the profile is idempotent (a second post replaces the
first), so a retry after a lost response is safe. The client secret goes only into the token
request body; it never reaches a log line, an exception message or a page (E1).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from urllib.parse import quote

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.client import DEFAULT_HEADERS
from flask import Flask, current_app
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from identity import logging_setup

log = logging.getLogger(__name__)
_clients_lock = threading.Lock()

# Refresh this many seconds before the token's expiry, so a token never expires in flight.
TOKEN_LEEWAY = 60


class BrokerError(Exception):
    """A broker call failed. `retryable` says whether trying again may help."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error


class BrokerUnavailable(BrokerError):
    """No usable answer: connection refused, timeout, or a 5xx after the retries."""


class BrokerRejected(BrokerError):
    """The broker answered with a 4xx; see `status` and `error` (contract §3 errors)."""

    retryable = False


class BrokerClient:
    def __init__(
        self,
        env_url: str,
        client_id: str,
        client_secret: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retries: int = 2,
    ) -> None:
        self.env_url = env_url.rstrip("/")
        self.token_endpoint = f"{self.env_url}/oauth/token"
        self.session = OAuth2Session(
            client_id,
            client_secret,
            # The hosted broker documents client_id/client_secret in the form body.
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            token_endpoint=self.token_endpoint,
            grant_type="client_credentials",
            # We refresh ahead of expiry ourselves, under a lock (_current_token); authlib's
            # own check then only catches a token that expired in flight.
            leeway=0,
            default_timeout=(connect_timeout, read_timeout),
        )
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            backoff_factor=0.2,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._token_lock = threading.Lock()

    # -- contract §2: the M2M access token ------------------------------------------------

    def _fetch_token(self) -> None:
        # authlib replaces its default headers with any we pass: keep them, add the request id.
        headers = {**DEFAULT_HEADERS, **_request_id_header()}
        try:
            self.session.fetch_token(headers=headers)
        except OAuthError as error:
            # invalid_client here is a configuration problem (wrong id or secret).
            raise BrokerRejected(
                f"the broker refused our API credentials ({error.error})", error=error.error
            ) from None
        except (requests.RequestException, ValueError) as error:
            raise BrokerUnavailable(f"token request failed: {type(error).__name__}") from None
        log.info("fetched a broker access token (client_credentials)")

    def _current_token(self) -> str:
        with self._token_lock:
            token = self.session.token
            if not token or token.is_expired(leeway=TOKEN_LEEWAY):
                self._fetch_token()
            return self.session.token["access_token"]

    def _replace_token(self, rejected: str) -> None:
        """After a 401: fetch a new token, unless another thread already did."""
        with self._token_lock:
            if self.session.token and self.session.token["access_token"] == rejected:
                self._fetch_token()

    # -- contract §3: the user profile -----------------------------------------------------

    def post_user(self, connection_id: str, login_request_id: str, profile: dict[str, Any]) -> dict:
        """POST the verified profile for a login request; returns the broker's JSON answer."""
        url = (
            f"{self.env_url}/api/v1/connections/{quote(connection_id, safe='')}"
            f"/auth-requests/{quote(login_request_id, safe='')}/user"
        )
        token = self._current_token()
        response = self._post(url, profile)
        if response.status_code == 401:
            self._replace_token(token)
            response = self._post(url, profile)
        return self._result(response)

    def _post(self, url: str, body: dict[str, Any]) -> requests.Response:
        try:
            return self.session.post(url, json=body, headers=_request_id_header())
        except OAuthError as error:
            raise BrokerRejected(
                f"token refresh refused ({error.error})", error=error.error
            ) from None
        except requests.RequestException as error:
            raise BrokerUnavailable(f"broker unreachable: {type(error).__name__}") from None

    @staticmethod
    def _result(response: requests.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if 200 <= response.status_code < 300:
            return body if isinstance(body, dict) else {}
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        detail = f"HTTP {response.status_code} {error or ''} {description or ''}".strip()
        if response.status_code >= 500 or response.status_code == 429:
            raise BrokerUnavailable(
                f"broker error: {detail}", status=response.status_code, error=error
            )
        raise BrokerRejected(
            f"broker refused the profile: {detail}", status=response.status_code, error=error
        )


def _request_id_header() -> dict[str, str]:
    """The current request's id for a broker call, so that one sign-in (token request and
    profile post alike) can be followed in both apps' logs (logging_setup.py); none outside
    a request."""
    request_id = logging_setup.request_id()
    return {logging_setup.REQUEST_ID_HEADER: request_id} if request_id else {}


def client() -> BrokerClient:
    """This process's broker client, made on first use.

    Per process, not per app import: a client made before a pre-forking server forks would
    share its connection pool between workers.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    key = ("identity.broker_client", os.getpid())
    with _clients_lock:
        if key not in app.extensions:
            config = app.config
            app.extensions[key] = BrokerClient(
                config["BROKER_ENV_URL"],
                config["BROKER_CLIENT_ID"],
                config["BROKER_CLIENT_SECRET"],
                connect_timeout=config["BROKER_CONNECT_TIMEOUT"],
                read_timeout=config["BROKER_READ_TIMEOUT"],
                retries=config["BROKER_RETRIES"],
            )
        return app.extensions[key]
