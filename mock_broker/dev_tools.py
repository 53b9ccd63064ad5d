"""Development-only pages for QA: what happened, and what should go wrong next.

- login requests, with their status and the profile the customer side posted;
- clients, and how each came to exist (seeded, CLI, DCR, or a CIMD document with its URL and
  fetch time), with the number of dynamic registrations per client name and software_id;
- tokens the broker issued (access, M2M, refresh), decoded, with whether each is still active;
- remembered consents, each with a Forget button;
- the fault switchboard.

Registered only when MOCK_BROKER_ENV=development. Changes are POST forms with CSRF tokens.
"""

from __future__ import annotations

from collections import Counter

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
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from mock_broker import consent_memory, database, faults, refresh_tokens, tokens
from mock_broker.errors import error_page
from mock_broker.models import (
    BrokerUser,
    ConsentGrant,
    IssuedToken,
    LoginRequest,
    OAuthClient,
    RefreshToken,
    RegistrationMethod,
)

bp = Blueprint("dev_tools", __name__, url_prefix="/dev")

_LIMIT = 50


def _people(db, user_ids, client_ids) -> dict[str, dict]:
    """The users and clients a page names, by id, so every page shows them the same way
    (templates/_qa.html): a user by email and `usr_…` id, a client by name, each a link."""
    user_ids, client_ids = {i for i in user_ids if i}, {i for i in client_ids if i}
    users = db.scalars(select(BrokerUser).where(BrokerUser.id.in_(user_ids))) if user_ids else []
    clients = (
        db.scalars(select(OAuthClient).where(OAuthClient.id.in_(client_ids))) if client_ids else []
    )
    return {"users": {u.id: u for u in users}, "clients": {c.id: c for c in clients}}


def _token_rows(db, issued, refresh, user_ids=(), client_ids=()) -> dict:
    """Token and refresh-token rows with their state, and every user and client they (or the
    extra `user_ids` and `client_ids`) name."""
    issued, refresh = list(issued), list(refresh)
    return {
        "issued": [(row, tokens.is_active(db, row)) for row in issued],
        "refresh": [(row, refresh_tokens.is_active(db, row)) for row in refresh],
        **_people(
            db,
            [row.subject for row in issued] + [row.user_id for row in refresh] + list(user_ids),
            [row.client_id for row in issued + refresh] + list(client_ids),
        ),
    }


def _held_by(db, by_user: bool, key: str) -> dict:
    """What the broker holds about one user (`by_user`) or one client, newest first: the
    login requests, tokens, refresh tokens and consents, and the users and clients named."""

    def newest(model, column, order) -> list:
        query = select(model).where(column == key).order_by(order.desc()).limit(_LIMIT)
        return list(db.scalars(query))

    owner = "user_id" if by_user else "client_id"
    login_requests = newest(LoginRequest, getattr(LoginRequest, owner), LoginRequest.created_at)
    issued_owner = IssuedToken.subject if by_user else IssuedToken.client_id
    issued = newest(IssuedToken, issued_owner, IssuedToken.issued_at)
    refresh = newest(RefreshToken, getattr(RefreshToken, owner), RefreshToken.issued_at)
    consents = list(db.scalars(select(ConsentGrant).where(getattr(ConsentGrant, owner) == key)))
    named = login_requests + consents
    return {
        "login_requests": login_requests,
        "consents": consents,
        **_token_rows(
            db,
            issued,
            refresh,
            user_ids=[row.user_id for row in named],
            client_ids=[row.client_id for row in named],
        ),
    }


@bp.get("/login-requests")
def login_requests() -> str:
    db = database.session()
    rows = list(
        db.scalars(select(LoginRequest).order_by(LoginRequest.created_at.desc()).limit(_LIMIT))
    )
    return render_template(
        "dev_login_requests.html",
        login_requests=rows,
        **_people(db, [r.user_id for r in rows], [r.client_id for r in rows]),
    )


@bp.get("/users/<user_id>")
def user_details(user_id: str) -> ResponseReturnValue:
    """Everything the broker holds about one user, newest first."""
    db = database.session()
    user = db.get(BrokerUser, user_id)
    if user is None:
        return error_page("not_found", "No user with that id (it may have been purged).", 404)
    return render_template("dev_user.html", user=user, **_held_by(db, True, user_id))


@bp.get("/clients/<path:client_id>")
def client_details(client_id: str) -> ResponseReturnValue:
    """One client: how it registered, its metadata, and what was issued to it."""
    db = database.session()
    client = db.get(OAuthClient, client_id)
    if client is None:
        return error_page("not_found", "No client with that id (it may have been purged).", 404)
    return render_template("dev_client.html", client=client, **_held_by(db, False, client_id))


@bp.get("/clients")
def clients() -> str:
    db = database.session()
    rows = db.scalars(select(OAuthClient).order_by(OAuthClient.created_at.desc()).limit(200))
    return render_template(
        "dev_clients.html", clients=list(rows), registrations=registration_counts(db)
    )


