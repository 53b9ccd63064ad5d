"""Sign in with a one-time code from an administrator.

An operator runs `flask --app app admin-code issue EMAIL` and gives the person the code; the
person types their email and the code on the login page. The order of checks is the one the
password method uses: throttle first (C10), then one conditional UPDATE that checks and spends
the code (codes.redeem), the same answer for every failure (C8), an audit trail that never
holds the code (E1), and finally `complete_login` — the same ending as every method.
"""

from __future__ import annotations

from datetime import timedelta
from math import ceil
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import InputRequired, Length

from examples.admin_code import cli, codes
from identity import login_requests, throttle, users
from identity.completion import complete_login
from identity.config import ConfigError
from identity.login_page import render_login_page
from identity.models import PendingLoginRequest
from login_methods.base import LoginMethod

HERE = Path(__file__).parent
# The code's length was chosen for a lifetime of minutes (codes.py); refuse a longer one.
MAX_TTL = timedelta(hours=1)
GENERIC_FAILURE = (
    "That code is not valid for this email. Codes work once and expire: "
    "ask your administrator for a new one."
)


class AdminCodeForm(FlaskForm):
    login_request_id = HiddenField()
    # Own ids: the password panel on the same page has an "email" field too.
    email = EmailField(
        "Email",
        id="admin-code-email",
        validators=[InputRequired("Enter your email."), Length(max=320)],
    )
    code = StringField(
        "Code",
        id="admin-code",
        validators=[InputRequired("Enter the code from your administrator."), Length(max=64)],
    )


class AdminCodeMethod(LoginMethod):
    name = "admin_code"
    label = "Sign in with a code from your administrator"
    panel_template = "admin_code/panel.html"
    migrations = HERE / "migrations"

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self.ttl = timedelta(seconds=self.setting("TTL", 600, cast=int))
        if not timedelta(0) < self.ttl <= MAX_TTL:
            raise ConfigError("LOGIN_METHOD_ADMIN_CODE_TTL must be between 1 and 3600 seconds.")
        app.cli.add_command(cli.commands(self.ttl))

    def blueprint(self) -> Blueprint:
        bp = Blueprint(self.name, __name__, template_folder=HERE / "templates")
        bp.add_url_rule("/", "sign_in", self.sign_in, methods=["POST"])
        return bp

    def panel_context(self, pending: PendingLoginRequest) -> dict[str, Any]:
        return {
            "form": AdminCodeForm(formdata=None, login_request_id=pending.login_request_id),
            "ttl_minutes": ceil(self.ttl.total_seconds() / 60),
        }

    def sign_in(self) -> ResponseReturnValue:
        pending = login_requests.load(request.form.get("login_request_id", ""))
        form = AdminCodeForm()
        if not form.validate_on_submit():
            return self._page(pending, form, status=422)

        identifier = users.normalize_identifier(form.email.data)
        attempt = throttle.Attempt.start(self.name, identifier, pending.login_request_id)
        if wait := attempt.wait():
            # Checked before the code is looked at: a blocked attempt neither spends a code
            # nor learns whether it was right.
            return self._page(
                pending, form, status=429, error=throttle.wait_message(wait), retry_after=wait
            )

        user = codes.redeem(identifier, form.code.data)
        if user is None:
            # Counted against the same account keys as wrong passwords: switching methods
            # buys an attacker no extra guesses.
            known = users.find_by_email(identifier)
            reason = (
                "unknown_user"
                if known is None
                else "disabled"
                if not known.is_active
                else "invalid_code"
            )
            attempt.failed(known, reason)
            return self._page(pending, form, status=422, error=GENERIC_FAILURE)

        return attempt.succeeded(complete_login(user, pending, method=self.name))

    def _page(
        self,
        pending: PendingLoginRequest,
        form: AdminCodeForm,
        *,
        status: int,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> ResponseReturnValue:
        form.code.data = ""  # never echo a code back into the page
        return render_login_page(
            pending,
            status=status,
            method_context={self.name: {"form": form, "error": error}},
            retry_after=retry_after,
        )
