"""Magic-link login: the second plugin, using only what any third-party method can use.

    POST /login/magic_link/          ask for a link      → 303 to "check your email" (always)
    GET  /login/magic_link/confirm   open the link       → a confirm page; changes nothing
    POST /login/magic_link/confirm   press "Continue"    → spend the token → complete_login
    POST /login/magic_link/relay     on another device   → a short code for the first window
    POST /login/magic_link/code      type that code      → spend the token → complete_login

Why each step is shaped so:
- The answer to "send me a link" is the same page, status and speed whether or not the
  address has an account; the mail goes out on a background thread (C16).
- Mail scanners open links before people do, so GET and HEAD only show a page; the token is
  spent by the page's POST, with a CSRF token (C14).
- The link works only in the browser that asked: that browser holds a random verifier in an
  HttpOnly SameSite=Lax cookie whose hash is on the token (C15). Lax, not Strict: the click
  comes from a webmail site, a cross-site navigation. Opened elsewhere, the link offers a
  short code to type into the original window instead of signing in the wrong browser.
- Links are built from PUBLIC_URL, never from the Host header (C17); requests are
  rate-limited per address typed and per client address, in the database (C16).

Settings (LOGIN_METHOD_MAGIC_LINK_*): TTL seconds (default 600, at most 900), EMAIL_LIMIT and
ADDRESS_LIMIT (links that may be asked for before delays start: 3 and 20), LIMIT_DELAY (the
first delay, 60 s, doubling after each further request).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import InputRequired, Length

from identity import audit, db, login_requests, mail, throttle, users
from identity.completion import complete_login
from identity.config import ConfigError
from identity.login_page import render_login_page
from identity.models import PendingLoginRequest, utcnow
from login_methods.base import LoginMethod
from login_methods.magic_link import housekeeping, tokens
from login_methods.magic_link.tokens import Problem

HERE = Path(__file__).parent
VERIFIER_COOKIE = "idp_magic_link"
SENT_TO = "magic_link_sent_to"

REQUESTED = "magic_link.requested"
RATE_LIMITED = "magic_link.rate_limited"
RELAY_CODE_ISSUED = "magic_link.relay_code_issued"
RELAY_CODE_FAILED = "magic_link.relay_code_failed"

_PROBLEM_PAGES = {
    Problem.UNKNOWN: (400, "This sign-in link is not valid"),
    Problem.EXPIRED: (410, "This sign-in link has expired"),
    Problem.USED: (410, "This sign-in link was already used"),
}


class RequestLinkForm(FlaskForm):
    login_request_id = HiddenField()
    email = EmailField("Email", validators=[InputRequired("Enter your email."), Length(max=320)])


class RelayCodeForm(FlaskForm):
    login_request_id = HiddenField()
    code = StringField("Code", validators=[InputRequired("Enter the code."), Length(max=32)])


class MagicLinkMethod(LoginMethod):
    name = "magic_link"
    label = "Email me a sign-in link"
    panel_template = "magic_link/panel.html"
    migrations = HERE / "migrations"

    @classmethod
    def purge_expired(cls, session, cutoff):  # E4: flask housekeeping
        return housekeeping.purge_expired(session, cutoff)

    def __init__(self, app) -> None:
        super().__init__(app)
        if not app.config.get("MAIL_FROM"):
            raise ConfigError("the magic_link method needs MAIL_FROM (and MAIL_SERVER)")
        self.ttl = min(self.setting("TTL", 600, int), tokens.MAX_TTL)
        self.limit_delay = self.setting("LIMIT_DELAY", 60, int)
        self.email_limit = self.setting("EMAIL_LIMIT", 3, int)
        self.address_limit = self.setting("ADDRESS_LIMIT", 20, int)

    def blueprint(self) -> Blueprint:
        bp = Blueprint("magic_link", __name__, template_folder=str(HERE / "templates"))
        bp.add_url_rule("/", "request_link", self.request_link, methods=["POST"])
        bp.add_url_rule("/sent", "sent", self.sent, methods=["GET"])
        bp.add_url_rule("/confirm", "confirm_page", self.confirm_page, methods=["GET"])
        bp.add_url_rule("/confirm", "confirm", self.confirm, methods=["POST"])
        bp.add_url_rule("/relay", "relay", self.relay, methods=["POST"])
        bp.add_url_rule("/code", "enter_code", self.enter_code, methods=["POST"])
        return bp

    def panel_context(self, pending: PendingLoginRequest) -> dict:
        return {
            "form": RequestLinkForm(
                formdata=None, prefix="magic_link", login_request_id=pending.login_request_id
            )
        }

    # -- asking for a link ----------------------------------------------------------------

    def request_link(self):
        pending = login_requests.load(request.form.get("magic_link-login_request_id", ""))
        form = RequestLinkForm(prefix="magic_link")
        if not form.validate_on_submit():
            return render_login_page(
                pending, status=422, method_context={self.name: {"form": form}}
            )
        try:
            address = users.normalize_email(form.email.data)
        except users.UserError:
            form.email.errors.append("Enter an email address like name@example.com.")
            return render_login_page(
                pending, status=422, method_context={self.name: {"form": form}}
            )

        keys = self._request_keys(address)
        wait = throttle.retry_after(keys)
        if wait:
            audit.record(
                RATE_LIMITED, login_request_id=pending.login_request_id, identifier=address
            )
            db.session().commit()
            message = throttle.wait_message(wait, "Too many sign-in links were asked for.")
            return render_login_page(
                pending,
                status=429,
                method_context={self.name: {"form": form, "error": message}},
                retry_after=wait,
            )
        throttle.register_failure(keys)  # every request counts towards the limit

        verifier = request.cookies.get(VERIFIER_COOKIE) or tokens.new_verifier()
        user = users.find_by_email(address)
        if user is not None and user.is_active:
            token = tokens.issue(
                user, pending.login_request_id, verifier, self.ttl, request.remote_addr
            )
            mail.send_later(self._email(user.email, token))
        audit.record(
            REQUESTED,
            user=user,
            login_request_id=pending.login_request_id,
            identifier=address,
            sent=user is not None and user.is_active,
        )
        db.session().commit()
        session[SENT_TO] = address
        response = redirect(
            url_for("magic_link.sent", login_request_id=pending.login_request_id), code=303
        )
        self._set_verifier(response, verifier)
        return response

    def _request_keys(self, address: str) -> list[throttle.Key]:
        return [
            throttle.Key(f"magic_link.email:{address}", self.email_limit, self.limit_delay),
            throttle.Key(
                f"magic_link.address:{request.remote_addr}", self.address_limit, self.limit_delay
            ),
        ]

    def _set_verifier(self, response, verifier: str) -> None:
        response.set_cookie(
            VERIFIER_COOKIE,
            verifier,
            max_age=tokens.MAX_TTL,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            path=url_for("magic_link.request_link"),
        )

    def _email(self, to: str, token: str) -> mail.Message:
        config = current_app.config
        # C17: the public URL from configuration, never the Host header of this request.
        link = config["PUBLIC_URL"].rstrip("/") + url_for("magic_link.confirm_page", token=token)
        now = utcnow()
        context = {
            "product_name": config["PRODUCT_NAME"],
            "link": link,
            "minutes": self.ttl // 60,
            "expires_at": (now + timedelta(seconds=self.ttl)).strftime("%H:%M UTC"),
            "requested_at": now.strftime("%Y-%m-%d %H:%M UTC"),
            # Both come from the request: quoted without control characters (E2).
            "requested_from": mail.quoted(request.remote_addr or "") or "an unknown address",
            "browser": mail.quoted(request.user_agent.string) or "an unknown browser",
        }
        return mail.Message(
            to=to,
            subject=f"Your sign-in link for {config['PRODUCT_NAME']}",
            text=render_template("email/magic_link.txt", **context),
            html=render_template("email/magic_link.html", **context),
            purpose="magic_link",
        )

    def sent(self):
        pending = login_requests.load(request.args.get("login_request_id", ""))
        return self._sent_page(pending)

    def _sent_page(
        self,
        pending,
        form: RelayCodeForm | None = None,
        error: str | None = None,
        status: int = 200,
    ):
        form = form or RelayCodeForm(
            formdata=None, prefix="code", login_request_id=pending.login_request_id
        )
        return render_template(
            "magic_link/sent.html",
            pending=pending,
            sent_to=session.get(SENT_TO),
            minutes=self.ttl // 60,
            form=form,
            error=error,
        ), status

    # -- opening the link -------------------------------------------------------------------

    def confirm_page(self):
        """GET (and HEAD): show what pressing "Continue" will do. Changes nothing (C14)."""
        token = request.args.get("token", "")
        row = tokens.find(token)
        problem = tokens.problem(row, request.cookies.get(VERIFIER_COOKIE))
        if problem is Problem.OTHER_BROWSER:
            return render_template("magic_link/other_device.html", token=token)
        if problem is not None:
            return self._problem_page(problem)
        return render_template("magic_link/confirm.html", token=token, email=row.user.email)

    def confirm(self):
        token = request.form.get("token", "")
        verifier = request.cookies.get(VERIFIER_COOKIE)
        row = tokens.find(token)
        problem = tokens.problem(row, verifier)
        if problem is Problem.OTHER_BROWSER:
            return render_template("magic_link/other_device.html", token=token), 403
        if problem is not None:
            return self._problem_page(problem)
        pending = login_requests.load(row.login_request_id)
        if not tokens.spend(row, verifier):  # lost a race with another confirm
            db.session().rollback()
            return self._problem_page(Problem.USED)
        return self._signed_in(row, pending)

    def _signed_in(self, row: tokens.MagicLinkToken, pending: PendingLoginRequest):
        user = row.user
        if not user.is_active:
            db.session().rollback()
            return self._problem_page(Problem.UNKNOWN)
        users.prove_email(user, method=self.name)  # following the link proved the address
        return complete_login(user, pending, method=self.name)

    def _problem_page(self, problem: Problem):
        status, title = _PROBLEM_PAGES[problem]
        return render_template(
            "magic_link/problem.html", problem=problem.value, title=title
        ), status

    # -- another device -------------------------------------------------------------------

    def relay(self):
        """On a device without the verifier: a short code for the original window."""
        token = request.form.get("token", "")
        row = tokens.find(token)
        problem = tokens.problem(row, None)
        if problem is not Problem.OTHER_BROWSER:
            return self._problem_page(problem or Problem.UNKNOWN)
        code = tokens.issue_relay_code(row)
        audit.record(RELAY_CODE_ISSUED, user=row.user, login_request_id=row.login_request_id)
        db.session().commit()
        return render_template(
            "magic_link/relay_code.html", code=f"{code[:4]}-{code[4:]}", minutes=self.ttl // 60
        )

    def enter_code(self):
        pending = login_requests.load(request.form.get("code-login_request_id", ""))
        form = RelayCodeForm(prefix="code")
        if not form.validate_on_submit():
            return self._sent_page(pending, form, status=422)
        verifier = request.cookies.get(VERIFIER_COOKIE)
        keys = [
            throttle.Key(f"magic_link.code:{tokens.digest(verifier or '-')}", 5, self.limit_delay)
        ]
        wait = throttle.retry_after(keys)
        row = None
        if not wait and verifier:
            row = tokens.spend_by_relay_code(pending.login_request_id, verifier, form.code.data)
        if row is None:
            if not wait:
                throttle.register_failure(keys)
            audit.record(RELAY_CODE_FAILED, login_request_id=pending.login_request_id)
            db.session().commit()
            message = (
                "Too many wrong codes. Ask for a new link."
                if wait
                else "That code is not valid or has expired."
            )
            return self._sent_page(pending, form, error=message, status=429 if wait else 422)
        return self._signed_in(row, pending)
