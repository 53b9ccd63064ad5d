"""How every app in this repository opens its database (customer side, mock broker, stand-in).

One place for the choices that must not drift apart between them:

- SQLite (development, tests): WAL, so readers and one writer work at once (threaded servers,
  several processes); foreign keys on (SQLite leaves them off); a busy timeout (15 s unless
  the app sets another).
- PostgreSQL (production): `pool_pre_ping`, so a connection the server dropped (restart,
  failover, idle timeout) is replaced instead of failing a sign-in; and libpq's
  `connect_timeout`, without which psycopg waits about two minutes for a host that does not
  answer and /readyz would hang instead of answering 503. `?connect_timeout=N` in the URL wins.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event, make_url

#: Seconds a new PostgreSQL connection may take (libpq makes anything below 2 into 2).
CONNECT_TIMEOUT = 5


def connect_args(url: str) -> dict[str, int]:
    """The connect timeout for libpq drivers, unless the URL sets its own (SQLite needs none)."""
    parsed = make_url(url)
    if parsed.get_driver_name() not in {"psycopg", "psycopg2"} or "connect_timeout" in parsed.query:
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT}


def make_engine(url: str, busy_timeout: float = 15.0) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args(url))
    engine = create_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
