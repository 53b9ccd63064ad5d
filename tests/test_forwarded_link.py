"""B12: a forwarded sign-in link gives the attacker nothing — the attack, end to end.

The attacker starts an authorization with its own client and PKCE verifier, reads the
customer login URL out of the broker's redirect, and sends it to a victim who is signed in at
the customer side (or signs in there). Attacker and victim are two browsers (cookie-keeping
HTTP clients); the attacker polls the broker's callback with the `state` it knows at every
point of the victim's sign-in, and tries the consent form. Against the broker's default
(`bound`) mode it gets no code and no token, and the victim is told what happened. In
`state-only` mode — exactly the hosted broker's documented contract — the same attack wins:
that is the residual risk the security document tells operators to ask their broker about.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from mock_broker import database as broker_database
from mock_broker import faults
from mock_broker import seed as broker_seed
from mock_broker.models import AuthorizationCode, LoginRequest
from tests.stack import Authorization, Browser, Page

pytestmark = pytest.mark.integration


def login_request(stack, authorization: Authorization) -> LoginRequest:
    lri = parse_qs(urlsplit(authorization.login_url).query)["login_request_id"][0]
    with stack.broker.app.app_context():
        return broker_database.session().get(LoginRequest, lri)


def codes_issued(stack, authorization: Authorization) -> int:
    lri = login_request(stack, authorization).id
    with stack.broker.app.app_context():
        return broker_database.session().scalar(
            select(func.count()).where(AuthorizationCode.login_request_id == lri)
        )


class Attacker:
    """The attacker's browser: it started the authorization, so it knows `state`."""

    def __init__(self, stack) -> None:
        self.stack, self.browser = stack, stack.browser()
        self.authorization = self.browser.authorize()
        self.state = parse_qs(urlsplit(self.authorization.login_url).query)["state"][0]
        self.lri = parse_qs(urlsplit(self.authorization.login_url).query)["login_request_id"][0]

    def poll(self) -> Page:
        """Take the callback with the state, and try the consent form for the request."""
        callback = self.browser.page(
            "GET",
            f"{self.stack.broker.url}/sso/v1/connections/{broker_seed.DEV_CONNECTION_ID}"
            f"/partner:callback",
            params={"state": self.state},
        )
        consent = self.browser.page(
            "POST",
            f"{self.stack.broker.url}/oauth/consent",
            data={"login_request_id": self.lri, "decision": "approve"},
        )
        assert consent.status == 400 and "Location" not in consent.response.headers
        return callback


def signed_in_victim(stack) -> Browser:
    """A victim who signed in at the customer side earlier, for a sign-in of their own."""
    victim = stack.browser()
    own = victim.authorize()
    victim.approve(victim.follow(victim.sign_in_with_password(victim.page("GET", own.login_url))))
    return victim


def victim_completes(stack, victim: Browser, attacker: Attacker, how: str) -> Page:
    """The victim opens the forwarded link and signs in (or continues): the hand-off."""
    login = victim.page("GET", attacker.authorization.login_url)
    assert login.status == 200
    if how == "continue":
        text = login.text()
        assert "Continue as Alice Doe" in text
        # The page does not let the victim continue blind: it says what is being shared.
        assert "An application is waiting for you to finish signing in" in text
        assert "shares this account with that application" in text
        assert "If someone sent you this link, close this page." in text
        return victim.submit(login, "/login/continue")
    return victim.sign_in_with_password(login)


@pytest.mark.parametrize("how", ["continue", "password"])
def test_b12_a_forwarded_link_gives_the_attacker_no_code_and_tells_the_victim(stack, how):
    victim = signed_in_victim(stack) if how == "continue" else stack.browser()
    attacker = Attacker(stack)
    assert attacker.poll().status == 400  # nothing to take before the victim signs in

    handed_off = victim_completes(stack, victim, attacker, how)
    assert handed_off.status == 303  # the customer side posted the victim's profile
    # The profile is at the broker, the victim's browser not there yet: the attacker's best
    # moment. The state it knows no longer finishes anything.
    refused = attacker.poll()
    assert refused.status == 400 and "Error code: invalid_state" in refused.text()

    target = victim.handoff_target(handed_off)
    at_broker = victim.page("GET", target)
    assert at_broker.status == 403
    text = at_broker.text()
    assert "This sign-in was started in another browser" in text
    assert "nothing was shared with the application" in text
    assert "someone may have sent you this link" in text
    assert "Allow" not in text  # no consent form

    # Afterwards: the request is closed for good, whatever anyone presents.
    assert attacker.poll().status == 400
    assert victim.page("GET", target).status == 400
    assert attacker.browser.page("GET", target).status == 400
    assert login_request(stack, attacker.authorization).status == "refused"
    assert codes_issued(stack, attacker.authorization) == 0


