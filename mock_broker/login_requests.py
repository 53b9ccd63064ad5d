"""Login requests: the broker's record of one sign-in on its detour through the customer's login.

The broker gives the customer two values (contract §1): the `lri_…` id, which names the login
request in the API, and a random `state`, which the browser brings back to the callback in the
documented contract. Only hashes are stored of it and of the one-time completion value that
replaces it as the callback's credential when sign-ins are bound to the browser
(`browser_binding`, B12).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import AuthorizationCodeGrant
from flask import Flask, current_app
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from mock_broker import browser_binding, database, faults
from mock_broker.identifiers import new_id, new_secret, secret_hash
from mock_broker.models import BrokerUser, LoginRequest, LoginRequestStatus, OAuthClient
from mock_broker.oauth_server import AUTHORIZE_PARAMETERS


def create(db: Session, grant: AuthorizationCodeGrant) -> str:
    """Record a validated authorization request; returns the customer's login URL for it."""
    client: OAuthClient = grant.request.client
    resource = client.active_resource
    data = grant.request.payload.data
    state = new_secret()
    # QA switch: the next login requests may be made to expire early (faults.EARLY_EXPIRY).
    lifetime = faults.take_lifetime(faults.EARLY_EXPIRY) or current_app.config["LOGIN_REQUEST_TTL"]
    login_request = LoginRequest(
        id=new_id("lri"),
        state_hash=secret_hash(state),
        browser_hash=browser_binding.browser_hash(create=True),
        connection_id=resource.connection_id,
        client_id=client.id,
        resource_id=resource.id,
        redirect_uri=grant.redirect_uri,
        scope=grant.request.scope,
        authorize_params={name: data[name] for name in AUTHORIZE_PARAMETERS if name in data},
        expires_at=database.utcnow() + timedelta(seconds=lifetime),
    )
    db.add(login_request)
    db.commit()
    return add_params_to_uri(
        resource.connection.login_endpoint,
        [("login_request_id", login_request.id), ("state", state)],
    )


class OtherBrowser(Exception):
    """A valid completion value arrived in a browser that did not start the request (B12)."""


def redeem_state(db: Session, connection_id: str, state: str) -> LoginRequest | None:
    """Spend a callback `state` (the documented contract, `state-only` mode).

    Returns the login request, now awaiting consent, or None if the state is unknown, used,
    expired, or the profile has not arrived yet.
    """
    return _redeem(db, connection_id, LoginRequest.state_hash == secret_hash(state))


def redeem_completion(
    db: Session, connection_id: str, completion: str, browser_hash: str | None
) -> LoginRequest | None:
    """Spend a callback's one-time completion value, in the browser that started (B12).

    None if the value is unknown, used or expired. OtherBrowser if it is valid but this
    browser did not call /oauth/authorize for it: the link was forwarded (or the value leaked),
    so the login request is closed for good rather than left for someone else to finish.
    """
    completion_hash = secret_hash(completion)
    bound_to = db.scalar(
        select(LoginRequest.browser_hash).where(
            LoginRequest.completion_hash == completion_hash,
            LoginRequest.connection_id == connection_id,
            LoginRequest.status == LoginRequestStatus.PROFILE_RECEIVED,
            LoginRequest.expires_at > database.utcnow(),
        )
    )
    if bound_to is None:
        return None
    if browser_hash is None or not secrets.compare_digest(bound_to, browser_hash):
        db.execute(
            update(LoginRequest)
            .where(
                LoginRequest.completion_hash == completion_hash,
                LoginRequest.status == LoginRequestStatus.PROFILE_RECEIVED,
            )
            .values(status=LoginRequestStatus.REFUSED, completed_at=database.utcnow())
        )
        db.commit()
        raise OtherBrowser()
    return _redeem(db, connection_id, LoginRequest.completion_hash == completion_hash)


def _redeem(db: Session, connection_id: str, names_it: ColumnElement[bool]) -> LoginRequest | None:
    """Move the login request `names_it` selects from `profile_received` to `awaiting_consent`.

    One conditional update, so the callback works once, only after the profile arrived, and
    only before expiry (B9). The posted profile becomes the broker user, keyed by
    (connection, `sub`).
    """
    now = database.utcnow()
    redeemed = db.execute(
        update(LoginRequest)
        .where(
            names_it,
            LoginRequest.connection_id == connection_id,
            LoginRequest.status == LoginRequestStatus.PROFILE_RECEIVED,
            LoginRequest.expires_at > now,
        )
        .values(status=LoginRequestStatus.AWAITING_CONSENT, completed_at=now)
    )
    if redeemed.rowcount != 1:
        db.rollback()
        return None
    login_request = db.scalars(select(LoginRequest).where(names_it)).one()
    login_request.user_id = _upsert_user(db, connection_id, login_request.profile or {}).id
    db.commit()
    return login_request


def _upsert_user(db: Session, connection_id: str, profile: dict[str, object]) -> BrokerUser:
    sub, email = str(profile["sub"]), str(profile["email"])
    user = db.scalar(
        select(BrokerUser).where(
            BrokerUser.connection_id == connection_id, BrokerUser.external_sub == sub
        )
    )
    if user is None:
        user = BrokerUser(
            id=new_id("usr"), connection_id=connection_id, external_sub=sub, email=email
        )
        db.add(user)
    else:
        user.email, user.updated_at = email, database.utcnow()
    db.flush()
    return user


def decide(db: Session, login_request_id: str, approved: bool) -> LoginRequest | None:
    """Record the user's consent decision once; None if the request is not awaiting one."""
    decided = db.execute(
        update(LoginRequest)
        .where(
            LoginRequest.id == login_request_id,
            LoginRequest.status == LoginRequestStatus.AWAITING_CONSENT,
            LoginRequest.expires_at > database.utcnow(),
        )
        .values(status=LoginRequestStatus.CONSENTED if approved else LoginRequestStatus.DENIED)
    )
    if decided.rowcount != 1:
        db.rollback()
        return None
    db.commit()
    return db.get(LoginRequest, login_request_id, populate_existing=True)


def expire(app: Flask, login_request_id: str) -> bool:
    """QA switch: make a login request expire now (to test the 410 and invalid_state paths)."""
    with app.app_context():
        db = database.session()
        result = db.execute(
            update(LoginRequest)
            .where(LoginRequest.id == login_request_id)
            .values(expires_at=database.utcnow())
        )
        db.commit()
        return result.rowcount == 1
