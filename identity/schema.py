"""Schema migrations (Alembic), applied programmatically by `flask init-db` and the tests.

The core's revisions live in identity/migrations/versions. A login method that needs tables
of its own ships its revisions in its own folder (`LoginMethod.migrations`) on its own Alembic
branch; every enabled (or shipped) method's folder is added to the version locations, and
`upgrade` brings all branches to their heads. So a method adds tables without editing core files.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import current_app

from identity import db

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    locations = [MIGRATIONS / "versions"]
    for folder in _method_migrations():
        if folder not in locations:
            locations.append(folder)
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(path) for path in locations))
    return config


def _method_migrations() -> list[Path]:
    """Migration folders of the enabled methods, and of the shipped ones even when disabled:
    turning a shipped method off must not leave the database at a revision Alembic cannot
    find. (A third-party method keeps that duty: see docs/writing-a-login-method.md.)"""
    from login_methods.registry import BUILTIN, resolve

    classes = [type(method) for method in current_app.extensions.get("login_methods", [])]
    classes += [resolve(name) for name in BUILTIN]
    return [Path(cls.migrations) for cls in classes if cls.migrations is not None]


def upgrade(revision: str = "heads") -> None:
    """Bring the current app's database to `revision` (inside an app context)."""
    config = alembic_config()
    with db.engine().begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(message: str) -> None:
    """Autogenerate a new core migration from the models (developer tool)."""
    config = alembic_config()
    with db.engine().begin() as connection:
        config.attributes["connection"] = connection
        command.revision(
            config, message=message, autogenerate=True, version_path=str(MIGRATIONS / "versions")
        )
