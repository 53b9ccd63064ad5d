"""Configuration: environment variables (and `.env` under `flask run`), then test overrides.

Every setting has a safe local default, because the mock broker is a development tool. What is
refused is the configuration that would be dangerous if someone exposed the mock on a network:
a plain-HTTP public URL on a non-loopback host, or production mode with the default secret.
"""

from __future__ import annotations

import os
from typing import Any

from identity.logging_setup import LOG_FORMATS
from identity.proxy import parse_hops
from identity.urls import url_problem
from mock_broker.redirect_uris import parse_scheme_list

DEV_SECRET_KEY = "mock-broker-dev-secret-key-not-for-production"  # noqa: S105 - refused in production

# (config key, environment variable, default). Durations are seconds.
_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("ENV", "MOCK_BROKER_ENV", "development"),
    ("ENV_URL", "MOCK_BROKER_ENV_URL", "http://127.0.0.1:5001"),
    ("DATABASE_URL", "MOCK_BROKER_DATABASE_URL", ""),
    ("SECRET_KEY", "MOCK_BROKER_SECRET_KEY", ""),
    ("LOGIN_ENDPOINT", "MOCK_BROKER_LOGIN_ENDPOINT", "http://127.0.0.1:5000/login"),
    # The sample MCP server's URL, the seeded resource's identifier (RFC 8707): `make run`
    # derives it from MCP_PORT, so a non-default port is the resource clients ask for.
    ("DEV_MCP_SERVER_URL", "MOCK_BROKER_DEV_MCP_SERVER_URL", "http://127.0.0.1:5003/mcp"),
    ("LOGIN_REQUEST_TTL", "MOCK_BROKER_LOGIN_REQUEST_TTL", "600"),
    ("AUTH_CODE_TTL", "MOCK_BROKER_AUTH_CODE_TTL", "60"),
    ("ACCESS_TOKEN_TTL", "MOCK_BROKER_ACCESS_TOKEN_TTL", "3600"),
    ("M2M_TOKEN_TTL", "MOCK_BROKER_M2M_TOKEN_TTL", "3600"),
    # A refresh token unused this long expires (RFC 9700 §4.14.2: inactivity expiry).
    ("REFRESH_TOKEN_TTL", "MOCK_BROKER_REFRESH_TOKEN_TTL", str(30 * 24 * 3600)),
    # Seconds after a rotation during which the old refresh token, presented again (a
    # concurrent refresh), is refused without revoking its family; 0 turns the grace off
    # (B4, B15; at most MAX_REFRESH_REUSE_GRACE).
    ("REFRESH_REUSE_GRACE", "MOCK_BROKER_REFRESH_REUSE_GRACE", "10"),
    # Who gets a refresh token (REFRESH_TOKEN_POLICIES): `refresh_grant`, every client
    # registered for the refresh_token grant; `offline_access`, only when that scope was granted.
    ("REFRESH_TOKEN_POLICY", "MOCK_BROKER_REFRESH_TOKEN_POLICY", "refresh_grant"),
    # The customer side's BROKER_RETRIES, so the switchboard can say what its retries absorb.
    ("CUSTOMER_RETRIES", "MOCK_BROKER_CUSTOMER_RETRIES", "2"),
    # How the browser's return through the callback is checked (B12). `bound`: the request is
    # bound to the browser that called /oauth/authorize, and the profile post's answer names
    # the callback URL with a one-time value; `state-only`: exactly the documented contract.
    ("CALLBACK_MODE", "MOCK_BROKER_CALLBACK_MODE", "bound"),
    # `housekeeping` keeps expired rows this much longer, for the QA views and debugging (E4).
    ("HOUSEKEEPING_GRACE", "MOCK_BROKER_HOUSEKEEPING_GRACE", str(24 * 3600)),
    # Dynamic registrations accepted per client address per window, then 429 (E4).
    ("REGISTRATION_ADDRESS_LIMIT", "MOCK_BROKER_REGISTRATION_ADDRESS_LIMIT", "20"),
    ("REGISTRATION_ADDRESS_WINDOW", "MOCK_BROKER_REGISTRATION_ADDRESS_WINDOW", "3600"),
    # `housekeeping` deletes a DCR client no user ever signed in with this long after it
    # registered (E4); clients re-registering at every restart leave such rows behind.
    ("UNUSED_CLIENT_TTL", "MOCK_BROKER_UNUSED_CLIENT_TTL", str(7 * 24 * 3600)),
    # Skip the consent page for a client the user already approved these scopes for.
    ("REMEMBER_CONSENT", "MOCK_BROKER_REMEMBER_CONSENT", "true"),
    # Client ID Metadata Documents (B7): fetch limits and the SSRF guard.
    ("CIMD_TIMEOUT", "MOCK_BROKER_CIMD_TIMEOUT", "5"),
    ("CIMD_CACHE_MIN", "MOCK_BROKER_CIMD_CACHE_MIN", "30"),
    ("CIMD_CACHE_MAX", "MOCK_BROKER_CIMD_CACHE_MAX", str(24 * 3600)),
    ("CIMD_ALLOW_PRIVATE_ADDRESSES", "MOCK_BROKER_CIMD_ALLOW_PRIVATE_ADDRESSES", "false"),
    ("CIMD_CA_FILE", "MOCK_BROKER_CIMD_CA_FILE", ""),
    # Private-use redirect schemes without a period accepted anyway (RFC 8252 §7.1 wants a
    # reverse domain name; see mock_broker/redirect_uris.py), separated by commas.
    ("NATIVE_SCHEMES_WITHOUT_PERIOD", "MOCK_BROKER_NATIVE_SCHEMES_WITHOUT_PERIOD", "cursor"),
    # Behind a reverse proxy: how many proxies' X-Forwarded-* headers to trust; 0 = none.
    ("TRUSTED_PROXY_HOPS", "MOCK_BROKER_TRUSTED_PROXY_HOPS", "0"),
    # Logging is set up for the whole process, so both apps read the same variable.
    ("LOG_FORMAT", "LOG_FORMAT", "text"),
)
_DURATIONS = (
    "LOGIN_REQUEST_TTL",
    "AUTH_CODE_TTL",
    "ACCESS_TOKEN_TTL",
    "M2M_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "CIMD_TIMEOUT",
    "CIMD_CACHE_MIN",
    "CIMD_CACHE_MAX",
    "REGISTRATION_ADDRESS_LIMIT",  # not a duration, but a positive whole number too
    "REGISTRATION_ADDRESS_WINDOW",
    "UNUSED_CLIENT_TTL",
)
_FLAGS = ("REMEMBER_CONSENT", "CIMD_ALLOW_PRIVATE_ADDRESSES")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")

