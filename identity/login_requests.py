"""The pending login request: what the broker sent us, bound to the browser that brought it.

The broker redirects the browser to `/login?login_request_id=…&state=…` (contract §1). We
check both values (C1), then keep them in the database under (browser, login_request_id), the
browser being a random id in its session cookie (C2). Every later step names the login request
by id and finds it only in that browser's rows, so a request cannot be completed from another
browser, several can be pending at once, and each can be completed once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, session
from sqlalchemy import select, update

from identity import bounds, db
from identity.models import PendingLoginRequest, User, utcnow

# Both values are opaque to us (contract), but bounded: anything else is not from the broker.
LOGIN_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
STATE = re.compile(r"[A-Za-z0-9._~+/=-]{1,512}")

BROWSER_KEY = "browser"


class LoginRequestError(Exception):
    """A login request that cannot go on; `title` and `message` are shown to the user."""

    status = 400
    title = "This sign-in link is not valid"
    message = (
        "The sign-in request is missing or malformed. Go back to the application you were "
        "signing in to and start again."
    )


class UnknownLoginRequest(LoginRequestError):
    title = "We can't find this sign-in request"
    message = (
        "This sign-in request was not started in this browser, or it was cleared. Go back to "
        "the application you were signing in to and start again."
    )


class ExpiredLoginRequest(LoginRequestError):
    title = "This sign-in request has expired"
    message = (
        "Sign-in requests are valid for a few minutes. Go back to the application you were "
        "signing in to and start again."
    )


class TooManyLoginRequests(LoginRequestError):
    """More new sign-ins from this address than LOGIN_REQUEST_ADDRESS_LIMIT allows (E4)."""

    status = 429
    title = "Too many sign-in requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after
        minutes = -(-retry_after // 60)
        self.message = (
            "Many sign-ins were started from your network just now. Wait "
            f"{minutes} minute{'s' if minutes > 1 else ''}, then start again from the "
            "application you were signing in to."
        )


class CompletedLoginRequest(LoginRequestError):
    status = 409
    title = "This sign-in is already complete"
    message = (
        "This sign-in request was already completed. If your application is still waiting, "
        "start again from it."
    )


#: The broker's final answers about a login request, and what we tell the user afterwards.
BROKER_VERDICTS: dict[str, type[LoginRequestError]] = {
    "unknown": UnknownLoginRequest,
    "completed": CompletedLoginRequest,
    "expired": ExpiredLoginRequest,
}


@dataclass(frozen=True)
class LoginRequestParams:
    login_request_id: str
    state: str


def parse(args) -> LoginRequestParams:
    """Validate the broker's two parameters (C1); LoginRequestError if either is bad."""
    login_request_id = args.get("login_request_id", "")
    state = args.get("state", "")
    if not LOGIN_REQUEST_ID.fullmatch(login_request_id) or not STATE.fullmatch(state):
        raise LoginRequestError()
    return LoginRequestParams(login_request_id, state)


def browser_hash(create: bool = False) -> str | None:
    """sha256 of this browser's random id (kept in its session cookie)."""
    browser = session.get(BROWSER_KEY)
    if browser is None:
        if not create:
            return None
        browser = session[BROWSER_KEY] = secrets.token_urlsafe(32)
    return hashlib.sha256(browser.encode()).hexdigest()


def remember(params: LoginRequestParams) -> PendingLoginRequest:
    """Record (or refresh) the login request for this browser.

    A new one counts against the client address's limit and may drop this browser's oldest
    (identity/bounds.py, E4); reloading one already recorded costs nothing.
    """
    owner = browser_hash(create=True)
    ttl = timedelta(seconds=current_app.config["LOGIN_REQUEST_TTL"])
    db_session = db.session()
    pending = db_session.scalar(
        select(PendingLoginRequest).where(
            PendingLoginRequest.browser_hash == owner,
            PendingLoginRequest.login_request_id == params.login_request_id,
        )
    )
    if pending is None:
        if wait := bounds.admit_login_request():
            db_session.rollback()
            raise TooManyLoginRequests(wait)
        pending = PendingLoginRequest(
            browser_hash=owner,
            login_request_id=params.login_request_id,
            state=params.state,
            expires_at=utcnow() + ttl,
        )
        db_session.add(pending)
        db_session.flush()
        bounds.keep_newest_login_requests(owner)
    elif pending.completed_at is not None:
        raise CompletedLoginRequest()
    elif pending.broker_verdict is not None:
        raise BROKER_VERDICTS[pending.broker_verdict]()
    elif pending.state != params.state:
        # The broker never reuses a login request id; a second state for it is not the
        # broker's, and letting it replace the first would let a crafted link break (or
        # redirect) a sign-in in progress.
        raise LoginRequestError()
    db_session.commit()
    return pending


def load(login_request_id: str) -> PendingLoginRequest:
    """This browser's pending login request with that id, if it can still be completed."""
    owner = browser_hash()
    if owner is None or not LOGIN_REQUEST_ID.fullmatch(login_request_id or ""):
        raise UnknownLoginRequest()
    pending = db.session().scalar(
        select(PendingLoginRequest).where(
            PendingLoginRequest.browser_hash == owner,
            PendingLoginRequest.login_request_id == login_request_id,
        )
    )
    if pending is None:
        raise UnknownLoginRequest()
    if pending.completed_at is not None:
        raise CompletedLoginRequest()
    if pending.broker_verdict is not None:
        raise BROKER_VERDICTS[pending.broker_verdict]()
    if pending.expires_at <= utcnow():
        raise ExpiredLoginRequest()
    return pending


def close(pending: PendingLoginRequest, verdict: str) -> None:
    """Remember that the broker refused this login request for good (`BROKER_VERDICTS`)."""
    pending.broker_verdict = verdict


def mark_completed(pending: PendingLoginRequest, user: User) -> bool:
    """Spend the login request: one conditional UPDATE, so only one completion can win."""
    result = db.session().execute(
        update(PendingLoginRequest)
        .where(PendingLoginRequest.id == pending.id, PendingLoginRequest.completed_at.is_(None))
        .values(completed_at=utcnow(), completed_user_id=user.id)
    )
    return result.rowcount == 1


def rotate_browser_id() -> None:
    """Give this browser a new id (at sign-in, against fixation), keeping its pending requests."""
    old = browser_hash()
    session[BROWSER_KEY] = secrets.token_urlsafe(32)
    new = browser_hash()
    if old is not None:
        db.session().execute(
            update(PendingLoginRequest)
            .where(PendingLoginRequest.browser_hash == old)
            .values(browser_hash=new)
        )
