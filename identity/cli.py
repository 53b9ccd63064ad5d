"""`flask` commands for operators: schema, users, passwords, the demo user."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from identity import db, housekeeping, profile_fields, schema, users
from identity.profile_fields import ProfileFieldError
from identity.users import UserError

DEMO_EMAIL = "alice@example.com"
DEMO_PASSWORD = "demo-password-for-alice"  # noqa: S105 - documented development credential


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db)
    app.cli.add_command(create_user)
    app.cli.add_command(edit_user)
    app.cli.add_command(set_password)
    app.cli.add_command(disable_user)
    app.cli.add_command(enable_user)
    app.cli.add_command(seed_demo)
    app.cli.add_command(housekeeping_command)


def _user_or_fail(email: str):
    user = users.find_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}.")
    return user


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    schema.upgrade()
    click.echo("Database schema is up to date.")


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--name", help="Full name.")
@click.option("--given-name")
@click.option("--family-name")
@click.option("--verified/--unverified", default=False, help="Is the email verified?")
@click.option("--role", "roles", multiple=True, help="A role (repeatable).")
@click.option("--group", "groups", multiple=True, help="A group (repeatable).")
@click.option("--org-id", help="The organization's external id.")
@click.option("--org-name", help="The organization's name (shown on the broker's consent).")
@click.option("--attributes", help="Custom attributes as a JSON object.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(
    email,
    name,
    given_name,
    family_name,
    verified,
    roles,
    groups,
    org_id,
    org_name,
    attributes,
    password,
) -> None:
    """Create a user with a password."""
    try:
        fields = profile_fields.clean_all(
            {
                "name": name,
                "given_name": given_name,
                "family_name": family_name,
                "roles": list(roles),
                "groups": list(groups),
                "organization_external_id": org_id,
                "organization_external_name": org_name,
                "custom_attributes": attributes or {},
            }
        )
        user = users.create_user(email, password, email_verified=verified, **fields)
    except (UserError, ProfileFieldError) as error:
        raise click.ClickException(str(error)) from error
    db.session().commit()
    click.echo(f"Created {user.email} (sub {user.subject}).")


#: edit-user's options: option name → profile field (a User column).
_EDITABLE = {
    "name": "name",
    "given_name": "given_name",
    "family_name": "family_name",
    "preferred_username": "preferred_username",
    "picture": "picture",
    "locale": "locale",
    "phone": "phone_number",
    "roles": "roles",
    "groups": "groups",
    "org_id": "organization_external_id",
    "org_name": "organization_external_name",
    "attributes": "custom_attributes",
}
_EMPTY = {"roles": list, "groups": list, "custom_attributes": dict}


@click.command("edit-user")
@with_appcontext
@click.argument("email")
@click.option("--name", help="Full name.")
@click.option("--given-name")
@click.option("--family-name")
@click.option("--preferred-username")
@click.option("--picture", help="An absolute http(s) URL of the user's picture.")
@click.option("--locale", help="A language tag, like en-US.")
@click.option("--phone", help="A phone number in E.164 format, like +14155550123.")
@click.option("--phone-verified/--phone-unverified", default=None)
@click.option("--role", "roles", multiple=True, help="A role (repeatable; replaces the roles).")
@click.option("--group", "groups", multiple=True, help="A group (repeatable; replaces them).")
@click.option("--org-id", help="The organization's external id.")
@click.option("--org-name", help="The organization's name (shown on the broker's consent).")
@click.option("--attributes", help="Custom attributes as a JSON object (replaces them).")
@click.option(
    "--clear",
    "cleared",
    multiple=True,
    type=click.Choice(sorted(_EDITABLE)),
    help="Unset a field (repeatable), e.g. --clear roles.",
)
def edit_user(email: str, phone_verified, cleared, **options) -> None:
    """Change a user's profile fields; what is not named stays as it is.

    The values follow the same rules as every other write (identity/profile_fields.py), and
    nothing is changed unless all of them are acceptable. The broker sees the new values at
    the user's next sign-in. The email and its verification are not edited here: they decide
    who may sign in (C19, C22).
    """
    user = _user_or_fail(email)
    given = {
        _EDITABLE[option]: list(value) if isinstance(value, tuple) else value
        for option, value in options.items()
        if value not in (None, ())
    }
    both = {_EDITABLE[option] for option in cleared} & given.keys()
    if both:
        raise click.ClickException(f"Both set and cleared: {', '.join(sorted(both))}.")
    try:
        changes = profile_fields.clean_all(given)
    except ProfileFieldError as error:
        raise click.ClickException(str(error)) from error
    for option in cleared:
        field = _EDITABLE[option]
        changes[field] = _EMPTY[field]() if field in _EMPTY else None
    if "phone_number" in changes and changes["phone_number"] is None:
        changes["phone_number_verified"] = None
    if phone_verified is not None:
        changes["phone_number_verified"] = phone_verified
    if not changes:
        raise click.ClickException("Nothing to change: name a field to set or --clear.")
    for field, value in changes.items():
        setattr(user, field, value)
    db.session().commit()
    click.echo(f"Updated {user.email}: {', '.join(sorted(changes))}.")


@click.command("set-password")
@with_appcontext
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def set_password(email: str, password: str) -> None:
    """Set a user's password (signs out their sessions)."""
    user = _user_or_fail(email)
    try:
        users.set_password(user, password)
    except UserError as error:
        raise click.ClickException(str(error)) from error
    db.session().commit()
    click.echo(f"Password set for {user.email}; existing sessions are signed out.")


@click.command("disable-user")
@with_appcontext
@click.argument("email")
def disable_user(email: str) -> None:
    """Disable a user: no sign-in, existing sessions end."""
    users.disable(_user_or_fail(email))
    db.session().commit()
    click.echo(f"Disabled {email}.")


@click.command("enable-user")
@with_appcontext
@click.argument("email")
def enable_user(email: str) -> None:
    """Enable a disabled user again."""
    users.enable(_user_or_fail(email))
    db.session().commit()
    click.echo(f"Enabled {email}.")


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create the documented demo user (development only; idempotent)."""
    if current_app.config["APP_ENV"] != "development" and not current_app.testing:
        raise click.ClickException("seed-demo is for development: set APP_ENV=development.")
    if users.find_by_email(DEMO_EMAIL) is None:
        users.create_user(
            DEMO_EMAIL,
            DEMO_PASSWORD,
            name="Alice Doe",
            given_name="Alice",
            family_name="Doe",
            preferred_username="alice",
            email_verified=True,
            locale="en-US",
            roles=["admin"],
            groups=["engineering"],
            organization_external_id="org_acme",
            organization_external_name="Acme Corp",
            custom_attributes={"plan": "enterprise"},
        )
        db.session().commit()
    click.echo(f"Demo user: {DEMO_EMAIL} / {DEMO_PASSWORD}")


@click.command("housekeeping")
@with_appcontext
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=None,
    help="Keep expired rows this many seconds longer (default: HOUSEKEEPING_GRACE).",
)
def housekeeping_command(grace: int | None) -> None:
    """Purge what has expired (E4); safe while sign-ins run and on several instances."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    grace = app.config["HOUSEKEEPING_GRACE"] if grace is None else grace
    counts = housekeeping.purge(app, grace)
    for table, deleted in sorted(counts.items()):
        click.echo(f"{table}: {deleted} deleted")
