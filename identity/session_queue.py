"""The few newest values a browser has in flight, kept in its session cookie under one name.

Each entry is a random key and its value: the hand-off URLs on their way to the broker, the
upstream-OIDC round trips. Only the newest `limit` are kept (the cookie must stay small, E4).
Flask's session serializer sorts a dict's keys, so a dict cannot say which entry is newest:
they are kept as a list of [key, value] pairs, oldest first.
"""

from __future__ import annotations

from typing import Any

from flask import session


def push(name: str, key: str, value: Any, limit: int) -> list[str]:
    """Add `key` as the newest entry, drop the oldest beyond `limit`; returns the keys kept."""
    entries = [entry for entry in _entries(name) if entry[0] != key] + [[key, value]]
    session[name] = entries[-limit:]
    return [entry[0] for entry in session[name]]


def pop(name: str, key: str) -> Any | None:
    """The value of `key`, removed (None if it is not there: spent, dropped, or never here)."""
    entries = _entries(name)
    found = next((entry[1] for entry in entries if entry[0] == key), None)
    session[name] = [entry for entry in entries if entry[0] != key]
    return found


def _entries(name: str) -> list[list[Any]]:
    stored = session.get(name, [])
    if not isinstance(stored, list):  # written by an older version as a dict
        return []
    return [list(entry) for entry in stored if isinstance(entry, list | tuple) and len(entry) == 2]
