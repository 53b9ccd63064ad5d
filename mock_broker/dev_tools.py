"""Development-only pages for QA: what happened (login requests) and what should go wrong.

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

from mock_broker import database, faults
from mock_broker.models import LoginRequest

bp = Blueprint("dev_tools", __name__, url_prefix="/dev")


@bp.get("/login-requests")
def login_requests() -> str:
    rows = database.session().scalars(
        select(LoginRequest).order_by(LoginRequest.created_at.desc()).limit(50)
    )
    return render_template("dev_login_requests.html", login_requests=list(rows))


@bp.get("/faults")
def fault_switchboard() -> str:
    return render_template(
        "dev_faults.html", faults=faults.active_faults(database.session()), targets=faults.TARGETS
    )


@bp.post("/faults")
def set_fault() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if request.form.get("action") == "clear":
        faults.clear(app)
        flash("All faults cleared.")
    else:
        try:
            faults.inject(
                app,
                request.form.get("target", ""),
                int(request.form.get("status", "500")),
                int(request.form.get("count", "1")),
                request.form.get("error") or None,
            )
            flash("Fault armed.")
        except ValueError as error:
            flash(f"Not armed: {error}")
    return redirect(url_for("dev_tools.fault_switchboard"), 303)
