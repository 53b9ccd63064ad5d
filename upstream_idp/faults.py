"""QA switches: make the next id_token wrong in one specific way, chosen on the login page.

A relying party must refuse an id_token whose nonce, audience, expiry or signature is wrong
(OpenID Connect Core §3.1.3.7; checklist C18). These faults let QA and the customer side's
tests prove each check by hand: the token is otherwise perfect, so only the check under test
can be the reason it is refused. Faults touch the id_token only, never the access token or
/userinfo, and are chosen per sign-in, so no fault outlives the flow it was meant for.
"""

from __future__ import annotations

import base64
from typing import Any

NONE = "none"
WRONG_NONCE = "wrong_nonce"
WRONG_AUDIENCE = "wrong_audience"
FOREIGN_AUDIENCE = "foreign_audience"
EXPIRED = "expired"
BAD_SIGNATURE = "bad_signature"

#: Value of the login form's `fault` field → what the page says it does.
FAULTS: dict[str, str] = {
    NONE: "None: a correct id_token",
    WRONG_NONCE: "Wrong nonce",
    WRONG_AUDIENCE: "Wrong audience (aud)",
    FOREIGN_AUDIENCE: "Another client's aud (azp: you)",
    EXPIRED: "Expired (exp in the past)",
    BAD_SIGNATURE: "Bad signature",
}

#: What a faulty id_token carries instead of the right value.
WRONG_NONCE_VALUE = "not-the-nonce-you-sent"
WRONG_AUDIENCE_VALUE = "some-other-client"
#: An expired token expired this long ago: beyond any clock-skew leeway an RP might allow.
EXPIRED_AGO = 600


def apply_to_claims(
    fault: str, claims: dict[str, Any], now: int, ttl: int, client_id: str
) -> dict[str, Any]:
    """The id_token claims with `fault` applied (a claim fault; signatures are separate)."""
    claims = dict(claims)
    if fault == WRONG_NONCE:
        claims["nonce"] = WRONG_NONCE_VALUE
    elif fault == WRONG_AUDIENCE:
        claims["aud"] = WRONG_AUDIENCE_VALUE
    elif fault == FOREIGN_AUDIENCE:
        # Issued to another client but "authorized" for this one: aud must still contain
        # the RP's client_id (OIDC Core §3.1.3.7), whatever azp says.
        claims["azp"] = client_id
        claims["aud"] = [WRONG_AUDIENCE_VALUE]
    elif fault == EXPIRED:
        claims["exp"] = now - EXPIRED_AGO
        claims["iat"] = now - EXPIRED_AGO - ttl
    return claims


def break_signature(compact_jws: str) -> str:
    """The same token with its signature bytes inverted: well-formed, but it fails to verify."""
    signing_input, _, signature = compact_jws.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    flipped = bytes(byte ^ 0xFF for byte in raw)
    return f"{signing_input}.{base64.urlsafe_b64encode(flipped).rstrip(b'=').decode('ascii')}"
