"""Password login: the first login method, built only on the API any method can use.

The order of checks is the security: throttle first (C10), then one full argon2id
verification whether or not the account exists (C11), the same message and status for every
failure (C8), a hash upgrade after success when the parameters changed (C9), and finally
`complete_login` — the same ending as every other method.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import InputRequired, Length

from identity import login_requests, throttle, users
from identity.completion import complete_login
from identity.login_page import render_login_page
from login_methods.base import LoginMethod

GENERIC_FAILURE = "The email or password is incorrect."


class PasswordForm(FlaskForm):
    login_request_id = HiddenField()
    email = EmailField("Email", validators=[InputRequired("Enter your email."), Length(max=320)])
    password = PasswordField(
        "Password", validators=[InputRequired("Enter your password."), Length(max=4096)]
    )


class PasswordMethod(LoginMethod):
    name = "password"
    label = "Password"
    panel_template = "methods/password.html"

    def blueprint(self) -> Blueprint:
        bp = Blueprint("password", __name__)
        bp.add_url_rule("/", "sign_in", self.sign_in, methods=["POST"])
        return bp

    def panel_context(self, pending):
        return {"form": PasswordForm(formdata=None, login_request_id=pending.login_request_id)}

    def sign_in(self):
        pending = login_requests.load(request.form.get("login_request_id", ""))
        form = PasswordForm()
        if not form.validate_on_submit():
            return self._page(pending, form, status=422)

        identifier = users.normalize_identifier(form.email.data)
        attempt = throttle.Attempt.start(self.name, identifier, pending.login_request_id)
        if wait := attempt.wait():
            error = throttle.wait_message(wait)
            if "magic_link" in {method.name for method in current_app.extensions["login_methods"]}:
                error += " Or ask for a sign-in link by email instead."
            return self._page(pending, form, status=429, error=error, retry_after=wait)

        user = users.find_by_email(identifier)
        usable = user if user is not None and user.is_active else None
        ok, upgraded_hash = users.hasher().verify(
            form.password.data, usable.password_hash if usable else None
        )
        if not ok or usable is None:
            reason = (
                "unknown_user"
                if user is None
                else "disabled"
                if usable is None
                else "wrong_password"
            )
            attempt.failed(user, reason)
            return self._page(pending, form, status=422, error=GENERIC_FAILURE)

        if upgraded_hash:
            usable.password_hash = upgraded_hash
        return attempt.succeeded(complete_login(usable, pending, method=self.name))

    def _page(
        self,
        pending,
        form: PasswordForm,
        *,
        status: int,
        error: str | None = None,
        retry_after: int | None = None,
    ):
        form.password.data = ""  # never echo a password back into the page
        return render_login_page(
            pending,
            status=status,
            method_context={self.name: {"form": form, "error": error}},
            retry_after=retry_after,
        )
