"""Interoperability: the upstream-OIDC method against a real, independent, certified OpenID
Provider — panva's `oidc-provider` (npm), run under Node.js on a free loopback port — through
both apps to a verified access token (C18)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from identity import db
from identity.models import User
from login_methods.oidc.identities import LinkedIdentity
from tests.node_oidc import NodeOidcProvider, complete_interaction
from tests.stack import Stack
from tests.test_flow import verified_claims

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET = "customer-idp", "certified-provider-secret"
CAROL = {
    "email": "carol@example.org",
    "email_verified": True,
    "given_name": "Carol",
    "family_name": "Jones",
    "name": "Carol Jones",
    "groups": ["finance", "admins"],
}


@pytest.fixture(scope="module")
def certified(tmp_path_factory):
    """The stack, with oidc-provider configured as the provider "certified"."""
    stack = Stack(tmp_path_factory.mktemp("certified"))
    redirect_uri = f"{stack.idp.url}/login/oidc/certified/callback"
    with NodeOidcProvider(
        CLIENT_ID, CLIENT_SECRET, [redirect_uri], accounts={"carol": CAROL}
    ) as op:
        stack.customer_overrides.update(
            {
                "LOGIN_METHODS": "password,oidc",
                "LOGIN_METHOD_OIDC_PROVIDERS": "certified",
                "LOGIN_METHOD_OIDC_CERTIFIED_LABEL": "Certified OP",
                "LOGIN_METHOD_OIDC_CERTIFIED_ISSUER": op.issuer,
                "LOGIN_METHOD_OIDC_CERTIFIED_CLIENT_ID": CLIENT_ID,
                "LOGIN_METHOD_OIDC_CERTIFIED_CLIENT_SECRET": CLIENT_SECRET,
                "LOGIN_METHOD_OIDC_CERTIFIED_SCOPES": "openid email profile groups",
                "LOGIN_METHOD_OIDC_CERTIFIED_TRUST_EMAIL": "true",
                "LOGIN_METHOD_OIDC_CERTIFIED_CLAIMS": '{"groups": "groups"}',
            }
        )
        with stack:
            yield stack, op


def test_sign_in_with_a_certified_provider_end_to_end(certified):
    stack, op = certified
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    assert "Sign in with Certified OP" in login.text()

    started = browser.submit(login, "/login/oidc/certified/start")
    assert started.status == 303
    request = urlsplit(started.response.headers["Location"])
    query = parse_qs(request.query)
    assert f"{request.scheme}://{request.netloc}" == op.issuer
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [f"{stack.idp.url}/login/oidc/certified/callback"]

    at_provider = browser.get(started.response.headers["Location"], allow_redirects=False)
    back = complete_interaction(browser, at_provider, login="carol")
    assert parse_qs(urlsplit(back.headers["Location"]).query)["iss"] == [op.issuer]  # RFC 9207
    handed_off = browser.page("GET", back.headers["Location"])
    assert handed_off.status == 303, handed_off.text()

    redirect = browser.approve(browser.follow(handed_off))
    token = browser.exchange(redirect["code"][0], authorization.verifier)
    assert token.status_code == 200
    claims = verified_claims(stack, token.json()["access_token"])
    assert claims["email"] == "carol@example.org"
    assert claims["groups"] == ["finance", "admins"]  # from userinfo: oidc-provider keeps the
    assert claims["name"] == "Carol Jones"  # profile claims out of the code-flow id_token

    with stack.idp.app.app_context():
        user = db.session().scalar(select(User).where(User.email == "carol@example.org"))
        link = db.session().scalar(select(LinkedIdentity).where(LinkedIdentity.user_id == user.id))
    assert user.email_verified  # trusted provider, verified upstream
    assert (link.issuer, link.subject, link.provider) == (op.issuer, "carol", "certified")


def test_second_sign_in_finds_the_link_by_subject(certified):
    stack, _ = certified
    for _ in range(2):
        browser = stack.browser()
        authorization = browser.authorize()
        login = browser.page("GET", authorization.login_url)
        started = browser.submit(login, "/login/oidc/certified/start")
        at_provider = browser.get(started.response.headers["Location"], allow_redirects=False)
        back = complete_interaction(browser, at_provider, login="carol")
        handed_off = browser.page("GET", back.headers["Location"])
        assert handed_off.status == 303
    with stack.idp.app.app_context():
        users = db.session().scalars(select(User).where(User.email == "carol@example.org")).all()
    assert len(users) == 1
