"""The upstream-OIDC method against the in-repo stand-in provider (upstream_idp), whose login
form lets each test choose the claims: every linking rule (C19), every upstream error, and a
tampered id_token, wrong nonce or replayed state (C18) — through both apps over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from sqlalchemy import select

from identity import db
from identity.models import AuditEvent, User
from login_methods.oidc.identities import LinkedIdentity
from tests.helpers import DEMO_EMAIL
from tests.mail_sink import free_port
from tests.servers import SilentServer
from tests.stack import Browser, Page, Stack

pytestmark = pytest.mark.integration


def to_provider(browser: Browser, stack: Stack) -> tuple[Page, Page, object]:
    """Authorize at the broker, open the login page, press the provider's button."""
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    started = browser.submit(login, "/login/oidc/standin/start")
    assert started.status == 303, started.text()
    return login, browser.follow(started), authorization


def at_provider(browser: Browser, form_page: Page, action: str = "continue", **claims: str) -> str:
    """Fill the stand-in's login form; returns the redirect back to the customer side."""
    url, fields = form_page.form("/authorize")
    fields.pop("email_verified", None)
    fields.pop("no_email", None)
    fields.update(claims)
    if claims.get("email_verified") is False:
        del fields["email_verified"]
    answer = browser.post(url, data={**fields, "action": action}, allow_redirects=False, timeout=30)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["Location"]


def sign_in_upstream(
    stack: Stack, browser: Browser | None = None, **claims
) -> tuple[Browser, Page, object]:
    browser = browser or stack.browser()
    _, form_page, authorization = to_provider(browser, stack)
    claims.setdefault("email_verified", "true")
    back = at_provider(browser, form_page, **claims)
    return browser, browser.page("GET", back), authorization


def user_by_email(stack: Stack, email: str) -> User | None:
    with stack.idp.app.app_context():
        return db.session().scalar(select(User).where(User.email == email))


def links_of(stack: Stack, email: str) -> list[LinkedIdentity]:
    with stack.idp.app.app_context():
        return list(
            db.session().scalars(select(LinkedIdentity).join(User).where(User.email == email))
        )


def audit_events(stack: Stack, event: str) -> list[AuditEvent]:
    with stack.idp.app.app_context():
        return list(db.session().scalars(select(AuditEvent).where(AuditEvent.event == event)))


# -- linking rules (C19) ----------------------------------------------------------------------


def test_new_user_with_jit_on_is_created_linked_and_signed_in(standin):
    stack = standin(CLAIMS='{"groups": "groups"}')  # groups only when mapped (C24)
    browser, back, authorization = sign_in_upstream(
        stack, username="dave", email="dave@example.com", given_name="Dave", groups="eng, ops"
    )
    assert back.status == 303
    redirect = browser.approve(browser.follow(back))
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200
    dave = user_by_email(stack, "dave@example.com")
    assert dave.email_verified and dave.given_name == "Dave" and dave.groups == ["eng", "ops"]
    assert dave.password_hash is None
    assert [(link.subject, link.issuer) for link in links_of(stack, "dave@example.com")] == [
        ("dave", stack.upstream.url)
    ]


def test_login_page_lets_forms_lead_to_the_provider(standin):
    """C7 with OIDC: form-action must admit the provider, or Chromium blocks the redirect that
    follows "Sign in with …" (CSP applies form-action to redirects)."""
    stack = standin()
    browser = stack.browser()
    login = browser.page("GET", browser.authorize().login_url)
    csp = login.response.headers["Content-Security-Policy"]
    form_action = next(d for d in csp.split("; ") if d.startswith("form-action"))
    assert stack.upstream.url in form_action.split() and stack.broker.url in form_action.split()


def test_client_secret_post_providers_work(standin):
    stack = standin(AUTH_METHOD="client_secret_post")
    _, back, _ = sign_in_upstream(stack, username="otto", email="otto@example.com")
    assert back.status == 303, back.text()


