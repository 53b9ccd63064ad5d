"""Upstream OIDC login: "Sign in with Google / Entra / Okta / …", the third plugin.

    POST /login/oidc/<provider>/start      → 303 to the provider (code + PKCE S256 + nonce + state)
    GET  /login/oidc/<provider>/callback   → verify → link or create the local user → complete_login

authlib's OIDC client does the protocol (C18): discovery, PKCE, a random `state` and `nonce`
kept in this browser's session, the code exchange with the provider's client authentication,
and the id_token checks — signature against the provider's JWKS, `iss`, `exp`, `iat`, `nonce`,
`azp`, `at_hash`, with a configurable clock-skew leeway. On top of it (C23):
- the discovery document must name the configured issuer, and the id_token's `aud` must
  contain our client_id (authlib alone accepts another audience when `azp` names us);
- one redirect URI per provider, and the RFC 9207 `iss` response parameter checked when the
  provider sends it, and required when its metadata says it sends it: a response meant for
  one provider cannot be replayed at another (mix-up);
- the state also names the pending broker login request it was started for, so the upstream
  round trip resumes exactly that sign-in;
- accounts are keyed by (`iss`, `sub`), and linking follows identities.decide (C19);
- every upstream failure is a page that says what happened with a way back to the login
  page; the pending login request survives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    abort,
    after_this_request,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from joserfc.errors import JoseError

from identity import audit, db, login_requests, mail, session_queue, sessions, signals, web
from identity.completion import complete_login
from identity.models import PendingLoginRequest, User, utcnow
from login_methods.base import LoginMethod
from login_methods.oidc import housekeeping, identities, providers
from login_methods.oidc.providers import Provider

HERE = Path(__file__).parent
#: session key: [state, login_request_id] pairs of upstream round trips in flight, oldest first
FLOWS = "oidc_flows"
#: Round trips kept per browser, newest first; each costs ~250 bytes of the session cookie,
#: which browsers drop past 4 KB (E4). Older abandoned ones are forgotten.
MAX_FLOWS = 5
#: authlib keeps each round trip's nonce and PKCE verifier in the session under this prefix,
#: followed by the provider's name and the state.
AUTHLIB_STATE_PREFIX = "_state_"

SIGN_IN_FAILED = "oidc.sign_in_failed"
IDENTITY_LINKED = "oidc.identity_linked"
IDENTITY_DETACHED = "oidc.identity_detached"
USER_CREATED = "oidc.user_created"
LINK_REQUIRED = "oidc.link_required"

# OAuth error codes from the provider (or authlib) that get a page of their own.
_OAUTH_ERRORS = {"access_denied": "cancelled", "mismatching_state": "state"}
ISS_PARAMETER_SUPPORTED = "authorization_response_iss_parameter_supported"


class UpstreamError(Exception):
    """An upstream failure shown to the user: `kind` picks the message, `status` the code."""

    def __init__(self, kind: str, status: int = 400, detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.status, self.detail = kind, status, detail


def _lacks_claims(provider: Provider, claims: dict[str, Any]) -> bool:
    """Whether the id_token lacks what the requested scopes promise (email, names, groups)."""
    scopes = provider.scopes.split()
    wanted = {"email", "email_verified"} if "email" in scopes else set()
    if "profile" in scopes:
        names = ("name", "given_name", "family_name")
        wanted |= {provider.claims[field] for field in names if field in provider.sync_fields}
    if "groups" in scopes and "groups" in provider.sync_fields:
        wanted.add(provider.claims["groups"])
    return not wanted <= claims.keys()


def _forget_abandoned_flows(flows: list[str]) -> None:
    """Drop authlib's saved data for round trips no longer in `flows`: authlib forgets them
    only after an hour, so abandoned "Sign in with …" starts would grow the cookie past what
    browsers keep, and sign-in would break (E4)."""
    for key in [key for key in session if key.startswith(AUTHLIB_STATE_PREFIX)]:
        if key.rpartition("_")[2] not in flows:
            session.pop(key)


def _metadata(client, provider: Provider) -> dict[str, Any]:
    """The provider's discovery document, refused unless it names the configured issuer
    (OIDC Discovery §4.3): otherwise identities would be stored under, and tokens checked
    against, an issuer nobody configured (C23)."""
    metadata = client.load_server_metadata()
    if metadata.get("issuer") != provider.issuer:
        raise UpstreamError(
            "untrusted_metadata", 502, detail=f"issuer={str(metadata.get('issuer'))[:100]}"
        )
    return metadata


def _detached_notice(to: str, labels: list[str]) -> mail.Message:
    context = {
        "product_name": current_app.config["PRODUCT_NAME"],
        "providers": " and ".join(labels),
        "login_url": current_app.config["PUBLIC_URL"].rstrip("/"),
    }
    return mail.Message(
        to=to,
        subject=f"A sign-in was removed from your {context['product_name']} account",
        text=render_template("email/oidc_detached.txt", **context),
        html=render_template("email/oidc_detached.html", **context),
        purpose="oidc_detached",
    )


class OidcMethod(LoginMethod):
    name = "oidc"
    label = "Single sign-on"
    panel_template = "oidc/panel.html"
    migrations = HERE / "migrations"

    @classmethod
    def purge_expired(cls, session, cutoff):  # E4: flask housekeeping
        return housekeeping.purge_expired(session, cutoff)

    @classmethod
    def forget_login_requests(cls, session, ids):  # E4: oidc_pending_links refer to them
        housekeeping.forget_login_requests(session, ids)

    def __init__(self, app) -> None:
        super().__init__(app)
        self.providers = {provider.name: provider for provider in providers.load(self.setting)}
        self.oauth = OAuth(app)
        for provider in self.providers.values():
            web.allow_form_action(app, provider.discovery_url)
            self.oauth.register(
                provider.name,
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                server_metadata_url=provider.discovery_url,
                client_kwargs={
                    "scope": provider.scopes,
                    "code_challenge_method": "S256",
                    "token_endpoint_auth_method": provider.auth_method,
                    "default_timeout": provider.timeout,
                    "verify": provider.ca_file or True,
                },
            )
        signals.user_signed_in.connect(self._link_after_proof, app)
        signals.email_proven.connect(self._detach_unproven, app)

    def blueprint(self) -> Blueprint:
        bp = Blueprint("oidc", __name__, template_folder=str(HERE / "templates"))
        bp.add_url_rule("/<provider>/start", "start", self.start, methods=["POST"])
        bp.add_url_rule("/<provider>/callback", "callback", self.callback, methods=["GET"])
        return bp

    def panel_context(self, pending: PendingLoginRequest) -> dict[str, Any]:
        waiting = identities.pending_link(pending)
        return {
            "providers": list(self.providers.values()),
            "link_waiting": self.providers.get(waiting.provider) if waiting else None,
        }

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            abort(404)
        return provider

    # -- out to the provider ----------------------------------------------------------------

    def start(self, provider: str):
        chosen = self._provider(provider)
        pending = login_requests.load(request.form.get("login_request_id", ""))
        client = self.oauth.create_client(chosen.name)
        # One redirect URI per provider, from configuration (never the Host header).
        redirect_uri = current_app.config["PUBLIC_URL"].rstrip("/") + url_for(
            "oidc.callback", provider=chosen.name
        )
        try:
            metadata = _metadata(client, chosen)
            authorization = client.create_authorization_url(redirect_uri)
        except (requests.RequestException, ValueError) as error:
            return self._error_page(
                chosen, pending, UpstreamError("unreachable", 502, type(error).__name__)
            )
        except UpstreamError as error:
            return self._error_page(chosen, pending, error)
        # Usually the issuer's origin (allowed at start); a provider may authorize elsewhere.
        web.allow_form_action(current_app, metadata["authorization_endpoint"])
        # What the callback needs, and no more (not the URL): the session is a cookie.
        kept = {key: authorization[key] for key in ("state", "nonce", "code_verifier")}
        client.save_authorize_data(redirect_uri=redirect_uri, **kept)
        in_flight = session_queue.push(
            FLOWS, authorization["state"], pending.login_request_id, MAX_FLOWS
        )
        _forget_abandoned_flows(in_flight)
        return redirect(authorization["url"], code=303)

    # -- back from the provider -------------------------------------------------------------

    def callback(self, provider: str):
        chosen = self._provider(provider)
        login_request_id = session_queue.pop(FLOWS, request.args.get("state", ""))
        if login_request_id is None:
            # No round trip of this browser has this state: replayed, forged, or a session lost.
            return self._error_page(chosen, None, UpstreamError("state"))
        pending = login_requests.load(login_request_id)
        try:
            claims = self._verified_claims(chosen)
        except UpstreamError as error:
            return self._error_page(chosen, pending, error)
        return self._sign_in(chosen, pending, claims)

    def _verified_claims(self, provider: Provider) -> dict[str, Any]:
        client = self.oauth.create_client(provider.name)
        try:
            metadata = _metadata(client, provider)
            returned_iss = request.args.get("iss")
            if returned_iss is None and metadata.get(ISS_PARAMETER_SUPPORTED) is True:
                # RFC 9207 §2.4: a provider that says it sends `iss` must send it.
                raise UpstreamError("mix_up", detail="no iss parameter")
            if returned_iss is not None and returned_iss != provider.issuer:
                raise UpstreamError("mix_up", detail=f"iss={returned_iss[:100]}")
            token = client.authorize_access_token(
                claims_options={
                    "iss": {"values": [provider.issuer]},
                    **provider.claims_options,
                    # OIDC Core §3.1.3.7 (3): aud must contain our client_id, whatever azp says.
                    "aud": {"essential": True, "values": [provider.client_id]},
                },
                leeway=provider.leeway,
            )
            claims = dict(token.get("userinfo") or {})
            if not claims:
                raise UpstreamError("bad_token", detail="no id_token")
            if _lacks_claims(provider, claims):
                # Many providers keep profile claims out of the id_token (OIDC Core 5.4):
                # ask the userinfo endpoint, and accept it only for the same subject.
                userinfo = client.userinfo(token=token)
                if userinfo.get("sub") != claims["sub"]:
                    raise UpstreamError("bad_token", detail="userinfo sub differs")
                claims = {**userinfo, **claims}
        except OAuthError as error:
            kind = _OAUTH_ERRORS.get(error.error or "", "provider_error")
            raise UpstreamError(kind, detail=f"{error.error}") from None
        except requests.RequestException as error:
            raise UpstreamError("unreachable", 502, type(error).__name__) from None
        except JoseError as error:
            raise UpstreamError("bad_token", detail=f"{type(error).__name__}: {error}") from None
        return claims

    def _sign_in(self, provider: Provider, pending: PendingLoginRequest, claims: dict[str, Any]):
        decision = identities.decide(provider, claims)
        user = decision.user
        if decision.kind == "sign_in":
            identity = identities.find(claims["iss"], claims["sub"])
        elif decision.kind == "link_and_sign_in":
            identity = identities.link(user, provider, claims)
            audit.record(IDENTITY_LINKED, user=user, provider=provider.name, how="verified_email")
        elif decision.kind == "create":
            user, identity = identities.create_user(provider, claims, decision.email)
            audit.record(
                USER_CREATED, user=user, provider=provider.name, email_proven=user.email_verified
            )
        elif decision.kind == "prove_first":
            if not (user and current_user.is_authenticated and current_user.id == user.id):
                return self._ask_for_proof(provider, pending, user, claims)
            # Already signed in here as that account: that is the proof.
            identity = identities.link(user, provider, claims)
            audit.record(IDENTITY_LINKED, user=user, provider=provider.name, how="signed_in")
        else:
            return self._error_page(provider, pending, UpstreamError(decision.reason or "refused"))
        identities.apply_claims(user, provider, claims)
        email = identities.upstream_email(claims)
        identity.email = email if isinstance(email, str) else None
        identity.last_sign_in_at = utcnow()
        return complete_login(user, pending, method=self.name)

    def _ask_for_proof(self, provider, pending, user: User | None, claims) -> tuple[str, int]:
        """ "Sign in to connect": the same page, status and writes whether or not an account
        has the upstream address when just-in-time sign-up is off (C8)."""
        identities.remember_pending_link(pending, user, provider, claims)
        audit.record(
            LINK_REQUIRED,
            user=user,
            provider=provider.name,
            login_request_id=pending.login_request_id,
            account_found=user is not None,
        )
        db.session().commit()
        return render_template("oidc/link_required.html", provider=provider, pending=pending), 200

    def _link_after_proof(self, app, user: User, pending: PendingLoginRequest, method: str) -> None:
        """Receiver of `user_signed_in`: the user proved the local account with another method."""
        if method == self.name:
            return
        identity = identities.complete_pending_link(pending, user)
        if identity is not None:
            audit.record(IDENTITY_LINKED, user=user, provider=identity.provider, how=method)

    def _detach_unproven(self, app, user: User, method: str) -> None:
        """Receiver of `email_proven` (C22): an identity that created this account from the
        address without proving it is detached, its sessions end, and the owner is told."""
        detached = identities.detach_unproven(user)
        if not detached:
            return
        sessions.end_sessions(user, method=self.name)
        providers_named = []
        for identity in detached:
            audit.record(IDENTITY_DETACHED, user=user, provider=identity.provider, how=method)
            provider = self.providers.get(identity.provider)
            providers_named.append(provider.label if provider else identity.provider)
        message = _detached_notice(user.email, providers_named)

        @after_this_request
        def _notify(response):  # once the transaction that detached them has committed
            mail.send_later(message)
            return response

    def _error_page(
        self, provider: Provider, pending: PendingLoginRequest | None, error: UpstreamError
    ):
        audit.record(
            SIGN_IN_FAILED,
            login_request_id=pending.login_request_id if pending else None,
            provider=provider.name,
            reason=error.kind,
            detail=error.detail[:200],
        )
        db.session().commit()
        current_app.logger.warning(
            "upstream sign-in with %s failed: %s %s", provider.name, error.kind, error.detail[:200]
        )
        return render_template(
            "oidc/error.html", provider=provider, pending=pending, kind=error.kind
        ), error.status
