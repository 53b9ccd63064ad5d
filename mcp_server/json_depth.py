"""How deep a JSON body nests, found without parsing it.

Python's json module (and the SDK's pydantic parsing after it) recurses once per level: a body
of 990 nested arrays overflowed the recursion limit, a RecursionError and a 500 (E2). No MCP
message nests anywhere near that deep, so the access guard refuses a body deeper than
MAX_JSON_DEPTH before anything parses it. The count skips string contents, so brackets
inside a note's text do not count; it is linear in the body, which is capped in size.
"""

from __future__ import annotations

import re
from itertools import accumulate

#: Deeper than any MCP message or tool argument needs; far below Python's recursion limit.
MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENING = frozenset(b"[{")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in `body` (0 for a scalar)."""
    brackets = _STRING.sub(b"", body).translate(None, delete=_NOT_BRACKETS)
    return max(accumulate(1 if byte in _OPENING else -1 for byte in brackets), default=0)
