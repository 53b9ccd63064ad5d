"""C23: what the OpenID specs say a relying party must refuse, refused through both apps.

Each test makes the stand-in provider (or its configuration) wrong in one way and checks that
nobody is signed in, nothing is stored under another issuer, and the user gets the method's
page with a way back. The id_token's `aud` (OIDC Core §3.1.3.7) is in
test_oidc_linking.py::test_faulty_id_token_is_refused ("foreign_audience").
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from tests.test_oidc_linking import at_provider, audit_events, to_provider, user_by_email

pytestmark = pytest.mark.integration


def test_discovery_document_naming_another_issuer_is_refused(standin):
    """OIDC Discovery §4.3: the document's `issuer` must be the configured issuer; otherwise
    tokens would be checked against, and identities stored under, an issuer nobody chose."""
    stack = standin(
        ISSUER="https://idp.example",
        DISCOVERY_URL="{upstream}/.well-known/openid-configuration",
    )
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    started = browser.submit(login, "/login/oidc/standin/start")
    assert started.status == 502 and "is not set up correctly" in started.text()
    assert "Location" not in started.response.headers  # never sent to that provider
    failure = audit_events(stack, "oidc.sign_in_failed")[-1].detail
    assert failure["reason"] == "untrusted_metadata" and stack.upstream.url in failure["detail"]
    # The way back works and another method still completes the same login request.
    assert browser.page("GET", started.href("a.button")).status == 200
    assert browser.sign_in_with_password(browser.page("GET", authorization.login_url)).status == 303


def test_the_configured_issuer_is_what_the_document_must_name(standin):
    """The positive side: ISSUER and DISCOVERY_URL together, agreeing, sign in."""
    stack = standin(
        ISSUER="{upstream}", DISCOVERY_URL="{upstream}/.well-known/openid-configuration"
    )
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    back = at_provider(browser, form_page, username="uma", email="uma@example.com")
    assert browser.page("GET", back).status == 303


def test_response_without_iss_from_a_provider_that_sends_it_is_refused(standin):
    """RFC 9207 §2.4: the stand-in advertises authorization_response_iss_parameter_supported,
    so a response without `iss` (an attacker's mix-up strips it) must be refused."""
    stack = standin()
    browser = stack.browser()
    _, form_page, _ = to_provider(browser, stack)
    callback = urlsplit(at_provider(browser, form_page, username="vic", email="vic@example.com"))
    query = parse_qs(callback.query)
    assert query.pop("iss") == [stack.upstream.url]
    stripped = urlunsplit(callback._replace(query=urlencode(query, doseq=True)))
    back = browser.page("GET", stripped)
    assert back.status == 400 and "could not confirm that the answer came from" in back.text()
    assert user_by_email(stack, "vic@example.com") is None
    assert audit_events(stack, "oidc.sign_in_failed")[-1].detail["detail"] == "no iss parameter"
