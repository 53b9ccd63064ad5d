"""The login page: the pending request, the enabled methods in order, and "continue as"."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask_login import current_user
from markupsafe import Markup

from identity.models import PendingLoginRequest


def render_login_page(
    pending: PendingLoginRequest,
    *,
    status: int = 200,
    method_context: dict[str, dict[str, Any]] | None = None,
    retry_after: int | None = None,
):
    """Render /login for `pending`.

    `method_context` maps a method's name to extra template values for its panel, so a method
    can show its own errors (a wrong password) while the other methods render as usual.
    `retry_after` (seconds) adds the Retry-After header of a throttled (429) answer.
    """
    method_context = method_context or {}
    methods = current_app.extensions["login_methods"]
    panels = [
        (method, _render_panel(method, pending, method_context.get(method.name, {})))
        for method in methods
    ]
    signed_in = current_user if current_user.is_authenticated else None
    page = render_template("login.html", pending=pending, panels=panels, signed_in=signed_in)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return page, status, headers


def _render_panel(method, pending: PendingLoginRequest, extra: dict[str, Any]) -> Markup:
    context = {**method.panel_context(pending), **extra}
    return Markup(render_template(method.panel_template, pending=pending, **context))  # noqa: S704
