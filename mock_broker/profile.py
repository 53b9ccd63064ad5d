"""Validation of the user profile the customer side posts (contract §3).

The body is the user object itself. `sub` and `email` are required and non-empty; every other
documented field is optional and type-checked; unknown fields are refused by name, so a typo
on the customer side fails loudly in development instead of silently dropping a claim. `null`
for an optional field means "not given". Limits keep a profile small enough to travel inside
an access token.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_STRING = 255
MAX_URL = 2048
MAX_EMAIL = 320
MAX_ORGANIZATION_NAME = 200  # published limit: the name is shown on the consent screen
MAX_LIST_ITEMS = 100
MAX_CUSTOM_ATTRIBUTES_BYTES = 4096

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class ProfileError(ValueError):
    """The body is not a valid profile; the message names the field."""


def _string(max_length: int, pattern: re.Pattern[str] | None = None, shape: str = ""):
    def check(name: str, value: object) -> None:
        if not isinstance(value, str):
            raise ProfileError(f"'{name}' must be a string.")
        if len(value) > max_length:
            raise ProfileError(f"'{name}' must be at most {max_length} characters.")
        if _CONTROL_CHARACTERS.search(value):
            raise ProfileError(f"'{name}' must not contain control characters.")
        if pattern is not None and not pattern.fullmatch(value):
            raise ProfileError(f"'{name}' must be {shape}.")

    return check


def _boolean(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ProfileError(f"'{name}' must be true or false.")


def _string_list(name: str, value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProfileError(f"'{name}' must be a list of strings.")
    if len(value) > MAX_LIST_ITEMS:
        raise ProfileError(f"'{name}' must have at most {MAX_LIST_ITEMS} items.")
    if any(len(item) > MAX_STRING for item in value):
        raise ProfileError(f"Each item of '{name}' must be at most {MAX_STRING} characters.")


def _json_object(name: str, value: object) -> None:
    if not isinstance(value, dict):
        raise ProfileError(f"'{name}' must be a JSON object.")
    try:
        # json.loads reads 1e400 as infinity, which is not JSON: PostgreSQL refuses to store
        # it (a 500) and a token would carry `Infinity` (E2).
        encoded = json.dumps(value, allow_nan=False)
    except ValueError:
        raise ProfileError(f"'{name}' has a number too large for JSON (like 1e400).") from None
    if len(encoded.encode()) > MAX_CUSTOM_ATTRIBUTES_BYTES:
        raise ProfileError(f"'{name}' must be at most {MAX_CUSTOM_ATTRIBUTES_BYTES} bytes of JSON.")


_REQUIRED = {
    "sub": _string(MAX_STRING),
    "email": _string(MAX_EMAIL, _EMAIL, "an email address"),
}
_OPTIONAL = {
    "email_verified": _boolean,
    "given_name": _string(MAX_STRING),
    "family_name": _string(MAX_STRING),
    "name": _string(MAX_STRING),
    "preferred_username": _string(MAX_STRING),
    "picture": _string(MAX_URL),
    "locale": _string(MAX_STRING),
    "phone_number": _string(16, _E164, "in E.164 format, like +14155550123"),
    "phone_number_verified": _boolean,
    "gender": _string(MAX_STRING),
    "groups": _string_list,
    "roles": _string_list,
    "organization_external_id": _string(MAX_STRING),
    "organization_external_name": _string(MAX_ORGANIZATION_NAME),
    "custom_attributes": _json_object,
}


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_profile(body: bytes) -> dict[str, Any]:
    """Parse and validate a posted profile; returns it without null fields, or raises."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
        # Lone surrogates parse but cannot be stored or signed as UTF-8.
        json.dumps(data, ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        raise ProfileError("The body must be a JSON object in UTF-8.") from None
    if not isinstance(data, dict):
        raise ProfileError("The body must be a JSON object (the user itself, not wrapped).")
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        names = ", ".join(repr(name[:64]) for name in unknown[:10])
        raise ProfileError(f"Unknown field(s): {names}.")
    for name, check in _REQUIRED.items():
        if data.get(name) in (None, ""):
            raise ProfileError(f"'{name}' is required and must not be empty.")
        check(name, data[name])
    profile = {name: data[name] for name in _REQUIRED}
    for name, check in _OPTIONAL.items():
        if data.get(name) is not None:
            check(name, data[name])
            profile[name] = data[name]
    return profile