def test_new_user_with_jit_off_gets_sign_in_to_connect_and_the_login_request_survives(standin):
    stack = standin(JIT="false")
    browser, back, authorization = sign_in_upstream(
        stack, username="erin", email="erin@example.com"
    )
    assert back.status == 200 and "Sign in to connect Stand-in" in back.text()
    assert user_by_email(stack, "erin@example.com") is None
    # The way back works: the login page still serves the same broker login request.
    again = browser.page("GET", back.href("a.button"))
    assert again.status == 200
    done = browser.sign_in_with_password(browser.page("GET", authorization.login_url))
    assert done.status == 303
    assert links_of(stack, DEMO_EMAIL) == []  # another account's sign-in links nothing


def test_verified_email_from_a_trusted_provider_links_a_verified_local_account(standin):
    stack = standin()
    _, back, _ = sign_in_upstream(stack, username="alice-google", email=DEMO_EMAIL)
    assert back.status == 303
    assert [link.subject for link in links_of(stack, DEMO_EMAIL)] == ["alice-google"]
    assert audit_events(stack, "oidc.identity_linked")[0].detail["how"] == "verified_email"


@pytest.mark.parametrize(
    ("policy", "claims", "why"),
    [
        ({"TRUST_EMAIL": "false"}, {"email_verified": "true"}, "provider not trusted for email"),
        ({}, {"email_verified": False}, "upstream email not verified"),
    ],
)
def test_existing_account_without_the_safe_conditions_must_be_proven_first(
    standin, policy, claims, why
):
    stack = standin(**policy)
    browser, back, authorization = sign_in_upstream(
        stack, username="mallory", email=DEMO_EMAIL, **claims
    )
    assert back.status == 200, why
    assert "You already have an account here" in back.text()
    assert links_of(stack, DEMO_EMAIL) == []  # nothing linked, nobody signed in
    assert "Continue as" not in browser.page("GET", authorization.login_url).text()

    # The real owner proves the account with the password, in the same browser: linked.
    login = browser.page("GET", back.href("a.button"))
    assert "To connect your Stand-in account" in login.text()
    assert browser.sign_in_with_password(login).status == 303
    assert [link.subject for link in links_of(stack, DEMO_EMAIL)] == ["mallory"]
    assert audit_events(stack, "oidc.identity_linked")[0].detail["how"] == "password"

    # From now on the upstream identity signs straight in.
    _, second, _ = sign_in_upstream(stack, username="mallory", email=DEMO_EMAIL, **claims)
    assert second.status == 303


def test_unverified_local_email_is_never_auto_linked(standin):
    stack = standin()
    with stack.idp.app.app_context():
        from identity import users

        users.create_user("frank@example.com", "franks long passphrase", email_verified=False)
        db.session().commit()
    _, back, _ = sign_in_upstream(stack, username="frank-up", email="frank@example.com")
    assert back.status == 200 and "You already have an account here" in back.text()
    assert links_of(stack, "frank@example.com") == []


def test_proof_in_another_browser_links_nothing(standin):
    stack = standin(TRUST_EMAIL="false")
    _, back, _ = sign_in_upstream(stack, username="mallory", email=DEMO_EMAIL)
    assert "You already have an account here" in back.text()
    other = stack.browser()  # the owner signs in elsewhere: no link for mallory's identity
    assert other.sign_in_with_password(other.page("GET", other.authorize().login_url)).status == 303
    assert links_of(stack, DEMO_EMAIL) == []


def test_c19_a_pending_link_is_completed_only_by_the_account_it_names(standin):
    """Mallory's upstream identity asserts Alice's address and waits for Alice's proof; a
    different account signing in in that browser, for that request, links nothing."""
    stack = standin(TRUST_EMAIL="false")
    stack.idp.app.test_cli_runner().invoke(
        args=["create-user", "bob@example.com", "--password", "bobs long passphrase"]
    )
    browser, back, authorization = sign_in_upstream(stack, username="mallory", email=DEMO_EMAIL)
    assert "You already have an account here" in back.text()
    login = browser.page("GET", authorization.login_url)
    assert "To connect your Stand-in account" in login.text()
    signed_in = browser.sign_in_with_password(
        login, email="bob@example.com", password="bobs long passphrase"
    )
    assert signed_in.status == 303
    assert links_of(stack, DEMO_EMAIL) == [] and links_of(stack, "bob@example.com") == []
    assert audit_events(stack, "oidc.identity_linked") == []


