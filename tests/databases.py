"""The database each test app gets: a SQLite file by default, or a fresh PostgreSQL database.

`TEST_DATABASE=postgresql` (as `make test` runs the suite a second time) starts one real
PostgreSQL server for the session — initdb into a temporary directory, listening on a free
loopback port, trust authentication on loopback only — and every `database_url()` call
creates a new, empty database in it, so tests stay as isolated as with SQLite files. The
server is stopped at the end of the session (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from tests.mail_sink import free_port

BACKEND = os.environ.get("TEST_DATABASE", "sqlite")
if BACKEND not in {"sqlite", "postgresql"}:
    raise RuntimeError(f"TEST_DATABASE must be sqlite or postgresql, not {BACKEND!r}")


def _pg_bin() -> Path:
    """Debian installs the server under /usr/lib/postgresql/<major>/bin: take the newest."""
    if "PG_BIN" in os.environ:
        return Path(os.environ["PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl), run as the `postgres` user when the
    tests run as root (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"no PostgreSQL server at {PG_BIN}: apt-get install postgresql")
        self.directory = Path(tempfile.mkdtemp(prefix="test-postgres-"))
        self.port = free_port()
        self.data = self.directory / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "start",
        )

    def _run(self, program: str, *args: str) -> None:
        command = [str(PG_BIN / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


_server: PostgresServer | None = None
_lock = threading.Lock()


def database_url(directory: Path, name: str) -> str:
    """A fresh database for one app: `directory/name.sqlite3`, or a new PostgreSQL database."""
    if BACKEND == "sqlite":
        return f"sqlite:///{directory / f'{name}.sqlite3'}"
    return postgresql_url()


def postgresql_url() -> str:
    """A new, empty database on the session's PostgreSQL server, whatever TEST_DATABASE says:
    the multi-instance tests need a database server that several processes share."""
    global _server
    with _lock:
        if _server is None:
            _server = PostgresServer()
    return _server.create_database()


def stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def dispose(app) -> None:
    """Close the pooled connections of every engine an app holds (at the end of its test)."""
    for extension in list(app.extensions.values()):
        if isinstance(extension, sessionmaker):
            extension.kw["bind"].dispose()


def wait_until_a_backend_waits_for_a_lock(engine, timeout: float = 10.0) -> None:
    """Poll pg_stat_activity until another session of this database is blocked on a lock."""
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while True:
            waiting = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            connection.rollback()  # a fresh snapshot of the view on the next poll
            if waiting:
                return
            assert time.monotonic() < deadline, "no session ever waited for a lock"
            time.sleep(0.01)  # poll interval of the server's view, not a wait for an outcome
