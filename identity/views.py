"""The customer side's own pages: home, the broker's entry point /login, continue, sign out."""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from identity import audit, db, login_requests, sessions
from identity.completion import hand_off, handoff_page
from identity.login_page import render_login_page

log = logging.getLogger(__name__)
bp = Blueprint("core", __name__)


@bp.get("/")
def home():
    return render_template("home.html")


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. Nothing else is checked, so a restart cannot fix more."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers, so a load balancer only sends sign-ins that can work."""
    try:
        with db.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        # The exception text may name the database host and user: logged by type only.
        log.warning("readiness check failed: database unreachable (%s)", type(error).__name__)
        return {"status": "unavailable", "reason": "database unreachable"}, 503
    return {"status": "ok"}


@bp.get("/login")
def login():
    """Contract §1: the broker sends the browser here with login_request_id and state."""
    pending = login_requests.remember(login_requests.parse(request.args))
    return render_login_page(pending)


@bp.post("/login/continue")
def continue_as():
    """ "Continue as <name>", and the retry after a failed hand-off: no second password."""
    pending = login_requests.load(request.form.get("login_request_id", ""))
    if not current_user.is_authenticated:
        return redirect(_login_url(pending), code=303)
    return hand_off(current_user, pending)


@bp.get("/login/handoff/<key>")
def handoff(key: str):
    """The page between our sign-in form and the broker (completion.continue_in_browser)."""
    return handoff_page(key)


@bp.post("/logout")
def logout():
    """Sign out; with a pending login request, back to its login page ("Use another account")."""
    if current_user.is_authenticated:
        audit.record(audit.SIGNED_OUT, user=current_user)
    sessions.sign_out()
    db.session().commit()
    login_request_id = request.form.get("login_request_id")
    if login_request_id:
        try:
            return redirect(_login_url(login_requests.load(login_request_id)), code=303)
        except login_requests.LoginRequestError:
            pass
    return redirect(url_for("core.home"), code=303)


def _login_url(pending) -> str:
    return url_for("core.login", login_request_id=pending.login_request_id, state=pending.state)
