"""The shape of a login method.

A method is a class with a `name`, a `label`, a template for its panel on the login page, and
a blueprint for its own routes (mounted at /login/<name>/). Whatever it does — check a
password, send a link, redirect to another provider — it ends by calling
`identity.completion.complete_login(user, pending, method=self.name)` for the pending login
request it was started for. A method's settings come from the app config (and so from
environment variables) named `LOGIN_METHOD_<NAME>_<SETTING>`, read with `self.setting(...)`.
A method that needs tables of its own declares their models on `identity.db.Base` and ships
Alembic revisions on its own branch in the folder named by `migrations` (see
identity/schema.py); `flask init-db` applies them.

Methods use only the public API a third-party method can use: `identity.login_requests`
(load the pending request named by the form), `identity.login_page.render_login_page` (show
the login page with this method's errors), `identity.completion.complete_login`,
`identity.users`, `identity.throttle`, `identity.audit`, `identity.mail`, `identity.db` and
`identity.models` (the session, `Base`, `User`, `utcnow`), and `identity.config.ConfigError`
to refuse bad settings at start. Give form fields ids of the method's own (a prefix): all
panels share one page.

A method with tables of its own also takes part in housekeeping (E4), through two class
methods the core calls without importing the method's modules: `purge_expired` (from
`flask housekeeping`) and `forget_login_requests` (before the core deletes pending login
requests its rows may refer to). They are class methods because a shipped method's tables
exist even while it is disabled, and a disabled method is never instantiated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from flask import Blueprint, Flask
from sqlalchemy.orm import Session

from identity.config import ConfigError
from identity.models import PendingLoginRequest


class LoginMethod:
    #: URL-safe short name: routes live under /login/<name>/, settings under LOGIN_METHOD_<NAME>_.
    name: ClassVar[str]
    #: What the user sees, e.g. "Password".
    label: ClassVar[str]
    #: The template rendered as this method's panel on the login page.
    panel_template: ClassVar[str]
    #: A folder of Alembic revisions for this method's own tables (its own branch), or None.
    migrations: ClassVar[Path | None] = None

    def __init__(self, app: Flask) -> None:
        self.app = app

    def setting(
        self, key: str, default: Any = None, cast: Callable[[Any], Any] | None = None
    ) -> Any:
        """LOGIN_METHOD_<NAME>_<KEY>; values from the environment are strings, so `cast` them.

        A value that does not cast refuses to start, naming the variable (E3).
        """
        name = f"LOGIN_METHOD_{self.name.upper()}_{key}"
        value = self.app.config.get(name, default)
        if cast is None or value is None:
            return value
        try:
            return cast(value)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{name}={value!r} is not valid: {error}") from None

    def blueprint(self) -> Blueprint:
        """The method's own routes; mounted at /login/<name>/."""
        raise NotImplementedError

    def panel_context(self, pending: PendingLoginRequest) -> dict[str, Any]:
        """Template values for this method's panel on the login page."""
        return {}

    @classmethod
    def purge_expired(cls, session: Session, cutoff: datetime) -> dict[str, int]:
        """Delete this method's rows that stopped being usable before `cutoff` (expiry plus
        the operator's grace period); {table: rows deleted}. The caller commits."""
        return {}

    @classmethod
    def forget_login_requests(cls, session: Session, ids: list[int]) -> None:
        """Delete this method's rows that refer to these pending login requests (by
        `PendingLoginRequest.id`): the core deletes them next, in the same transaction."""
