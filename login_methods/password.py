"""Password login: the first login method, built only on the API any method can use.

The order of checks is the security: throttle first (C10), then one full argon2id
verification whether or not the account exists (C11), the same message and status for every
failure (C8), a hash upgrade after success when the parameters changed (C9), and finally
`complete_login` — the same ending as every other method.
"""

from __future__ import annotations

from flask import Blueprint, make_response, request
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import InputRequired, Length

from identity import audit, db, login_requests, throttle, users
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

        identifier = _identifier(form.email.data)
        keys = throttle.keys_for_attempt(identifier)
        wait = throttle.retry_after(keys)
        if wait:
            audit.record(
                audit.SIGN_IN_THROTTLED,
                login_request_id=pending.login_request_id,
                method=self.name,
                identifier=identifier,
                retry_after=wait,
            )
            db.session().commit()
            minutes = -(-wait // 60)
            message = (
                f"Too many attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."
            )
            response = make_response(self._page(pending, form, status=429, error=message))
            response.headers["Retry-After"] = str(wait)
            return response

        user = users.find_by_email(identifier)
        usable = user if user is not None and user.is_active else None
        ok, upgraded_hash = users.hasher().verify(
            form.password.data, usable.password_hash if usable else None
        )
        if not ok or usable is None:
            throttle.register_failure(keys)
            audit.record(
                audit.SIGN_IN_FAILED,
                user=user,
                login_request_id=pending.login_request_id,
                method=self.name,
                identifier=identifier,
                reason="unknown_user"
                if user is None
                else ("disabled" if usable is None else "wrong_password"),
            )
            db.session().commit()
            return self._page(pending, form, status=422, error=GENERIC_FAILURE)

        if upgraded_hash:
            usable.password_hash = upgraded_hash
        throttle.clear([key for key in keys if not key.name.startswith("address:")])
        response = make_response(complete_login(usable, pending, method=self.name))
        throttle.remember_device(response, identifier)
        return response

    def _page(self, pending, form: PasswordForm, *, status: int, error: str | None = None):
        form.password.data = ""  # never echo a password back into the page
        return render_login_page(
            pending, status=status, method_context={self.name: {"form": form, "error": error}}
        )


def _identifier(email: str) -> str:
    """The normalised address, or the typed text folded, for throttling and lookup alike."""
    try:
        return users.normalize_email(email)
    except users.UserError:
        return email.strip().casefold()
