"""Database access: one SQLAlchemy engine per app, one session per request or CLI command.

Plain SQLAlchemy 2.x rather than an extension. The schema is owned by the Alembic migrations in
`mock_broker/migrations`, applied programmatically by `init_db`, which also seeds the fixed
development values; both steps are idempotent, so every start may run them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app, g
from sqlalchemy import DateTime, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from identity.engines import make_engine

_MIGRATIONS = Path(__file__).parent / "migrations"
_EXTENSION = "mock_broker.db"


class Base(DeclarativeBase):
    """Declarative base of the mock broker's models."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type and hands back naive values; storing naive UTC and re-attaching
    UTC on load keeps comparisons with `utcnow()` correct on SQLite and PostgreSQL alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_sqlite_url(app: Flask) -> str:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path) / 'mock_broker.sqlite3'}"


def init_app(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or default_sqlite_url(app)
    app.config["DATABASE_URL"] = url
    app.extensions[_EXTENSION] = sessionmaker(bind=make_engine(url), expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def session() -> Session:
    """The session of the current request or CLI command, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[_EXTENSION]()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session: Session | None = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


def upgrade(app: Flask) -> None:
    """Apply every pending Alembic migration to the app's database."""
    engine: Engine = app.extensions[_EXTENSION].kw["bind"]
    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "head")


def init_db(app: Flask) -> None:
    """Migrate to the latest schema and seed the development values (idempotent)."""
    from mock_broker import seed  # the seed module imports the models, which import this one

    upgrade(app)
    with app.app_context():
        seed.seed(app)
