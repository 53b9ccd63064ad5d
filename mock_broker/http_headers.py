"""Response headers: CORS where RFC 9700 §2.6 allows it, and browser hardening everywhere.

CORS is opt-in per endpoint (metadata, JWKS, token: B10) and never on the authorization
endpoint, where a cross-origin script could otherwise drive a user's browser through it.
Every response forbids framing (RFC 9700 §4.16, B8) and referrers (so codes and states in
URLs do not leak, §4.2), and pages may load only the broker's own stylesheet: no inline
scripts or styles. There is deliberately no `form-action`: browsers apply it to the redirects
that follow a form's POST, and the consent form's answer redirects to the client's redirect
URI, which may be any https host, a loopback port or a native app's private-use scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Response, current_app, make_response, request

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def allow_cors(*methods: str) -> Callable[[Callable[..., object]], Callable[..., Response]]:
    """Answer CORS preflights and let any origin read the response (no cookies are involved).

    The route must list OPTIONS among its methods, so that the preflight reaches this view.
    """
    allowed = ", ".join((*methods, "OPTIONS"))

    def decorate(view: Callable[..., object]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(*args: object, **kwargs: object) -> Response:
            if request.method == "OPTIONS":
                response = current_app.make_default_options_response()
                response.headers["Access-Control-Allow-Methods"] = allowed
                response.headers["Access-Control-Allow-Headers"] = (
                    "Authorization, Content-Type, MCP-Protocol-Version"
                )
                response.headers["Access-Control-Max-Age"] = "600"
            else:
                response = make_response(view(*args, **kwargs))
            response.headers["Access-Control-Allow-Origin"] = "*"
            return response

        return wrapper

    return decorate


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
