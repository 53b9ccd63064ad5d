"""E2: hostile input of many shapes gets a clear 4xx (or a normal answer), never a 500."""

from __future__ import annotations

import itertools
import json

import pytest
import requests

from mock_broker import database, faults
from mock_broker.seed import (
    DEMO_CLIENT_ID,
    DEV_CONNECTION_ID,
    DEV_M2M_CLIENT_ID,
    DEV_M2M_CLIENT_SECRET,
    DEV_RESOURCE_ID,
)
from tests.broker.flows import LOGIN_ENDPOINT, TIMEOUT, csrf_token
from tests.fuzz_inputs import (
    CONTROL_HEADER_VALUES,
    FOREIGN_HOSTS,
    FORM,
    HUGE_INTEGERS,
    ONE_OF_EACH,
    deep_json,
    deep_object,
    form_body,
    query_string,
    routes,
)

NASTY = [
    "",
    " ",
    "\x00",
    "\U0001f600",
    "é",
    '"\\<>',
    "%00%ff",
    "a" * 5000,
    "http://[::1",
    "http://127.0.0.1:99999/x",
    "javascript:alert(1)",
    "\r\nSet-Cookie: x=1",
]
AUTHORIZE_PARAMS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
]


@pytest.mark.parametrize(("name", "value"), list(itertools.product(AUTHORIZE_PARAMS, NASTY)))
def test_e2_authorize_never_fails_with_a_500(broker, name, value):
    response = broker.authorize(**{name: value})

    assert response.status_code in (302, 400)
    assert "\r" not in response.headers.get("Location", "")


TOKEN_FIELDS = ["grant_type", "code", "redirect_uri", "client_id", "code_verifier", "resource"]


