"""Complete the login: the one place every login method ends.

    complete_login(user, pending, method)
        → sign the browser in here (so a retry needs no second password)
        → POST the profile to the broker               (contract §3)
        → spend the pending login request, once        (C2)
        → 303 to our hand-off page, which sends the browser on to the broker's callback
          (contract §4; why a page: continue_in_browser)

The callback URL is built from configuration and the state stored when the broker sent the
browser here, never from request input (C3) — unless the profile post's answer names a
`redirect_uri`: a broker that binds sign-ins to the browser (B12) answers with the callback URL
carrying a one-time value that must reach it through this browser only. That URL is used only
if it is the configured broker's callback for our connection. If the profile post fails, the
browser is not redirected: the user sees what happened and a button that tries again, and the
login request stays pending (C4).
"""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlencode, urlsplit

from flask import current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from identity import audit, broker_client, db, login_requests, session_queue, sessions, signals
from identity.models import PendingLoginRequest, User
from identity.profile import build_profile


def complete_login(user: User, pending: PendingLoginRequest, method: str) -> ResponseReturnValue:
    """Call this when `method` has proven that this browser is `user`."""
    if not (current_user.is_authenticated and current_user.id == user.id):
        sessions.sign_in(user, method)
    audit.record(
        audit.SIGN_IN_SUCCEEDED, user=user, login_request_id=pending.login_request_id, method=method
    )
    signals.user_signed_in.send(
        current_app._get_current_object(), user=user, pending=pending, method=method
    )
    db.session().commit()
    return hand_off(user, pending)


def hand_off(user: User, pending: PendingLoginRequest) -> ResponseReturnValue:
    """Post the profile and redirect to the callback; on failure, an honest page and a retry."""
    config = current_app.config
    try:
        answer = broker_client.client().post_user(
            config["BROKER_CONNECTION_ID"], pending.login_request_id, build_profile(user)
        )
        url = callback_from_answer(answer) or callback_url(pending.state)
    except broker_client.BrokerError as error:
        audit.record(
            audit.PROFILE_POST_FAILED,
            user=user,
            login_request_id=pending.login_request_id,
            status=error.status,
            error=error.error,
            reason=str(error),
        )
        db.session().commit()
        current_app.logger.warning(
            "profile post failed for login request %s: %s", pending.login_request_id, error
        )
        return _failure_page(error, pending)

    audit.record(audit.PROFILE_POSTED, user=user, login_request_id=pending.login_request_id)
    if not login_requests.mark_completed(pending, user):
        db.session().rollback()
        raise login_requests.CompletedLoginRequest()
    db.session().commit()
    return continue_in_browser(url)


#: session key: {key: callback URL} of hand-offs on their way to the broker (a few tabs' worth)
HANDOFFS = "handoffs"
MAX_HANDOFFS = 5


def continue_in_browser(url: str) -> ResponseReturnValue:
    """Send this browser on to the broker's callback `url` through a page of our own.

    A 303 straight to the callback is not enough in a real browser. Chromium applies the CSP
    `form-action` of the page whose form started a navigation to every redirect in it, and when
    the broker remembers consent its callback redirects on to the MCP client's own redirect URI
    (a loopback port, a native app's scheme), which no `form-action` of ours can list: the
    returning user would stay on our login page. So the form's POST is answered with a 303 to
    GET /login/handoff/<key> (the browser never re-sends the form), whose page ends that
    navigation and starts a new one with a meta refresh, which `form-action` does not govern.
    The URL waits in this browser's session, under a random key, so two tabs cannot swap them
    and the broker's one-time completion value (B12) never appears in our own URLs.
    """
    key = secrets.token_urlsafe(16)
    session_queue.push(HANDOFFS, key, url, MAX_HANDOFFS)
    return redirect(url_for("core.handoff", key=key), code=303)


def handoff_page(key: str) -> ResponseReturnValue:
    """GET /login/handoff/<key>: the page that sends the browser on, once."""
    url = session_queue.pop(HANDOFFS, key)
    if url is None:
        return render_template("handoff_gone.html"), 404
    return render_template("handoff.html", url=url), 200, {"Cache-Control": "no-store"}


def callback_url(state: str) -> str:
    """The documented callback (contract §4): configuration plus the stored state."""
    return f"{_callback_base()}?{urlencode({'state': state})}"


def callback_from_answer(answer: dict) -> str | None:
    """The profile post answer's `redirect_uri`, if it is the configured callback (B12, C3).

    The broker's answer arrived over the authenticated M2M channel, but it still only gets to
    choose the query: scheme, host, port and path must be those of the callback built from
    configuration, so even a broker bug cannot make this an open redirect. None when the
    answer names no URL (the documented contract); BrokerRejected when it names another one.
    """
    url = answer.get("redirect_uri")
    if url is None:
        return None
    expected = urlsplit(_callback_base())
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= _MAX_URL_LENGTH else None
    if (
        parts is None
        or (parts.scheme, parts.netloc, parts.path)
        != (expected.scheme, expected.netloc, expected.path)
        or parts.fragment
        or any(ord(character) <= 0x20 or character in "\\\x7f" for character in url)
    ):
        raise broker_client.BrokerRejected(
            "the profile post answered with a redirect_uri that is not the broker's callback"
        )
    return url


def _callback_base() -> str:
    config = current_app.config
    connection = quote(config["BROKER_CONNECTION_ID"], safe="")
    return (
        f"{config['BROKER_ENV_URL'].rstrip('/')}/sso/v1/connections/{connection}/partner:callback"
    )


_MAX_URL_LENGTH = 4096


# Broker answers that mean the login request itself is gone: retrying cannot help, so the
# verdict is remembered and reopening the request says it rather than posting again.
_LOGIN_REQUEST_GONE = {404: "unknown", 409: "completed", 410: "expired"}


def _failure_page(error: broker_client.BrokerError, pending: PendingLoginRequest):
    verdict = _LOGIN_REQUEST_GONE.get(error.status or 0)
    if isinstance(error, broker_client.BrokerRejected) and verdict is not None:
        login_requests.close(pending, verdict)
        db.session().commit()
        raise login_requests.BROKER_VERDICTS[verdict]()
    return (
        render_template("handoff_failed.html", pending=pending, retryable=error.retryable),
        502,
    )
