"""The user profile posted to the broker (contract §3), built from the user record.

OIDC standard claims plus the broker's extensions (roles, groups, organization, custom
attributes). Empty values are left out rather than sent as null: the broker treats every field
but `sub` and `email` as optional, and a null where it expects a string is a type error.
"""

from __future__ import annotations

from typing import Any

from identity.models import User

_OPTIONAL_CLAIMS = (
    "given_name",
    "family_name",
    "name",
    "preferred_username",
    "picture",
    "locale",
    "phone_number",
    "phone_number_verified",
    "organization_external_id",
    "organization_external_name",
)


def build_profile(user: User) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "sub": user.subject,
        "email": user.email,
        "email_verified": bool(user.email_verified),
    }
    for claim in _OPTIONAL_CLAIMS:
        value = getattr(user, claim)
        if value is not None and value != "":
            profile[claim] = value
    if user.phone_number is None:
        profile.pop("phone_number_verified", None)
    if user.groups:
        profile["groups"] = list(user.groups)
    if user.roles:
        profile["roles"] = list(user.roles)
    if user.custom_attributes:
        profile["custom_attributes"] = dict(user.custom_attributes)
    return profile
