"""QA faults: each makes exactly one id_token check fail, and leaves everything else correct."""

from __future__ import annotations

import json
import time

import pytest
import requests
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError
from joserfc.jwk import KeySet

from tests.upstream_idp.flows import TIMEOUT
from upstream_idp import faults


def _faulty_token(rp, browser, fault: str) -> tuple[dict, str]:
    attempt = rp.begin()
    token = rp.exchange(attempt, browser.sign_in(attempt, username=f"qa-{fault}", fault=fault))
    return token, attempt.nonce


def _jwks(upstream) -> KeySet:
    return KeySet.import_key_set(requests.get(f"{upstream.url}/jwks", timeout=TIMEOUT).json())


def test_no_fault_is_the_default(rp, browser):
    token, nonce = _faulty_token(rp, browser, faults.NONE)

    assert rp.verified_claims(token["id_token"], nonce)["sub"] == "qa-none"


@pytest.mark.parametrize(
    ("fault", "claim", "error"),
    [
        (faults.WRONG_NONCE, "nonce", InvalidClaimError),
        (faults.WRONG_AUDIENCE, "aud", InvalidClaimError),
        (faults.EXPIRED, "exp", ExpiredTokenError),
    ],
)
def test_a_claim_fault_fails_only_its_check(upstream, rp, browser, fault, claim, error):
    token, nonce = _faulty_token(rp, browser, fault)

    with pytest.raises(error) as caught:
        rp.verified_claims(token["id_token"], nonce)
    if error is InvalidClaimError:
        assert caught.value.claim == claim

    # The signature is still good, and every other claim still right.
    claims = jwt.decode(token["id_token"], _jwks(upstream), algorithms=["RS256"]).claims
    assert claims["iss"] == upstream.url
    assert claims["sub"] == f"qa-{fault}"
    expected = {
        "nonce": faults.WRONG_NONCE_VALUE if fault == faults.WRONG_NONCE else nonce,
        "aud": faults.WRONG_AUDIENCE_VALUE
        if fault == faults.WRONG_AUDIENCE
        else rp.client.client_id,
    }
    assert {key: claims[key] for key in expected} == expected
    if fault == faults.EXPIRED:
        assert claims["exp"] <= time.time() - faults.EXPIRED_AGO + 5
        assert claims["iat"] < claims["exp"]
    else:
        assert claims["exp"] > time.time()


def test_a_bad_signature_fails_verification_but_the_claims_are_right(upstream, rp, browser):
    token, nonce = _faulty_token(rp, browser, faults.BAD_SIGNATURE)

    with pytest.raises(BadSignatureError):
        rp.verified_claims(token["id_token"], nonce)
    unverified = jws.extract_compact(token["id_token"].encode())  # parsed, not verified
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": upstream.url},
        aud={"essential": True, "value": rp.client.client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(json.loads(unverified.payload))
    assert unverified.headers()["kid"] == _jwks(upstream).keys[0].kid


def test_faults_touch_the_id_token_only(upstream, rp, browser):
    token, _nonce = _faulty_token(rp, browser, faults.BAD_SIGNATURE)

    response = requests.get(
        f"{upstream.url}/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json()["sub"] == "qa-bad_signature"


def test_a_fault_applies_to_its_own_sign_in_only(rp, browser):
    _faulty_token(rp, browser, faults.WRONG_AUDIENCE)

    token, nonce = _faulty_token(rp, browser, faults.NONE)

    assert rp.verified_claims(token["id_token"], nonce)["aud"] == rp.client.client_id


def test_a_foreign_audience_names_the_rp_only_as_azp(upstream, rp, browser):
    """The case authlib's azp rule alone lets through: aud lacks the RP, azp names it."""
    token, nonce = _faulty_token(rp, browser, faults.FOREIGN_AUDIENCE)

    with pytest.raises(InvalidClaimError) as caught:
        rp.verified_claims(token["id_token"], nonce)
    assert caught.value.claim == "aud"
    claims = jwt.decode(token["id_token"], _jwks(upstream), algorithms=["RS256"]).claims
    assert claims["aud"] == [faults.WRONG_AUDIENCE_VALUE]
    assert claims["azp"] == rp.client.client_id and claims["nonce"] == nonce
