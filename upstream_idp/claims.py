"""The signed-in "user": whatever claims QA typed on the login page, and which scope shows what.

There are no accounts. The username becomes `sub` and the other fields become the claims the
id_token and /userinfo carry, so every account-linking case of the customer side (a new
`sub`, a known email, an unverified email, no email at all, other groups) can be produced by
hand. Input is checked only as far as the claims stay valid JSON strings an RP can parse:
odd-but-legal values are exactly what QA needs to try.

"Extra claims" takes any JSON object, issued as typed in the id_token and /userinfo whatever
the scope: custom claims (`roles`, `org_name`, a nested object) and odd types for standard
ones (`"email_verified": "true"`, a string) that an RP must not take for what they look like.
Only the protocol's own claims (`iss`, `aud`, `nonce`, …) cannot be set this way: the QA
faults break those, one at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authlib.oidc.core import UserInfo

from upstream_idp import faults

#: The claims the login page has a field for, beyond `sub`.
ISSUED_CLAIMS = ("email", "email_verified", "given_name", "family_name", "name", "groups")
MAX_LENGTH = 255
MAX_GROUPS = 50
MAX_EXTRA_CLAIMS_BYTES = 4096
#: Claims the protocol sets: the id_token's checks rest on them (the QA faults break them).
PROTOCOL_CLAIMS = frozenset(
    {"sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "auth_time", "at_hash", "c_hash", "azp"}
    | {"jti", "acr", "amr", "sid"}
)
#: OpenID Connect Core §2: `sub` is at most 255 ASCII characters; printable ones, here.
_SUB_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F))
_TEXT_FIELDS = ("given_name", "family_name", "name")


class StandInUserInfo(UserInfo):
    """authlib's standard claims, plus the common `groups` scope and claim."""

    SCOPES_CLAIMS_MAPPING = {**UserInfo.SCOPES_CLAIMS_MAPPING, "groups": ["groups"]}


@dataclass(frozen=True)
class StandInUser:
    """The user authlib's grant hands around: the claims, fixed when the form was sent, and
    the QA fault the id_token issued for this sign-in will carry."""

    claims: dict[str, Any] = field(default_factory=dict)
    fault: str = faults.NONE

    def user_info(self, scope: str) -> UserInfo:
        """The standard claims the granted scope allows (OpenID Connect Core §5.4), and every
        extra claim QA typed (no scope names them)."""
        standard = {*StandInUserInfo.REGISTERED_CLAIMS, *_SCOPED_CLAIMS}
        extra = {name: value for name, value in self.claims.items() if name not in standard}
        return UserInfo({**StandInUserInfo(self.claims).filter(scope), **extra})


@dataclass
class LoginForm:
    """The login page's fields, as typed, with what is wrong with them."""

    username: str = ""
    email: str = ""
    no_email: bool = False
    email_verified: bool = True
    given_name: str = ""
    family_name: str = ""
    name: str = ""
    groups: str = ""
    extra_claims: str = ""
    fault: str = faults.NONE
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> LoginForm:
        """Read the posted form; a checkbox is on when present, as browsers send it."""
        return cls(
            username=form.get("username", "").strip(),
            email=form.get("email", "").strip(),
            no_email="no_email" in form,
            email_verified="email_verified" in form,
            given_name=form.get("given_name", "").strip(),
            family_name=form.get("family_name", "").strip(),
            name=form.get("name", "").strip(),
            groups=form.get("groups", "").strip(),
            extra_claims=form.get("extra_claims", "").strip(),
            fault=form.get("fault", faults.NONE),
        )

    def default_email(self) -> str:
        return f"{self.username or '<username>'}@example.com"

    def validate(self) -> StandInUser | None:
        """The user these fields describe, or None with `errors` filled in per field."""
        self.errors = {}
        if not self.username:
            self.errors["username"] = "Enter a username: any will do. It becomes the sub claim."
        elif len(self.username) > MAX_LENGTH or not set(self.username) <= _SUB_CHARACTERS:
            self.errors["username"] = (
                f"The username becomes sub: up to {MAX_LENGTH} printable ASCII characters, "
                "no spaces."
            )
        for name in ("email", *_TEXT_FIELDS):
            if not _is_plain_text(getattr(self, name)):
                self.errors[name] = f"Up to {MAX_LENGTH} characters, no control characters."
        groups = [group.strip() for group in self.groups.split(",") if group.strip()]
        if len(groups) > MAX_GROUPS or not all(_is_plain_text(group) for group in groups):
            self.errors["groups"] = (
                f"Up to {MAX_GROUPS} comma-separated groups of up to {MAX_LENGTH} characters."
            )
        if self.fault not in faults.FAULTS:
            self.errors["fault"] = "Choose one of the listed faults."
        extra = self._extra_claims()
        if self.errors:
            return None

        claims: dict[str, Any] = {"sub": self.username}
        if not self.no_email:
            claims["email"] = self.email or self.default_email()
            claims["email_verified"] = self.email_verified
        for name in _TEXT_FIELDS:
            if value := getattr(self, name):
                claims[name] = value
        if groups:
            claims["groups"] = groups
        return StandInUser(claims={**claims, **extra}, fault=self.fault)

    def _extra_claims(self) -> dict[str, Any]:
        """The extra claims as a JSON object, or {} with `errors["extra_claims"]` set."""
        if not self.extra_claims:
            return {}
        example = 'Type a JSON object, for example {"roles": ["owner"]}.'
        if len(self.extra_claims.encode()) > MAX_EXTRA_CLAIMS_BYTES:
            return self._refuse_extra(f"At most {MAX_EXTRA_CLAIMS_BYTES} bytes of JSON.")
        try:
            extra = json.loads(self.extra_claims)
        except (ValueError, RecursionError):
            return self._refuse_extra(example)
        if not isinstance(extra, dict):
            return self._refuse_extra(example)
        if protected := sorted(set(extra) & PROTOCOL_CLAIMS):
            return self._refuse_extra(
                f"The protocol sets {', '.join(protected)}: the QA faults break those."
            )
        if not all(0 < len(name) <= MAX_LENGTH for name in extra):
            return self._refuse_extra(f"Claim names are 1 to {MAX_LENGTH} characters.")
        return extra

    def _refuse_extra(self, problem: str) -> dict[str, Any]:
        self.errors["extra_claims"] = problem
        return {}


#: Every claim some scope names (the rest of what a user has is an extra claim).
_SCOPED_CLAIMS = frozenset(
    claim for claims in StandInUserInfo.SCOPES_CLAIMS_MAPPING.values() for claim in claims
)


def _is_plain_text(value: str) -> bool:
    return len(value) <= MAX_LENGTH and value.isprintable()