def test_second_sign_in_finds_the_link_by_sub_even_after_the_email_changed(standin):
    stack = standin()
    sign_in_upstream(stack, username="gina", email="gina@example.com")
    _, back, _ = sign_in_upstream(stack, username="gina", email="gina.new@example.com")
    assert back.status == 303
    assert user_by_email(stack, "gina.new@example.com") is None  # no second account
    assert [link.email for link in links_of(stack, "gina@example.com")] == ["gina.new@example.com"]


def test_no_email_from_the_provider_cannot_create_an_account(standin):
    stack = standin()
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    back = browser.page("GET", at_provider(browser, form_page, username="nomail", no_email="true"))
    assert back.status == 400 and "did not share your email address" in back.text()


def test_disabled_linked_user_is_refused(standin):
    stack = standin()
    sign_in_upstream(stack, username="hank", email="hank@example.com")
    stack.idp.app.test_cli_runner().invoke(args=["disable-user", "hank@example.com"])
    _, back, _ = sign_in_upstream(stack, username="hank", email="hank@example.com")
    assert back.status == 400 and "This account is disabled" in back.text()


# -- upstream errors and attacks (C18) --------------------------------------------------------


def test_cancel_at_the_provider_gets_a_page_with_a_way_back(standin):
    stack = standin()
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    back = browser.page("GET", at_provider(browser, form_page, action="cancel", username="x"))
    assert back.status == 400 and "Signing in with Stand-in was cancelled" in back.text()
    assert browser.page("GET", back.href("a.button")).status == 200
    assert audit_events(stack, "oidc.sign_in_failed")[-1].detail["reason"] == "cancelled"


def test_provider_error_response_gets_its_page(standin):
    stack = standin()
    browser = stack.browser()
    login = browser.page("GET", browser.authorize().login_url)
    started = browser.submit(login, "/login/oidc/standin/start")
    state = parse_qs(urlsplit(started.response.headers["Location"]).query)["state"][0]
    query = urlencode({"error": "server_error", "state": state, "iss": stack.upstream.url})
    back = browser.page("GET", f"{stack.idp.url}/login/oidc/standin/callback?{query}")
    assert back.status == 400 and "Stand-in could not sign you in" in back.text()


@pytest.mark.parametrize(
    "fault", ["bad_signature", "wrong_nonce", "wrong_audience", "foreign_audience", "expired"]
)
def test_faulty_id_token_is_refused(standin, fault):
    stack = standin()
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    back = browser.page(
        "GET", at_provider(browser, form_page, username="ivy", email="ivy@example.com", fault=fault)
    )
    assert back.status == 400 and "could not be verified" in back.text()
    assert user_by_email(stack, "ivy@example.com") is None
    assert audit_events(stack, "oidc.sign_in_failed")[-1].detail["reason"] == "bad_token"


def test_replayed_state_is_refused(standin):
    stack = standin()
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    callback = at_provider(
        browser, form_page, username="jo", email="jo@example.com", email_verified="true"
    )
    assert browser.page("GET", callback).status == 303
    replay = browser.page("GET", callback)
    assert replay.status == 400 and "no longer valid" in replay.text()


def test_callback_in_another_browser_is_refused(standin):
    """Login CSRF: the state lives in the session of the browser that started the sign-in."""
    stack = standin()
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    callback = at_provider(
        browser, form_page, username="kim", email="kim@example.com", email_verified="true"
    )
    victim = stack.browser()
    assert victim.page("GET", callback).status == 400
    assert user_by_email(stack, "kim@example.com") is None