def test_b12_the_completion_value_alone_does_not_finish_in_the_attackers_browser(stack):
    """Even with the victim's completion URL (say it leaked), the attacker's browser, which
    holds the binding, cannot finish — once the victim's browser presented it, it is spent."""
    victim = stack.browser()
    attacker = Attacker(stack)
    handed_off = victim_completes(stack, victim, attacker, "password")
    completion_url = victim.handoff_target(handed_off)
    assert victim.page("GET", completion_url).status == 403
    assert attacker.browser.page("GET", completion_url).status == 400
    assert codes_issued(stack, attacker.authorization) == 0


def test_b12_the_starting_browser_finishes_with_the_completion_value(stack):
    """The legitimate path: the browser that started the sign-in returns with the value."""
    browser = stack.browser()
    authorization = browser.authorize()
    handed_off = browser.sign_in_with_password(browser.page("GET", authorization.login_url))
    target = browser.handoff_target(handed_off)
    location = urlsplit(target)
    assert set(parse_qs(location.query)) == {"completion"}  # not the state: B12
    assert len(parse_qs(location.query)["completion"][0]) >= 43  # 256 bits
    redirect = browser.approve(browser.page("GET", target))
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200
    # The completion value is single-use.
    assert browser.page("GET", target).status == 400


def test_b12_state_only_mode_is_the_documented_contract_where_a_forwarded_link_wins(stack):
    """Residual risk, shown: a broker that finishes on `state` alone (the hosted broker's
    documented contract) lets the attacker take the victim's sign-in. The customer side's only
    defence there is the page that tells the victim what continuing shares (asserted above)."""
    with stack.broker_configured(CALLBACK_MODE="state-only"):
        victim = signed_in_victim(stack)
        attacker = Attacker(stack)
        handed_off = victim_completes(stack, victim, attacker, "continue")
        target = victim.handoff_target(handed_off)
        assert parse_qs(urlsplit(target).query) == {"state": [attacker.state]}  # contract §4

        consent = attacker.poll()  # the attacker's browser wins the race
        assert consent.status == 200 and "Allow" in consent.text()
        redirect = attacker.browser.approve(consent)
        tokens = attacker.browser.exchange(redirect["code"][0], attacker.authorization.verifier)
        assert tokens.status_code == 200  # the victim's identity in the attacker's tokens
        assert victim.page("GET", target).status == 400  # the victim comes second


@pytest.mark.parametrize("mode", ["bound", "state-only"])
def test_customer_side_completes_against_either_broker_mode(stack, mode):
    with stack.broker_configured(CALLBACK_MODE=mode):
        browser = stack.browser()
        authorization = browser.authorize()
        handed_off = browser.sign_in_with_password(browser.page("GET", authorization.login_url))
        target = browser.handoff_target(handed_off)
        query = parse_qs(urlsplit(target).query)
        assert set(query) == ({"completion"} if mode == "bound" else {"state"})
        redirect = browser.approve(browser.page("GET", target))
        assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200


def test_b12_c3_a_redirect_uri_off_the_brokers_callback_is_refused(stack):
    """The broker's answer only chooses the query: a `redirect_uri` elsewhere is never
    followed (QA switch `foreign_callback`); the user gets the hand-off failure page."""
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    faults.inject_switch(stack.broker.app, faults.FOREIGN_CALLBACK, 1)
    failed = browser.sign_in_with_password(login)
    assert failed.status == 502
    assert "Location" not in failed.response.headers
    assert "callback.invalid" not in failed.response.text
