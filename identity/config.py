"""Configuration: defaults in one place, read from the environment, checked before start.

Every setting can come from an environment variable of the same name (and from `.env` in
development). `check_config` refuses unsafe production settings (E3) with a message that says
what to set, so a misconfigured deployment fails at start rather than at the first login.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from identity import proxy, urls
from identity.logging_setup import LOG_FORMATS

DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused outside development

DEFAULTS: dict[str, Any] = {
    # "development" relaxes nothing security-relevant except allowing the dev secret key and
    # plain-HTTP loopback URLs; anything else is treated as production.
    "APP_ENV": "production",
    "SECRET_KEY": None,
    "DATABASE_URL": None,  # None → SQLite file in the instance folder
    # SQLite: seconds a write waits for another writer's lock; past it, a "try again" 503.
    "DATABASE_BUSY_TIMEOUT": 15.0,
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "PRODUCT_NAME": "Acme Identity",
    # Branding (identity/web.py serves them as CSS variables at /brand.css). The primary
    # colour carries white button text and is the link colour, so it must contrast with white.
    "BRAND_LOGO_URL": None,  # an https URL or a path under /static/; None → the gradient mark
    "BRAND_PRIMARY_COLOR": "#3b4cca",
    "BRAND_ACCENT_COLOR": "#7a5cff",  # decorative only: the mark's gradient, the card's edge
    # The hosted broker (Scalekit dashboard: Environment URL, API credentials, connection id).
    "BROKER_ENV_URL": "http://127.0.0.1:5001",
    "BROKER_CLIENT_ID": None,
    "BROKER_CLIENT_SECRET": None,
    "BROKER_CONNECTION_ID": None,
    "BROKER_CONNECT_TIMEOUT": 3.05,
    "BROKER_READ_TIMEOUT": 10.0,
    "BROKER_RETRIES": 2,
    # Login methods, in the order the login page shows them: short names or dotted paths.
    "LOGIN_METHODS": "password",
    # How long a pending login request is honoured here; the broker's own limit is ~10 minutes.
    "LOGIN_REQUEST_TTL": 600,
    # E4 (identity/bounds.py): what one anonymous client can make rows of. Pending login
    # requests kept per browser (the oldest is dropped: several tabs still work, C2), and new
    # ones accepted per client address per window (then 429 with Retry-After).
    "LOGIN_REQUEST_MAX_PER_BROWSER": 10,
    "LOGIN_REQUEST_ADDRESS_LIMIT": 60,
    "LOGIN_REQUEST_ADDRESS_WINDOW": 60,
    # `flask housekeeping` (identity/housekeeping.py): how long expired rows are kept for
    # audit and debugging before they are purged, and how long audit events are kept (0: ever).
    "HOUSEKEEPING_GRACE": 24 * 3600,
    "AUDIT_RETENTION_DAYS": 90,
    # Password policy (C12) and throttling (C10).
    "PASSWORD_MIN_LENGTH": 15,
    "PASSWORD_MAX_LENGTH": 256,
    "THROTTLE_ACCOUNT_FREE_FAILURES": 5,
    "THROTTLE_ADDRESS_FREE_FAILURES": 20,
    "THROTTLE_BASE_DELAY": 1,
    "THROTTLE_MAX_DELAY": 900,
    "THROTTLE_WINDOW": 3600,
    "SESSION_LIFETIME": 8 * 3600,
    # Outbound mail (identity/mail.py). Development points at the local SMTP sink.
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_PORT": 1025,
    "MAIL_SECURITY": "starttls",
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_FROM": None,
    "MAIL_TIMEOUT": 10.0,
    "MAIL_CA_FILE": None,
    # Development only: the Maildir the local SMTP sink writes to, shown at /dev/outbox.
    "DEV_MAIL_DIR": None,
    # Behind a reverse proxy: how many proxies' X-Forwarded-* headers to trust (identity/proxy.py).
    # 0 trusts none: any client could otherwise choose the address throttles and audit see.
    "TRUSTED_PROXY_HOPS": 0,
    # "text" for development, "json" for one JSON object per line (identity/logging_setup.py).
    "LOG_FORMAT": "text",
}

# The mock broker's documented development values (mock_broker/seed.py), so that
# `APP_ENV=development` alone runs against the local mock broker.
DEVELOPMENT_DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": DEV_SECRET_KEY,
    "BROKER_CLIENT_ID": "skc_dev_customer_idp",
    "BROKER_CLIENT_SECRET": "dev-broker-secret-not-for-production",
    "BROKER_CONNECTION_ID": "conn_dev",
    "LOGIN_METHODS": "password,magic_link,oidc",
    # The local upstream OpenID Provider stand-in (upstream_idp/settings.py), run by make run.
    "LOGIN_METHOD_OIDC_PROVIDERS": "standin",
    "LOGIN_METHOD_OIDC_STANDIN_LABEL": "Dev OIDC (stand-in)",
    "LOGIN_METHOD_OIDC_STANDIN_ISSUER": "http://127.0.0.1:5002",
    "LOGIN_METHOD_OIDC_STANDIN_CLIENT_ID": "customer-idp-dev",
    "LOGIN_METHOD_OIDC_STANDIN_CLIENT_SECRET": "upstream-dev-secret-not-for-production",
    "LOGIN_METHOD_OIDC_STANDIN_SCOPES": "openid email profile groups",
    "LOGIN_METHOD_OIDC_STANDIN_TRUST_EMAIL": "true",
    # The stand-in's login form has a groups field: let it own groups, to show the mapping (C24).
    "LOGIN_METHOD_OIDC_STANDIN_CLAIMS": '{"groups": "groups"}',
    "MAIL_SECURITY": "none",  # the local sink speaks plain SMTP on loopback
    "MAIL_FROM": "Acme Identity <no-reply@acme.test>",
}

_INT_KEYS = {
    "LOGIN_REQUEST_TTL",
    "LOGIN_REQUEST_MAX_PER_BROWSER",
    "LOGIN_REQUEST_ADDRESS_LIMIT",
    "LOGIN_REQUEST_ADDRESS_WINDOW",
    "HOUSEKEEPING_GRACE",
    "AUDIT_RETENTION_DAYS",
    "BROKER_RETRIES",
    "PASSWORD_MIN_LENGTH",
    "PASSWORD_MAX_LENGTH",
    "THROTTLE_ACCOUNT_FREE_FAILURES",
    "THROTTLE_ADDRESS_FREE_FAILURES",
    "THROTTLE_BASE_DELAY",
    "THROTTLE_MAX_DELAY",
    "THROTTLE_WINDOW",
    "SESSION_LIFETIME",
    "MAIL_PORT",
}
_FLOAT_KEYS = {
    "BROKER_CONNECT_TIMEOUT",
    "BROKER_READ_TIMEOUT",
    "MAIL_TIMEOUT",
    "DATABASE_BUSY_TIMEOUT",
}


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the message says what to set."""