#: `bound` (B12, the default) or `state-only` (the hosted broker's documented contract).
CALLBACK_MODES = ("bound", "state-only")

#: When a refresh token is issued (mock_broker/refresh_tokens.py::should_issue).
REFRESH_TOKEN_POLICIES = ("refresh_grant", "offline_access")

#: Bounds of the refresh-token reuse grace (B4): long enough for a concurrent refresh,
#: short enough that a stolen, already-rotated token is useless soon after.
MAX_REFRESH_REUSE_GRACE = 60

#: RFC 9700 §4.2.1 wants codes short-lived; the checklist (B3) caps them at 60 seconds.
MAX_AUTH_CODE_TTL = 60


class ConfigError(RuntimeError):
    """Unsafe or malformed configuration; the message says what to set."""


def load_config(test_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the app config from the environment, apply overrides, and refuse unsafe values."""
    config: dict[str, Any] = {key: os.environ.get(env, default) for key, env, default in _SETTINGS}
    config.update(test_config or {})

    for key in _DURATIONS:
        try:
            config[key] = int(config[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number of seconds.") from None
        if config[key] <= 0:
            raise ConfigError(f"{key} must be positive.")
    if config["AUTH_CODE_TTL"] > MAX_AUTH_CODE_TTL:
        raise ConfigError(f"AUTH_CODE_TTL must be at most {MAX_AUTH_CODE_TTL} seconds (B3).")
    try:
        config["REFRESH_REUSE_GRACE"] = int(config["REFRESH_REUSE_GRACE"])
    except (TypeError, ValueError):
        raise ConfigError("REFRESH_REUSE_GRACE must be a whole number of seconds.") from None
    if not 0 <= config["REFRESH_REUSE_GRACE"] <= MAX_REFRESH_REUSE_GRACE:
        raise ConfigError(
            f"MOCK_BROKER_REFRESH_REUSE_GRACE must be 0 to {MAX_REFRESH_REUSE_GRACE} seconds "
            "(B15: a longer window leaves a stolen, rotated refresh token unpunished longer)."
        )
    try:
        config["CUSTOMER_RETRIES"] = int(config["CUSTOMER_RETRIES"])
    except (TypeError, ValueError):
        raise ConfigError("MOCK_BROKER_CUSTOMER_RETRIES must be a whole number.") from None
    if not 0 <= config["CUSTOMER_RETRIES"] <= 10:
        raise ConfigError("MOCK_BROKER_CUSTOMER_RETRIES must be 0 to 10.")
    if config["REFRESH_TOKEN_POLICY"] not in REFRESH_TOKEN_POLICIES:
        raise ConfigError(
            "MOCK_BROKER_REFRESH_TOKEN_POLICY must be one of " + ", ".join(REFRESH_TOKEN_POLICIES)
        )
    if config["CALLBACK_MODE"] not in CALLBACK_MODES:
        raise ConfigError(f"MOCK_BROKER_CALLBACK_MODE must be one of {', '.join(CALLBACK_MODES)}.")
    try:
        config["HOUSEKEEPING_GRACE"] = int(config["HOUSEKEEPING_GRACE"])
    except (TypeError, ValueError):
        raise ConfigError("HOUSEKEEPING_GRACE must be a whole number of seconds.") from None
    if config["HOUSEKEEPING_GRACE"] < 0:
        raise ConfigError("HOUSEKEEPING_GRACE must be 0 or more.")
    if config["CIMD_CACHE_MIN"] > config["CIMD_CACHE_MAX"]:
        raise ConfigError("CIMD_CACHE_MIN must not exceed CIMD_CACHE_MAX.")
    for key in _FLAGS:
        config[key] = _flag(key, config[key])
    if isinstance(config["NATIVE_SCHEMES_WITHOUT_PERIOD"], str):
        try:
            config["NATIVE_SCHEMES_WITHOUT_PERIOD"] = parse_scheme_list(
                config["NATIVE_SCHEMES_WITHOUT_PERIOD"]
            )
        except ValueError as error:
            raise ConfigError(f"MOCK_BROKER_NATIVE_SCHEMES_WITHOUT_PERIOD: {error}.") from None
    try:
        config["TRUSTED_PROXY_HOPS"] = parse_hops(
            "MOCK_BROKER_TRUSTED_PROXY_HOPS", config["TRUSTED_PROXY_HOPS"]
        )
    except ValueError as error:
        raise ConfigError(f"{error}.") from None
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}.")
    if config["CIMD_CA_FILE"] and not os.path.isfile(config["CIMD_CA_FILE"]):
        raise ConfigError(f"CIMD_CA_FILE {config['CIMD_CA_FILE']!r} is not a file.")
    # Tests only: a callable (hostname, port) -> [IP address strings] replacing DNS for the
    # CIMD fetcher, so a test can serve a document under a hostname it controls.
    config.setdefault("CIMD_RESOLVER", None)

    config["ENV_URL"] = _checked_url("MOCK_BROKER_ENV_URL", str(config["ENV_URL"])).rstrip("/")
    _checked_url("MOCK_BROKER_LOGIN_ENDPOINT", str(config["LOGIN_ENDPOINT"]))
    _checked_url("MOCK_BROKER_DEV_MCP_SERVER_URL", str(config["DEV_MCP_SERVER_URL"]))
    if config["ENV"] not in ("development", "production"):
        raise ConfigError("MOCK_BROKER_ENV must be 'development' or 'production'.")
    if not config["SECRET_KEY"]:
        if config["ENV"] != "development":
            raise ConfigError("Set MOCK_BROKER_SECRET_KEY to a long random value.")
        config["SECRET_KEY"] = DEV_SECRET_KEY
    elif config["ENV"] == "production" and config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise ConfigError("MOCK_BROKER_SECRET_KEY is the development default; set a random one.")

    secure = config["ENV_URL"].startswith("https://")
    config.setdefault("SESSION_COOKIE_NAME", "broker_session")
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    config.setdefault("SESSION_COOKIE_SECURE", secure)
    # Bounds every request body, the profile API's included (answered 413 in JSON).
    config.setdefault("MAX_CONTENT_LENGTH", 64 * 1024)
    # CSRF tokens live as long as the login request that shows the consent form.
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    return config


def _flag(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{key} must be true or false.")


def _checked_url(name: str, url: str) -> str:
    if problem := url_problem(url):
        raise ConfigError(f"{name} {problem}.")
    return url
