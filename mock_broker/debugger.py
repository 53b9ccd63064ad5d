"""The OAuth debugger (/dev/debugger): build any authorization request, see it, run it.

A QA person picks a resource, scope, `prompt` and `login_hint`; the page shows the request the
seeded debugger client would send, each parameter decoded in a table, before the browser
follows it. On the way back it checks `state` and RFC 9207 `iss` like the demo client, redeems
the code at the token endpoint over HTTP, and shows the token response, the access token's
header and claims (signature checked against the published JWKS) and what introspection says
about it.

Any other registered client can be chosen too: the page then builds that client's request
(its first redirect URI, a fresh PKCE pair whose verifier it shows) and decodes it, but the
answer goes to that client's redirect URI, not back here.

The debugger client belongs to no resource, so one client serves every resource, including
ones registered after the seed: each request names its resource with RFC 8707 `resource`, and
the broker binds it for that request exactly as for a metadata-document client. It is
confidential (a public development secret), because only a client with credentials may
introspect, and then only its own tokens. Registered only when MOCK_BROKER_ENV=development.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from mock_broker import database
from mock_broker.demo import same_state
from mock_broker.display_text import refused_character
from mock_broker.errors import error_page
from mock_broker.models import OAuthClient, Resource
from mock_broker.resources import issuer_for
from mock_broker.seed import DEBUGGER_CLIENT_ID, DEBUGGER_CLIENT_SECRET, debugger_redirect_uri

bp = Blueprint("debugger", __name__, url_prefix="/dev/debugger")

_TIMEOUT = (3.05, 10)  # connect, read: seconds
#: `prompt` values offered; the broker acts on `consent` and passes the rest on unchanged.
PROMPTS = ("", "consent", "login", "none")
#: RFC 6749 §3.3: scope tokens are %x21 / %x23-5B / %x5D-7E, separated by single spaces.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
MAX_SCOPE = 1000
MAX_LOGIN_HINT = 320  # an email address at most
MAX_CLAIMS = 4096  # characters of claim-override JSON: a QA value, not a document


class _Refused(ValueError):
    """A form value the debugger cannot send; `field` is the id of its input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _resources() -> list[Resource]:
    return list(database.session().scalars(select(Resource).order_by(Resource.created_at)))


def _clients() -> list[OAuthClient]:
    """The clients a request can be built for: those with a redirect URI, newest first."""
    rows = database.session().scalars(
        select(OAuthClient).order_by(OAuthClient.created_at.desc()).limit(200)
    )
    return [client for client in rows if client.redirect_uris and client.id != DEBUGGER_CLIENT_ID]


def _form(problem: dict[str, str] | None = None, **shown: Any) -> ResponseReturnValue:
    overridden = database.session().scalars(
        select(OAuthClient).where(OAuthClient.claim_overrides.is_not(None)).order_by(OAuthClient.id)
    )
    page = render_template(
        "debugger.html",
        resources=_resources(),
        clients=_clients(),
        debugger_client_id=DEBUGGER_CLIENT_ID,
        prompts=PROMPTS,
        overrides=[(client.id, _pretty(client.claim_overrides)) for client in overridden],
        max_claims=MAX_CLAIMS,
        problem=problem,
        values=request.form.to_dict() if request.method == "POST" else {},
        **shown,
    )
    return page, 400 if problem else 200


@bp.get("")
def form() -> ResponseReturnValue:
    return _form()


def _read_client() -> OAuthClient | None:
    """The chosen client (None: the debugger's own), or `_Refused`."""
    client_id = request.form.get("client", DEBUGGER_CLIENT_ID) or DEBUGGER_CLIENT_ID
    if client_id == DEBUGGER_CLIENT_ID:
        return None
    client = database.session().get(OAuthClient, client_id) if len(client_id) <= 255 else None
    if client is None or not client.redirect_uris:
        raise _Refused("client", "Choose a registered client with a redirect URI.")
    return client


def _read_form() -> tuple[OAuthClient | None, Resource, str, str, str]:
    """The form's client, resource, scope, prompt and login_hint, or `_Refused` at the first
    bad one."""
    form = request.form
    client = _read_client()
    resource_id = form.get("resource", "")
    resource = database.session().get(Resource, resource_id) if len(resource_id) <= 64 else None
    if resource is None:
        raise _Refused("resource", "Choose a registered resource.")
    if client is not None and client.resource_id not in (None, resource.id):
        raise _Refused(
            "resource", f"That client belongs to the resource {client.resource_id}: choose it."
        )
    scope = " ".join(form.get("scope", "").split())
    if len(scope) > MAX_SCOPE or (scope and not _SCOPE.fullmatch(scope)):
        raise _Refused(
            "scope",
            f"The scope must be at most {MAX_SCOPE} characters of space-separated tokens "
            "without quotes, backslashes or non-ASCII characters (RFC 6749 §3.3).",
        )
    prompt = form.get("prompt", "")
    if prompt not in PROMPTS:
        raise _Refused("prompt", "Choose a prompt from the list.")
    login_hint = form.get("login_hint", "").strip()
    if len(login_hint) > MAX_LOGIN_HINT or refused_character(login_hint):
        raise _Refused(
            "login_hint",
            f"The login hint must be at most {MAX_LOGIN_HINT} characters, with no control "
            "or format characters.",
        )
    return client, resource, scope, prompt, login_hint


