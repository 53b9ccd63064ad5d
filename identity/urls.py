"""What a configured service URL must look like, and where plain http is acceptable: one rule
for the four apps here (customer side, mock broker, OIDC stand-in, sample MCP server).

Plain http only on loopback: no network attacker sits between two processes on one machine;
anywhere else codes, states and tokens would travel in clear text.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(hostname: str | None) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1)."""
    if not hostname:
        return False
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def url_problem(url: str, allow_query: bool = False) -> str | None:
    """Why `url` cannot be a service's URL, to follow its setting's name; None when it can be.

    Absolute http(s), no fragment, no query unless `allow_query` (a redirect URI may have one).
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        hostname = None
    if hostname is None or parts.scheme not in ("http", "https"):
        return f"must be an absolute http(s) URL, got {url!r}"
    if parts.fragment:
        return "must not have a fragment"
    if parts.query and not allow_query:
        return "must not have a query"
    if parts.scheme == "http" and not is_loopback_host(hostname):
        return (
            f"is plain http on a non-loopback host ({hostname}): "
            "use https, or 127.0.0.1 for local development"
        )
    return None
