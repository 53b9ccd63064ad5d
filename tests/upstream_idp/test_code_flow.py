"""The code flow as a relying party sees it: PKCE S256, state, nonce, id_token, userinfo."""

from __future__ import annotations

import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update

from tests.upstream_idp.flows import (
    BASIC_CLIENT,
    POST_CLIENT,
    TIMEOUT,
    query_of,
    relying_party,
)
from upstream_idp import database
from upstream_idp.models import AuthorizationCode, secret_hash

_PROFILE = {
    "username": "dana-42",
    "email": "dana@corp.example",
    "given_name": "Dana",
    "family_name": "Scully",
    "name": "Dana Scully",
    "groups": "engineering, admins ,,",
}
_EXPECTED = {
    "sub": "dana-42",
    "email": "dana@corp.example",
    "email_verified": True,
    "given_name": "Dana",
    "family_name": "Scully",
    "name": "Dana Scully",
    "groups": ["engineering", "admins"],
}


def _userinfo(upstream, access_token: str) -> requests.Response:
    return requests.get(
        f"{upstream.url}/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=TIMEOUT,
    )


def test_a_relying_party_signs_in_with_the_claims_typed_on_the_login_page(upstream, rp, browser):
    attempt = rp.begin()
    callback = browser.sign_in(attempt, **_PROFILE)

    assert callback.startswith(BASIC_CLIENT.redirect_uri + "?")
    params = query_of(callback)
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == attempt.state
    assert params["iss"] == upstream.url  # RFC 9207: the RP can tell which provider answered
    token = rp.exchange(attempt, callback)

    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "openid email profile groups"
    assert token["expires_in"] == 3600
    claims = rp.verified_claims(token["id_token"], attempt.nonce)
    assert {key: claims[key] for key in _EXPECTED} == _EXPECTED
    assert claims["aud"] == BASIC_CLIENT.client_id
    now = time.time()
    assert now - 60 < claims["iat"] <= now + 1
    assert claims["exp"] == claims["iat"] + 3600
    assert now - 60 < claims["auth_time"] <= now + 1
    assert "at_hash" in claims


def test_the_id_token_names_the_published_key(upstream, rp, browser):
    attempt = rp.begin()
    token = rp.exchange(attempt, browser.sign_in(attempt, username="kid-check"))

    jwks = requests.get(f"{upstream.url}/jwks", timeout=TIMEOUT).json()
    header = jwt.decode(token["id_token"], KeySet.import_key_set(jwks)).header
    assert header["alg"] == "RS256"
    assert header["kid"] == jwks["keys"][0]["kid"]


def test_userinfo_answers_the_same_claims_for_the_access_token(upstream, rp, browser):
    attempt = rp.begin()
    token = rp.exchange(attempt, browser.sign_in(attempt, **_PROFILE))

    response = _userinfo(upstream, token["access_token"])

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json() == _EXPECTED
    post = requests.post(
        f"{upstream.url}/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=TIMEOUT,
    )
    assert post.status_code == 200
    assert post.json() == _EXPECTED


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Basic Zm9vOmJhcg==", "Bearer ", "Bearer \u00e9"]
)
def test_userinfo_refuses_a_missing_or_unknown_token(upstream, authorization):
    headers = {} if authorization is None else {"Authorization": authorization.encode()}
    response = requests.get(f"{upstream.url}/userinfo", headers=headers, timeout=TIMEOUT)

    assert response.status_code in (400, 401), response.text
    assert "error" in response.json()


def test_claims_follow_the_granted_scope(upstream, rp, browser):
    attempt = rp.begin(scope="openid")
    token = rp.exchange(attempt, browser.sign_in(attempt, **_PROFILE))

    claims = rp.verified_claims(token["id_token"], attempt.nonce)
    assert claims["sub"] == "dana-42"
    assert not set(claims) & {"email", "email_verified", "name", "given_name", "groups"}
    assert _userinfo(upstream, token["access_token"]).json() == {"sub": "dana-42"}


def test_email_defaults_to_the_username_at_example_com(rp, browser):
    attempt = rp.begin()
    token = rp.exchange(attempt, browser.sign_in(attempt, username="erin"))

    claims = rp.verified_claims(token["id_token"], attempt.nonce)
    assert claims["email"] == "erin@example.com"
    assert claims["email_verified"] is True
    assert not set(claims) & {"name", "given_name", "family_name", "groups"}


def test_an_unverified_email_is_issued_as_such(rp, browser):
    attempt = rp.begin()
    callback = browser.sign_in(attempt, username="frank", email_verified=None)
    claims = rp.verified_claims(rp.exchange(attempt, callback)["id_token"], attempt.nonce)

    assert claims["email"] == "frank@example.com"
    assert claims["email_verified"] is False


def test_no_email_claims_at_all_when_asked(rp, browser):
    attempt = rp.begin()
    callback = browser.sign_in(attempt, username="gina", email="gina@x.example", no_email="true")
    claims = rp.verified_claims(rp.exchange(attempt, callback)["id_token"], attempt.nonce)

    assert "email" not in claims
    assert "email_verified" not in claims


def test_a_client_secret_post_client_signs_in(upstream, browser):
    with relying_party(upstream, POST_CLIENT) as rp:
        attempt = rp.begin()
        callback = browser.sign_in(attempt, username="harry")
        assert callback.startswith(POST_CLIENT.redirect_uri + "?")
        token = rp.exchange(attempt, callback)

    assert rp.verified_claims(token["id_token"], attempt.nonce)["aud"] == POST_CLIENT.client_id


