"""The upstream-OIDC login method: "Sign in with <provider>"."""

from login_methods.oidc.method import OidcMethod

__all__ = ["OidcMethod"]