def from_environment(environ: os._Environ[str] | dict[str, str] = os.environ) -> dict[str, Any]:
    """The defaults, overridden by any environment variable of the same name."""
    config = dict(DEFAULTS)
    if environ.get("APP_ENV") == "development":
        config.update(DEVELOPMENT_DEFAULTS)
    # Login methods' own settings (LOGIN_METHOD_<NAME>_<SETTING>), as strings.
    config.update({key: value for key, value in environ.items() if key.startswith("LOGIN_METHOD_")})
    for key in DEFAULTS:
        raw = environ.get(key)
        if raw is None or raw == "":
            continue
        if key in _INT_KEYS:
            config[key] = int(raw)
        elif key in _FLOAT_KEYS:
            config[key] = float(raw)
        else:
            config[key] = raw
    return config


def from_mapping(overrides: dict[str, Any]) -> dict[str, Any]:
    """The defaults (with the development ones when asked for), overridden by `overrides`."""
    config = dict(DEFAULTS)
    if overrides.get("APP_ENV") == "development":
        config.update(DEVELOPMENT_DEFAULTS)
    config.update(overrides)
    return config


def derive_flask_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Flask/extension settings that follow from ours, so they cannot disagree."""
    secure = urlsplit(config["PUBLIC_URL"]).scheme == "https"
    return {
        # Own cookie name: the mock broker runs on another port of the same host, and
        # browsers share cookies across ports (C6).
        "SESSION_COOKIE_NAME": "idp_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_DURATION": timedelta(0),
        "PERMANENT_SESSION_LIFETIME": timedelta(seconds=config["SESSION_LIFETIME"]),
        "PREFERRED_URL_SCHEME": "https" if secure else "http",
        "WTF_CSRF_TIME_LIMIT": config["SESSION_LIFETIME"],
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }


_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_STATIC_PATH = re.compile(r"/static/[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*")
#: WCAG 2 AA for normal text: white button text on the primary colour, links on white.
MIN_CONTRAST = 4.5


def parse_hex_color(value: str) -> tuple[int, int, int]:
    """(r, g, b) of "#rgb" or "#rrggbb"; ValueError for anything else."""
    if not isinstance(value, str) or not _HEX_COLOR.fullmatch(value):
        raise ValueError(f"{value!r} is not a hex colour like #3b4cca")
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(value) for value in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def brand_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with the BRAND_* settings (empty when they are usable)."""
    problems: list[str] = []
    for key in ("BRAND_PRIMARY_COLOR", "BRAND_ACCENT_COLOR"):
        try:
            rgb = parse_hex_color(config[key])
        except ValueError:
            problems.append(f"{key}={config[key]!r} is not a hex colour like #3b4cca")
            continue
        ratio = contrast_ratio(rgb, (255, 255, 255))
        if key == "BRAND_PRIMARY_COLOR" and ratio < MIN_CONTRAST:
            problems.append(
                f"{key}={config[key]} has a contrast of {ratio:.2f}:1 with white; buttons and "
                f"links need at least {MIN_CONTRAST}:1 (WCAG AA): choose a darker colour"
            )
    logo = config.get("BRAND_LOGO_URL")
    if logo:
        parts = urlsplit(logo) if isinstance(logo, str) else None
        https = (
            parts is not None
            and parts.scheme == "https"
            and bool(parts.hostname)
            and not parts.username
            and not parts.password
            and not any(c.isspace() or c in "\\\"'<>" for c in logo)
        )
        static = isinstance(logo, str) and bool(_STATIC_PATH.fullmatch(logo)) and ".." not in logo
        if not (https or static):
            problems.append(
                f"BRAND_LOGO_URL={logo!r} must be an https URL or a path under /static/"
            )
    return problems


