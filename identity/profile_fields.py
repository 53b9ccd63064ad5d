"""The rules every write of a profile field follows, wherever the value comes from.

A profile field is written by an operator (`flask create-user`, `flask edit-user`) or by a login
method (an upstream provider's claims). Either way the value ends up in a database column and
then in the profile posted to the broker (contract §3), so one set of rules decides what is
acceptable: each limit is the smaller of the column's and the broker's, text has no control
or invisible format characters, URLs are absolute http(s), locales look like BCP 47 tags,
phone numbers are E.164. A value that breaks a rule is refused with a message fit to show to
the operator, before it can become a database error (a 500) or a profile the broker rejects.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

MAX_TEXT = 200
MAX_NAME = 255  # the broker's limit; the column holds 400
MAX_URL = 2000
MAX_LIST_ITEMS = 100
MAX_LIST_ITEM = 255
MAX_CUSTOM_ATTRIBUTES_BYTES = 4096
_LOCALE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: Unicode categories refused in text: controls, format (bidi overrides, zero-width), surrogates.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


class ProfileFieldError(ValueError):
    """A value a profile field cannot take; the message names the field and the rule."""


def _text(limit: int) -> Callable[[str, Any], str]:
    def check(field: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ProfileFieldError(f"{field} must be text.")
        value = value.strip()
        if not value or len(value) > limit:
            raise ProfileFieldError(f"{field} must be 1 to {limit} characters.")
        if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
            raise ProfileFieldError(f"{field} must not contain control or invisible characters.")
        return value

    return check


def _url(field: str, value: Any) -> str:
    value = _text(MAX_URL)(field, value)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or " " in value:
        raise ProfileFieldError(f"{field} must be an absolute http(s) URL.")
    return value


def _pattern(pattern: re.Pattern[str], limit: int, shape: str) -> Callable[[str, Any], str]:
    def check(field: str, value: Any) -> str:
        value = _text(limit)(field, value)
        if not pattern.fullmatch(value):
            raise ProfileFieldError(f"{field} must be {shape}.")
        return value

    return check


def _text_list(field: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ProfileFieldError(f"{field} must be a list of text values.")
    if len(value) > MAX_LIST_ITEMS:
        raise ProfileFieldError(f"{field} must have at most {MAX_LIST_ITEMS} items.")
    items = [_text(MAX_LIST_ITEM)(f"each item of {field}", item) for item in value]
    return list(dict.fromkeys(items))  # in order, without repeats


def _json_object(field: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ProfileFieldError(f"{field} must be a JSON object.") from None
    if not isinstance(value, dict):
        raise ProfileFieldError(f"{field} must be a JSON object.")
    try:
        # json.loads reads 1e400 as infinity, which is not JSON: PostgreSQL refuses to store
        # it, and the profile posted to the broker would carry `Infinity` (E2).
        encoded = json.dumps(value, allow_nan=False)
    except ValueError:
        raise ProfileFieldError(f"{field} has a number too large for JSON (like 1e400).") from None
    if len(encoded.encode()) > MAX_CUSTOM_ATTRIBUTES_BYTES:
        raise ProfileFieldError(f"{field} must be at most {MAX_CUSTOM_ATTRIBUTES_BYTES} bytes.")
    return value


#: Field (a User column) → its check, which returns the value to store.
RULES: dict[str, Callable[[str, Any], Any]] = {
    "given_name": _text(MAX_TEXT),
    "family_name": _text(MAX_TEXT),
    "name": _text(MAX_NAME),
    "preferred_username": _text(MAX_TEXT),
    "picture": _url,
    "locale": _pattern(_LOCALE, 35, "a language tag like en-US"),
    "phone_number": _pattern(_E164, 16, "in E.164 format, like +14155550123"),
    "roles": _text_list,
    "groups": _text_list,
    "organization_external_id": _text(MAX_TEXT),
    "organization_external_name": _text(MAX_TEXT),  # shown on the broker's consent screen
    "custom_attributes": _json_object,
}


def clean(field: str, value: Any) -> Any:
    """The value to store in `field`, or ProfileFieldError saying which rule it breaks."""
    return RULES[field](field, value)


def clean_all(values: dict[str, Any]) -> dict[str, Any]:
    """Each given field checked; None (and an empty list or object) means unset and passes."""
    return {
        field: value if value is None or value == [] or value == {} else clean(field, value)
        for field, value in values.items()
    }
