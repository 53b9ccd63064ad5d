"""Development-only pages for QA: what happened, and what should go wrong next.

- login requests, with their status and the profile the customer side posted;
- clients, and how each came to exist (seeded, CLI, DCR, or a CIMD document with its URL and
  fetch time);
- tokens the broker issued (access, M2M, refresh), decoded, with whether each is still active;
- remembered consents, each with a Forget button;
- the fault switchboard.

Registered only when MOCK_BROKER_ENV=development. Changes are POST forms with CSRF tokens.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from mock_broker import consent_memory, database, faults, refresh_tokens, tokens
from mock_broker.models import IssuedToken, LoginRequest, OAuthClient, RefreshToken

bp = Blueprint("dev_tools", __name__, url_prefix="/dev")

_LIMIT = 50


@bp.get("/login-requests")
def login_requests() -> str:
    rows = database.session().scalars(
        select(LoginRequest).order_by(LoginRequest.created_at.desc()).limit(_LIMIT)
    )
    return render_template("dev_login_requests.html", login_requests=list(rows))


@bp.get("/clients")
def clients() -> str:
    rows = database.session().scalars(
        select(OAuthClient).order_by(OAuthClient.created_at.desc()).limit(200)
    )
    return render_template("dev_clients.html", clients=list(rows))


@bp.get("/tokens")
def issued_tokens() -> str:
    db = database.session()
    issued = db.scalars(select(IssuedToken).order_by(IssuedToken.issued_at.desc()).limit(_LIMIT))
    refresh = db.scalars(select(RefreshToken).order_by(RefreshToken.issued_at.desc()).limit(_LIMIT))
    return render_template(
        "dev_tokens.html",
        issued=[(row, tokens.is_active(db, row)) for row in issued],
        refresh=[(row, refresh_tokens.is_active(db, row)) for row in refresh],
    )


@bp.get("/consents")
def consents() -> str:
    return render_template(
        "dev_consents.html", consents=consent_memory.all_grants(database.session())
    )


@bp.post("/consents")
def forget_consent() -> Response:
    grant_id = request.form.get("grant_id", "")
    forgotten = 0
    if request.form.get("action") == "forget_all":
        forgotten = consent_memory.forget(database.session())
    elif grant_id.isdigit():
        forgotten = consent_memory.forget(database.session(), int(grant_id))
    flash("Consent forgotten." if forgotten else "Nothing to forget.")
    return redirect(url_for("dev_tools.consents"), 303)


@bp.get("/faults")
def fault_switchboard() -> str:
    return render_template(
        "dev_faults.html",
        faults=faults.active_faults(database.session()),
        targets=faults.TARGETS,
        switches=faults.SWITCHES,
        max_delay=faults.MAX_DELAY,
    )


@bp.post("/faults")
def set_fault() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    form = request.form
    action = form.get("action")
    try:
        if action == "clear":
            faults.clear(app)
            flash("All faults cleared.")
        elif action == "switch":
            lifetime = form.get("lifetime", "")
            faults.inject_switch(
                app,
                form.get("switch", ""),
                int(form.get("count", "1")),
                int(lifetime) if lifetime else None,
            )
            flash("Switch armed.")
        else:
            status = form.get("status", "500")
            faults.inject(
                app,
                form.get("target", ""),
                int(status) if status else None,
                int(form.get("count", "1")),
                form.get("error") or None,
                float(form.get("delay") or 0),
            )
            flash("Fault armed.")
    except ValueError as error:
        flash(f"Not armed: {error}")
    return redirect(url_for("dev_tools.fault_switchboard"), 303)
