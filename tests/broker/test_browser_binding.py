"""B12 at the broker: the callback finishes only with the one-time completion value, in the
browser that called /oauth/authorize. (The whole attack through both apps is in
tests/test_forwarded_link.py.)"""

from __future__ import annotations

import requests

from mock_broker import database
from mock_broker.models import LoginRequest
from mock_broker.seed import DEV_CONNECTION_ID
from tests.broker.flows import TIMEOUT


def _status(broker, login_request_id: str) -> str:
    with broker.app.app_context():
        return database.session().get(LoginRequest, login_request_id).status


def test_b12_the_state_alone_no_longer_finishes(broker):
    flow = broker.start_login()
    assert flow.post_profile().status_code == 200
    refused = flow.callback(state=flow.broker_state)  # the right browser, but only the state
    assert refused.status_code == 400 and "<title>invalid_state" in refused.text
    assert "redirect_uri its profile post was answered with" in refused.text  # says why (QA)
    assert flow.callback().status_code == 200  # the completion URL still works


def test_b12_another_browser_with_the_completion_value_is_refused_and_closes_it(broker):
    flow = broker.start_login()
    flow.post_profile()
    stranger = requests.Session()
    refused = flow.callback(browser=stranger)
    assert refused.status_code == 403
    assert (
        "<title>other_browser" in refused.text and "started in a different browser" in refused.text
    )
    assert _status(broker, flow.login_request_id) == "refused"
    # Closed for good: the browser that started it cannot finish it now, nor can a new post.
    assert flow.callback().status_code == 400
    assert flow.post_profile().status_code == 409


def test_b12_a_browser_with_another_binding_is_refused(broker):
    """Two browsers that each started a sign-in: each one's value works only in its own."""
    mine, theirs = broker.start_login(), broker.start_login()
    mine.post_profile()
    theirs.post_profile()
    assert mine.callback(browser=theirs.browser).status_code == 403
    assert theirs.callback().status_code == 200


def test_b12_the_completion_value_is_tied_to_its_connection(broker):
    flow = broker.start_login()
    flow.post_profile()
    elsewhere = flow.callback_uri.replace(f"/connections/{DEV_CONNECTION_ID}/", "/connections/x/")
    assert flow.browser.get(elsewhere, allow_redirects=False, timeout=TIMEOUT).status_code == 400
    assert flow.callback().status_code == 200


def test_b12_a_completion_value_before_any_profile_post_does_not_exist(broker):
    flow = broker.start_login()
    url = f"{broker.url}/sso/v1/connections/{DEV_CONNECTION_ID}/partner:callback"
    for value in ("", "x" * 600, "guess"):
        response = flow.browser.get(url, params={"completion": value}, timeout=TIMEOUT)
        assert response.status_code == 400 and "<title>invalid_state" in response.text
    assert _status(broker, flow.login_request_id) == "pending"
