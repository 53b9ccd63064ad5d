"""`flask admin-code issue EMAIL`: the operator's half of the method.

The operator is the authenticator here: a code proves only that an administrator decided to
let this person in, so they issue one after verifying the person out of band (a call back on
a known number, a ticket from a known account), never on an unverified request.
"""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from examples.admin_code import codes
from identity import audit, db, users

ISSUED = "admin_code.issued"


def commands(ttl: timedelta) -> AppGroup:
    """The `admin-code` command group, issuing codes that live for `ttl`."""
    group = AppGroup("admin-code", help="One-time sign-in codes issued by an administrator.")

    @group.command("issue")
    @click.argument("email")
    def issue(email: str) -> None:
        """Print a single-use sign-in code for EMAIL (replacing any earlier one)."""
        user = users.find_by_email(email)
        if user is None:
            raise click.ClickException(f"No user with email {email}.")
        if not user.is_active:
            raise click.ClickException(f"{user.email} is disabled; run enable-user first.")
        code, expires_at = codes.issue(user, ttl)
        audit.record(ISSUED, user=user, expires_at=expires_at.isoformat())  # never the code
        db.session().commit()
        click.echo(f"Sign-in code for {user.email}: {code}")
        click.echo(f"It works once, until {expires_at:%H:%M} UTC.")

    return group
