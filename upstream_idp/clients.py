"""The relying parties the stand-in knows: registered from configuration, never dynamically.

Each is an authlib `ClientMixin`, so authlib's grant and client authentication do the checks;
this module only states the policy: exact redirect URIs, one token endpoint auth method per
client, the code flow only, secrets compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list
from flask import Flask, current_app

from upstream_idp.settings import SCOPES_SUPPORTED

_EXTENSION = "upstream_idp.clients"


@dataclass(frozen=True)
class Client(ClientMixin):
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str

    #: Read by authlib's OpenID extension; RS256 is the only algorithm the stand-in signs with.
    id_token_signed_response_alg: ClassVar[str] = "RS256"  # noqa: S105 - an algorithm name
    #: Read by authlib's userinfo endpoint: no client asks for signed userinfo.
    client_metadata: ClassVar[dict[str, Any]] = {}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # OpenID Connect Core §3.1.2.1 makes redirect_uri REQUIRED: no default to fall back on.
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope_to_list(scope) or [] if s in SCOPES_SUPPORTED)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (RFC 9700 §4.1.3): no prefixes, no wildcards, no normalisation.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(
            client_secret.encode("utf-8", "surrogatepass"),
            self.client_secret.encode("utf-8", "surrogatepass"),
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = {
        entry["client_id"]: Client(
            client_id=entry["client_id"],
            client_secret=entry["client_secret"],
            redirect_uris=tuple(entry["redirect_uris"]),
            token_endpoint_auth_method=entry["token_endpoint_auth_method"],
        )
        for entry in app.config["CLIENTS"]
    }


def find_client(client_id: str) -> Client | None:
    return current_app.extensions[_EXTENSION].get(client_id)
