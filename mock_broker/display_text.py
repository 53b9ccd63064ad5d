"""Client-supplied text that people are shown: no characters that lie about what it says (B14).

A client names itself (`client_name`) and its pages (`client_uri`, `logo_uri`, …) and its
redirect URIs, and the consent page shows them. Bidirectional overrides and isolates (U+202A
to U+202E, U+2066 to U+2069) reorder what follows them, so "Claude\\u202e)laiciffo( " reads
"Claude (official)"; zero-width and other invisible format characters (U+200B to U+200F,
U+2060 to U+2064, U+FEFF) make two different names look identical; control characters break
lines or vanish. None has a place in a client name or a URL, so registration refuses them
(DCR, CIMD documents, the CLI) and the pages strip them from anything already stored.

Refused: Unicode categories Cc (controls), Cf (format characters), Cs (lone surrogates, which
JSON can encode but no database can store), and the line and paragraph separators Zl, Zp.
"""

from __future__ import annotations

import unicodedata

from flask import Flask

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def refused_character(text: str) -> str | None:
    """The first character of `text` a person must not be shown, as `U+XXXX`; None if none."""
    for character in text:
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            return f"U+{ord(character):04X}"
    return None


def shown(text: object) -> str:
    """`text` without the refused characters: the display-time guard (a Jinja filter)."""
    return "".join(c for c in str(text) if unicodedata.category(c) not in _REFUSED_CATEGORIES)


def init_app(app: Flask) -> None:
    app.add_template_filter(shown, "shown")