def _token_request(upstream, data: dict[str, str], auth=None) -> requests.Response:
    return requests.post(f"{upstream.url}/token", data=data, auth=auth, timeout=TIMEOUT)


def _code_and_form(rp, browser) -> dict[str, str]:
    attempt = rp.begin()
    code = query_of(browser.sign_in(attempt, username="ivy"))["code"]
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.client.redirect_uri,
        "code_verifier": attempt.code_verifier,
    }


def test_each_client_authenticates_only_its_registered_way(upstream, rp, browser):
    basic_client_posting = {
        **_code_and_form(rp, browser),
        "client_id": BASIC_CLIENT.client_id,
        "client_secret": BASIC_CLIENT.client_secret,
    }
    response = _token_request(upstream, basic_client_posting)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"

    with relying_party(upstream, POST_CLIENT) as post_rp:
        form = _code_and_form(post_rp, browser)
    response = _token_request(
        upstream, form, auth=(POST_CLIENT.client_id, POST_CLIENT.client_secret)
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "auth",
    [
        (BASIC_CLIENT.client_id, "wrong-secret"),
        ("no-such-client", "secret"),
        (POST_CLIENT.client_id, POST_CLIENT.client_secret),
        None,
    ],
)
def test_the_token_endpoint_refuses_bad_client_credentials(upstream, rp, browser, auth):
    response = _token_request(upstream, _code_and_form(rp, browser), auth=auth)

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_code_works_once_and_its_replay_revokes_the_tokens(upstream, rp, browser):
    attempt = rp.begin()
    callback = browser.sign_in(attempt, username="jo")
    token = rp.exchange(attempt, callback)
    assert _userinfo(upstream, token["access_token"]).status_code == 200

    form = {
        "grant_type": "authorization_code",
        "code": query_of(callback)["code"],
        "redirect_uri": BASIC_CLIENT.redirect_uri,
        "code_verifier": attempt.code_verifier,
    }
    replay = _token_request(
        upstream, form, auth=(BASIC_CLIENT.client_id, BASIC_CLIENT.client_secret)
    )

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert _userinfo(upstream, token["access_token"]).status_code == 401


def test_a_code_is_bound_to_its_client(upstream, rp, browser):
    form = _code_and_form(rp, browser)  # issued to the basic client
    form.update(client_id=POST_CLIENT.client_id, client_secret=POST_CLIENT.client_secret)
    form["redirect_uri"] = POST_CLIENT.redirect_uri

    response = _token_request(upstream, form)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_the_token_request_must_repeat_the_redirect_uri(upstream, rp, browser):
    auth = (BASIC_CLIENT.client_id, BASIC_CLIENT.client_secret)
    for redirect_uri in ("http://127.0.0.1:9/other", None):
        form = _code_and_form(rp, browser)
        if redirect_uri is None:
            del form["redirect_uri"]
        else:
            form["redirect_uri"] = redirect_uri
        response = _token_request(upstream, form, auth=auth)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("verifier", [None, "x" * 43, "short"])
def test_the_token_request_must_prove_the_pkce_verifier(upstream, rp, browser, verifier):
    form = _code_and_form(rp, browser)
    if verifier is None:
        del form["code_verifier"]
    else:
        form["code_verifier"] = verifier

    response = _token_request(
        upstream, form, auth=(BASIC_CLIENT.client_id, BASIC_CLIENT.client_secret)
    )

    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_an_expired_code_is_refused(upstream, rp, browser):
    form = _code_and_form(rp, browser)
    with upstream.app.app_context():
        db = database.session()
        db.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == secret_hash(form["code"]))
            .values(expires_at=AuthorizationCode.expires_at - 61)
        )
        db.commit()

    response = _token_request(
        upstream, form, auth=(BASIC_CLIENT.client_id, BASIC_CLIENT.client_secret)
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


EXTRA = '{"roles": ["owner"], "email_verified": "true", "org": {"id": "o1", "seats": 5}}'


def test_extra_claims_are_issued_as_typed_whatever_the_scope(upstream, rp, browser):
    """QA's free-form claims: custom ones in every scope, odd types for standard ones."""
    attempt = rp.begin(scope="openid email")
    token = rp.exchange(attempt, browser.sign_in(attempt, username="qa", extra_claims=EXTRA))

    claims = rp.verified_claims(token["id_token"], attempt.nonce)
    assert claims["roles"] == ["owner"] and claims["org"] == {"id": "o1", "seats": 5}
    assert claims["email_verified"] == "true"  # a string, not true: what an RP must refuse
    userinfo = _userinfo(upstream, token["access_token"]).json()
    assert userinfo["roles"] == ["owner"] and userinfo["email_verified"] == "true"
    assert "name" not in userinfo  # standard claims still follow the scope


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("[1, 2]", "Type a JSON object"),
        ("{not json", "Type a JSON object"),
        ('{"aud": "someone-else"}', "The protocol sets aud"),
        ('{"nonce": "x", "iss": "y"}', "The protocol sets iss, nonce"),
        ('{"": 1}', "Claim names are 1 to 255 characters"),
        ('{"k": "' + "v" * 4100 + '"}', "At most 4096 bytes"),
        ("[" * 5000, "At most 4096 bytes"),
        ("[" * 4000, "Type a JSON object"),
    ],
)
def test_extra_claims_that_cannot_work_are_refused_on_the_form(rp, browser, extra, says):
    attempt = rp.begin()
    page = browser.open(attempt.url)
    answer = browser.submit(page, username="qa", extra_claims=extra)
    assert answer.status_code == 400 and says in answer.text, answer.text[:500]
    assert "Location" not in answer.headers
