"""Structured logs: one JSON object per line, each carrying the request id.

`LOG_FORMAT=json` (production) replaces the development text format with JSON lines that a log
pipeline can index; both apps use this module. Every request gets an id — the incoming
`X-Request-Id` when a proxy or the calling app sent a well-formed one, a fresh one otherwise —
which is returned in the response header, stamped on every log line written while the request
runs, and forwarded on the customer → broker call, so one sign-in can be followed across both
apps.

What is logged is chosen so that no secret reaches a log line (E1): the access line records the
path without its query string (magic-link tokens, login request states and codes travel in query
strings), and no header or body is ever logged.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
#: Accepted incoming ids: short and of a charset that cannot forge a log line or a header.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: The name of the one JSON handler on the root logger, so configuring twice adds nothing.
HANDLER_NAME = "identity.json"
LOG_FORMATS = ("text", "json")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Fields an access line passes as `extra`, copied into its JSON object.
_ACCESS_FIELDS = ("method", "path", "status", "duration_ms")


def request_id() -> str | None:
    """The current request's id (made on first use), or None outside a request."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        valid = _VALID_REQUEST_ID.fullmatch(incoming)
        g.request_id = incoming if valid else secrets.token_hex(16)
    return g.request_id


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id (+ access fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id(),
        }
        for field in _ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(log_format: str) -> None:
    """Set up the process's root logger; logging is process-wide, so this is idempotent."""
    root = logging.getLogger()
    if log_format != "json":
        logging.basicConfig(level=logging.INFO, format=_TEXT_FORMAT)
    else:
        if not any(handler.name == HANDLER_NAME for handler in root.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.name = HANDLER_NAME
            handler.setFormatter(JsonFormatter())
            root.addHandler(handler)
        root.setLevel(logging.INFO)
    # E1, in both formats: the development server's request line includes the query string
    # (states, codes, completion values, magic-link tokens) — our own access line below
    # replaces it; and authlib writes every token it issues at DEBUG, so a root logger turned
    # to DEBUG while debugging must still not pass those on.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("authlib").setLevel(logging.INFO)


def init_app(app: Flask, log_format: str, access_logger: str) -> None:
    """Give every request an id and one access line (method, path without query, status)."""
    configure(log_format)
    access_log = logging.getLogger(access_logger)

    @app.before_request
    def _start_request() -> None:
        g.request_started = time.perf_counter()
        request_id()

    @app.after_request
    def _finish_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = request_id() or ""
        started = g.get("request_started")
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": (
                    round((time.perf_counter() - started) * 1000, 1) if started else None
                ),
            },
        )
        return response
