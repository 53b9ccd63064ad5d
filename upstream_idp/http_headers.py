"""Browser hardening on every response.

Pages may load only the stand-in's own stylesheet (no inline scripts or styles), may not be
framed (a login page in someone else's frame is a clickjacking target), and send no referrer,
so codes and states in URLs do not leak to other sites. There is no `form-action`: browsers
apply it to the redirect that follows the login form, which goes to the relying party.
"""

from __future__ import annotations

from flask import Response

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
