"""What a client may register as a redirect URI, and how the consent page names where it goes.

Three kinds are accepted (OAuth 2.1 §2.3.1, RFC 9700 §2.6, RFC 8252 §7):

- `https` URLs, anywhere;
- plain `http` on loopback (RFC 8252 §7.3): a native app's local listener, whose port alone
  may vary at the authorization request (B2, `models._redirect_uri_matches`);
- private-use URI schemes of native apps (RFC 8252 §7.1), e.g. `com.example.app:/callback`:
  the scheme must be a reverse domain name, so it contains a period. A scheme without one is
  ambiguous — it may be a registered scheme with another meaning (`intent:`, `ms-settings:`,
  `mailto:`) or collide with another app's — and is refused, except the few an operator
  lists in `NATIVE_SCHEMES_WITHOUT_PERIOD` (by default `cursor`, which a widely used desktop
  MCP client registers). They are matched exactly like any redirect URI (RFC 8252 §8.4).

Schemes that run code, read local files or name browser-internal content (`javascript`,
`data`, `file`, `vbscript`, `about`, `blob`, …) are refused whatever the configuration says.
No redirect URI may carry a fragment, user credentials, or characters that are not printable
(B14: it is shown on the consent page).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import current_app, has_app_context

from identity.urls import is_loopback_host
from mock_broker.display_text import refused_character

MAX_URL = 2048

#: Never a redirect target: they run script, read files or show browser-internal content.
DANGEROUS_SCHEMES = frozenset(
    {"javascript", "vbscript", "data", "file", "about", "blob", "filesystem", "view-source"}
)
WEB_SCHEMES = ("http", "https")
#: RFC 3986 §3.1 scheme syntax, lowercase (urlsplit lowercases what it returns).
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
DEFAULT_SCHEMES_WITHOUT_PERIOD = ("cursor",)


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a redirect URI, or None; completes "Each redirect URI …"."""
    if character := refused_character(uri):  # B14: shown on the consent page (its host)
        return f"must not contain control or format characters ({character})"
    if len(uri) > MAX_URL or any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        return f"must be a URL of at most {MAX_URL} printable characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - reading it rejects malformed ports
    except ValueError:
        return "must be a valid URL"
    if not parts.scheme:
        return "must be an absolute URL"
    if parts.fragment or "#" in uri:
        return "must not have a fragment"
    if parts.username is not None or parts.password is not None:
        return "must not contain user credentials"
    if parts.scheme in WEB_SCHEMES:
        if not parts.hostname:
            return "must be an absolute http(s) URL"
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            return "must use https unless it is on loopback"
        return None
    return _private_use_problem(parts.scheme, uri)


def _private_use_problem(scheme: str, uri: str) -> str | None:
    if scheme in DANGEROUS_SCHEMES:
        return f"must not use the {scheme}: scheme"
    if "." not in scheme and scheme not in schemes_without_period():
        return (
            "must use https, http on loopback, or a private-use scheme named after a domain "
            "you control in reverse order, with a period (RFC 8252 section 7.1), like "
            "com.example.app:/callback"
        )
    rest = uri[len(scheme) + 1 :]
    if not rest:
        return "must have a path after the scheme"
    if re.match(r"\d+(/|$)", rest):  # `example.com:8080/cb`: a host and port, not a scheme
        return "must not be a host and port without a scheme"
    return None


def schemes_without_period() -> tuple[str, ...]:
    """The operator's exceptions to the period rule (config `NATIVE_SCHEMES_WITHOUT_PERIOD`)."""
    if not has_app_context():
        return DEFAULT_SCHEMES_WITHOUT_PERIOD
    return tuple(
        current_app.config.get("NATIVE_SCHEMES_WITHOUT_PERIOD", DEFAULT_SCHEMES_WITHOUT_PERIOD)
    )


def parse_scheme_list(text: str) -> tuple[str, ...]:
    """`NATIVE_SCHEMES_WITHOUT_PERIOD` from the environment: names separated by commas or
    spaces; raises ValueError for one that is not a scheme, or is http(s) or dangerous."""
    schemes = tuple(dict.fromkeys(name.lower() for name in re.split(r"[\s,]+", text) if name))
    for scheme in schemes:
        if not SCHEME.fullmatch(scheme):
            raise ValueError(f"{scheme!r} is not a URI scheme name")
        if scheme in WEB_SCHEMES or scheme in DANGEROUS_SCHEMES:
            raise ValueError(f"{scheme!r} cannot be a private-use scheme")
    return schemes


def is_private_use(uri: str) -> bool:
    """A native app's private-use scheme redirect (neither http nor https)."""
    return urlsplit(uri).scheme not in WEB_SCHEMES


def shown_target(uri: str) -> str:
    """Where the consent page says the answer goes: the host of a web redirect, the scheme
    (`com.example.app:`) of a private-use one — the part that picks who receives the code."""
    parts = urlsplit(uri)
    if parts.scheme in WEB_SCHEMES:
        return parts.hostname or ""
    return f"{parts.scheme}:"
