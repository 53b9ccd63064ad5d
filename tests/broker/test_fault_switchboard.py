"""The fault switchboard: each endpoint fault and behaviour switch, from Python, the CLI and the
dev page. Slow faults use a short delay and a shorter client timeout, never a sleep."""

from __future__ import annotations

import pytest
import requests

from mock_broker import database, faults
from mock_broker.models import LoginRequest
from mock_broker.seed import DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, csrf_token, redirect_query

METADATA = f"/.well-known/oauth-authorization-server/resources/{DEV_RESOURCE_ID}"


@pytest.fixture(autouse=True)
def no_faults_left(broker):
    yield
    faults.clear(broker.app)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, "server_error"),
        (400, "invalid_request"),
        (401, "invalid_token"),
        (404, "not_found"),
        (409, "login_request_completed"),
        (410, "login_request_expired"),
    ],
)
def test_user_endpoint_answers_each_contract_error(broker, status, error):
    flow = broker.start_login()
    faults.inject(broker.app, faults.USER_ENDPOINT, status=status)

    response = flow.post_profile()

    assert response.status_code == status
    assert response.json()["error"] == error
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert flow.post_profile().status_code == 200  # one call only


def test_user_endpoint_timeout(broker):
    flow = broker.start_login()
    faults.inject_delay(broker.app, faults.USER_ENDPOINT, seconds=1.0)

    with pytest.raises(requests.Timeout):
        requests.post(
            f"{broker.url}/api/v1/connections/conn_dev/auth-requests/{flow.login_request_id}/user",
            json={"sub": "1", "email": "a@b.c"},
            headers={"Authorization": f"Bearer {broker.cached_m2m_token()}"},
            timeout=0.3,
        )


def test_slow_then_failing(broker):
    faults.inject(broker.app, faults.TOKEN_ENDPOINT, status=503, delay=0.2)

    response = broker.token_request({"grant_type": "client_credentials"})

    assert response.status_code == 503
    assert response.elapsed.total_seconds() >= 0.2


@pytest.mark.parametrize(
    ("target", "method", "path"),
    [
        (faults.METADATA_ENDPOINT, "GET", METADATA),
        (faults.JWKS_ENDPOINT, "GET", "/keys"),
        (faults.REVOCATION_ENDPOINT, "POST", "/oauth/revoke"),
        (faults.INTROSPECTION_ENDPOINT, "POST", "/oauth/introspect"),
        (
            faults.REGISTRATION_ENDPOINT,
            "POST",
            f"/api/v1/resources/{DEV_RESOURCE_ID}/clients:register",
        ),
        (faults.AUTHORIZATION_ENDPOINT, "GET", "/oauth/authorize"),
        (faults.CALLBACK_ENDPOINT, "GET", "/sso/v1/connections/conn_dev/partner:callback"),
    ],
)
def test_any_endpoint_can_be_made_slow(broker, target, method, path):
    faults.inject_delay(broker.app, target, seconds=1.0)

    with pytest.raises(requests.Timeout):
        requests.request(method, broker.url + path, timeout=0.3)


@pytest.mark.parametrize(
    ("target", "path", "kind"),
    [
        (faults.METADATA_ENDPOINT, METADATA, "json"),
        (faults.AUTHORIZATION_ENDPOINT, "/oauth/authorize", "html"),
    ],
)
def test_any_endpoint_can_fail(broker, target, path, kind):
    faults.inject(broker.app, target, status=502)

    response = requests.get(broker.url + path, timeout=TIMEOUT)

    assert response.status_code == 502
    if kind == "json":
        assert response.json()["error"] == "server_error"
    else:
        assert response.headers["Content-Type"].startswith("text/html")


def test_a_failing_metadata_endpoint_keeps_cors(broker):
    faults.inject(broker.app, faults.METADATA_ENDPOINT, status=503)

    response = requests.get(broker.url + METADATA, timeout=TIMEOUT)

    assert response.status_code == 503
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_early_expiry_of_login_requests(broker):
    faults.inject_switch(broker.app, faults.EARLY_EXPIRY, lifetime=5)

    short = broker.start_login()
    normal = broker.start_login()

    with broker.app.app_context():
        db = database.session()
        for flow, seconds in ((short, 5), (normal, 600)):
            row = db.get(LoginRequest, flow.login_request_id)
            assert (row.expires_at - row.created_at).total_seconds() == pytest.approx(
                seconds, abs=1
            )


