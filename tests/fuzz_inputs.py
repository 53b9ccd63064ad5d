"""Fixed tables of hostile input, shared by the fuzz tests of the four apps (E2).

Each class below turned into a 500 somewhere in a fuzzing run (docs/security.md, E2): a
`Host` that is not loopback, lone surrogates and NULs in text, integers past 64 bits, JSON
nested a thousand deep, control characters in headers. Every app's fuzz tests send every
class to every endpoint that reads it, so a new endpoint that mishandles one goes red.
Tables rather than random generation: the same inputs on every run, and a failure names the
value.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Flask

#: `Host` values a client may send that are not this server's configured address.
FOREIGN_HOSTS = (
    "evil.example",
    "evil.example:443",
    "10.0.0.1:8080",
    "[2001:db8::1]:80",
    "127.0.0.1.evil.example",
)

#: Text no form field or JSON string of ours should hold: lone surrogates (valid in a JSON
#: string escape, not in UTF-8), NULs, other C0 and C1 controls, a bidirectional override.
ODD_TEXT = (
    "\ud800",
    "a\udfffb",
    "\x00",
    "a\x00b",
    "\x1b[31m\x07",
    "\x85\x9b",
    "\u202e",
)

#: Integers no field of ours accepts, as typed: past 32 and 64 bits, negative, too many
#: digits for int(), and characters str.isdigit() says are digits.
HUGE_INTEGERS = (
    str(2**31),
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    "9" * 5000,
    "1e400",
    "\u00b2",
    "\u0663",
)

#: One of each class above, for the sweeps that send a value to every field of every route.
ONE_OF_EACH = ("\ud800", "a\x00b", "\x1b[31m\x07\x85", "\u202e", str(2**63), "9" * 5000, "\u00b2")

#: Header values with control characters (the fuzzing run's were in `User-Agent`).
CONTROL_HEADER_VALUES = (
    "Mozilla\x00/5.0",
    "\x01\x02\x03",
    "\x1b[2J\x1b[H",
    "x\x7fy",
    "tab\there",
)

#: How deep the fuzzing run's JSON went (Python's json recursion limit is about 1000).
DEEP = 990


def deep_json(depth: int = DEEP) -> bytes:
    """An array nested `depth` deep: valid JSON that recursive parsers choke on."""
    return b"[" * depth + b"]" * depth


def deep_object(name: str, depth: int = DEEP) -> bytes:
    """A JSON object whose `name` holds `depth` nested arrays."""
    return b'{"' + name.encode() + b'": ' + deep_json(depth) + b"}"


def form_body(fields: dict[str, str]) -> bytes:
    """An urlencoded body that may carry lone surrogates (as the bytes a fuzzer sends: their
    UTF-8-style encoding, which is not valid UTF-8), which `requests` cannot encode."""
    return "&".join(
        f"{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'))}"
        for name, value in fields.items()
    ).encode("ascii")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def query_string(fields: dict[str, str]) -> str:
    """The same encoding as `form_body`, for a URL's query."""
    return form_body(fields).decode("ascii")


def routes(app: Flask, **arguments: str) -> list[tuple[str, str]]:
    """Every (method, path) of a Flask app's URL map, each path parameter filled in from
    `arguments` (by name) or with "x": the fuzz tests cover a route added tomorrow without
    being told about it."""
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: arguments.get(m.group(1), "x"), rule.rule)
        found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found
