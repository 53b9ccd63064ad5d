"""The home page and a demo MCP client that runs the whole sign-in in this browser.

The demo plays a public OAuth client (`demo_client`) exactly as an MCP client would: PKCE
S256, `state`, RFC 8707 `resource`, then checks `state` and RFC 9207 `iss` on the way back,
redeems the code at the token endpoint over HTTP, and verifies the access token against the
published JWKS. Its PKCE verifier and state live in this browser's broker session.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Blueprint, Response, current_app, redirect, render_template, request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mock_broker import database
from mock_broker.errors import error_page
from mock_broker.models import Connection, OAuthClient, Resource
from mock_broker.resources import issuer_for
from mock_broker.seed import (
    DEMO_CLIENT_ID,
    DEV_CONNECTION_ID,
    DEV_M2M_CLIENT_ID,
    DEV_M2M_CLIENT_SECRET,
    DEV_RESOURCE_ID,
    demo_redirect_uri,
)

bp = Blueprint("demo", __name__)

_TIMEOUT = (3.05, 10)  # connect, read: seconds


@bp.get("/")
def home() -> Response:
    db = database.session()
    return render_template(
        "home.html",
        m2m_client_id=DEV_M2M_CLIENT_ID,
        m2m_client_secret=DEV_M2M_CLIENT_SECRET,
        connection=db.get(Connection, DEV_CONNECTION_ID),
        resource=db.get(Resource, DEV_RESOURCE_ID),
        demo_client=db.get(OAuthClient, DEMO_CLIENT_ID),
        issuer=issuer_for(DEV_RESOURCE_ID),
    )


@bp.post("/demo/start")
def start() -> Response:
    env_url = current_app.config["ENV_URL"]
    resource = database.session().get(Resource, DEV_RESOURCE_ID)
    if resource is None:
        return error_page("not_found", "Run `flask --app mock_broker init-db` first.", 404)
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(32)
    session["demo"] = {"verifier": verifier, "state": state}
    query = urlencode(
        {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": demo_redirect_uri(env_url),
            "scope": resource.scopes,
            "state": state,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            "resource": resource.mcp_server_url,
        }
    )
    return redirect(f"{env_url}/oauth/authorize?{query}", 303)


def same_state(received: str, expected: str) -> bool:
    """Constant-time, on bytes: `compare_digest` raises TypeError for a str that is not ASCII,
    and `state=%C3%A9` was a 500 (E2)."""
    return secrets.compare_digest(
        received.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


@bp.get("/demo/callback")
def callback() -> Response:
    pending = session.pop("demo", None)
    if pending is None or not same_state(request.args.get("state", ""), pending["state"]):
        return error_page("invalid_state", "This demo sign-in was not started here. Start again.")
    issuer = issuer_for(DEV_RESOURCE_ID)
    if request.args.get("iss") != issuer:
        # RFC 9207: a response from another issuer is a possible mix-up attack.
        return error_page("invalid_issuer", f"The response did not come from {issuer}.")
    if "error" in request.args:
        return render_template("demo_result.html", error=request.args)

    env_url = current_app.config["ENV_URL"]
    resource = database.session().get(Resource, DEV_RESOURCE_ID)
    try:
        token_response = requests.post(
            f"{env_url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": request.args.get("code", ""),
                "redirect_uri": demo_redirect_uri(env_url),
                "client_id": DEMO_CLIENT_ID,
                "code_verifier": pending["verifier"],
                "resource": resource.mcp_server_url,
            },
            timeout=_TIMEOUT,
        )
        token_body = token_response.json()
        if token_response.status_code != 200:
            return render_template("demo_result.html", error=token_body)
        jwks = requests.get(f"{env_url}/keys", timeout=_TIMEOUT).json()
        token = jwt.decode(
            token_body["access_token"], KeySet.import_key_set(jwks), algorithms=["RS256"]
        )
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": resource.mcp_server_url},
            exp={"essential": True},
        ).validate(token.claims)
    except (requests.RequestException, ValueError, KeyError, JoseError) as error:
        return error_page("token_exchange_failed", f"The token exchange failed: {error}", 502)
    return render_template(
        "demo_result.html",
        header=json.dumps(token.header, indent=2),
        claims=json.dumps(token.claims, indent=2, ensure_ascii=False),
        token_type=token_body.get("token_type"),
        expires_in=token_body.get("expires_in"),
    )
