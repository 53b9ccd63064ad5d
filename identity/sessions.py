"""Signing a browser in and out (C6).

Flask's session is a signed cookie; on its own, signing out could not invalidate a copied
cookie. So each sign-in also gets a `SignIn` row, named in the cookie by a random id, and the
user loader accepts a session only while that row is unrevoked and the user's session epoch
is unchanged. At sign-in the session is cleared and the browser id renewed (no fixation); the
browser's pending login requests follow it to the new id.
"""

from __future__ import annotations

import hashlib
import secrets

from flask import Flask, current_app, g, session
from flask_login import LoginManager, login_user, logout_user
from sqlalchemy import update

from identity import db, login_requests
from identity.models import SignIn, User, utcnow

SIGN_IN_KEY = "sign_in"

login_manager = LoginManager()
login_manager.session_protection = "basic"


def init_app(app: Flask) -> None:
    login_manager.init_app(app)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user_pk, _, epoch = user_id.partition(":")
    sign_in_id = session.get(SIGN_IN_KEY)
    if not user_pk.isdigit() or not sign_in_id:
        return None
    record = db.session().get(SignIn, _hash(sign_in_id))
    if record is None or record.revoked_at is not None or record.user_id != int(user_pk):
        return None
    user = record.user
    if user.session_epoch != epoch or not user.is_active:
        return None
    return user


def sign_in(user: User, method: str) -> None:
    """Start a fresh session for `user` in this browser (the caller commits)."""
    _clear_session()  # drops pre-login values and the CSRF secret (rotated)
    login_requests.rotate_browser_id()
    sign_in_id = secrets.token_urlsafe(32)
    db.session().add(SignIn(id_hash=_hash(sign_in_id), user_id=user.id, method=method))
    session[SIGN_IN_KEY] = sign_in_id
    user.last_login_at = utcnow()
    login_user(user)


def end_sessions(user: User, method: str) -> int:
    """End every session `user` started with `method`, in every browser (the caller commits)."""
    result = db.session().execute(
        update(SignIn)
        .where(SignIn.user_id == user.id, SignIn.method == method, SignIn.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount


def sign_out() -> None:
    """End this browser's session everywhere it might be copied; keep its pending requests."""
    sign_in_id = session.get(SIGN_IN_KEY)
    if sign_in_id:
        db.session().execute(
            update(SignIn).where(SignIn.id_hash == _hash(sign_in_id)).values(revoked_at=utcnow())
        )
    logout_user()
    _clear_session()


def _clear_session() -> None:
    """Empty the session but keep the browser id, so pending login requests survive."""
    browser = session.get(login_requests.BROWSER_KEY)
    session.clear()
    # Flask-WTF caches this request's CSRF token in `g`; drop it so pages rendered after this
    # point carry a token for the new CSRF secret.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    if browser is not None:
        session[login_requests.BROWSER_KEY] = browser
