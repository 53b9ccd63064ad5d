"""A third-party login method, as a team would write one outside this repository.

"Shared code": the user types their email and a code an administrator gave them (configured
as LOGIN_METHOD_SHARED_CODE_CODE). Deliberately simple; what it proves is the plugin shape:
its own blueprint, its own template folder, its own settings, and the same ending as every
method — complete_login().
"""

from __future__ import annotations

import hmac
from pathlib import Path

from flask import Blueprint, request

from identity import login_requests, users
from identity.completion import complete_login
from identity.login_page import render_login_page
from login_methods.base import LoginMethod


class SharedCodeMethod(LoginMethod):
    name = "shared_code"
    label = "Code from your administrator"
    panel_template = "shared_code/panel.html"

    def blueprint(self) -> Blueprint:
        bp = Blueprint(
            "shared_code", __name__, template_folder=str(Path(__file__).parent / "templates")
        )
        bp.add_url_rule("/", "sign_in", self.sign_in, methods=["POST"])
        return bp

    def sign_in(self):
        pending = login_requests.load(request.form.get("login_request_id", ""))
        user = users.find_by_email(request.form.get("email", ""))
        code = request.form.get("code", "")
        expected = self.setting("CODE", "")
        if user is None or not expected or not hmac.compare_digest(code, expected):
            return render_login_page(
                pending,
                status=422,
                method_context={self.name: {"error": "That code is not valid."}},
            )
        return complete_login(user, pending, method=self.name)
