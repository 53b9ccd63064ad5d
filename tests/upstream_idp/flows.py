"""Test drivers for the upstream stand-in: a relying party (authlib's OAuth2Session) and a
browser (a `requests` session that reads and submits the login form).

The relying party does what the customer side's OIDC login does: code flow with PKCE S256, a
state and a nonce, then checks the id_token with joserfc against /jwks. Nothing is mocked.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from bs4 import BeautifulSoup
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

TIMEOUT = 10
ALL_SCOPES = "openid email profile groups"


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    client_secret: str
    redirect_uri: str
    auth_method: str

    def as_config(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": [self.redirect_uri],
            "token_endpoint_auth_method": self.auth_method,
        }


# The redirect URIs point at the discard port: redirects are read, never followed.
BASIC_CLIENT = RegisteredClient(
    "rp-basic", "basic-secret", "http://127.0.0.1:9/callback", "client_secret_basic"
)
POST_CLIENT = RegisteredClient(
    "rp-post", "post-secret", "http://127.0.0.1:9/post/callback", "client_secret_post"
)


@dataclass(frozen=True)
class Upstream:
    app: Flask
    url: str


@dataclass
class Attempt:
    """One authorization request of the relying party, with what it must remember."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass
class RelyingParty:
    upstream: Upstream
    client: RegisteredClient
    session: OAuth2Session

    def begin(self, scope: str = ALL_SCOPES, **params: str) -> Attempt:
        nonce = secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        url, state = self.session.create_authorization_url(
            f"{self.upstream.url}/authorize",
            code_verifier=verifier,
            nonce=nonce,
            scope=scope,
            **params,
        )
        return Attempt(url=url, state=state, nonce=nonce, code_verifier=verifier)

    def exchange(self, attempt: Attempt, callback_url: str) -> dict[str, Any]:
        """The token request, as authlib's client makes it (state checked on the way)."""
        return dict(
            self.session.fetch_token(
                f"{self.upstream.url}/token",
                authorization_response=callback_url,
                state=attempt.state,
                code_verifier=attempt.code_verifier,
                timeout=TIMEOUT,
            )
        )

    def verified_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        """OpenID Connect Core §3.1.3.7: signature against /jwks, then iss, aud, exp, nonce."""
        jwks = requests.get(f"{self.upstream.url}/jwks", timeout=TIMEOUT).json()
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.upstream.url},
            aud={"essential": True, "value": self.client.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
        return token.claims


@contextmanager
def relying_party(upstream: Upstream, client: RegisteredClient) -> Iterator[RelyingParty]:
    with OAuth2Session(
        client.client_id,
        client.client_secret,
        redirect_uri=client.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=client.auth_method,
    ) as session:
        yield RelyingParty(upstream=upstream, client=client, session=session)


class Browser:
    """A browser without JavaScript: it opens the login page and submits its form."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def open(self, url: str) -> requests.Response:
        return self.session.get(url, allow_redirects=False, timeout=TIMEOUT)

    def submit(
        self,
        page: requests.Response,
        action: str = "continue",
        target: str | None = None,
        **fields: str | None,
    ) -> requests.Response:
        """Submit the page's form as a browser would: its fields, changed by `fields`.

        A field set to None is left out, as a browser leaves out an unchecked checkbox;
        `target` replaces the form's action URL (to tamper with the request it carries).
        """
        form = BeautifulSoup(page.text, "html.parser").find("form")
        assert form is not None, page.text
        data: dict[str, str] = {}
        for element in form.find_all(["input", "select"]):
            name = element.get("name")
            if element.name == "select":
                selected = element.find("option", selected=True) or element.find("option")
                data[name] = selected["value"]
            elif element.get("type") == "checkbox":
                if element.has_attr("checked"):
                    data[name] = element.get("value", "on")
            else:
                data[name] = element.get("value", "")
        data["action"] = action
        for name, value in fields.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        target = target or urljoin(page.url, form["action"])
        return self.session.post(target, data=data, allow_redirects=False, timeout=TIMEOUT)

    def sign_in(self, attempt: Attempt, **fields: str | None) -> str:
        """Open the login page, submit it, and return the redirect to the relying party."""
        page = self.open(attempt.url)
        assert page.status_code == 200, page.text
        response = self.submit(page, **fields)
        assert response.status_code == 302, response.text
        return response.headers["Location"]


def query_of(url: str) -> dict[str, str]:
    """The query of a URL, one value per name (a repeated name fails the test)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values()), query
    return {name: values[0] for name, values in query.items()}
