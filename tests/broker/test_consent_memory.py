"""Remembered consent (REMEMBER_CONSENT): skip the page for what was approved, prompt=consent."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from mock_broker import consent_memory, database
from mock_broker.models import ConsentGrant, LoginRequest
from tests import databases
from tests.broker.flows import TIMEOUT, Broker, csrf_token, live_broker, redirect_query


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


@pytest.fixture
def broker_on_postgresql() -> Iterator[Broker]:
    """A broker on PostgreSQL whatever TEST_DATABASE says: the race below needs a server that
    makes one transaction wait on another's uncommitted row (SQLite locks the whole file)."""
    with live_broker(databases.postgresql_url(), REMEMBER_CONSENT=True) as running:
        yield running


def test_two_approvals_finishing_at_once_both_count(broker_on_postgresql):
    """Two tabs approve at once: the second must wait for the first's new row and add to it,
    not fail on the unique key (a check-then-insert did: the row was invisible until commit)."""
    broker, sub = broker_on_postgresql, secrets.token_hex(4)
    flows = [broker.start_login(scope=scope) for scope in ("notes:read", "notes:write")]
    for flow in flows:  # both tabs at the consent page
        assert flow.post_profile(sub=sub).status_code == 200
        assert flow.callback().status_code == 200
    engine = broker.app.extensions["mock_broker.db"].kw["bind"]
    with broker.app.app_context():
        first, second = (database.session().get(LoginRequest, f.login_request_id) for f in flows)
        key = {"user_id": first.user_id, "client_id": first.client_id}
        key["resource_id"] = first.resource_id

    # The first approval has inserted the row and not committed yet…
    with Session(engine) as first_tab:
        now = database.utcnow()
        first_tab.execute(
            postgresql.insert(ConsentGrant).values(
                **key, scope="notes:read", created_at=now, updated_at=now
            )
        )
        # …when the second one remembers its own scope, in another thread.
        outcome: list[BaseException | None] = []

        def second_tab() -> None:
            try:
                with broker.app.app_context():
                    consent_memory.remember(database.session(), second)
                outcome.append(None)
            except BaseException as error:  # reported to the test below
                outcome.append(error)

        thread = threading.Thread(target=second_tab)
        thread.start()
        databases.wait_until_a_backend_waits_for_a_lock(engine)
        first_tab.commit()
    thread.join(timeout=30)

    assert outcome == [None]
    with broker.app.app_context():
        [grant] = consent_memory.all_grants(database.session())
        assert sorted(grant.scope.split()) == ["notes:read", "notes:write"]
