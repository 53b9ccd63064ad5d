"""The magic-link login method: "Email me a sign-in link"."""

from login_methods.magic_link.method import MagicLinkMethod

__all__ = ["MagicLinkMethod"]
