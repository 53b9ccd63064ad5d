"""Users: lookup by email, creation, passwords, disabling. Shared by the CLI and login methods."""

from __future__ import annotations

import secrets
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select

from identity import db, signals
from identity.models import User, utcnow
from identity.passwords import PasswordHasher, context_words, policy_problems


class UserError(ValueError):
    """A user operation was refused; the message is fit to show to the operator."""


def normalize_email(email: str) -> str:
    """Lower-cased, IDNA-normalised address; raises UserError if it is not an address."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise UserError(str(error)) from error
    return result.normalized.lower()


def normalize_identifier(typed: str) -> str:
    """What the user typed as their email, as one key for lookup and throttling.

    A valid address is normalised like stored emails; anything else is folded as typed, so
    that invalid input is throttled (and answered) exactly like an unknown account.
    """
    try:
        return normalize_email(typed)
    except UserError:
        return typed.strip().casefold()


def find_by_email(email: str) -> User | None:
    try:
        normalized = normalize_email(email)
    except UserError:
        return None
    return db.session().scalar(select(User).where(User.email == normalized))


def hasher() -> PasswordHasher:
    """One hasher per app: building it computes the dummy hash used for timing equalisation."""
    return current_app.extensions["identity.password_hasher"]


def check_new_password(password: str, email: str | None = None) -> None:
    config = current_app.config
    problems = policy_problems(
        password,
        config["PASSWORD_MIN_LENGTH"],
        config["PASSWORD_MAX_LENGTH"],
        context_words(email, config["PRODUCT_NAME"]),
    )
    if problems:
        raise UserError(" ".join(problems))


def create_user(email: str, password: str | None = None, **attributes: Any) -> User:
    normalized = normalize_email(email)
    session = db.session()
    if session.scalar(select(User).where(User.email == normalized)) is not None:
        raise UserError(f"A user with email {normalized} already exists.")
    user = User(email=normalized, **attributes)
    if password is not None:
        check_new_password(password, normalized)
        user.password_hash = hasher().hash(password)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    check_new_password(password, user.email)
    user.password_hash = hasher().hash(password)
    user.session_epoch = secrets.token_urlsafe(16)  # sign out every existing session


def prove_email(user: User, method: str) -> None:
    """`method` has just proven that this user controls their address (the caller commits)."""
    user.email_verified = True
    signals.email_proven.send(current_app._get_current_object(), user=user, method=method)


def disable(user: User) -> None:
    user.disabled_at = utcnow()
    user.session_epoch = secrets.token_urlsafe(16)


def enable(user: User) -> None:
    user.disabled_at = None
