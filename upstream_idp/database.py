"""Storage: a small SQLite database (any SQLAlchemy URL works) for codes and access tokens.

Why a database for a development tool: authorization codes must work exactly once and access
tokens must outlive the request that issued them. Process memory would do that only while one
process serves everything; `flask run --reload`, a second worker or a restart would lose or
split the state, and "code already used" would stop meaning anything. A conditional UPDATE in
SQLite is the same single-use guarantee the real providers give, for a few lines more.

There are no migrations: every row is disposable (codes live a minute, tokens an hour), so the
schema is created on start (`create_all` is idempotent) and an outdated file may simply be
deleted. `flask --app upstream_idp init-db` does the same on demand.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from identity.engines import make_engine

_EXTENSION = "upstream_idp.db"


class Base(DeclarativeBase):
    """Declarative base of the stand-in's tables."""


def init_app(app: Flask) -> None:
    if not app.config.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'upstream_idp.sqlite3'}"
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions[_EXTENSION] = sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)
    create_schema(app)


def create_schema(app: Flask) -> None:
    """Create the tables that do not exist yet (idempotent)."""
    from upstream_idp import models  # noqa: F401 - registers the tables on Base.metadata

    Base.metadata.create_all(app.extensions[_EXTENSION].kw["bind"])


def session() -> Session:
    """The session of the current request or CLI command, opened on first use."""
    if "upstream_db_session" not in g:
        g.upstream_db_session = current_app.extensions[_EXTENSION]()
    return g.upstream_db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session: Session | None = g.pop("upstream_db_session", None)
    if db_session is not None:
        db_session.close()