def test_wrong_iss_in_the_authorization_response(broker):
    flow = broker.start_login()
    flow.post_profile()
    faults.inject_switch(broker.app, faults.WRONG_ISS)

    query = redirect_query(flow.decide("approve"))

    assert query["code"]
    assert query["iss"] != broker.issuer
    again = broker.start_login()
    again.post_profile()
    assert redirect_query(again.decide("approve"))["iss"] == broker.issuer  # once only


def test_wrong_iss_applies_to_error_responses_too(broker):
    faults.inject_switch(broker.app, faults.WRONG_ISS)

    response = broker.authorize(scope="notes:admin")

    assert redirect_query(response)["iss"] != broker.issuer


def test_metadata_issuer_mismatch(broker):
    faults.inject_switch(broker.app, faults.METADATA_ISSUER_MISMATCH, count=2)

    issuers = [
        requests.get(broker.url + METADATA, timeout=TIMEOUT).json()["issuer"] for _ in range(3)
    ]

    assert issuers == [broker.issuer + "/", broker.issuer + "/", broker.issuer]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"switch": "no_such_switch"},
        {"switch": faults.EARLY_EXPIRY},
        {"switch": faults.EARLY_EXPIRY, "lifetime": 0},
        {"switch": faults.WRONG_ISS, "count": 0},
    ],
)
def test_inject_switch_refuses_nonsense(broker, kwargs):
    with pytest.raises(ValueError):
        faults.inject_switch(broker.app, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": None},
        {"delay": -1},
        {"delay": faults.MAX_DELAY + 1},
    ],
)
def test_inject_refuses_bad_delays(broker, kwargs):
    with pytest.raises(ValueError):
        faults.inject(broker.app, faults.USER_ENDPOINT, **kwargs)


def test_cli_arms_delays_and_switches(broker):
    runner = broker.app.test_cli_runner()

    slow = runner.invoke(args=["inject-fault", "jwks_endpoint", "--delay", "1", "--slow-only"])
    switch = runner.invoke(args=["arm-switch", "early_expiry", "--lifetime", "3", "--count", "2"])
    refused = runner.invoke(args=["arm-switch", "early_expiry"])

    assert slow.exit_code == 0, slow.output
    assert "answer normally after 1 s" in slow.output
    assert switch.exit_code == 0, switch.output
    assert refused.exit_code != 0
    with broker.app.app_context():
        armed = {fault.target: fault for fault in faults.active_faults(database.session())}
    assert (armed["jwks_endpoint"].status, armed["jwks_endpoint"].delay_seconds) == (0, 1.0)
    assert (armed["early_expiry"].lifetime_seconds, armed["early_expiry"].remaining_count) == (3, 2)


def test_dev_page_arms_a_switch_and_a_slow_endpoint(broker):
    browser = requests.Session()
    page = browser.get(f"{broker.url}/dev/faults", timeout=TIMEOUT)
    token = csrf_token(page.text)

    switched = browser.post(
        f"{broker.url}/dev/faults",
        data={"csrf_token": token, "action": "switch", "switch": "wrong_iss", "count": "2"},
        timeout=TIMEOUT,
    )
    slowed = browser.post(
        f"{broker.url}/dev/faults",
        data={
            "csrf_token": token,
            "action": "inject",
            "target": "metadata_endpoint",
            "status": "",
            "delay": "0.5",
            "count": "1",
        },
        timeout=TIMEOUT,
    )

    assert "Switch armed." in switched.text
    assert "Fault armed." in slowed.text
    assert "wrong_iss" in slowed.text and "metadata_endpoint" in slowed.text
    forged = requests.post(
        f"{broker.url}/dev/faults",
        data={"action": "switch", "switch": "wrong_iss"},
        timeout=TIMEOUT,
    )
    assert forged.status_code == 400
