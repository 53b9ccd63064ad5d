"""What both gunicorn configurations share: sizing from the environment, proxy and log policy.

WEB_CONCURRENCY    worker processes (default 2)
GUNICORN_THREADS   threads per worker (default 4; above 1 gunicorn uses its gthread worker)
GUNICORN_TIMEOUT   seconds a silent worker lives before it is restarted (default 60)
GUNICORN_BIND      address to listen on (each config has a loopback default)
LOG_FORMAT=json    gunicorn's own lines as JSON too, like the apps' (identity/logging_setup.py)
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger


class AppWritesAccessLog(Logger):
    """gunicorn's logger without its access line: the apps write their own, without the query
    string (one-time tokens travel there). With a log configuration (LOG_FORMAT=json) gunicorn
    would otherwise build every access line for a logger that prints nothing."""

    def access(self, resp, req, environ, request_time) -> None:
        return None


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """A whole number from the environment, refused (at start) when it is not one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}")
    return value


def log_config() -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error log as JSON lines when LOG_FORMAT=json.

    The root logger gets no handler here: the app adds its own JSON handler, and a second one
    would print every line twice.
    """
    if os.environ.get("LOG_FORMAT") != "json":
        return {}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "formatters": {"json": {"()": "identity.logging_setup.JsonFormatter"}},
    }


workers = env_int("WEB_CONCURRENCY", 2)
threads = env_int("GUNICORN_THREADS", 4)
# A broker call may take (connect + read timeout) * (1 + retries), about 40 s, with the defaults
# (identity/config.py); the worker must outlive it.
timeout = env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = timeout
# The apps apply ProxyFix for exactly TRUSTED_PROXY_HOPS hops (identity/proxy.py): that is the
# one place forwarded headers are trusted, so gunicorn trusts none of its own.
forwarded_allow_ips = ""
# The apps write their own access line: path without the query string, which can carry
# one-time tokens; gunicorn's access log format would include it.
accesslog = None
logger_class = AppWritesAccessLog
errorlog = "-"
logconfig_dict = log_config()
