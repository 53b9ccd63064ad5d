"""Test drivers for the mock broker: an MCP client, the customer backend and a browser.

The customer side is simulated by speaking the real wire contract with `requests`: the
seeded M2M credentials get a token, the profile is posted to the API, and the browser's
return is a GET of the callback. Nothing about the broker is mocked.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from mock_broker.seed import (
    DEMO_CLIENT_ID,
    DEV_CONNECTION_ID,
    DEV_M2M_CLIENT_ID,
    DEV_M2M_CLIENT_SECRET,
    DEV_MCP_SERVER_URL,
    DEV_RESOURCE_ID,
)

TIMEOUT = 10


@dataclass
class Broker:
    """The running broker, with helpers that play MCP client, customer backend and browser."""

    app: Flask
    url: str
    _m2m_token: str | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.url}/resources/{DEV_RESOURCE_ID}"

    @property
    def demo_redirect_uri(self) -> str:
        return f"{self.url}/demo/callback"

    def m2m_token(self) -> str:
        """A fresh M2M token for the seeded customer credentials."""
        response = requests.post(
            f"{self.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEV_M2M_CLIENT_ID,
                "client_secret": DEV_M2M_CLIENT_SECRET,
            },
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def authorize_params(self, **overrides: str | None) -> dict[str, str]:
        """A valid authorization request for the demo client; None removes a parameter."""
        verifier = secrets.token_urlsafe(48)
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": self.demo_redirect_uri,
            "scope": "notes:read notes:write",
            "state": secrets.token_urlsafe(16),
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            "resource": DEV_MCP_SERVER_URL,
            "_verifier": verifier,
        }
        params.update(overrides)
        return {key: value for key, value in params.items() if value is not None}

    def authorize(self, session: requests.Session | None = None, **overrides: str | None):
        params = self.authorize_params(**overrides)
        params.pop("_verifier")
        return (session or requests).get(
            f"{self.url}/oauth/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
        )

    def start_login(
        self, browser: requests.Session | None = None, **overrides: str | None
    ) -> LoginFlow:
        """Authorize (in a new browser unless given one) and follow the broker to the
        customer's login endpoint."""
        params = self.authorize_params(**overrides)
        browser = browser or requests.Session()
        verifier = params.pop("_verifier")
        response = browser.get(
            f"{self.url}/oauth/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
        )
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["Location"])
        query = parse_qs(location.query)
        return LoginFlow(
            broker=self,
            browser=browser,
            login_request_id=query["login_request_id"][0],
            broker_state=query["state"][0],
            client_state=params.get("state"),
            verifier=verifier,
            params=params,
        )

    def post_user(
        self,
        login_request_id: str,
        body: object,
        token: str | None = None,
        connection_id: str = DEV_CONNECTION_ID,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        token = token or self.cached_m2m_token()
        return requests.post(
            f"{self.url}/api/v1/connections/{connection_id}/auth-requests/{login_request_id}/user",
            json=body,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            timeout=TIMEOUT,
        )

    def cached_m2m_token(self) -> str:
        """One token reused across calls, as the customer side's broker client does."""
        if self._m2m_token is None:
            self._m2m_token = self.m2m_token()
        return self._m2m_token

    def forget_m2m_token(self) -> None:
        self._m2m_token = None

    def token_request(
        self, data: dict[str, str | None], auth: tuple[str, str] | None = None
    ) -> requests.Response:
        """POST the token endpoint; None values are left out."""
        return requests.post(
            f"{self.url}/oauth/token",
            data={key: value for key, value in data.items() if value is not None},
            auth=auth,
            timeout=TIMEOUT,
        )

    def refresh(
        self,
        refresh_token: str,
        client_id: str | None = DEMO_CLIENT_ID,
        auth: tuple[str, str] | None = None,
        **extra: str | None,
    ) -> requests.Response:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self.token_request({**data, "client_id": client_id, **extra}, auth=auth)

    def tokens(self, scope: str = "notes:read offline_access", **overrides: str | None) -> dict:
        """Sign in with the demo client (or `overrides`) and exchange the code: the tokens."""
        exchange = {
            name: overrides.pop(name) for name in ("client_secret", "auth") if name in overrides
        }
        flow = self.start_login(scope=scope, **overrides)
        extra = {
            "client_id": flow.params["client_id"],
            "redirect_uri": flow.params.get("redirect_uri"),
        }
        if "resource" in flow.params:
            extra["resource"] = flow.params["resource"]
        response = flow.exchange(flow.code(), **extra, **exchange)
        assert response.status_code == 200, response.text
        return response.json()

    def claims(self, access_token: str) -> dict:
        """The claims of an access token, its signature checked against the published JWKS."""
        jwks = requests.get(f"{self.url}/keys", timeout=TIMEOUT).json()
        return jwt.decode(access_token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims

    def post_form(
        self, path: str, data: dict[str, str], auth: tuple[str, str] | None = None
    ) -> requests.Response:
        return requests.post(f"{self.url}{path}", data=data, auth=auth, timeout=TIMEOUT)

    @contextmanager
    def configured(self, **values: object) -> Iterator[None]:
        """Change the running broker's configuration for the duration of a test."""
        before = {key: self.app.config[key] for key in values}
        self.app.config.update(values)
        try:
            yield
        finally:
            self.app.config.update(before)


@dataclass
class LoginFlow:
    """One sign-in in one browser, from the login redirect to the code."""

    broker: Broker
    browser: requests.Session
    login_request_id: str
    broker_state: str
    client_state: str | None
    verifier: str
    params: dict[str, str]
    #: The callback URL the last profile post was answered with (B12), as the customer side
    #: would send the browser to; None from a broker in `state-only` mode.
    callback_uri: str | None = None

    def post_profile(self, **profile: object) -> requests.Response:
        return self.post_user({"sub": "user-1", "email": "alice@example.com", **profile})

    def post_user(self, body: object, token: str | None = None, **options) -> requests.Response:
        """The customer backend's profile post for this login request; keeps the callback URL
        the broker answers with."""
        response = self.broker.post_user(self.login_request_id, body, token, **options)
        if response.status_code == 200:
            self.callback_uri = response.json().get("redirect_uri")
        return response

    def callback(
        self, state: str | None = None, browser: requests.Session | None = None
    ) -> requests.Response:
        """The browser's return, as the customer side sends it: to the URL the profile post
        was answered with, else (or when `state` is given) the documented state-only URL."""
        if state is None and self.callback_uri is not None:
            url = self.callback_uri
        else:
            query = urlencode({"state": self.broker_state if state is None else state})
            url = (
                f"{self.broker.url}/sso/v1/connections/{DEV_CONNECTION_ID}/partner:callback?{query}"
            )
        return (browser or self.browser).get(url, allow_redirects=False, timeout=TIMEOUT)

    def decide(self, decision: str = "approve", csrf: bool = True) -> requests.Response:
        consent_page = self.callback()
        assert consent_page.status_code == 200, consent_page.text
        return self.submit_consent(consent_page.text, decision, csrf)

    def submit_consent(self, page: str, decision: str, csrf: bool = True) -> requests.Response:
        form = {"login_request_id": self.login_request_id, "decision": decision}
        if csrf:
            form["csrf_token"] = csrf_token(page)
        return self.browser.post(
            f"{self.broker.url}/oauth/consent", data=form, allow_redirects=False, timeout=TIMEOUT
        )

    def code(self) -> str:
        """Run the whole flow: profile, callback, approve; returns the authorization code."""
        assert self.post_profile().status_code == 200
        response = self.decide("approve")
        assert response.status_code == 302, response.text
        return redirect_query(response)["code"]

    def exchange(
        self, code: str, auth: tuple[str, str] | None = None, **overrides: str | None
    ) -> requests.Response:
        data: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.broker.demo_redirect_uri,
            "client_id": DEMO_CLIENT_ID,
            "code_verifier": self.verifier,
            "resource": DEV_MCP_SERVER_URL,
        }
        data.update(overrides)
        return self.broker.token_request(data, auth=auth)


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def redirect_query(response: requests.Response) -> dict[str, str]:
    """The query of a redirect's Location, one value per name (duplicates fail the test)."""
    query = parse_qs(urlsplit(response.headers["Location"]).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values()), query
    return {name: values[0] for name, values in query.items()}


#: Where the test brokers send browsers to sign in: never contacted (redirects are not followed).
LOGIN_ENDPOINT = "http://127.0.0.1:9/login"


@contextmanager
def live_broker(database_url: str, **config: object) -> Iterator[Broker]:
    """A mock broker on an OS-chosen 127.0.0.1 port, on a migrated and seeded database.

    Every test meets the consent page unless `REMEMBER_CONSENT=True` is passed, and may
    register clients without meeting the registration limit; `config` overrides any other
    setting (token lifetimes, …).
    """
    from mock_broker import create_app
    from mock_broker.database import init_db
    from tests.databases import dispose
    from tests.servers import LiveServer

    server = LiveServer()
    server.app = create_app(
        {
            "ENV_URL": server.url,
            "DATABASE_URL": database_url,
            "LOGIN_ENDPOINT": LOGIN_ENDPOINT,
            "SECRET_KEY": "test-secret-key",
            "REMEMBER_CONSENT": False,
            # Every test registers from 127.0.0.1; the limit has tests of its own (E4).
            "REGISTRATION_ADDRESS_LIMIT": 10_000,
            **config,
        }
    )
    init_db(server.app)
    server.start()
    try:
        yield Broker(app=server.app, url=server.url)
    finally:
        server.stop()
        dispose(server.app)
