"""The oidc-provider harness itself: a real, certified OpenID Provider on loopback, driven by
authlib as a plain RP (PKCE S256, nonce), the ID Token checked with joserfc against the
provider's JWKS. If these pass, a failure in the OIDC login method's interop tests is the
method's, not the harness's."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from tests import node_oidc
from tests.node_oidc import NodeOidcProvider, NodeOidcProviderError, complete_interaction

REDIRECT_URI = "http://127.0.0.1:5999/login/oidc/callback"
SCOPE = "openid email profile groups"
ACCOUNTS = {
    "alice": {
        "email": "alice@corp.example",
        "email_verified": True,
        "given_name": "Alice",
        "family_name": "Liddell",
        "name": "Alice Liddell",
        "groups": ["staff", "admins"],
    },
    "bob": {"email": "bob@corp.example", "email_verified": False, "groups": []},
}


@pytest.fixture(scope="module")
def op():
    with NodeOidcProvider(
        "rp-basic", "basic-secret", [REDIRECT_URI], accounts=ACCOUNTS
    ) as provider:
        yield provider


@pytest.fixture(scope="module")
def op_post():
    """A client_secret_post client whose scope claims also go into the ID Token."""
    with NodeOidcProvider(
        "rp-post",
        "post-secret",
        [REDIRECT_URI, "http://127.0.0.1:5999/other"],
        accounts=ACCOUNTS,
        token_endpoint_auth_method="client_secret_post",
        conform_id_token_claims=False,
    ) as provider:
        yield provider


def rp_for(provider: NodeOidcProvider, scope: str = SCOPE) -> OAuth2Session:
    return OAuth2Session(
        provider.client_id,
        provider.client_secret,
        scope=scope,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method=provider.token_endpoint_auth_method,
    )


def authorize(provider, rp, browser, login, *, follow=True):
    """Authorization request through the dev login + consent; returns the callback's query.

    ``follow``: whether the browser's GET of the authorization URL follows the provider's
    redirect to its login page itself, or leaves that to ``complete_interaction``."""
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = rp.create_authorization_url(
        provider.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    first = browser.get(url, allow_redirects=follow, timeout=10)
    assert first.is_redirect is not follow
    final = complete_interaction(browser, first, login)
    location = final.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == state
    return location, query, verifier, nonce


def validated_id_token(provider, id_token, nonce):
    jwks = requests.get(provider.metadata["jwks_uri"], timeout=5).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    ).validate(token.claims)
    return token.claims


def test_discovery_names_the_issuer_and_its_endpoints(op):
    meta = op.metadata
    assert op.issuer == f"http://127.0.0.1:{op.port}"
    assert meta["issuer"] == op.issuer
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[endpoint].startswith(op.issuer + "/")
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True  # RFC 9207
    assert {"openid", "email", "profile", "groups"} <= set(meta["scopes_supported"])
    assert {"email", "email_verified", "groups", "given_name"} <= set(meta["claims_supported"])
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )
    assert op.stdout_text().splitlines()[-1] == f"READY {op.issuer}"
    keys = requests.get(meta["jwks_uri"], timeout=5).json()["keys"]
    assert [(key["kty"], key["alg"], key["use"]) for key in keys] == [("RSA", "RS256", "sig")]
    assert all("d" not in key for key in keys)


def test_code_flow_with_pkce_and_nonce_yields_validated_id_token_and_userinfo(op):
    rp, browser = rp_for(op), requests.Session()
    location, query, verifier, nonce = authorize(op, rp, browser, "alice")
    assert query["iss"] == op.issuer  # RFC 9207
    assert query["code"]

    token = rp.fetch_token(
        op.metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert token["token_type"].lower() == "bearer"
    claims = validated_id_token(op, token["id_token"], nonce)
    assert claims["sub"] == "alice"
    assert "email" not in claims  # conformIdTokenClaims: scope claims come from userinfo

    userinfo = rp.get(op.metadata["userinfo_endpoint"], timeout=5).json()
    assert userinfo == {"sub": "alice", **ACCOUNTS["alice"]}


def test_id_token_with_another_nonce_is_rejected(op):
    rp, browser = rp_for(op), requests.Session()
    location, _, verifier, _ = authorize(op, rp, browser, "alice")
    token = rp.fetch_token(
        op.metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    with pytest.raises(InvalidClaimError):
        validated_id_token(op, token["id_token"], "some-other-nonce")


def test_scopes_limit_userinfo_and_unknown_logins_fall_back(op):
    rp = rp_for(op, scope="openid email")
    location, _, verifier, _ = authorize(op, rp, requests.Session(), "carol", follow=False)
    rp.fetch_token(
        op.metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    userinfo = rp.get(op.metadata["userinfo_endpoint"], timeout=5).json()
    assert userinfo == {"sub": "carol", "email": "carol@example.net", "email_verified": True}


def test_second_authorization_in_the_same_browser_needs_no_interaction(op):
    rp, browser = rp_for(op), requests.Session()
    authorize(op, rp, browser, "bob")
    url, _ = rp.create_authorization_url(
        op.metadata["authorization_endpoint"], code_verifier=generate_token(48)
    )
    first = browser.get(url, allow_redirects=False, timeout=10)
    assert first.is_redirect
    assert complete_interaction(browser, first, "ignored") is first
    assert first.headers["Location"].startswith(REDIRECT_URI + "?code=")


def test_pkce_is_required(op):
    rp = rp_for(op)
    rp.code_challenge_method = None
    url, _ = rp.create_authorization_url(op.metadata["authorization_endpoint"], nonce="n")
    response = requests.get(url, allow_redirects=False, timeout=10)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]
    assert query["iss"] == [op.issuer]


def test_token_endpoint_rejects_a_wrong_secret_or_verifier(op):
    rp, browser = rp_for(op), requests.Session()
    _, query, _, _ = authorize(op, rp, browser, "alice")
    wrong_secret = requests.post(
        op.metadata["token_endpoint"],
        data={"grant_type": "authorization_code", "code": query["code"]},
        auth=(op.client_id, "not-the-secret"),
        timeout=5,
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    wrong_verifier = requests.post(
        op.metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": generate_token(48),
        },
        auth=(op.client_id, op.client_secret),
        timeout=5,
    )
    assert wrong_verifier.status_code == 400
    assert wrong_verifier.json()["error"] == "invalid_grant"


def test_client_secret_post_client(op_post):
    rp, browser = rp_for(op_post), requests.Session()
    location, query, verifier, nonce = authorize(op_post, rp, browser, "alice")
    assert query["iss"] == op_post.issuer

    # oidc-provider accepts the secret by either mechanism for a client registered with
    # client_secret_basic or client_secret_post, so what this proves is the RP's side: authlib
    # sends it in the form body, without an Authorization header, and the provider takes it.
    sent = []
    rp.hooks["response"].append(lambda response, **_: sent.append(response.request))
    token = rp.fetch_token(
        op_post.metadata["token_endpoint"],
        authorization_response=location,
        code_verifier=verifier,
    )
    (token_request,) = sent
    assert "Authorization" not in token_request.headers
    assert parse_qs(token_request.body)["client_secret"] == [op_post.client_secret]
    claims = validated_id_token(op_post, token["id_token"], nonce)
    assert claims["email"] == "alice@corp.example"  # conform_id_token_claims=False
    assert claims["groups"] == ["staff", "admins"]
    userinfo = rp.get(op_post.metadata["userinfo_endpoint"], timeout=5).json()
    assert userinfo["email_verified"] is True


def test_process_is_gone_after_the_context_exits():
    with NodeOidcProvider("rp", "secret", [REDIRECT_URI]) as provider:
        process, port = provider.process, provider.port
        assert process is not None and process.poll() is None
    assert provider.process is None
    assert process.poll() == 0  # a clean exit on SIGTERM
    assert provider.returncode == 0
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_port_taken_before_node_binds_it_is_retried(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = iter([busy.getsockname()[1]])
        free_port = node_oidc._free_loopback_port
        monkeypatch.setattr(
            node_oidc, "_free_loopback_port", lambda: next(ports, None) or free_port()
        )
        with NodeOidcProvider("rp", "secret", [REDIRECT_URI]) as provider:
            assert provider.port != busy.getsockname()[1]
            assert (
                requests.get(provider.discovery_url, timeout=5).json()["issuer"] == provider.issuer
            )


def test_a_provider_that_dies_at_startup_reports_its_stderr():
    provider = NodeOidcProvider(
        "rp", "secret", [REDIRECT_URI], token_endpoint_auth_method="no_such_method"
    )
    try:
        with pytest.raises(NodeOidcProviderError, match="exited with code") as raised:
            provider.start()
    finally:
        provider.stop()
    assert "token_endpoint_auth_method" in str(raised.value)
    assert provider.process is None


def test_missing_node_modules_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(node_oidc, "HARNESS_DIR", tmp_path)
    with pytest.raises(NodeOidcProviderError, match="npm ci --prefix tests/oidc_provider"):
        NodeOidcProvider("rp", "secret", [REDIRECT_URI]).start()


def test_missing_node_is_reported(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(NodeOidcProviderError, match="not on PATH"):
        NodeOidcProvider("rp", "secret", [REDIRECT_URI]).start()
