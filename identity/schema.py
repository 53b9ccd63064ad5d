"""Schema migrations (Alembic), applied programmatically by `flask init-db` and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from identity import db

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(revision: str = "head") -> None:
    """Bring the current app's database to `revision` (inside an app context)."""
    config = alembic_config()
    with db.engine().begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(message: str) -> None:
    """Autogenerate a new migration from the models (developer tool)."""
    config = alembic_config()
    with db.engine().begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
