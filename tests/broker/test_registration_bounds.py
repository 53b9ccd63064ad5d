"""E4 at dynamic client registration: clients that re-register on every restart (42 identical
registrations of one client were seen) and anyone looping over the open endpoint.

- registrations are limited per client address (`REGISTRATION_ADDRESS_LIMIT` per
  `REGISTRATION_ADDRESS_WINDOW`), counted in the database so that every instance shares the
  count; beyond it 429 with `Retry-After`, and nothing is stored;
- `housekeeping` deletes dynamically registered clients never used (no code ever issued to
  them) once `UNUSED_CLIENT_TTL` has passed since they registered;
- the QA view of clients counts registrations per client name and software_id.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from mock_broker import create_app, database
from mock_broker.config import ConfigError
from mock_broker.models import (
    AuthorizationCode,
    LoginRequest,
    OAuthClient,
    RateLimitCounter,
    RegistrationMethod,
)
from mock_broker.seed import DEMO_CLIENT_ID, DEV_RESOURCE_ID
from tests.broker.flows import TIMEOUT, live_broker
from tests.databases import database_url

PATH = f"/api/v1/resources/{DEV_RESOURCE_ID}/clients:register"
LIMIT = 3


@pytest.fixture
def broker(tmp_path):
    """A private broker behind one trusted proxy hop, so tests choose the client address."""
    with live_broker(
        database_url(tmp_path, "broker"),
        REGISTRATION_ADDRESS_LIMIT=LIMIT,
        REGISTRATION_ADDRESS_WINDOW=600,
        TRUSTED_PROXY_HOPS=1,
    ) as running:
        yield running


def register(broker, address: str = "203.0.113.5", **metadata: object) -> requests.Response:
    body = {
        "client_name": "Agent",
        "redirect_uris": ["http://127.0.0.1:7777/callback"],
        "token_endpoint_auth_method": "none",
        **metadata,
    }
    return requests.post(
        f"{broker.url}{PATH}", json=body, headers={"X-Forwarded-For": address}, timeout=TIMEOUT
    )


def dcr_clients(broker) -> int:
    with broker.app.app_context():
        return database.session().scalar(
            select(func.count())
            .select_from(OAuthClient)
            .where(OAuthClient.registration_method == RegistrationMethod.DCR)
        )


def age(broker, model, *where, **older_by: timedelta) -> None:
    """Move the clock for some rows: their timestamps go `older_by` into the past."""
    with broker.app.app_context():
        db = database.session()
        for row in db.scalars(select(model).where(*where)):
            for column, delta in older_by.items():
                setattr(row, column, getattr(row, column) - delta)
        db.commit()


def test_e4_registrations_are_limited_per_client_address(broker):
    accepted = [register(broker).status_code for _ in range(LIMIT)]

    refused = register(broker)
    elsewhere = register(broker, address="203.0.113.6")

    assert accepted == [201] * LIMIT
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert refused.json()["error"] == "too_many_registrations"
    assert "reuse" in refused.json()["error_description"]
    assert refused.headers["Cache-Control"] == "no-store"
    assert elsewhere.status_code == 201
    assert dcr_clients(broker) == LIMIT + 1  # the refused one stored nothing


def test_e4_refused_metadata_does_not_count(broker):
    for _ in range(LIMIT + 2):
        assert register(broker, redirect_uris=["javascript:alert(1)"]).status_code == 400

    assert [register(broker).status_code for _ in range(LIMIT)] == [201] * LIMIT


def test_e4_the_count_starts_again_when_the_window_ends(broker):
    for _ in range(LIMIT):
        register(broker)
    assert register(broker).status_code == 429

    age(broker, RateLimitCounter, window_started_at=timedelta(seconds=601))

    assert register(broker).status_code == 201


def test_e4_every_instance_shares_the_count(tmp_path):
    url = database_url(tmp_path, "shared")
    settings = {"REGISTRATION_ADDRESS_LIMIT": LIMIT, "TRUSTED_PROXY_HOPS": 1}
    with live_broker(url, **settings) as first, live_broker(url, **settings) as second:
        answers = [register(broker).status_code for broker in (first, second, first, second)]

    assert answers == [201, 201, 201, 429]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REGISTRATION_ADDRESS_LIMIT", "many"),
        ("REGISTRATION_ADDRESS_LIMIT", "0"),
        ("REGISTRATION_ADDRESS_WINDOW", "-5"),
        ("UNUSED_CLIENT_TTL", "0"),
    ],
)
def test_e3_bad_registration_bounds_refuse_to_start(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(f"MOCK_BROKER_{name}", value)

    with pytest.raises(ConfigError, match=name):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


# --- Unused clients expire at housekeeping ------------------------------------------------


def _age(broker, client_id: str, by: timedelta) -> None:
    age(broker, OAuthClient, OAuthClient.id == client_id, created_at=by)


def _exists(broker, client_id: str) -> bool:
    with broker.app.app_context():
        return database.session().get(OAuthClient, client_id) is not None


def test_e4_housekeeping_deletes_dynamic_clients_never_used_after_the_ttl(broker):
    ttl = broker.app.config["UNUSED_CLIENT_TTL"]
    unused, used, young, waiting = (
        register(broker, address=f"203.0.113.{n}").json()["client_id"] for n in range(10, 14)
    )
    flow = broker.start_login(client_id=used, redirect_uri="http://127.0.0.1:7777/callback")
    flow.code()  # a user signed in and consented: the client was used …
    for model in (AuthorizationCode, LoginRequest):  # … long ago: its rows go in this run
        age(broker, model, model.client_id == used, expires_at=timedelta(days=40))
    forgotten = broker.app.test_cli_runner().invoke(args=["forget-consents"])
    assert forgotten.exit_code == 0  # nothing refers to it any more; it was used all the same
    broker.start_login(client_id=waiting, redirect_uri="http://127.0.0.1:7777/callback")
    for client_id in (unused, used, waiting, DEMO_CLIENT_ID):
        _age(broker, client_id, timedelta(seconds=ttl + 60))
    _age(broker, young, timedelta(seconds=ttl - 600))

    result = broker.app.test_cli_runner().invoke(args=["housekeeping"])

    assert result.exit_code == 0, result.output
    assert "oauth_clients: 1 deleted" in result.output
    assert "authorization_codes: 1 deleted" in result.output
    assert not _exists(broker, unused)
    assert _exists(broker, used)
    assert _exists(broker, young)
    assert _exists(broker, waiting)  # a sign-in is under way with it
    assert _exists(broker, DEMO_CLIENT_ID)  # operator-registered clients never expire
    gone = broker.authorize(client_id=unused, redirect_uri="http://127.0.0.1:7777/callback")
    assert gone.status_code == 400 and "invalid_client" in gone.text


def test_e4_the_unused_client_ttl_is_configurable(broker):
    client_id = register(broker).json()["client_id"]
    _age(broker, client_id, timedelta(days=2))

    with broker.configured(UNUSED_CLIENT_TTL=3 * 86400):
        kept = broker.app.test_cli_runner().invoke(args=["housekeeping"])
    with broker.configured(UNUSED_CLIENT_TTL=86400):
        purged = broker.app.test_cli_runner().invoke(args=["housekeeping"])

    assert "oauth_clients: 0 deleted" in kept.output
    assert "oauth_clients: 1 deleted" in purged.output
    assert not _exists(broker, client_id)


def test_e4_housekeeping_purges_ended_rate_limit_windows(broker):
    register(broker)
    age(broker, RateLimitCounter, window_started_at=timedelta(days=3))

    result = broker.app.test_cli_runner().invoke(args=["housekeeping"])

    assert "rate_limit_counters: 1 deleted" in result.output


# --- The QA view --------------------------------------------------------------------------


def test_the_clients_page_counts_registrations_per_name_and_software_id(broker):
    for n in range(3):
        register(broker, address=f"198.51.100.{n}", client_name="Cursor", software_id="cursor")
    register(broker, address="198.51.100.9", client_name="Cursor", software_id="other-build")
    register(broker, address="198.51.100.10", client_name="Inspector")

    page = requests.get(f"{broker.url}/dev/clients", timeout=TIMEOUT).text

    rows = re.findall(r"<tr class=\"registrations\">(.*?)</tr>", page, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    flat = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in row] for row in cells]
    assert flat[0] == ["Cursor", "cursor", "3", "0"]  # most registrations first
    assert ["Cursor", "other-build", "1", "0"] in flat
    assert ["Inspector", "—", "1", "0"] in flat
