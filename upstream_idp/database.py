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
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

_EXTENSION = "upstream_idp.db"


class Base(DeclarativeBase):
    """Declarative base of the stand-in's tables."""


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 15})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        # WAL lets readers and one writer work at once (the threaded dev server, tests).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def init_app(app: Flask) -> None:
    if not app.config.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'upstream_idp.sqlite3'}"
    engine = _make_engine(app.config["DATABASE_URL"])
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