@bp.post("")
def build() -> ResponseReturnValue:
    """Build the request and show it; the browser follows it from the page (a plain link)."""
    try:
        client, resource, scope, prompt, login_hint = _read_form()
    except _Refused as refused:
        return _form({"form": "build", "field": refused.field, "message": f"Not built: {refused}"})
    env_url = current_app.config["ENV_URL"]
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(32)
    if client is None:  # ours: the answer comes back here to be decoded
        session["debugger"] = {"verifier": verifier, "state": state, "resource_id": resource.id}
    params = {
        "response_type": "code",
        "client_id": client.id if client else DEBUGGER_CLIENT_ID,
        "redirect_uri": client.redirect_uris[0] if client else debugger_redirect_uri(env_url),
        "scope": scope,
        "state": state,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
        "resource": resource.mcp_server_url,
        "prompt": prompt,
        "login_hint": login_hint,
    }
    params = {name: value for name, value in params.items() if value}
    return _form(
        authorization_url=f"{env_url}/oauth/authorize?{urlencode(params)}",
        params=params,
        chosen=resource,
        chosen_client=client,
        verifier=verifier if client else None,
    )


def _read_claims() -> tuple[OAuthClient, dict[str, Any] | None]:
    """The client and its overrides (None: empty, clearing them), or `_Refused`."""
    client_id = request.form.get("client_id", "").strip()
    client = database.session().get(OAuthClient, client_id) if len(client_id) <= 255 else None
    if client is None:
        raise _Refused("client_id", "No client has this id.")
    text = request.form.get("claims", "").strip()
    if not text:
        return client, None
    if len(text) > MAX_CLAIMS:
        raise _Refused("claims", f"The claims must be at most {MAX_CLAIMS} characters of JSON.")
    try:
        claims = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        raise _Refused(
            "claims", 'The claims must be a JSON object, like {"tier": "gold"}.'
        ) from None
    if not isinstance(claims, dict):
        raise _Refused("claims", 'The claims must be a JSON object, like {"tier": "gold"}.')
    return client, claims


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON (RFC 8259): a token carrying one is unreadable."""
    raise ValueError(f"{name} is not JSON")


@bp.post("/claims")
def set_claims() -> ResponseReturnValue:
    """Set (or, empty, clear) the custom claims merged into a client's access tokens."""
    try:
        client, claims = _read_claims()
    except _Refused as refused:
        return _form({"form": "claims", "field": refused.field, "message": f"Not saved: {refused}"})
    client.claim_overrides = claims
    database.session().commit()
    flash(f"Claim overrides {'saved' if claims else 'cleared'} for {client.id}.")
    return redirect(url_for("debugger.form"), 303)


@bp.get("/callback")
def callback() -> ResponseReturnValue:
    pending = session.pop("debugger", None)
    if pending is None or not same_state(request.args.get("state", ""), pending["state"]):
        return error_page("invalid_state", "This request was not built here. Build it again.")
    issuer = issuer_for(pending["resource_id"])
    if request.args.get("iss") != issuer:
        # RFC 9207: a response from another issuer is a possible mix-up attack.
        return error_page("invalid_issuer", f"The response did not come from {issuer}.")
    if "error" in request.args:
        return render_template("debugger_result.html", error=request.args.to_dict())
    resource = database.session().get(Resource, pending["resource_id"])
    if resource is None:
        return error_page("not_found", "The resource was deleted in the meantime.", 404)
    try:
        return _exchange(request.args.get("code", ""), pending["verifier"], resource)
    except (requests.RequestException, ValueError, KeyError, JoseError) as error:
        return error_page("token_exchange_failed", f"The token exchange failed: {error}", 502)


def _exchange(code: str, verifier: str, resource: Resource) -> ResponseReturnValue:
    """Redeem the code, verify and decode the access token, introspect it: the result page."""
    env_url = current_app.config["ENV_URL"]
    credentials = {"client_id": DEBUGGER_CLIENT_ID, "client_secret": DEBUGGER_CLIENT_SECRET}
    answer = requests.post(
        f"{env_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": debugger_redirect_uri(env_url),
            "code_verifier": verifier,
            "resource": resource.mcp_server_url,
            **credentials,
        },
        timeout=_TIMEOUT,
    )
    body = answer.json()
    if answer.status_code != 200:
        return render_template("debugger_result.html", error=body, status=answer.status_code)
    jwks = requests.get(f"{env_url}/keys", timeout=_TIMEOUT).json()
    token = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    introspection = requests.post(
        f"{env_url}/oauth/introspect",
        data={"token": body["access_token"], **credentials},
        timeout=_TIMEOUT,
    ).json()
    return render_template(
        "debugger_result.html",
        resource=resource,
        token_response=_pretty(body),
        header=_pretty(token.header),
        claims=_pretty(token.claims),
        introspection=_pretty(introspection),
    )


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
