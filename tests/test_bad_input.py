"""E2: bad input of any shape gets a 4xx page with a message, never a 500, and loses nothing."""

from __future__ import annotations

import random
import string

import pytest
from sqlalchemy import func, select

from identity import db, users
from identity.models import PendingLoginRequest, User
from tests.fuzz_inputs import (
    CONTROL_HEADER_VALUES,
    FOREIGN_HOSTS,
    HUGE_INTEGERS,
    ODD_TEXT,
    deep_json,
    deep_object,
    form_body,
    query_string,
    routes,
)
from tests.helpers import csrf_token

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: x=1",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%",
    "%00",
    "\U0001f600" * 10,
    "é" * 300,
    "x" * 5000,
    "lri_" + "9" * 200,
    "{{7*7}}",
]


def _random_text(rng: random.Random) -> str:
    alphabet = string.printable + "éß漢字\u202e\x00"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))


@pytest.fixture
def seeded(app, runner):
    runner.invoke(args=["seed-demo"], catch_exceptions=False)
    return app


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        session = db.session()
        return (
            session.scalar(select(func.count()).select_from(User)),
            session.scalar(select(func.count()).select_from(PendingLoginRequest)),
        )


@pytest.mark.parametrize("value", NASTY)
def test_e2_nasty_login_parameters(client, value):
    for query in (
        {"login_request_id": value, "state": "ok"},
        {"login_request_id": "lri_1", "state": value},
        {"login_request_id": value, "state": value},
    ):
        response = client.get("/login", query_string=query)
        assert response.status_code in (200, 400), (query, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("value", NASTY)
def test_e2_nasty_form_fields_on_every_post(seeded, value):
    client = seeded.test_client()
    token = csrf_token(client.get("/login?login_request_id=lri_1&state=s").get_data(as_text=True))
    users_before, _ = _counts(seeded)
    for path in ("/login/password/", "/login/continue", "/logout"):
        for data in (
            {"csrf_token": token, "login_request_id": value, "email": value, "password": value},
            {"csrf_token": token, "login_request_id": "lri_1", "email": value, "password": value},
            {"csrf_token": value, "login_request_id": "lri_1"},
            {"login_request_id": ["lri_1", "lri_2"], "email": [value, value], "csrf_token": token},
        ):
            response = client.post(path, data=data)
            assert 300 <= response.status_code < 500, (path, data, response.status_code)
    assert _counts(seeded)[0] == users_before


def test_e2_random_inputs_never_500(seeded):
    rng = random.Random(20261126)  # fixed seed: deterministic, reproducible
    client = seeded.test_client()
    token = csrf_token(client.get("/login?login_request_id=lri_1&state=s").get_data(as_text=True))
    for _ in range(150):
        path = rng.choice(["/login", "/login/password/", "/login/continue", "/logout", "/"])
        fields = {
            rng.choice(["login_request_id", "state", "email", "password", "x"]): _random_text(rng)
            for _ in range(rng.randint(0, 4))
        }
        if rng.random() < 0.7:
            fields["csrf_token"] = token
        if path in ("/login", "/"):
            response = client.get(path, query_string=fields)
        else:
            response = client.post(path, data=fields)
        assert response.status_code < 500, (path, fields)


def test_e2_oversized_body_is_413(client):
    response = client.post("/login/password/", data={"password": "x" * 200_000})
    assert response.status_code == 413
    assert "larger than this site accepts" in response.get_data(as_text=True)


def test_e2_not_found_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no page at this address." in response.get_data(as_text=True)


# -- The classes of a fuzzing run, on every route; tables in tests/fuzz_inputs.py -----------------

#: Every name a form or query of the customer side reads.
_FIELDS = (
    "login_request_id",
    "state",
    "email",
    "password",
    "token",
    "csrf_token",
    "magic_link-email",
    "magic_link-login_request_id",
    "code-code",
    "code-login_request_id",
)
_FORM = {"content_type": "application/x-www-form-urlencoded"}


def _signed_in_browser(seeded):
    """A test client holding a pending login request and a CSRF token, as a real browser has."""
    client = seeded.test_client()
    page = client.get("/login?login_request_id=lri_1&state=s").get_data(as_text=True)
    return client, csrf_token(page)


def _send(client, method: str, path: str, fields: dict[str, str], **kwargs):
    if method == "GET":
        return client.get(f"{path}?{query_string(fields)}", **kwargs)
    return client.post(path, data=form_body(fields), **_FORM, **kwargs)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_e2_a_foreign_host_header_on_every_route(seeded, host):
    client, token = _signed_in_browser(seeded)
    fields = {"csrf_token": token, "login_request_id": "lri_1", "state": "s"}
    for method, path in routes(seeded):
        response = _send(client, method, path, fields, headers={"Host": host})
        assert response.status_code < 500, (method, path, response.status_code)


@pytest.mark.parametrize("value", ODD_TEXT + HUGE_INTEGERS)
def test_e2_odd_text_and_huge_numbers_in_every_field_of_every_route(seeded, value):
    """Lone surrogates (as the bytes a fuzzer sends), NULs, controls and integers past 64 bits
    in every field name the customer side reads, with and without a valid CSRF token."""
    client, token = _signed_in_browser(seeded)
    users_before, _ = _counts(seeded)
    for method, path in routes(seeded):
        for name in _FIELDS:
            for csrf in (token, value):
                fields = {"csrf_token": csrf, "login_request_id": "lri_1", name: value}
                response = _send(client, method, path, fields)
                assert response.status_code < 500, (method, path, name, response.status_code)
    assert _counts(seeded)[0] == users_before


def test_e2_deeply_nested_json_bodies_on_every_route(seeded):
    client, _ = _signed_in_browser(seeded)
    for method, path in routes(seeded):
        if method != "POST":
            continue
        for body in (deep_json(), deep_object("login_request_id")):
            response = client.post(path, data=body, content_type="application/json")
            assert response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize("value", CONTROL_HEADER_VALUES)
def test_e2_control_characters_in_headers_on_every_route(seeded, value):
    client, token = _signed_in_browser(seeded)
    fields = {"csrf_token": token, "login_request_id": "lri_1", "state": "s"}
    headers = {
        "User-Agent": value,
        "Accept-Language": value,
        "X-Request-Id": value,
        "X-Forwarded-For": value,
        "Referer": value,
    }
    for method, path in routes(seeded):
        response = _send(client, method, path, fields, headers=headers)
        assert response.status_code < 500, (method, path, response.status_code)
        cookie = _send(client, method, path, fields, headers={"Cookie": f"session={value}"})
        assert cookie.status_code < 500, (method, path, cookie.status_code)


def test_e2_control_characters_in_the_user_agent_never_reach_the_email(stack):
    """The magic-link email quotes the requesting browser; a NUL (or any control character)
    in `User-Agent` was copied into it verbatim. Quoted text is stripped of them."""
    email = "fuzz-user-agent@example.com"
    with stack.idp.app.app_context():
        if db.session().scalar(select(User).where(User.email == email)) is None:
            users.create_user(email, email_verified=True)
            db.session().commit()
    browser = stack.browser()
    browser.headers["User-Agent"] = "Mozilla\x00/5.0 \x1b[31mred\x07 \x85next\x7f\tend"
    login = browser.page("GET", browser.authorize().login_url)
    asked = browser.submit(login, "/login/magic_link/", **{"magic_link-email": email})
    assert asked.status == 303, asked.text()

    message = stack.mail.wait_for(email)[-1]
    for part in ("plain", "html"):
        text = message.get_body(preferencelist=(part,)).get_content()
        quoted = text[text.index("Mozilla") :].split(")", 1)[0]
        assert quoted == "Mozilla/5.0 [31mred nextend", (part, quoted)


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_e2_a_number_past_a_double_in_custom_attributes_is_refused(app, runner, number):
    """json.loads reads 1e400 as infinity, which is not JSON: PostgreSQL would refuse the row
    (a traceback) and the profile posted to the broker would carry `Infinity`. Every write of
    custom_attributes goes through identity/profile_fields.py, which now refuses it."""
    password = ["--password", "a fine long passphrase"]
    attributes = ["--attributes", f'{{"n": {number}}}']
    created = runner.invoke(args=["create-user", "inf@example.com", *password, *attributes])

    assert created.exit_code == 1, created.output
    assert "custom_attributes" in created.output
    assert "Traceback" not in created.output
    with app.app_context():
        assert db.session().scalar(select(User).where(User.email == "inf@example.com")) is None
