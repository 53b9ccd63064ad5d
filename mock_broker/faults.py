"""Fault injection: make an endpoint fail on purpose, so QA can test the customer side.

A fault says "the next N calls to this endpoint answer this status". It lives in the database,
so a test, the CLI and the dev page can all set it and every worker sees it; each call that
fails spends one count with a conditional update, so N means N even under concurrency.
"""

from __future__ import annotations

import re

from flask import Flask, Response, jsonify
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mock_broker import database
from mock_broker.models import Fault

USER_ENDPOINT = "user_endpoint"
TOKEN_ENDPOINT = "token_endpoint"  # noqa: S105 - a name, not a secret
TARGETS = (USER_ENDPOINT, TOKEN_ENDPOINT)

_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_DEFAULT_ERRORS = {429: "slow_down", 503: "temporarily_unavailable"}


def inject(
    app: Flask, target: str, status: int = 500, count: int = 1, error: str | None = None
) -> None:
    """Make the next `count` calls to `target` answer `status` with a JSON error body."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    if not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status (400-599)")
    if count < 1:
        raise ValueError("count must be at least 1")
    if error is not None and not _ERROR_CODE.fullmatch(error):
        raise ValueError("error must be an OAuth-style code: lowercase letters and underscores")
    with app.app_context():
        db = database.session()
        fault = db.get(Fault, target) or Fault(target=target)
        fault.status, fault.error, fault.remaining_count = status, error, count
        db.add(fault)
        db.commit()


def clear(app: Flask, target: str | None = None) -> None:
    """Remove one fault, or all of them."""
    with app.app_context():
        db = database.session()
        query = delete(Fault) if target is None else delete(Fault).where(Fault.target == target)
        db.execute(query)
        db.commit()


def active_faults(db: Session) -> list[Fault]:
    return list(db.scalars(select(Fault).where(Fault.remaining_count > 0).order_by(Fault.target)))


def take(target: str) -> Response | None:
    """If a fault is armed for `target`, spend one count and return its error response."""
    db = database.session()
    spent = db.execute(
        update(Fault)
        .where(Fault.target == target, Fault.remaining_count > 0)
        .values(remaining_count=Fault.remaining_count - 1)
    )
    if spent.rowcount == 0:
        db.rollback()
        return None
    db.commit()
    fault = db.get(Fault, target)
    error = fault.error or _DEFAULT_ERRORS.get(fault.status, "server_error")
    response = jsonify(error=error, error_description="Injected fault (mock broker QA switch).")
    response.status_code = fault.status
    return response