def test_response_naming_another_issuer_is_refused(standin):
    """Mix-up defence (RFC 9207): an authorization response whose `iss` is another issuer."""
    stack = standin()
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    callback = urlsplit(
        at_provider(
            browser, form_page, username="lee", email="lee@example.com", email_verified="true"
        )
    )
    query = parse_qs(callback.query)
    query["iss"] = ["https://attacker.example"]
    forged = urlunsplit(callback._replace(query=urlencode(query, doseq=True)))
    back = browser.page("GET", forged)
    assert back.status == 400 and "could not confirm that the answer came from" in back.text()


def test_unreachable_provider_gets_a_502_page(fresh_stack):
    port = free_port()  # nothing listens there
    stack = fresh_stack(
        LOGIN_METHODS="password,oidc",
        LOGIN_METHOD_OIDC_PROVIDERS="down",
        LOGIN_METHOD_OIDC_DOWN_ISSUER=f"http://127.0.0.1:{port}",
        LOGIN_METHOD_OIDC_DOWN_CLIENT_ID="x",
        LOGIN_METHOD_OIDC_DOWN_CLIENT_SECRET="y",
    )
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    down = browser.submit(login, "/login/oidc/down/start")
    assert down.status == 502 and "not reachable right now" in down.text()
    assert browser.sign_in_with_password(browser.page("GET", authorization.login_url)).status == 303


# -- what an upstream assertion can learn (C8) and break (bad input) --------------------------


def _answer(stack: Stack, **claims) -> tuple[int, str, str]:
    """What a fresh browser sees: the page the upstream sign-in lands on and the login page
    its button leads to (status and visible text: tokens and ids differ by design)."""
    browser, back, _ = sign_in_upstream(stack, **claims)
    follow = browser.page("GET", back.href("a.button")) if back.status == 200 else back
    return back.status, back.soup.get_text(" ", strip=True), follow.soup.get_text(" ", strip=True)


@pytest.mark.parametrize("trust_email", ["true", "false"])
def test_c8_with_jit_off_an_asserted_address_reveals_nothing_about_accounts(standin, trust_email):
    """A provider that can assert any address (a tenant admin of a multi-tenant provider)
    must not learn which addresses have accounts here: unknown, known, known-but-unverified
    upstream and disabled all get the same page, and the same page after it."""
    stack = standin(JIT="false", TRUST_EMAIL=trust_email)
    runner = stack.idp.app.test_cli_runner()
    runner.invoke(args=["create-user", "off@example.com", "--password", "a fine long passphrase"])
    runner.invoke(args=["disable-user", "off@example.com"])
    answers = {
        "unknown": _answer(stack, username="u1", email="nobody@example.com"),
        "known, unverified upstream": _answer(
            stack, username="u2", email=DEMO_EMAIL, email_verified=False
        ),
        "disabled": _answer(stack, username="u3", email="off@example.com", email_verified=False),
        "unknown, unverified upstream": _answer(
            stack, username="u4", email="nobody2@example.com", email_verified=False
        ),
    }
    if trust_email == "false":  # a verified address links only from a trusted provider
        answers["known"] = _answer(stack, username="u5", email=DEMO_EMAIL)
    first = answers["unknown"]
    assert first[0] == 200 and "Sign in to connect Stand-in" in first[1]
    assert "To connect your Stand-in account" in first[2]
    assert {case: answer == first for case, answer in answers.items()} == dict.fromkeys(
        answers, True
    )
    assert user_by_email(stack, "nobody@example.com") is None


@pytest.mark.parametrize("email", ["not-an-email", "kim@corp.local", "x@example.invalid"])
def test_an_unusable_upstream_email_gets_the_method_page_not_a_500(standin, email):
    stack = standin()
    browser, back, authorization = sign_in_upstream(stack, username="odd", email=email)
    assert back.status == 400 and "shared an email address we cannot use" in back.text()
    assert audit_events(stack, "oidc.sign_in_failed")[-1].detail["reason"] == "bad_email"
    # The way back works, and another method completes the same login request.
    assert browser.page("GET", back.href("a.button")).status == 200
    assert browser.sign_in_with_password(browser.page("GET", authorization.login_url)).status == 303


