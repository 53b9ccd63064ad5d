"""Which login methods are on, in which order: configuration, not code.

`LOGIN_METHODS` is a comma-separated list (or a Python list). Each entry is
- a short name of a method shipped here (`password`),
- the name of an installed entry point in the group `byoa.login_methods`, or
- a dotted path to the class: `package.module:ClassName` (or `package.module.ClassName`).

So a team adds a method without touching this repository's code: publish the class with its
own blueprint and templates, then name it in `LOGIN_METHODS`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from flask import Flask

from identity.config import ConfigError
from login_methods.base import LoginMethod

BUILTIN = {
    "password": "login_methods.password:PasswordMethod",
    "magic_link": "login_methods.magic_link:MagicLinkMethod",
    "oidc": "login_methods.oidc:OidcMethod",
}
ENTRY_POINT_GROUP = "byoa.login_methods"


class LoginMethodConfigError(ConfigError):
    """LOGIN_METHODS names something that is not a login method."""


def resolve(reference: str) -> type[LoginMethod]:
    target = BUILTIN.get(reference)
    if target is None:
        found = entry_points(group=ENTRY_POINT_GROUP, name=reference)
        if found:
            cls = next(iter(found)).load()
            return _checked(reference, cls)
        target = reference
    module_name, sep, attribute = target.partition(":")
    if not sep:
        module_name, _, attribute = target.rpartition(".")
    if not module_name or not attribute:
        raise LoginMethodConfigError(f"LOGIN_METHODS: {reference!r} is not a known method name")
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise LoginMethodConfigError(
            f"LOGIN_METHODS: cannot load {reference!r}: {error}"
        ) from error
    return _checked(reference, cls)


def _checked(reference: str, cls: object) -> type[LoginMethod]:
    if not (isinstance(cls, type) and issubclass(cls, LoginMethod)):
        raise LoginMethodConfigError(f"LOGIN_METHODS: {reference!r} is not a LoginMethod class")
    return cls


def init_app(app: Flask) -> None:
    configured = app.config["LOGIN_METHODS"]
    references = configured.split(",") if isinstance(configured, str) else list(configured)
    methods: list[LoginMethod] = []
    for reference in (ref.strip() for ref in references):
        if not reference:
            continue
        method = resolve(reference)(app)
        if any(existing.name == method.name for existing in methods):
            raise LoginMethodConfigError(f"LOGIN_METHODS: {method.name!r} is enabled twice")
        app.register_blueprint(method.blueprint(), url_prefix=f"/login/{method.name}")
        methods.append(method)
    if not methods:
        raise LoginMethodConfigError("LOGIN_METHODS is empty: enable at least one method")
    app.extensions["login_methods"] = methods


def method_classes(app: Flask) -> list[type[LoginMethod]]:
    """The enabled methods' classes, and the shipped ones even when disabled: their tables
    exist either way (identity/schema.py migrates them), so housekeeping must reach them."""
    classes = [type(method) for method in app.extensions.get("login_methods", [])]
    for name in BUILTIN:
        cls = resolve(name)
        if cls not in classes:
            classes.append(cls)
    return classes
