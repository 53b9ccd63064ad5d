"""Remembered consent (REMEMBER_CONSENT): skip the page for what was approved, prompt=consent."""

from __future__ import annotations

import secrets

import pytest
import requests

from mock_broker import consent_memory, database
from tests.broker.flows import TIMEOUT, csrf_token, redirect_query


@pytest.fixture
def remembering(broker):
    with broker.configured(REMEMBER_CONSENT=True):
        yield
    with broker.app.app_context():
        consent_memory.forget(database.session())


def _sign_in(broker, sub: str, **overrides):
    """Up to the callback; returns the flow and the callback's response."""
    flow = broker.start_login(**overrides)
    assert flow.post_profile(sub=sub).status_code == 200
    return flow, flow.callback()


def test_an_approved_client_skips_the_consent_page(broker, remembering):
    sub = secrets.token_hex(4)
    flow, page = _sign_in(broker, sub)
    assert page.status_code == 200
    assert flow.submit_consent(page.text, "approve").status_code == 302

    again, response = _sign_in(broker, sub)

    assert response.status_code == 302
    query = redirect_query(response)
    assert response.headers["Location"].startswith(broker.demo_redirect_uri + "?")
    assert query["state"] == again.client_state
    assert query["iss"] == broker.issuer
    assert again.exchange(query["code"]).status_code == 200


def test_fewer_scopes_are_covered_more_are_asked(broker, remembering):
    sub = secrets.token_hex(4)
    flow, page = _sign_in(broker, sub, scope="notes:read notes:write")
    flow.submit_consent(page.text, "approve")

    assert _sign_in(broker, sub, scope="notes:read")[1].status_code == 302
    assert _sign_in(broker, sub, scope="notes:read offline_access")[1].status_code == 200


def test_prompt_consent_forces_the_page(broker, remembering):
    sub = secrets.token_hex(4)
    flow, page = _sign_in(broker, sub)
    flow.submit_consent(page.text, "approve")

    assert _sign_in(broker, sub, prompt="consent")[1].status_code == 200


def test_a_denial_is_not_remembered(broker, remembering):
    sub = secrets.token_hex(4)
    flow, page = _sign_in(broker, sub)
    flow.submit_consent(page.text, "deny")

    assert _sign_in(broker, sub)[1].status_code == 200


def test_consent_is_per_user(broker, remembering):
    flow, page = _sign_in(broker, secrets.token_hex(4))
    flow.submit_consent(page.text, "approve")

    assert _sign_in(broker, secrets.token_hex(4))[1].status_code == 200


def test_without_remember_consent_the_page_is_always_shown(broker):
    sub = secrets.token_hex(4)
    flow, page = _sign_in(broker, sub)
    flow.submit_consent(page.text, "approve")

    assert _sign_in(broker, sub)[1].status_code == 200


def test_the_qa_page_lists_and_forgets_consents(broker, remembering):
    sub = secrets.token_hex(4)
    flow, page = _sign_in(broker, sub)
    flow.submit_consent(page.text, "approve")
    browser = requests.Session()
    listing = browser.get(f"{broker.url}/dev/consents", timeout=TIMEOUT)
    assert listing.status_code == 200
    assert sub in listing.text
    grant_id = listing.text.split(f'data-sub="{sub}"')[1].split('value="')[1].split('"')[0]

    forgotten = browser.post(
        f"{broker.url}/dev/consents",
        data={"csrf_token": csrf_token(listing.text), "grant_id": grant_id},
        timeout=TIMEOUT,
    )

    assert "Consent forgotten." in forgotten.text
    assert _sign_in(broker, sub)[1].status_code == 200
    forged = requests.post(f"{broker.url}/dev/consents", data={"grant_id": "1"}, timeout=TIMEOUT)
    assert forged.status_code == 400