def registration_counts(db) -> list[tuple[str, str | None, int, int]]:
    """Dynamic registrations per (client name, software_id), most first, with how many of
    them were ever used: a client that registers at every restart shows as a large count
    with few used (E4). Counted in Python: software_id is in the metadata JSON, and the rows
    are bounded by the registration limit and housekeeping."""
    counts: Counter[tuple[str, str | None]] = Counter()
    used: Counter[tuple[str, str | None]] = Counter()
    for name, metadata, first_used_at in db.execute(
        select(OAuthClient.name, OAuthClient.client_metadata, OAuthClient.first_used_at).where(
            OAuthClient.registration_method == RegistrationMethod.DCR
        )
    ):
        software_id = (metadata or {}).get("software_id")
        key = (name, software_id if isinstance(software_id, str) else None)
        counts[key] += 1
        used[key] += first_used_at is not None
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or ""))
    return [
        (name, software_id, count, used[name, software_id])
        for (name, software_id), count in ordered
    ]


@bp.get("/tokens")
def issued_tokens() -> str:
    db = database.session()
    issued = db.scalars(select(IssuedToken).order_by(IssuedToken.issued_at.desc()).limit(_LIMIT))
    refresh = db.scalars(select(RefreshToken).order_by(RefreshToken.issued_at.desc()).limit(_LIMIT))
    return render_template(
        "dev_tokens.html",
        refresh_policy=current_app.config["REFRESH_TOKEN_POLICY"],
        **_token_rows(db, issued, refresh),
    )


@bp.get("/consents")
def consents() -> str:
    db = database.session()
    grants = list(consent_memory.all_grants(db))
    return render_template(
        "dev_consents.html",
        consents=grants,
        **_people(db, [g.user_id for g in grants], [g.client_id for g in grants]),
    )


@bp.post("/consents")
def forget_consent() -> Response:
    if request.form.get("action") == "forget_all":
        forgotten = consent_memory.forget(database.session())
    else:
        try:
            grant_id = _whole(request.form, "grant_id", "grant_id", 1, MAX_ROW_ID)
        except _Refused as refused:
            return error_page("invalid_request", f"{refused}.")
        forgotten = consent_memory.forget(database.session(), grant_id)
    flash("Consent forgotten." if forgotten else "Nothing to forget.")
    return redirect(url_for("dev_tools.consents"), 303)


@bp.get("/faults")
def fault_switchboard() -> ResponseReturnValue:
    return _switchboard()


def _switchboard(
    problem: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> ResponseReturnValue:
    """The switchboard; after a refused form, with the problem shown at its field and the
    values as typed, answered 400 (the form was refused; nothing was armed)."""
    retries = current_app.config["CUSTOMER_RETRIES"]
    armed = faults.active_faults(database.session())
    page = render_template(
        "dev_faults.html",
        faults=[(fault, faults.customer_side_sees(fault, retries)) for fault in armed],
        customer_retries=retries,
        targets=faults.TARGETS,
        switches=faults.SWITCHES,
        max_delay=faults.MAX_DELAY,
        problem=problem,
        values=values or {},
    )
    return page, 400 if problem else 200


class _Refused(ValueError):
    """A form value the switchboard cannot use; `field` is the id of its input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


#: The input a refusal from `faults` is about, by the first word of its message.
_FIELD_OF = {
    "target": "target",
    "status": "status",
    "give": "status",
    "delay": "delay",
    "error": "error",
    "count": "count",
    "switch": "switch",
    "early": "lifetime",
}


#: The largest id an INTEGER primary key holds on every database we run on (PostgreSQL's is
#: 32-bit): a larger "id" names no row, and the database would refuse to compare it (E2).
MAX_ROW_ID = 2**31 - 1


def _whole(form, name: str, field: str, low: int, high: int, default: str = "") -> int | None:
    """The form's `name` as a whole number from `low` to `high`; None when left empty.

    Only ASCII digits: `str.isdigit()` says yes to "\u00b2", which int() refuses, and int()
    takes other scripts' digits, which nobody types here. Out of range is refused before any
    query: 2**63 overflowed the database's integer, a 500 (E2).
    """
    text = form.get(name, default).strip()
    if not text:
        return None
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 12) or not (
        low <= int(text) <= high
    ):
        raise _Refused(field, f"{name} must be a whole number from {low} to {high}")
    return int(text)


@bp.post("/faults")
def set_fault() -> ResponseReturnValue:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    form = request.form
    action = form.get("action")
    switching = action == "switch"
    try:
        if action == "clear":
            faults.clear(app)
            flash("All faults cleared.")
        elif switching:
            faults.inject_switch(
                app,
                form.get("switch", ""),
                _whole(form, "count", "switch-count", 1, faults.MAX_COUNT, "1") or 0,
                _whole(form, "lifetime", "lifetime", 1, faults.MAX_LIFETIME),
            )
            flash("Switch armed.")
        else:
            try:
                delay = float(form.get("delay") or 0)
            except ValueError:
                raise _Refused("delay", "delay must be a number of seconds") from None
            faults.inject(
                app,
                form.get("target", ""),
                _whole(form, "status", "status", 400, 599, "500"),
                _whole(form, "count", "count", 1, faults.MAX_COUNT, "1") or 0,
                form.get("error") or None,
                delay,
            )
            flash("Fault armed.")
    except ValueError as error:
        message = str(error)
        field = getattr(error, "field", None) or _FIELD_OF.get(message.split(" ", 1)[0], "")
        if switching and field == "count":
            field = "switch-count"
        problem = {
            "form": "switch" if switching else "endpoint",
            "field": field,
            "message": f"Not armed: {message}",
        }
        return _switchboard(problem, form.to_dict())
    return redirect(url_for("dev_tools.fault_switchboard"), 303)