@pytest.mark.parametrize(("name", "value"), list(itertools.product(TOKEN_FIELDS, NASTY)))
def test_e2_token_endpoint_never_fails_with_a_500(broker, name, value):
    data = {
        "grant_type": "authorization_code",
        "code": "unknown-code",
        "redirect_uri": broker.demo_redirect_uri,
        "client_id": "demo_client",
        "code_verifier": "v" * 43,
        name: value,
    }

    response = requests.post(f"{broker.url}/oauth/token", data=data, timeout=TIMEOUT)

    assert 400 <= response.status_code < 500
    assert response.json()["error"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic !!!",
        "Basic " + "a" * 3000,
        "Basic OmZvbw==",
        "Basic w6k6w6k=",
        "Basic /w==",  # decodes to a byte that is not UTF-8
        "Basic \xff\xfe",  # not ASCII: not base64 at all
        "Bearer x",
    ],
)
def test_e2_token_endpoint_garbled_basic_auth(broker, authorization):
    response = requests.post(
        f"{broker.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": authorization},
        timeout=TIMEOUT,
    )

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("value", NASTY)
def test_e2_callback_never_fails_with_a_500(broker, value):
    response = requests.get(
        f"{broker.url}/sso/v1/connections/{DEV_CONNECTION_ID}/partner:callback",
        params={"state": value},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400


@pytest.mark.parametrize("value", NASTY[:8])
def test_e2_api_path_segments_never_fail_with_a_500(broker, value):
    response = broker.post_user(
        value or "x", {"sub": "1", "email": "a@b.c"}, connection_id=value or "y"
    )

    # 400 when the segment holds a NUL (identity.input_guard), else no such route or record.
    assert response.status_code in (400, 404, 405)


# -- Regressions: the 500s of a fuzzing run (docs/security.md, E2) -------------------------------


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_e2_a_foreign_host_header_changes_no_answer(broker, host):
    """authlib judged the transport by the URL Flask builds from `Host`, so a Host that is not
    loopback was InsecureTransportError, a 500, on the token, revocation and introspection
    endpoints. The broker's URL is configured; the Host a client sends changes nothing."""
    headers = {"Host": host}
    m2m = {
        "grant_type": "client_credentials",
        "client_id": DEV_M2M_CLIENT_ID,
        "client_secret": DEV_M2M_CLIENT_SECRET,
    }

    token = requests.post(f"{broker.url}/oauth/token", data=m2m, headers=headers, timeout=TIMEOUT)
    revoked = requests.post(
        f"{broker.url}/oauth/revoke",
        data={"token": "no-such-token", "client_id": DEMO_CLIENT_ID},
        headers=headers,
        timeout=TIMEOUT,
    )
    introspected = requests.post(
        f"{broker.url}/oauth/introspect", data={"token": "x"}, headers=headers, timeout=TIMEOUT
    )
    params = broker.authorize_params()
    params.pop("_verifier")
    authorized = requests.get(
        f"{broker.url}/oauth/authorize",
        params=params,
        headers=headers,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    metadata = requests.get(
        f"{broker.url}/.well-known/oauth-authorization-server/resources/{DEV_RESOURCE_ID}",
        headers=headers,
        timeout=TIMEOUT,
    )

    assert token.status_code == 200, token.text
    assert token.json()["access_token"]
    assert revoked.status_code == 200, revoked.text
    assert introspected.status_code == 401, introspected.text
    assert introspected.json()["error"] == "invalid_client"
    assert authorized.status_code == 302, authorized.text
    assert authorized.headers["Location"].startswith(LOGIN_ENDPOINT)
    assert metadata.json()["issuer"] == broker.issuer  # from configuration, not the Host


@pytest.mark.parametrize("field", ["client_name", "redirect_uris"])
def test_e2_a_lone_surrogate_in_registration_is_a_400_and_the_client_list_still_works(
    broker, field
):
    """A lone surrogate is valid JSON but no database stores it: it was a 500 and broke the QA
    client list (refused since B14; kept here as the fuzzing run's regression)."""
    metadata = {"client_name": "Fuzzed", "redirect_uris": ["http://127.0.0.1:5/cb"]}
    metadata[field] = "\ud800" if field == "client_name" else ["http://127.0.0.1:5/\ud800"]

    response = requests.post(
        f"{broker.url}/api/v1/resources/{DEV_RESOURCE_ID}/clients:register",
        data=json.dumps(metadata),  # ensure_ascii: the surrogate travels as its escape
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400, response.text
    assert "U+D800" in response.json()["error_description"]
    assert requests.get(f"{broker.url}/dev/clients", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("state", ["\u00e9", "\ud800", "\U0001f600", "a" * 5000])
def test_e2_demo_callback_with_a_non_ascii_state(broker, state):
    """`secrets.compare_digest` refuses non-ASCII str: a state of "é" against a demo session
    was a TypeError, a 500. Now the same page as any other wrong state."""
    browser = requests.Session()
    home = browser.get(f"{broker.url}/", timeout=TIMEOUT)
    started = browser.post(
        f"{broker.url}/demo/start",
        data={"csrf_token": csrf_token(home.text)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert started.status_code == 303

    response = browser.get(
        f"{broker.url}/demo/callback?{query_string({'state': state, 'code': 'x'})}",
        timeout=TIMEOUT,
    )

    assert response.status_code == 400, response.text
    assert "invalid_state" in response.text


#: Every integer field of the QA pages: (path, the form with {} for the value, field, range).
QA_INTEGER_FIELDS = {
    "grant_id": ("/dev/consents", {"grant_id": "{}"}, "grant_id", "1 to 2147483647"),
    "fault-count": (
        "/dev/faults",
        {"action": "inject", "target": "jwks_endpoint", "status": "503", "count": "{}"},
        "count",
        "1 to 1000000",
    ),
    "fault-status": (
        "/dev/faults",
        {"action": "inject", "target": "jwks_endpoint", "status": "{}", "count": "1"},
        "status",
        "400 to 599",
    ),
    "switch-count": (
        "/dev/faults",
        {"action": "switch", "switch": "wrong_iss", "count": "{}"},
        "count",
        "1 to 1000000",
    ),
    "switch-lifetime": (
        "/dev/faults",
        {"action": "switch", "switch": "early_expiry", "count": "1", "lifetime": "{}"},
        "lifetime",
        "1 to 86400",
    ),
}


@pytest.mark.parametrize("value", HUGE_INTEGERS)
@pytest.mark.parametrize("case", QA_INTEGER_FIELDS)
def test_e2_huge_integers_in_qa_forms_are_a_400_naming_the_field_and_its_range(broker, case, value):
    """2**63 overflowed the database's integer (a 500), and "\u00b2" passed isdigit() but not
    int(); each is now a 400 that names the field and what it accepts, and nothing is armed."""
    path, template, field, accepted = QA_INTEGER_FIELDS[case]
    armed_before = _armed(broker)
    browser = requests.Session()
    page = browser.get(f"{broker.url}/dev/faults", timeout=TIMEOUT)  # a CSRF token for both
    form = {name: text.replace("{}", value) for name, text in template.items()}

    response = browser.post(
        f"{broker.url}{path}",
        data=form_body({**form, "csrf_token": csrf_token(page.text)}),
        headers=FORM,
        allow_redirects=False,
        timeout=TIMEOUT,
    )

    assert response.status_code == 400, response.text[:300]
    assert field in response.text
    assert accepted in response.text
    assert _armed(broker) == armed_before


def _armed(broker) -> list[tuple[str, int]]:
    with broker.app.app_context():
        return [(f.target, f.remaining_count) for f in faults.active_faults(database.session())]


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1e309"])
def test_e2_a_json_number_past_a_double_in_the_profile_is_a_400(broker, number):
    """Found by extending the fuzzing: json.loads reads 1e400 as infinity, which PostgreSQL's
    json type refuses (a 500) and which SQLite kept, to sign `Infinity` — not JSON — into
    the access token. Refused when the profile is posted; the login request still waits."""
    flow = broker.start_login()
    body = b'{"sub": "u1", "email": "a@b.co", "custom_attributes": {"n": ' + number + b"}}"

    response = requests.post(
        f"{broker.url}/api/v1/connections/{DEV_CONNECTION_ID}/auth-requests/"
        f"{flow.login_request_id}/user",
        data=body,
        headers={
            "Authorization": f"Bearer {broker.cached_m2m_token()}",
            "Content-Type": "application/json",
        },
        timeout=TIMEOUT,
    )

    assert response.status_code == 400, response.text
    assert "custom_attributes" in response.json()["error_description"]
    assert flow.post_profile().status_code == 200  # nothing was lost


# -- Every class of the fuzzing run on every route (tables in tests/fuzz_inputs.py) -------------

#: Path parameters that reach the handlers' own checks (the seeded connection and resource).
_PATH_VALUES = {
    "connection_id": DEV_CONNECTION_ID,
    "resource_id": DEV_RESOURCE_ID,
    "login_request_id": "lri_fuzz",
    "filename": "style.css",
}
#: What each form-reading route reads; every other route gets all of these at once.
_FORM_FIELDS = {
    "/oauth/authorize": (*AUTHORIZE_PARAMS, "prompt"),
    "/oauth/token": (*TOKEN_FIELDS, "client_secret", "refresh_token", "scope"),
    "/oauth/revoke": ("token", "token_type_hint", "client_id", "client_secret"),
    "/oauth/introspect": ("token", "token_type_hint", "client_id", "client_secret"),
    "/oauth/consent": ("login_request_id", "decision", "csrf_token"),
    f"/sso/v1/connections/{DEV_CONNECTION_ID}/partner:callback": ("state", "completion"),
    "/demo/start": ("csrf_token",),
    "/demo/callback": ("state", "code", "iss", "error"),
    "/dev/consents": ("grant_id", "action", "csrf_token"),
    "/dev/faults": ("action", "target", "status", "error", "delay", "count", "lifetime", "switch"),
}
_ALL_FIELDS = tuple(dict.fromkeys(name for names in _FORM_FIELDS.values() for name in names))
_PROFILE_FIELDS = ("sub", "email", "name", "given_name", "picture", "locale", "phone_number")
_PROFILE_FIELDS += ("groups", "roles", "organization_external_name", "custom_attributes")
_DCR_FIELDS = ("client_name", "redirect_uris", "client_uri", "logo_uri", "contacts", "scope")
_DCR_FIELDS += ("grant_types", "token_endpoint_auth_method", "software_id")


def _qa_browser(broker) -> tuple[requests.Session, str]:
    """A browser with a CSRF token and a started demo sign-in in its session."""
    browser = requests.Session()
    token = csrf_token(browser.get(f"{broker.url}/dev/faults", timeout=TIMEOUT).text)
    started = browser.post(
        f"{broker.url}/demo/start",
        data={"csrf_token": token},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert started.status_code == 303
    return browser, token


def _send(browser, method: str, url: str, fields: dict[str, str], **headers: str):
    if method == "GET":
        return browser.get(
            f"{url}?{query_string(fields)}", headers=headers, allow_redirects=False, timeout=TIMEOUT
        )
    return browser.post(
        url,
        data=form_body(fields),
        headers={**FORM, **headers},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def _json_post(
    broker, path: str, body: object | bytes, session: requests.Session | None = None
) -> requests.Response:
    # Bytes, not str: http.client sends str bodies in a second packet (a delayed-ACK wait).
    data = body if isinstance(body, bytes) else json.dumps(body).encode("ascii")
    return (session or requests).post(
        f"{broker.url}{path}",
        data=data,
        headers={
            "Authorization": f"Bearer {broker.cached_m2m_token()}",
            "Content-Type": "application/json",
        },
        timeout=TIMEOUT,
    )


_PROFILE_PATH = f"/api/v1/connections/{DEV_CONNECTION_ID}/auth-requests/lri_fuzz/user"
_DCR_PATH = f"/api/v1/resources/{DEV_RESOURCE_ID}/clients:register"


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_e2_a_foreign_host_header_on_every_route(broker, host):
    browser, token = _qa_browser(broker)
    for method, path in routes(broker.app, **_PATH_VALUES):
        response = _send(browser, method, f"{broker.url}{path}", {"csrf_token": token}, Host=host)
        assert response.status_code < 500, (method, path, response.status_code)


@pytest.mark.parametrize("value", ONE_OF_EACH, ids=lambda value: ascii(value)[1:20])
def test_e2_odd_text_and_huge_numbers_in_every_field_of_every_route(broker, value):
    """Lone surrogates (as the bytes a fuzzer sends), NULs, controls and integers past 64 bits
    in every field each route reads (and all at once on every route), and in every field of
    the two JSON APIs; nothing armed or lost."""
    armed_before = _armed(broker)
    browser, token = _qa_browser(broker)
    for method, path in routes(broker.app, **_PATH_VALUES):
        url = f"{broker.url}{path}"
        response = _send(browser, method, url, {name: value for name in _ALL_FIELDS})
        assert response.status_code < 500, (method, path, response.status_code)
        for name in _FORM_FIELDS.get(path, ()):
            response = _send(browser, method, url, {"csrf_token": token, name: value})
            assert response.status_code < 500, (method, path, name, response.status_code)
    # A huge integer also as a JSON number (a short one: int() refuses 4300+ digits).
    number = value.isascii() and value.isdigit() and len(value) < 100
    typed = [value, *([int(value)] if number else [])]
    api = requests.Session()
    for field, wrapped in itertools.product(_PROFILE_FIELDS, typed):
        profile = {"sub": "u1", "email": "a@b.co", field: wrapped}
        response = _json_post(broker, _PROFILE_PATH, profile, api)
        assert response.status_code in (400, 404), (field, response.status_code)
    for field, wrapped in itertools.product(_DCR_FIELDS, typed):
        metadata = {"redirect_uris": ["http://127.0.0.1:5/cb"], field: wrapped}
        response = _json_post(broker, _DCR_PATH, metadata, api)
        assert response.status_code in (201, 400), (field, response.status_code)
    assert _armed(broker) == armed_before
    assert requests.get(f"{broker.url}/dev/clients", timeout=TIMEOUT).status_code == 200


def test_e2_deeply_nested_json_on_every_route(broker):
    browser, _ = _qa_browser(broker)
    for method, path in routes(broker.app, **_PATH_VALUES):
        if method != "POST":
            continue
        for body in (deep_json(), deep_object("sub"), deep_object("client_name")):
            response = browser.post(
                f"{broker.url}{path}",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {broker.cached_m2m_token()}",
                },
                timeout=TIMEOUT,
            )
            assert 400 <= response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize("value", CONTROL_HEADER_VALUES, ids=lambda value: ascii(value)[1:20])
def test_e2_control_characters_in_headers_on_every_route(broker, value):
    browser, token = _qa_browser(broker)
    spoken = {
        "User-Agent": value,
        "Accept-Language": value,
        "X-Request-Id": value,
        "X-Forwarded-For": value,
        "Referer": value,
        "Origin": value,
        "Authorization": f"Bearer {value}",
    }
    for method, path in routes(broker.app, **_PATH_VALUES):
        url = f"{broker.url}{path}"
        for headers in (spoken, {"Cookie": f"x={value}"}):
            response = _send(browser, method, url, {"csrf_token": token}, **headers)
            assert response.status_code < 500, (method, path, headers, response.status_code)
