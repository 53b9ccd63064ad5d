"""`flask --app upstream_idp …` commands. None is needed to run: the app creates its tables and
key on start. `init-db` exists for scripts that prepare everything before the first request."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from upstream_idp import database, keys


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the tables and the signing key if they do not exist (idempotent)."""
    database.create_schema(current_app)
    click.echo(f"Database ready: {current_app.config['DATABASE_URL']}")
    click.echo(f"Signing key: kid {keys.signing_key().kid}")
