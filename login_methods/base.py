"""The shape of a login method.

A method is a class with a `name`, a `label`, a template for its panel on the login page, and
a blueprint for its own routes (mounted at /login/<name>/). Whatever it does — check a
password, send a link, redirect to another provider — it ends by calling
`identity.completion.complete_login(user, pending, method=self.name)` for the pending login
request it was started for. A method's settings come from the app config under
`LOGIN_METHOD_<NAME>_<SETTING>`, read with `self.setting(...)`.

Methods use only the public API a third-party method can use: `identity.login_requests`
(load the pending request named by the form), `identity.login_page.render_login_page` (show
the login page with this method's errors), `identity.completion.complete_login`,
`identity.users`, `identity.throttle`, `identity.audit`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Blueprint, Flask

from identity.models import PendingLoginRequest


class LoginMethod:
    #: URL-safe short name: routes live under /login/<name>/, settings under LOGIN_METHOD_<NAME>_.
    name: ClassVar[str]
    #: What the user sees, e.g. "Password".
    label: ClassVar[str]
    #: The template rendered as this method's panel on the login page.
    panel_template: ClassVar[str]

    def __init__(self, app: Flask) -> None:
        self.app = app

    def setting(self, key: str, default: Any = None) -> Any:
        return self.app.config.get(f"LOGIN_METHOD_{self.name.upper()}_{key}", default)

    def blueprint(self) -> Blueprint:
        """The method's own routes; mounted at /login/<name>/."""
        raise NotImplementedError

    def panel_context(self, pending: PendingLoginRequest) -> dict[str, Any]:
        """Template values for this method's panel on the login page."""
        return {}
