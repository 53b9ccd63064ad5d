"""authlib's view of a request, with this server's URL from configuration, not the Host header.

Shared by the two authorization servers of this repository (the mock broker, the OIDC
stand-in).

authlib refuses an OAuth request whose URL is neither https nor loopback
(`InsecureTransportError`), and its Flask integration takes that URL from `request.url`, which
Flask builds from the `Host` header. Any client could send `Host: evil.example` and turn a
token, revocation, introspection or userinfo request into a 500. But the Host a client sends
says nothing about the transport: whether requests arrive over TLS is a fact of the
deployment, and each app's configuration states it (its public URL, refused at start when it
is plain http outside loopback). So authlib is shown the configured URL with the request's
path and query: the transport check follows configuration, and the Host header changes no
answer.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Request


class ConfiguredUrlRequest(FlaskOAuth2Request):
    """A `FlaskOAuth2Request` whose `uri` is `public_url` + the request's path and query."""

    def __init__(self, request: Request, public_url: str) -> None:
        # FlaskOAuth2Request.__init__ with one change: the URI. (Its parent's __init__ runs the
        # transport check, so the URI cannot be replaced after construction.)
        query = request.query_string.decode("latin-1")
        uri = public_url.rstrip("/") + request.path + (f"?{query}" if query else "")
        OAuth2Request.__init__(self, method=request.method, uri=uri, headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)