def test_abandoned_starts_are_bounded_and_only_the_oldest_are_forgotten(standin):
    """E4: the session cookie holds a few round trips in flight, not every one ever started."""
    stack = standin()
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    states = []
    for _ in range(30):
        started = browser.submit(login, "/login/oidc/standin/start")
        states.append(parse_qs(urlsplit(started.response.headers["Location"]).query)["state"][0])
    cookie = next(c for c in browser.cookies if c.name == "idp_session")
    assert len(cookie.name) + len(cookie.value) < 4096

    # The newest five are the ones kept, whatever their states look like (the cookie's JSON
    # sorts a dict's keys, so order must not come from one): every older answer is refused as
    # no longer valid, each newer one reaches the provider's code exchange.
    def answer(state: str) -> str:
        query = urlencode({"code": "x", "state": state, "iss": stack.upstream.url})
        return browser.page("GET", f"{stack.idp.url}/login/oidc/standin/callback?{query}").text()

    kept = [state for state in states if "no longer valid" not in answer(state)]
    assert kept == states[-5:]
    # ... and a fresh start completes.
    started = browser.submit(
        browser.page("GET", authorization.login_url), "/login/oidc/standin/start"
    )
    form_page = browser.page("GET", started.response.headers["Location"])
    back = at_provider(browser, form_page, username="pat", email="pat@example.com")
    assert browser.page("GET", back).status == 303


def test_c21_the_upstream_timeout_reaches_the_discovery_call(fresh_stack):
    """A provider that accepts and never answers: the method gives up on its own (the silent
    peer sees the client close first), and the user gets the "not reachable" page with the
    login request intact — no wall-clock assertion."""
    with SilentServer() as silent:
        stack = fresh_stack(
            LOGIN_METHODS="password,oidc",
            LOGIN_METHOD_OIDC_PROVIDERS="hung",
            LOGIN_METHOD_OIDC_HUNG_ISSUER=silent.url,
            LOGIN_METHOD_OIDC_HUNG_CLIENT_ID="x",
            LOGIN_METHOD_OIDC_HUNG_CLIENT_SECRET="y",
            LOGIN_METHOD_OIDC_HUNG_TIMEOUT="0.3",
        )
        browser = stack.browser()
        authorization = browser.authorize()
        login = browser.page("GET", authorization.login_url)
        hung = browser.submit(login, "/login/oidc/hung/start")
        assert hung.status == 502 and "not reachable right now" in hung.text()
    assert silent.outcomes and set(silent.outcomes) == {"client gave up"}, silent.outcomes
    assert browser.sign_in_with_password(browser.page("GET", authorization.login_url)).status == 303


def test_c19_an_email_verified_that_only_looks_true_links_nothing(standin):
    """`"email_verified": "true"` (a string, from the stand-in's extra claims) is not the
    boolean the spec defines: a trusted provider's unproven address must not auto-link."""
    stack = standin()
    _, back, _ = sign_in_upstream(
        stack,
        username="stringly",
        email=DEMO_EMAIL,
        email_verified=False,
        extra_claims='{"email_verified": "true"}',
    )
    assert back.status == 200 and "You already have an account here" in back.text()
    assert links_of(stack, DEMO_EMAIL) == []


def test_c18_the_redirect_uri_comes_from_configuration_not_the_host_header(standin):
    """A forged Host header must not send the provider's code to the attacker's host."""
    stack = standin()
    browser = stack.browser()
    login = browser.page("GET", browser.authorize().login_url)
    action, fields = login.form("/login/oidc/standin/start")
    cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    response = requests.post(
        action,
        data=fields,
        headers={"Host": "evil.example", "Cookie": cookies},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["redirect_uri"] == [f"{stack.idp.url}/login/oidc/standin/callback"]
