"""Database access: one SQLAlchemy engine per app, one session per request.

Plain SQLAlchemy 2.x rather than an extension: the engine lives in `app.extensions`, a session
is opened lazily for the request (or CLI command) and closed at teardown. SQLite is the
embedded default; any SQLAlchemy URL (PostgreSQL in production) works unchanged.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from identity.engines import make_engine


class Base(DeclarativeBase):
    """Declarative base for the customer side's models."""


def default_sqlite_url(app: Flask) -> str:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path) / 'identity.sqlite3'}"


def init_app(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or default_sqlite_url(app)
    app.config["DATABASE_URL"] = url
    engine = make_engine(url, float(app.config.get("DATABASE_BUSY_TIMEOUT", 15.0)))
    app.extensions["identity.db"] = sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["identity.db"].kw["bind"]


def session() -> Session:
    """The session of the current request or CLI command, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["identity.db"]()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session: Session | None = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
