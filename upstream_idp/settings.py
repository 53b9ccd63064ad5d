"""Development defaults of the upstream stand-in, in one import-light module.

The customer side's development configuration and its tests import these, so both ends of the
"sign in with the upstream provider" flow agree on the client without copying strings. None of
them is a secret worth keeping: the stand-in is a development tool and says so on every page.
"""

from __future__ import annotations

#: Where `flask --app upstream_idp run --port 5002` serves, and the `iss` of its tokens.
DEV_ISSUER = "http://127.0.0.1:5002"
DEV_PORT = 5002

#: The one client registered by default: the customer side's "standin" OIDC login method.
DEV_CLIENT_ID = "customer-idp-dev"
DEV_CLIENT_SECRET = "upstream-dev-secret-not-for-production"  # noqa: S105 - a public dev value
DEV_REDIRECT_URI = "http://127.0.0.1:5000/login/oidc/standin/callback"
DEV_TOKEN_ENDPOINT_AUTH_METHOD = "client_secret_basic"  # noqa: S105 - a method name

DEV_SECRET_KEY = "upstream-idp-dev-secret-key-not-for-production"  # noqa: S105 - session signing

#: The scopes the stand-in understands; `groups` is not an OpenID scope, but a common extension.
SCOPES_SUPPORTED = ("openid", "email", "profile", "groups")
