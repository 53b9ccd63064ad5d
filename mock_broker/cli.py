"""`flask --app mock_broker …` commands: set up the database, register things, flip QA switches.

Secrets are printed once, at creation, and stored only hashed.
"""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from mock_broker import (
    consent_memory,
    database,
    faults,
    housekeeping,
    keys,
    login_requests,
    tokens,
)
from mock_broker.models import M2M_AUTH_METHODS
from mock_broker.registration import (
    CLIENT_AUTH_METHODS,
    RegistrationError,
    create_connection,
    create_m2m_client,
    create_resource_server_client,
    register_client,
    register_machine_client,
    register_resource,
)


def init_app(app: Flask) -> None:
    for command in (
        init_db,
        create_m2m_client_command,
        create_connection_command,
        register_resource_command,
        register_client_command,
        register_machine_client_command,
        create_resource_server_client_command,
        inject_fault,
        arm_switch,
        clear_faults,
        forget_consents,
        revoke_m2m_tokens,
        expire_login_request,
        rotate_signing_key,
        prune_signing_keys,
        housekeeping_command,
    ):
        app.cli.add_command(command)


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _commit_or_fail() -> None:
    try:
        database.session().commit()
    except IntegrityError as error:  # an unknown or duplicate id: say so plainly
        database.session().rollback()
        raise click.ClickException(f"Not saved (unknown or duplicate id): {error.orig}") from error


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Migrate the database to the latest schema and seed the development values."""
    database.init_db(_app())
    click.echo("Database ready.")


@click.command("create-m2m-client")
@with_appcontext
@click.option("--name", required=True, help="Who these API credentials are for.")
def create_m2m_client_command(name: str) -> None:
    """Create API credentials (client_credentials) for a customer backend."""
    client, secret = create_m2m_client(database.session(), name)
    _commit_or_fail()
    click.echo(f"client_id={client.id}\nclient_secret={secret}")


@click.command("create-connection")
@with_appcontext
@click.option("--m2m-client", "m2m_client_id", required=True, help="The owning skc_… client.")
@click.option("--login-endpoint", required=True, help="The customer's login URL.")
def create_connection_command(m2m_client_id: str, login_endpoint: str) -> None:
    """Create a login connection: where the broker sends browsers to sign in."""
    try:
        connection = create_connection(database.session(), m2m_client_id, login_endpoint)
    except RegistrationError as error:
        raise click.BadParameter(str(error)) from error
    _commit_or_fail()
    click.echo(f"connection_id={connection.id}")


@click.command("register-resource")
@with_appcontext
@click.option("--name", required=True)
@click.option("--mcp-server-url", required=True, help="The MCP server's URL (RFC 8707 resource).")
@click.option("--scope", "scopes", multiple=True, required=True, help="Repeat for each scope.")
@click.option("--connection", "connection_id", required=True, help="The conn_… to sign in with.")
def register_resource_command(
    name: str, mcp_server_url: str, scopes: tuple[str, ...], connection_id: str
) -> None:
    """Register an MCP server as a protected resource with its own issuer."""
    try:
        resource = register_resource(
            database.session(), name, mcp_server_url, list(scopes), connection_id
        )
    except RegistrationError as error:
        raise click.BadParameter(str(error)) from error
    _commit_or_fail()
    click.echo(f"resource_id={resource.id}")


@click.command("register-client")
@with_appcontext
@click.option("--name", required=True, help="Shown on the consent screen.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--resource", "resource_id", required=True, help="The res_… it may access.")
@click.option("--auth-method", type=click.Choice(CLIENT_AUTH_METHODS), default="none")
def register_client_command(
    name: str, redirect_uris: tuple[str, ...], resource_id: str, auth_method: str
) -> None:
    """Register an MCP client (public with auth method none, or confidential)."""
    try:
        client, secret = register_client(
            database.session(), name, list(redirect_uris), resource_id, auth_method
        )
    except RegistrationError as error:
        raise click.BadParameter(str(error)) from error
    _commit_or_fail()
    click.echo(f"client_id={client.id}" + (f"\nclient_secret={secret}" if secret else ""))


@click.command("register-machine-client")
@with_appcontext
@click.option("--name", required=True, help="Which agent or service this is.")
@click.option("--resource", "resource_id", required=True, help="The res_… it may access.")
@click.option("--auth-method", type=click.Choice(M2M_AUTH_METHODS), default="client_secret_basic")
def register_machine_client_command(name: str, resource_id: str, auth_method: str) -> None:
    """Register a machine MCP client: client_credentials for one resource, no user."""
    try:
        client, secret = register_machine_client(database.session(), name, resource_id, auth_method)
    except RegistrationError as error:
        raise click.BadParameter(str(error)) from error
    _commit_or_fail()
    click.echo(f"client_id={client.id}\nclient_secret={secret}")


@click.command("create-resource-server-client")
@with_appcontext
@click.option("--resource", "resource_id", required=True, help="The res_… it serves.")
@click.option("--name", required=True, help="Which MCP server these credentials are for.")
def create_resource_server_client_command(resource_id: str, name: str) -> None:
    """Credentials for an MCP server to call token introspection for its resource."""
    client, secret = create_resource_server_client(database.session(), name, resource_id)
    _commit_or_fail()
    click.echo(f"client_id={client.id}\nclient_secret={secret}")


@click.command("inject-fault")
@with_appcontext
@click.argument("target", type=click.Choice(faults.TARGETS))
@click.option("--status", default=500, show_default=True)
@click.option("--count", default=1, show_default=True)
@click.option("--error", default=None, help="The JSON error code (default from the status).")
@click.option("--delay", default=0.0, show_default=True, help="Seconds to wait first.")
@click.option("--slow-only", is_flag=True, help="Answer normally after the delay (no status).")
def inject_fault(
    target: str, status: int, count: int, error: str | None, delay: float, slow_only: bool
) -> None:
    """Make the next COUNT calls to TARGET wait DELAY seconds, then fail with STATUS."""
    try:
        faults.inject(_app(), target, None if slow_only else status, count, error, delay)
    except ValueError as problem:
        raise click.BadParameter(str(problem)) from problem
    answer = "answer normally" if slow_only else f"answer {status}"
    late = f" after {delay:g} s" if delay else ""
    click.echo(f"{target}: next {count} call(s) {answer}{late}.")


@click.command("arm-switch")
@with_appcontext
@click.argument("switch", type=click.Choice(faults.SWITCHES))
@click.option("--count", default=1, show_default=True)
@click.option("--lifetime", type=int, default=None, help="early_expiry: seconds to live.")
def arm_switch(switch: str, count: int, lifetime: int | None) -> None:
    """Make the broker misbehave COUNT times: wrong iss, metadata issuer, early expiry."""
    try:
        faults.inject_switch(_app(), switch, count, lifetime)
    except ValueError as problem:
        raise click.BadParameter(str(problem)) from problem
    click.echo(f"{switch}: armed for {count} time(s).")


@click.command("forget-consents")
@with_appcontext
def forget_consents() -> None:
    """Forget every remembered consent (the next sign-ins show the consent page)."""
    click.echo(f"Forgot {consent_memory.forget(database.session())} consent(s).")


@click.command("clear-faults")
@with_appcontext
def clear_faults() -> None:
    """Remove every injected fault."""
    faults.clear(_app())
    click.echo("No faults armed.")


@click.command("revoke-m2m-tokens")
@with_appcontext
@click.argument("client_id")
def revoke_m2m_tokens(client_id: str) -> None:
    """Revoke every M2M token of CLIENT_ID (its cached token will get a 401)."""
    count = tokens.revoke_m2m_tokens(_app(), client_id)
    click.echo(f"Revoked {count} token(s).")


@click.command("expire-login-request")
@with_appcontext
@click.argument("login_request_id")
def expire_login_request(login_request_id: str) -> None:
    """Make LOGIN_REQUEST_ID expire now."""
    if not login_requests.expire(_app(), login_request_id):
        raise click.ClickException("No such login request.")
    click.echo("Expired.")


def _echo_keys() -> None:
    for row in keys.key_states(database.session()):
        click.echo(f"  {row.kid}  {row.state}")


@click.command("rotate-signing-key")
@with_appcontext
@click.option(
    "--activate",
    is_flag=True,
    help="Step 2: the published (pending) key starts signing; the active one is retired.",
)
@click.option(
    "--min-published",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="With --activate: refuse unless the key has been in JWKS this many seconds.",
)
def rotate_signing_key(activate: bool, min_published: int) -> None:
    """Rotate the token signing key in two steps: publish a new key, later --activate it.

    Publishing first lets resource servers' JWKS caches learn the new `kid` before any token
    carries it; the retired key stays published until prune-signing-keys finds its tokens
    expired.
    """
    db = database.session()
    try:
        if activate:
            new, old = keys.activate_next_key(db, timedelta(seconds=min_published))
            retired = f"; retired {old.kid}" if old else ""
            click.echo(f"Signing with {new.kid}{retired}.")
        else:
            key, created = keys.publish_next_key(db)
            done = "Published" if created else "Already published"
            click.echo(f"{done} {key.kid} (pending); run with --activate to sign with it.")
    except keys.KeyRotationError as error:
        raise click.ClickException(str(error)) from error
    db.commit()
    _echo_keys()


@click.command("prune-signing-keys")
@with_appcontext
def prune_signing_keys() -> None:
    """Remove retired signing keys once every token they signed has expired."""
    config = _app().config
    ttl = max(config["ACCESS_TOKEN_TTL"], config["M2M_TOKEN_TTL"])
    db = database.session()
    pruned = keys.prune_retired_keys(db, ttl)
    db.commit()
    click.echo(f"Pruned {len(pruned)} key(s){': ' + ', '.join(pruned) if pruned else ''}.")
    _echo_keys()


@click.command("housekeeping")
@with_appcontext
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=None,
    help="Keep expired rows this many seconds longer (default: HOUSEKEEPING_GRACE).",
)
def housekeeping_command(grace: int | None) -> None:
    """Purge expired login requests, codes, tokens and refresh families no longer in use, and
    dynamically registered clients never used (E4)."""
    config = _app().config
    grace = config["HOUSEKEEPING_GRACE"] if grace is None else grace
    counts = housekeeping.purge(
        database.session(),
        grace,
        unused_client_ttl=config["UNUSED_CLIENT_TTL"],
        longest_window=config["REGISTRATION_ADDRESS_WINDOW"],
    )
    for table, deleted in counts.items():
        click.echo(f"{table}: {deleted} deleted")