def check_config(config: dict[str, Any]) -> None:
    """Refuse to start on unsafe or incomplete settings (E3)."""
    development = config["APP_ENV"] == "development" or config.get("TESTING")
    problems: list[str] = []
    if not config.get("SECRET_KEY"):
        problems.append("SECRET_KEY is not set: set it to a long random value")
    elif config["SECRET_KEY"] == DEV_SECRET_KEY and not development:
        problems.append("SECRET_KEY is the development default: set a long random value")
    if config.get("DEBUG") and not development:
        problems.append("debug mode is on outside development: unset FLASK_DEBUG")
    for key in ("BROKER_ENV_URL", "PUBLIC_URL"):
        if problem := urls.url_problem(config[key]):
            problems.append(f"{key} {problem}")
    if config["MAIL_SECURITY"] not in {"none", "starttls", "ssl"}:
        problems.append("MAIL_SECURITY must be none, starttls or ssl")
    elif (
        config["MAIL_SECURITY"] == "none"
        and not development
        and not urls.is_loopback_host(config["MAIL_SERVER"])
    ):
        problems.append("MAIL_SECURITY=none sends mail in clear text: use starttls or ssl")
    for key in ("BROKER_CLIENT_ID", "BROKER_CLIENT_SECRET", "BROKER_CONNECTION_ID"):
        if not config.get(key):
            problems.append(f"{key} is not set (see README: configuration)")
    try:  # normalised as well as checked: from the environment it arrives as a string
        config["TRUSTED_PROXY_HOPS"] = proxy.parse_hops(
            "TRUSTED_PROXY_HOPS", config["TRUSTED_PROXY_HOPS"]
        )
    except ValueError as error:
        problems.append(str(error))
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        problems.append(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    for key in ("LOGIN_REQUEST_MAX_PER_BROWSER", "LOGIN_REQUEST_ADDRESS_LIMIT"):
        if not isinstance(config[key], int) or config[key] < 1:
            problems.append(f"{key} must be a whole number, at least 1 (E4)")
    if not 1 <= config["LOGIN_REQUEST_ADDRESS_WINDOW"] <= config["THROTTLE_WINDOW"]:
        problems.append("LOGIN_REQUEST_ADDRESS_WINDOW must be 1 to THROTTLE_WINDOW seconds")
    for key in ("HOUSEKEEPING_GRACE", "AUDIT_RETENTION_DAYS"):
        if config[key] < 0:
            problems.append(f"{key} must be 0 or more")
    problems.extend(brand_problems(config))
    if problems:
        raise ConfigError("Refusing to start: " + "; ".join(problems) + ".")
