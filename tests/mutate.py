"""Mutation check of the security core: does breaking a property turn a test red?

    .venv/bin/python -m tests.mutate            # every mutant   (make mutate)
    .venv/bin/python -m tests.mutate B12 C6     # the mutants of those property ids

A property is proven only if breaking it makes a test fail. Each mutant below is one small,
realistic breaking change — the kind a careless maintainer or a hurried refactor makes —
written from the threat (docs/security.md), with the tests expected to catch it. The check
copies the tracked files to a throwaway directory once; for each mutant it applies the change
(its text must occur exactly once, so a mutant that no longer applies is reported, not
skipped), runs the named tests there on SQLite, and puts the file back. A mutant *survives*
when those tests still pass; the check exits 1 if any survived or did not apply.

It is not part of `make test` (it runs the named tests once per mutant: a few minutes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Installed environments, linked into the copy rather than copied.
LINKED = (
    ".venv",
    "tests/oidc_provider/node_modules",
    "tests/browser/axe/node_modules",
    "tests/mcp_ts_client/node_modules",
)


@dataclass(frozen=True)
class Mutant:
    property_id: str
    why: str  # the breaking change, in words
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant(
        "C1",
        "the state accepts any characters (a header or markup injection reaches the page)",
        "identity/login_requests.py",
        'STATE = re.compile(r"[A-Za-z0-9._~+/=-]{1,512}")',
        'STATE = re.compile(r".{1,512}")',
        ("tests/test_login_request.py",),
    ),
    Mutant(
        "C2",
        "spending the pending login request is no longer conditional (two completions win)",
        "identity/login_requests.py",
        ".where(PendingLoginRequest.id == pending.id, PendingLoginRequest.completed_at.is_(None))",
        ".where(PendingLoginRequest.id == pending.id)",
        ("tests/test_login_request.py",),
    ),
    Mutant(
        "C2",
        "a pending login request is found by id alone, whatever browser asks",
        "identity/login_requests.py",
        """    pending = db.session().scalar(
        select(PendingLoginRequest).where(
            PendingLoginRequest.browser_hash == owner,
            PendingLoginRequest.login_request_id == login_request_id,""",
        """    pending = db.session().scalar(
        select(PendingLoginRequest).where(
            PendingLoginRequest.login_request_id == login_request_id,""",
        ("tests/test_login_request.py",),
    ),
    Mutant(
        "C3",
        "the callback takes the state from the request instead of the stored record",
        "identity/completion.py",
        "or callback_url(pending.state)",
        'or callback_url(__import__("flask").request.values.get("state") or pending.state)',
        ("tests/test_flow.py",),
    ),
    Mutant(
        "C3",
        "sign-out honours a next= parameter",
        "identity/views.py",
        '    login_request_id = request.form.get("login_request_id")\n    if login_request_id:',
        '    if request.values.get("next"):\n'
        '        return redirect(request.values["next"], code=303)\n'
        '    login_request_id = request.form.get("login_request_id")\n    if login_request_id:',
        ("tests/test_flow.py",),
    ),
    Mutant(
        "C3",
        "any redirect_uri the broker answers with is followed",
        "identity/completion.py",
        "        or (parts.scheme, parts.netloc, parts.path)\n"
        "        != (expected.scheme, expected.netloc, expected.path)\n",
        "",
        ("tests/test_forwarded_link.py",),
    ),
    Mutant(
        "C4",
        "a failed profile post still redirects the browser to the callback",
        "identity/completion.py",
        "        return _failure_page(error, pending)",
        "        return redirect(callback_url(pending.state), code=303)",
        ("tests/test_handoff_failures.py",),
    ),
    Mutant(
        "C6",
        "the browser id is not renewed at sign-in (fixation of the login-request binding)",
        "identity/sessions.py",
        "    login_requests.rotate_browser_id()\n",
        "",
        ("tests/test_password_login.py",),
    ),
    Mutant(
        "C6",
        "the pre-login session (and its CSRF secret) survives the sign-in",
        "identity/sessions.py",
        "    _clear_session()  # drops pre-login values and the CSRF secret (rotated)\n",
        "",
        ("tests/test_password_login.py",),
    ),
    Mutant(
        "C7",
        "pages may be framed by any site (clickjacking)",
        "identity/web.py",
        "frame-ancestors 'none'",
        "frame-ancestors *",
        ("tests/test_login_request.py",),
    ),
    Mutant(
        "C9",
        "the upgraded hash is computed but not stored",
        "login_methods/password.py",
        "            usable.password_hash = upgraded_hash",
        "            pass",
        ("tests/test_password_login.py",),
    ),
    Mutant(
        "C10",
        "a device cookie lifts the block of any account",
        "identity/throttle.py",
        "        if account == _account_digest(normalized_identifier) and device_id:",
        "        if device_id:",
        ("tests/test_password_login.py",),
    ),
    Mutant(
        "C10",
        "a successful sign-in does not forgive the account's failures (the clear is not kept)",
        "identity/throttle.py",
        "        # commit the forgiveness would be rolled back at the end of the request.\n"
        "        db.session().commit()\n",
        "",
        ("tests/test_password_login.py",),
    ),
    Mutant(
        "C11",
        "the password method returns early for unknown or disabled accounts",
        "login_methods/password.py",
        "        usable = user if user is not None and user.is_active else None\n",
        "        usable = user if user is not None and user.is_active else None\n"
        "        if usable is None:\n"
        '            attempt.failed(user, "unknown_user")\n'
        "            return self._page(pending, form, status=422, error=GENERIC_FAILURE)\n",
        ("tests/test_password_login.py",),
    ),
    Mutant(
        "C12",
        "a short password is accepted",
        "identity/passwords.py",
        "    if length < min_length:",
        "    if length < 8:",
        ("tests/test_passwords.py", "tests/test_cli.py"),
    ),
    Mutant(
        "C13",
        "magic links may live as long as configured",
        "login_methods/magic_link/tokens.py",
        "MAX_TTL = 15 * 60",
        "MAX_TTL = 24 * 3600",
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C13",
        "spending a magic-link token is not conditional on it being unused",
        "login_methods/magic_link/tokens.py",
        """            MagicLinkToken.id == row.id,
            MagicLinkToken.used_at.is_(None),
""",
        """            MagicLinkToken.id == row.id,
""",
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C15",
        "the other-device code is accepted in any browser that has the login request open",
        "login_methods/magic_link/tokens.py",
        """        select(MagicLinkToken).where(
            MagicLinkToken.verifier_hash == digest(verifier),
            MagicLinkToken.login_request_id == login_request_id,""",
        """        select(MagicLinkToken).where(
            MagicLinkToken.login_request_id == login_request_id,""",
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C15",
        "a blocked browser may still try codes",
        "login_methods/magic_link/method.py",
        "        if not wait and verifier:",
        "        if verifier:",
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C17",
        "magic links are built from the request's Host header",
        "login_methods/magic_link/method.py",
        'link = config["PUBLIC_URL"].rstrip("/") + url_for(',
        'link = __import__("flask").request.host_url.rstrip("/") + url_for(',
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C5",
        "CSRF checking is switched off in the derived settings (the forms still carry tokens)",
        "identity/config.py",
        '        "WTF_CSRF_TIME_LIMIT": config["SESSION_LIFETIME"],\n',
        '        "WTF_CSRF_TIME_LIMIT": config["SESSION_LIFETIME"],\n'
        '        "WTF_CSRF_ENABLED": False,\n',
        ("tests/test_login_request.py", "tests/test_password_login.py"),
    ),
    Mutant(
        "C5",
        "sign-out accepts GET (any page can sign the user out)",
        "identity/views.py",
        '@bp.post("/logout")',
        '@bp.route("/logout", methods=["GET", "POST"])',
        ("tests/test_password_login.py",),
    ),
    Mutant(
        "C5",
        '"Continue as" accepts GET (a link or an <img> hands the signed-in user off)',
        "identity/views.py",
        """@bp.post("/login/continue")
def continue_as():
    \"\"\" "Continue as <name>", and the retry after a failed hand-off: no second password.\"\"\"
    pending = login_requests.load(request.form.get("login_request_id", ""))""",
        """@bp.route("/login/continue", methods=["GET", "POST"])
def continue_as():
    \"\"\" "Continue as <name>", and the retry after a failed hand-off: no second password.\"\"\"
    pending = login_requests.load(request.values.get("login_request_id", ""))""",
        ("tests/test_login_request.py", "tests/test_password_login.py"),
    ),
    Mutant(
        "C14",
        "opening the magic link (GET) signs in at once",
        "login_methods/magic_link/method.py",
        '        return render_template("magic_link/confirm.html", token=token,'
        " email=row.user.email)\n\n"
        "    def confirm(self):\n"
        '        token = request.form.get("token", "")',
        "        return self.confirm()\n\n"
        "    def confirm(self):\n"
        '        token = request.values.get("token", "")',
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C14",
        "the confirm page's POST needs no CSRF token",
        "login_methods/magic_link/method.py",
        '        bp.add_url_rule("/confirm", "confirm", self.confirm, methods=["POST"])',
        '        bp.add_url_rule("/confirm", "confirm",'
        ' __import__("app").csrf.exempt(self.confirm), methods=["POST"])',
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C16",
        "magic-link requests are not limited per address typed",
        "login_methods/magic_link/method.py",
        '            throttle.Key(f"magic_link.email:{address}", self.email_limit,'
        " self.limit_delay),\n",
        "",
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C16",
        "magic-link requests are not limited per client address",
        "login_methods/magic_link/method.py",
        """            throttle.Key(
                f"magic_link.address:{request.remote_addr}", self.address_limit, self.limit_delay
            ),
""",
        "",
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C16",
        "only requests for existing accounts count (the 429 tells that an account exists)",
        "login_methods/magic_link/method.py",
        """        throttle.register_failure(keys)  # every request counts towards the limit

        verifier = request.cookies.get(VERIFIER_COOKIE) or tokens.new_verifier()
        user = users.find_by_email(address)
        if user is not None and user.is_active:
""",
        """        verifier = request.cookies.get(VERIFIER_COOKIE) or tokens.new_verifier()
        user = users.find_by_email(address)
        if user is not None and user.is_active:
            throttle.register_failure(keys)
""",
        ("tests/test_magic_link.py",),
    ),
    Mutant(
        "C20",
        "the M2M token is not refreshed ahead of its expiry",
        "identity/broker_client.py",
        "TOKEN_LEEWAY = 60",
        "TOKEN_LEEWAY = 0",
        ("tests/test_broker_client.py",),
    ),
    Mutant(
        "C20",
        "a 401 does not fetch a new token (a revoked token fails every sign-in until restart)",
        "identity/broker_client.py",
        "            self._replace_token(token)\n",
        "",
        ("tests/test_broker_client.py", "tests/test_handoff_failures.py"),
    ),
    Mutant(
        "C20",
        "the client secret is put in the exception text when the broker refuses the credentials",
        "identity/broker_client.py",
        'f"the broker refused our API credentials ({error.error})"',
        'f"the broker refused our API credentials {self.session.client_id}:'
        '{self.session.client_secret} ({error.error})"',
        ("tests/test_broker_client.py",),
    ),
    Mutant(
        "B1",
        "PKCE is optional (authlib's own rule asks it of public clients only)",
        "identity/pkce.py",
        """        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with method S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
""",
        "",
        ("tests/broker/test_authorize.py", "tests/broker/test_code_exchange.py"),
    ),
    Mutant(
        "B2",
        "the redirect URI is compared by prefix (a registered URI plus anything is accepted)",
        "mock_broker/models.py",
        "    if requested == registered:\n        return True\n",
        "    if requested.startswith(registered):\n        return True\n",
        ("tests/broker/test_authorize.py", "tests/broker/test_cimd.py"),
    ),
    Mutant(
        "B2",
        "any redirect URI's port may vary, not only a loopback one's",
        "mock_broker/models.py",
        '    if want is None or want[0] != "http" or not is_loopback_host(want[1] or ""):',
        "    if want is None:",
        ("tests/broker/test_authorize.py", "tests/broker/test_cimd.py"),
    ),
    Mutant(
        "B2",
        "a loopback redirect is matched on scheme and host only (its path may differ)",
        "mock_broker/models.py",
        "        parts.password,\n        parts.path,\n",
        "        parts.password,\n",
        ("tests/broker/test_authorize.py", "tests/broker/test_cimd.py"),
    ),
    Mutant(
        "B2",
        'redirect URIs are compared case-insensitively ("schemes are case-insensitive")',
        "mock_broker/models.py",
        "    if requested == registered:\n        return True\n",
        "    if requested.lower() == registered.lower():\n        return True\n",
        ("tests/broker/test_native_redirects.py",),
    ),
    Mutant(
        "B2",
        "a private-use redirect is matched on its scheme only",
        "mock_broker/models.py",
        "    if requested == registered:\n        return True\n",
        "    if requested == registered or (\n"
        '        ":" in requested and requested.split(":")[0] == registered.split(":")[0]\n'
        '        and requested.split(":")[0] not in ("http", "https")\n'
        "    ):\n        return True\n",
        ("tests/broker/test_native_redirects.py",),
    ),
    Mutant(
        "B2",
        "any private-use scheme is accepted, a period or not (intent:, ms-settings:, myapp:)",
        "mock_broker/redirect_uris.py",
        '    if "." not in scheme and scheme not in schemes_without_period():',
        "    if False:",
        ("tests/broker/test_native_redirects.py",),
    ),
    Mutant(
        "B13",
        "a self-registered private-use redirect counts as vetted for error redirects",
        "mock_broker/oauth_server.py",
        '    return parts.scheme == "http" and is_loopback_host(parts.hostname or "")',
        '    return parts.scheme not in ("http", "https") or (\n'
        '        parts.scheme == "http" and is_loopback_host(parts.hostname or "")\n    )',
        ("tests/broker/test_native_redirects.py",),
    ),
    Mutant(
        "B3",
        "a code is not bound to the client it was issued to",
        "mock_broker/oauth_server.py",
        "        if row is None or row.client_id != client.id:",
        "        if row is None:",
        ("tests/broker/test_code_exchange.py",),
    ),
    Mutant(
        "B3",
        "a code never expires",
        "mock_broker/oauth_server.py",
        "        return row if now < row.expires_at else None",
        "        return row",
        ("tests/broker/test_code_exchange.py",),
    ),
    Mutant(
        "B3",
        "a replayed code is refused but revokes nothing it issued",
        "mock_broker/oauth_server.py",
        """            db.execute(
                update(AuthorizationCode)
                .where(AuthorizationCode.id == row.id)
                .values(replayed_at=now)
            )
            tokens.revoke_tokens_from_code(db, row.id)
""",
        "",
        ("tests/broker/test_code_exchange.py", "tests/broker/test_refresh_tokens.py"),
    ),
    Mutant(
        "B4",
        "a refresh does not spend the presented token (no rotation)",
        "mock_broker/oauth_server.py",
        """        if not refresh_tokens.spend(db, refresh_token):
            raise InvalidGrantError("The refresh token was already used.")
""",
        "",
        ("tests/broker/test_refresh_tokens.py",),
    ),
    Mutant(
        "B4",
        "reuse of a rotated token after the grace window revokes nothing",
        "mock_broker/refresh_tokens.py",
        "    revoke_family(db, row)\n    db.commit()\n",
        "    db.commit()\n",
        ("tests/broker/test_refresh_tokens.py",),
    ),
    Mutant(
        "B4",
        "a refresh token is not bound to its client",
        "mock_broker/models.py",
        "        return self.client_id == client.get_client_id()",
        "        return True",
        ("tests/broker/test_refresh_tokens.py",),
    ),
    Mutant(
        "B5",
        "the MCP server does not check the token's audience",
        "mcp_server/token_verifier.py",
        '            aud={"essential": True, "value": self.audience},',
        "",
        ("tests/mcp_server/test_access_tokens.py",),
    ),
    Mutant(
        "B5",
        "the authorization request's resource is not checked against the client's",
        "mock_broker/oauth_server.py",
        "        if values and not client.active_resource.matches(values[0]):",
        "        if False:",
        ("tests/broker/test_authorize.py", "tests/broker/test_code_exchange.py"),
    ),
    Mutant(
        "B5",
        "a resource URL's trailing slash is ignored (`/mcp/` names the resource `/mcp`)",
        "mock_broker/models.py",
        '    return (parts.scheme, parts.hostname, port, parts.path or "/", parts.query)',
        '    return (parts.scheme, parts.hostname, port, parts.path.rstrip("/") or "/", '
        "parts.query)",
        ("tests/broker/test_resource_indicators.py",),
    ),
    Mutant(
        "B5",
        "a resource URL is compared case-insensitively as a whole (its path too)",
        "mock_broker/models.py",
        "        key = resource_key(resource_indicator)\n",
        "        key = resource_key(resource_indicator.lower())\n",
        ("tests/broker/test_resource_indicators.py",),
    ),
    Mutant(
        "B5",
        "the token request's resource is not compared with the code's",
        "mock_broker/oauth_server.py",
        "        if len(values) > 1 or (values and not code.resource.matches(values[0])):",
        "        if len(values) > 1:",
        ("tests/broker/test_code_exchange.py",),
    ),
    Mutant(
        "B6",
        "the successful authorization response carries no iss",
        "mock_broker/oauth_server.py",
        '            response.location = add_params_to_uri(response.location, {"iss": issuer})',
        "            pass",
        ("tests/broker/test_callback_and_consent.py", "tests/broker/test_authorize.py"),
    ),
    Mutant(
        "B6",
        "error redirects carry no iss",
        "mock_broker/oauth_server.py",
        "        self.issuer_parameter.add_issuer_parameter(self, response)\n"
        "        return response",
        "        return response",
        ("tests/broker/test_authorize.py", "tests/broker/test_callback_and_consent.py"),
    ),
    Mutant(
        "B6",
        "the iss is the environment URL, the same for every resource (mix-up defence gone)",
        "mock_broker/oauth_server.py",
        "        g.oauth_issuer = issuer_for(client.active_resource.id)",
        '        g.oauth_issuer = current_app.config["ENV_URL"]',
        ("tests/broker/test_authorize.py", "tests/broker/test_callback_and_consent.py"),
    ),
    Mutant(
        "B7",
        "an IP literal in a client_id URL is fetched without the private-address check",
        "mock_broker/document_fetcher.py",
        "        addresses = [ipaddress.ip_address(hostname)]\n",
        "        return str(ipaddress.ip_address(hostname))\n",
        ("tests/broker/test_cimd.py",),
    ),
    Mutant(
        "B7",
        "the document's client_id need not equal the URL it was fetched from",
        "mock_broker/metadata_documents.py",
        '    if document.get("client_id") != url:',
        '    if not document.get("client_id"):',
        ("tests/broker/test_cimd.py",),
    ),
    Mutant(
        "B7",
        "the size cap is checked only against Content-Length (a streamed body is unbounded)",
        "mock_broker/document_fetcher.py",
        """        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"the document is larger than {max_bytes} bytes")
""",
        "        body += chunk\n",
        ("tests/broker/test_cimd.py",),
    ),
    Mutant(
        "B8",
        "the consent decision is taken by GET too (a cross-site link approves, no CSRF token)",
        "mock_broker/consent.py",
        """@bp.post("/oauth/consent")
def decide() -> Response:
    login_request_id = request.form.get("login_request_id", "")
    decision = request.form.get("decision")
""",
        """@bp.route("/oauth/consent", methods=["GET", "POST"])
def decide() -> Response:
    login_request_id = request.values.get("login_request_id", "")
    decision = request.values.get("decision")
""",
        ("tests/broker/test_callback_and_consent.py",),
    ),
    Mutant(
        "B8",
        "the consent form is exempted from CSRF",
        "mock_broker/__init__.py",
        "    csrf.exempt(oauth_endpoints.token)\n",
        "    csrf.exempt(oauth_endpoints.token)\n    csrf.exempt(consent.decide)\n",
        ("tests/broker/test_callback_and_consent.py",),
    ),
    Mutant(
        "B8",
        "the consent page no longer says where it will send the user",
        "mock_broker/templates/consent.html",
        "    <dt>Will send you back to</dt><dd><code>{{ redirect_host|shown }}</code></dd>\n",
        "",
        (
            "tests/broker/test_callback_and_consent.py",
            "tests/broker/test_dynamic_registration.py",
            "tests/broker/test_cimd.py",
        ),
    ),
    Mutant(
        "B9",
        "the API accepts an M2M token on its signature alone (a revoked one still posts)",
        "mock_broker/tokens.py",
        "    if record is None or record.kind != TokenKind.M2M or not is_active(db, record):",
        "    if record is None or record.kind != TokenKind.M2M:",
        ("tests/broker/test_user_endpoint.py",),
    ),
    Mutant(
        "B9",
        "any M2M client may post profiles to any connection",
        "mock_broker/connections_api.py",
        "    if connection.m2m_client_id != m2m_client_id:",
        "    if False:",
        ("tests/broker/test_user_endpoint.py",),
    ),
    Mutant(
        "B9",
        "the callback's spend is not conditional on the status (a state works twice)",
        "mock_broker/login_requests.py",
        """            LoginRequest.status == LoginRequestStatus.PROFILE_RECEIVED,
            LoginRequest.expires_at > now,
        )
        .values(status=LoginRequestStatus.AWAITING_CONSENT, completed_at=now)""",
        """            LoginRequest.expires_at > now,
        )
        .values(status=LoginRequestStatus.AWAITING_CONSENT, completed_at=now)""",
        ("tests/broker/test_callback_and_consent.py",),
    ),
    Mutant(
        "B10",
        "CORS is allowed on every response, the authorization endpoint included",
        "mock_broker/http_headers.py",
        '    response.headers.setdefault("X-Frame-Options", "DENY")\n',
        '    response.headers.setdefault("X-Frame-Options", "DENY")\n'
        '    response.headers.setdefault("Access-Control-Allow-Origin", "*")\n',
        ("tests/broker/test_discovery.py", "tests/broker/test_revocation_and_introspection.py"),
    ),
    Mutant(
        "B10",
        "dynamic client registration answers no CORS (browser-based clients cannot register)",
        "mock_broker/dynamic_registration.py",
        '@allow_cors("POST")\n',
        "",
        ("tests/broker/test_dynamic_registration.py",),
    ),
    Mutant(
        "B10",
        "revocation answers no CORS",
        "mock_broker/revocation.py",
        '@allow_cors("POST")\n',
        "",
        ("tests/broker/test_revocation_and_introspection.py",),
    ),
    Mutant(
        "B11",
        "token responses may be cached",
        "mock_broker/oauth_endpoints.py",
        '    response.headers["Cache-Control"] = "no-store"',
        '    response.headers["Cache-Control"] = "private"',
        ("tests/broker",),
    ),
    Mutant(
        "C21",
        "the broker client's calls have no timeout",
        "identity/broker_client.py",
        "            default_timeout=(connect_timeout, read_timeout),\n",
        "",
        ("tests/test_broker_client.py::test_c21_the_read_timeout_reaches_the_profile_post",),
    ),
    Mutant(
        "C21",
        "the SMTP connection has no timeout",
        "identity/mail.py",
        "        client = smtplib.SMTP(host, port, timeout=timeout)",
        "        client = smtplib.SMTP(host, port)",
        ("tests/test_mail.py::test_c21_the_smtp_timeout_reaches_the_connection",),
    ),
    Mutant(
        "B12",
        "the broker's default is to finish on the state alone",
        "mock_broker/config.py",
        '("CALLBACK_MODE", "MOCK_BROKER_CALLBACK_MODE", "bound")',
        '("CALLBACK_MODE", "MOCK_BROKER_CALLBACK_MODE", "state-only")',
        ("tests/test_forwarded_link.py",),
    ),
    Mutant(
        "B12",
        "the callback no longer compares the browser with the one that started the request",
        "mock_broker/login_requests.py",
        "    if browser_hash is None or not secrets.compare_digest(bound_to, browser_hash):",
        "    if False:",
        ("tests/test_forwarded_link.py", "tests/broker/test_browser_binding.py"),
    ),
    Mutant(
        "B13",
        "errors before any interaction are redirected to self-registered redirect URIs",
        "mock_broker/oauth_endpoints.py",
        '(request is not None or g.get("oauth_redirect_vetted"))',
        "(True)",
        ("tests/broker/test_authorize.py",),
    ),
    Mutant(
        "B14",
        "client metadata may carry bidirectional and invisible characters",
        "mock_broker/client_metadata.py",
        "    if character := refused_character(value):",
        "    if character := None:",
        ("tests/broker/test_dynamic_registration.py", "tests/broker/test_cimd.py"),
    ),
    Mutant(
        "B15",
        "a refresh token can be spent twice (the rotation is not conditional)",
        "mock_broker/refresh_tokens.py",
        "            RefreshToken.rotated_at.is_(None),\n",
        "",
        ("tests/broker/test_refresh_tokens.py",),
    ),
    Mutant(
        "E1",
        "the development server's request lines (with query strings) reach the log",
        "identity/logging_setup.py",
        '    logging.getLogger("werkzeug").setLevel(logging.WARNING)\n',
        '    logging.getLogger("werkzeug").setLevel(logging.INFO)\n',
        ("tests/test_secrets_in_logs.py",),
    ),
    Mutant(
        "E3",
        "production starts with the development secret key",
        "identity/config.py",
        '    elif config["SECRET_KEY"] == DEV_SECRET_KEY and not development:',
        "    elif False:",
        ("tests/test_config.py",),
    ),
    Mutant(
        "E4",
        "anonymous /login hits are not limited per client address",
        "identity/login_requests.py",
        "        if wait := bounds.admit_login_request():",
        "        if wait := 0:",
        ("tests/test_housekeeping.py",),
    ),
    Mutant(
        "E4",
        "dynamic client registration is not limited per client address",
        "mock_broker/dynamic_registration.py",
        "    if wait := rate_limits.admit_registration(db):",
        "    if wait := 0:",
        ("tests/broker/test_registration_bounds.py",),
    ),
    Mutant(
        "E4",
        "the registration count restarts with every window read, never refusing",
        "mock_broker/rate_limits.py",
        "    if now >= ends:  # a new window",
        "    if True:",
        ("tests/broker/test_registration_bounds.py",),
    ),
    Mutant(
        "E4",
        "housekeeping deletes old dynamic clients even when a user signed in with them",
        "mock_broker/housekeeping.py",
        "            OAuthClient.first_used_at.is_(None),\n",
        "",
        ("tests/broker/test_registration_bounds.py",),
    ),
    Mutant(
        "E2",
        "NUL characters reach the views (the guard is not installed)",
        "app.py",
        "    input_guard.init_app(app)",
        "    pass",
        ("tests/test_password_login.py", "tests/test_login_request.py"),
    ),
    Mutant(
        "E2",
        "the broker lets authlib judge the transport by the Host header (a foreign Host: 500)",
        "mock_broker/oauth_server.py",
        """        return ConfiguredUrlRequest(flask_request, current_app.config["ENV_URL"])""",
        """        return super().create_oauth2_request(request)""",
        ("tests/broker/test_fuzz.py::test_e2_a_foreign_host_header_changes_no_answer",),
    ),
    Mutant(
        "E2",
        "the stand-in lets authlib judge the transport by the Host header (a foreign Host: 500)",
        "upstream_idp/oauth_server.py",
        """        return ConfiguredUrlRequest(flask_request, current_app.config["ISSUER"])""",
        """        return super().create_oauth2_request(request)""",
        ("tests/upstream_idp/test_fuzz.py::test_e2_a_foreign_host_header_changes_no_answer",),
    ),
    Mutant(
        "E2",
        "the MCP server parses JSON of any depth (a RecursionError: 500)",
        "mcp_server/access_guard.py",
        "        if nesting_depth(body) > MAX_JSON_DEPTH:",
        "        if False:",
        ("tests/mcp_server/test_fuzz.py::test_e2_deeply_nested_json_is_a_parse_error_not_a_500",),
    ),
    Mutant(
        "E2",
        "the magic-link email quotes the User-Agent as sent, control characters and all",
        "login_methods/magic_link/method.py",
        '"browser": mail.quoted(request.user_agent.string)',
        '"browser": request.user_agent.string[:120]',
        (
            "tests/test_bad_input.py"
            "::test_e2_control_characters_in_the_user_agent_never_reach_the_email",
        ),
    ),
    Mutant(
        "E2",
        "a QA form's whole number is not bounded (2**63 overflows the database: 500)",
        "mock_broker/dev_tools.py",
        "        low <= int(text) <= high",
        "        True",
        (
            "tests/broker/test_fuzz.py"
            "::test_e2_huge_integers_in_qa_forms_are_a_400_naming_the_field_and_its_range",
        ),
    ),
    Mutant(
        "E2",
        "the demo callback compares the state as str (non-ASCII: a TypeError, 500)",
        "mock_broker/demo.py",
        'received.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")',
        "received, expected",
        ("tests/broker/test_fuzz.py::test_e2_demo_callback_with_a_non_ascii_state",),
    ),
    Mutant(
        "E2",
        "a profile's custom_attributes may hold infinity (1e400), which is not JSON",
        "mock_broker/profile.py",
        "        encoded = json.dumps(value, allow_nan=False)",
        "        encoded = json.dumps(value)",
        ("tests/broker/test_fuzz.py::test_e2_a_json_number_past_a_double_in_the_profile_is_a_400",),
    ),
    Mutant(
        "E2",
        "a customer-side custom_attributes may hold infinity (1e400), which is not JSON",
        "identity/profile_fields.py",
        "        encoded = json.dumps(value, allow_nan=False)",
        "        encoded = json.dumps(value)",
        (
            "tests/test_bad_input.py::test_e2_a_number_past_a_double_in_custom_attributes_is_refused",
        ),
    ),
    Mutant(
        "E2",
        "a locked SQLite database is an unhandled error (500)",
        "identity/web.py",
        "    app.register_error_handler(OperationalError, _database_unavailable)\n",
        "",
        ("tests/test_handoff_failures.py",),
    ),
    Mutant(
        "C23",
        "the id_token's aud is left to authlib's azp rule (aud of another client, azp us)",
        "login_methods/oidc/method.py",
        """                    "aud": {"essential": True, "values": [provider.client_id]},\n""",
        "",
        ("tests/test_oidc_linking.py::test_faulty_id_token_is_refused",),
    ),
    Mutant(
        "C23",
        "the discovery document's issuer is not compared with the configured one",
        "login_methods/oidc/method.py",
        """    if metadata.get("issuer") != provider.issuer:""",
        """    if False:""",
        ("tests/test_oidc_spec_checks.py",),
    ),
    Mutant(
        "C23",
        "a response without iss is accepted from a provider that advertises sending it",
        "login_methods/oidc/method.py",
        "metadata.get(ISS_PARAMETER_SUPPORTED) is True",
        "False",
        ("tests/test_oidc_spec_checks.py",),
    ),
    Mutant(
        "C22",
        "proving the address by magic link no longer detaches the identities that did not",
        "login_methods/oidc/method.py",
        "        signals.email_proven.connect(self._detach_unproven, app)\n",
        "",
        ("tests/test_oidc_preregistration.py",),
    ),
    Mutant(
        "C22",
        "an account created from an unproven address is linked as if the address were proven",
        "login_methods/oidc/identities.py",
        "link(user, provider, claims, email_unproven=not proven)",
        "link(user, provider, claims)",
        ("tests/test_oidc_preregistration.py",),
    ),
    Mutant(
        "C22",
        "the detached identity's sessions live on",
        "login_methods/oidc/method.py",
        "        sessions.end_sessions(user, method=self.name)\n",
        "",
        ("tests/test_oidc_preregistration.py",),
    ),
    Mutant(
        "C22",
        "the magic link marks the address verified without telling anyone it was proven",
        "login_methods/magic_link/method.py",
        "users.prove_email(user, method=self.name)",
        "setattr(user, 'email_verified', True)",
        ("tests/test_oidc_preregistration.py",),
    ),
    Mutant(
        "C8",
        "with JIT off, an address with no account gets a page of its own",
        "login_methods/oidc/identities.py",
        """        return Decision("prove_first")\n""",
        """        return Decision("refuse", reason="no_account")\n""",
        ("tests/test_oidc_linking.py",),
    ),
    Mutant(
        "C8",
        "an upstream assertion of a disabled account's address says it is disabled",
        "login_methods/oidc/identities.py",
        """        return Decision("prove_first", local)\n""",
        """        if not local.is_active:\n"""
        """            return Decision("refuse", local, reason="disabled")\n"""
        """        return Decision("prove_first", local)\n""",
        ("tests/test_oidc_linking.py",),
    ),
    Mutant(
        "C24",
        "a linked sign-in writes every mapped claim, owned or not",
        "login_methods/oidc/identities.py",
        "    for field in provider.sync_fields:\n",
        "    for field in provider.claims:\n",
        ("tests/test_oidc_field_ownership.py",),
    ),
    Mutant(
        "C24",
        "an upstream value is stored without the field's rules",
        "login_methods/oidc/identities.py",
        "            value = profile_fields.clean(field, claims[claim])\n",
        "            value = claims[claim]\n",
        ("tests/test_oidc_field_ownership.py",),
    ),
    Mutant(
        "E4",
        "abandoned upstream-OIDC starts stay in the session cookie until authlib's hour ends",
        "login_methods/oidc/method.py",
        "        _forget_abandoned_flows(in_flight)\n",
        "",
        (
            "tests/test_oidc_linking.py::test_abandoned_starts_are_bounded_and_only_the_oldest_are_forgotten",
            "tests/browser/test_sign_in_in_chromium.py::test_thirty_abandoned_provider_starts_still_leave_a_working_sign_in",
        ),
    ),
    Mutant(
        "C19",
        "a pending link is completed by whoever signs in for that request",
        "login_methods/oidc/identities.py",
        "    if link_row is None or link_row.user_id is None or link_row.user_id != user.id:\n",
        "    if link_row is None:\n",
        ("tests/test_oidc_linking.py",),
    ),
    Mutant(
        "C19",
        "a just-in-time account's email is verified whatever the provider is trusted for",
        "login_methods/oidc/identities.py",
        "    user = users.create_user(email, email_verified=proven)\n",
        "    user = users.create_user(email, email_verified=True)\n",
        ("tests/test_oidc_preregistration.py", "tests/test_oidc_linking.py"),
    ),
    Mutant(
        "C19",
        "an unverified local email is linked automatically",
        "login_methods/oidc/identities.py",
        "email_proven_upstream(provider, claims) and local.email_verified:",
        "email_proven_upstream(provider, claims):",
        ("tests/test_oidc_linking.py",),
    ),
    Mutant(
        "C19",
        "a provider not trusted for email links existing accounts by its verified emails",
        "login_methods/oidc/identities.py",
        """    return provider.trust_email and claims.get("email_verified") is True\n""",
        """    return claims.get("email_verified") is True\n""",
        ("tests/test_oidc_linking.py",),
    ),
    Mutant(
        "C18",
        "the upstream authorization request goes without PKCE",
        "login_methods/oidc/method.py",
        """                    "code_challenge_method": "S256",\n""",
        "",
        ("tests/test_oidc_certified.py",),
    ),
    Mutant(
        "C18",
        "the upstream redirect URI is built from the request's Host header",
        "login_methods/oidc/method.py",
        """        redirect_uri = current_app.config["PUBLIC_URL"].rstrip("/") + url_for(\n"""
        """            "oidc.callback", provider=chosen.name\n"""
        """        )\n""",
        """        redirect_uri = url_for(\n"""
        """            "oidc.callback", provider=chosen.name, _external=True\n"""
        """        )\n""",
        ("tests/test_oidc_linking.py",),
    ),
    Mutant(
        "C21",
        "the upstream provider's calls have no timeout",
        "login_methods/oidc/method.py",
        """                    "default_timeout": provider.timeout,\n""",
        "",
        ("tests/test_oidc_linking.py::test_c21_the_upstream_timeout_reaches_the_discovery_call",),
    ),
    Mutant(
        "B4",
        "the offline_access refresh-token policy is ignored (every registered client gets one)",
        "mock_broker/refresh_tokens.py",
        """    if current_app.config["REFRESH_TOKEN_POLICY"] == OFFLINE_ACCESS:""",
        """    if False:""",
        ("tests/broker/test_refresh_tokens.py",),
    ),
    Mutant(
        "C19",
        'an upstream email_verified counts when it merely looks true (the string "true")',
        "login_methods/oidc/identities.py",
        """    return provider.trust_email and claims.get("email_verified") is True\n""",
        """    return provider.trust_email and bool(claims.get("email_verified"))\n""",
        ("tests/test_oidc_linking.py",),
    ),
    Mutant(
        "E4",
        "the session keeps the alphabetically last round trips, not the newest",
        "identity/session_queue.py",
        "    session[name] = entries[-limit:]\n",
        "    session[name] = sorted(entries)[-limit:]\n",
        (
            "tests/test_oidc_linking.py::test_abandoned_starts_are_bounded_and_only_the_oldest_are_forgotten",
        ),
    ),
    Mutant(
        "R1",
        "the MCP server's CORS hides WWW-Authenticate (a browser client cannot find the broker)",
        "mcp_server/cors.py",
        'EXPOSED_HEADERS = ("WWW-Authenticate", "Mcp-Session-Id")',
        'EXPOSED_HEADERS = ("Mcp-Session-Id",)',
        ("tests/mcp_server/test_cors.py",),
    ),
    Mutant(
        "R1",
        "the MCP server's Host check accepts any Host (DNS rebinding)",
        "mcp_server/host_guard.py",
        "        if host == self.netloc:",
        "        if True:",
        ("tests/mcp_server/test_cors.py",),
    ),
    Mutant(
        "R2",
        "the MCP server never asks the broker, whatever MCP_TOKEN_CHECK says",
        "mcp_server/token_verifier.py",
        "        if self.introspector is not None and not await self.introspector.is_active(",
        "        if False and not await self.introspector.is_active(",
        ("tests/mcp_server/test_token_check.py",),
    ),
    Mutant(
        "R2",
        "a failed introspection is not reported as the broker's outage",
        "mcp_server/access_guard.py",
        "        except (JwksUnavailableError, IntrospectionUnavailableError):",
        "        except JwksUnavailableError:",
        ("tests/mcp_server/test_token_check.py",),
    ),
    Mutant(
        "B16",
        "a machine client's client_credentials request may name any resource",
        "mock_broker/oauth_server.py",
        """        if len(values) > 1 or (values and not client.active_resource.matches(values[0])):
            raise InvalidTargetError("The resource is unknown or not registered for this client.")
        allowed""",
        "        allowed",
        ("tests/broker/test_machine_clients.py",),
    ),
    Mutant(
        "B16",
        "a machine client may ask for offline_access",
        "mock_broker/oauth_server.py",
        "        if allowed is None or OFFLINE_ACCESS in allowed.split():",
        "        if allowed is None:",
        ("tests/broker/test_machine_clients.py",),
    ),
    Mutant(
        "B16",
        "any client registered at the broker may use client_credentials",
        "mock_broker/models.py",
        "        return grant_type in self.grant_types",
        "        return True",
        ("tests/broker/test_machine_clients.py",),
    ),
    Mutant(
        "B16",
        "the MCP server reports an agent's token as a user's",
        "mcp_server/tools.py",
        '    return "client" if claims.get("sub") == claims.get("client_id") else "user"',
        '    return "user"',
        ("tests/mcp_server/test_machine_clients.py",),
    ),
    Mutant(
        "B5",
        "a client's QA claim overrides are merged over the token's own claims (aud rebound)",
        "mock_broker/tokens.py",
        "    if client.claim_overrides:\n        custom",
        "    if client.claim_overrides:\n"
        "        claims.update(client.claim_overrides)\n"
        "        custom",
        ("tests/broker/test_debugger.py::test_claim_overrides_reach_that_clients_tokens_only",),
    ),
)


def _copy_tree(destination: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for linked in LINKED:
        if (ROOT / linked).exists():
            (destination / linked).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(ROOT / linked, destination / linked)


def run(mutant: Mutant, tree: Path) -> str:
    """'killed', 'SURVIVED' or 'DOES NOT APPLY'."""
    path = tree / mutant.path
    original = path.read_text(encoding="utf-8")
    if original.count(mutant.old) != 1:
        return "DOES NOT APPLY"
    path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
    try:
        env = {**os.environ, "TEST_DATABASE": "sqlite"}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
            cwd=tree,
            env=env,
            capture_output=True,
            check=False,
        )
    finally:
        path.write_text(original, encoding="utf-8")
    return "killed" if result.returncode != 0 else "SURVIVED"


def main(ids: list[str]) -> int:
    chosen = [mutant for mutant in MUTANTS if not ids or mutant.property_id in ids]
    with tempfile.TemporaryDirectory(prefix="mutate-") as directory:
        tree = Path(directory)
        _copy_tree(tree)
        outcomes = []
        for mutant in chosen:
            outcome = run(mutant, tree)
            outcomes.append(outcome)
            print(f"{mutant.property_id:5} {outcome:15} {mutant.why}", flush=True)
    survivors = sum(outcome != "killed" for outcome in outcomes)
    covered = sorted({mutant.property_id for mutant in chosen})
    print(f"{len(chosen) - survivors} killed, {survivors} not; ids: {', '.join(covered)}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
