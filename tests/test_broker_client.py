"""C20, C21, E1: the broker client against a scripted broker over real HTTP.

The scripted broker is a tiny HTTP server whose answers each test chooses (the real mock
broker cannot be told to time out mid-response); it records what it received.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from flask import Flask

from identity import logging_setup
from identity.broker_client import BrokerClient, BrokerRejected, BrokerUnavailable
from tests.servers import SilentServer

SECRET = "s3cr3t-never-shown"
PROFILE = {"sub": "u1", "email": "u1@example.com"}


class ScriptedBroker(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.tokens_issued = 0
        self.expires_in = 3600
        self.user_answers: list[int] = []  # statuses to answer, in order; then 200
        self.reject_tokens: set[str] = set()
        self.refuse_credentials = False  # set → the token endpoint answers invalid_client
        self.hang = threading.Event()  # set → user endpoint never answers until released
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, path_part: str) -> int:
        return sum(1 for path, _, _ in self.requests if path_part in path)


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedBroker

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, dict(self.headers), body))
        if self.path == "/oauth/token" and self.server.refuse_credentials:
            self._answer(401, {"error": "invalid_client", "error_description": "bad secret"})
            return
        if self.path == "/oauth/token":
            self.server.tokens_issued += 1
            token = f"t{self.server.tokens_issued}"
            self._answer(
                200,
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": self.server.expires_in,
                },
            )
            return
        if self.server.hang.is_set():
            self.server.release.wait(10)
            return
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.server.reject_tokens:
            self._answer(401, {"error": "invalid_token", "error_description": "revoked"})
            return
        status = self.server.user_answers.pop(0) if self.server.user_answers else 200
        self._answer(status, {} if status == 200 else {"error": "server_error"})


@pytest.fixture
def broker():
    server = ScriptedBroker()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def make_client(broker: ScriptedBroker, **kwargs) -> BrokerClient:
    kwargs.setdefault("retries", 2)
    return BrokerClient(broker.url, "skc_test", SECRET, **kwargs)


def post(client: BrokerClient) -> dict:
    return client.post_user("conn_1", "lri_1", PROFILE)


def test_c20_token_is_fetched_once_and_reused(broker):
    client = make_client(broker)
    for _ in range(5):
        assert post(client) == {}
    assert broker.tokens_issued == 1
    assert broker.count("/user") == 5


def test_contract_wire_format_of_token_and_profile_requests(broker):
    post(make_client(broker))
    token_path, _, token_body = broker.requests[0]
    form = parse_qs(token_body.decode())
    assert token_path == "/oauth/token"
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["skc_test"],
        "client_secret": [SECRET],
    }
    path, headers, body = broker.requests[1]
    assert path == "/api/v1/connections/conn_1/auth-requests/lri_1/user"
    assert headers["Authorization"] == "Bearer t1"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == PROFILE


def test_token_request_carries_the_request_id_of_the_profile_post(broker):
    """One sign-in keeps one request id in both apps' logs, including the client-credentials
    token request it triggers (first token, and the new one after a 401)."""
    client = make_client(broker)
    app = Flask(__name__)
    seen: list[str | None] = []
    for _ in range(2):
        with app.test_request_context("/login/password/", method="POST"):
            post(client)
            seen.append(logging_setup.request_id())
        broker.reject_tokens.add("t1")  # the second sign-in meets a 401 and fetches anew

    paths = [path.rsplit("/", 1)[-1] for path, _, _ in broker.requests]
    assert paths == ["token", "user", "user", "token", "user"]
    ids = [headers.get("X-Request-Id") for _, headers, _ in broker.requests]
    first, second = seen
    assert first and second and first != second
    assert ids == [first, first, second, second, second]
    token_headers = broker.requests[0][1]
    assert token_headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert token_headers["Accept"] == "application/json"


def test_c20_token_is_refreshed_before_it_expires(broker):
    broker.expires_in = 30  # inside the 60 s leeway: already "about to expire"
    client = make_client(broker)
    post(client)
    post(client)
    assert broker.tokens_issued == 2


def test_c20_a_401_fetches_a_new_token_once_and_retries(broker):
    client = make_client(broker)
    post(client)
    broker.reject_tokens.add("t1")  # the broker revoked it
    assert post(client) == {}
    assert broker.tokens_issued == 2
    broker.reject_tokens.add("t2")
    broker.reject_tokens.add("t3")
    with pytest.raises(BrokerRejected) as caught:
        post(client)
    assert caught.value.status == 401
    assert broker.tokens_issued == 3  # once per 401, not in a loop


def test_c21_5xx_is_retried_a_bounded_number_of_times(broker):
    broker.user_answers = [500, 503, 502, 500, 500]
    with pytest.raises(BrokerUnavailable) as caught:
        post(make_client(broker, retries=2))
    assert caught.value.status == 502  # the last answer seen
    assert broker.count("/user") == 3  # one try + two retries


def test_c21_transient_5xx_then_success(broker):
    broker.user_answers = [503]
    assert post(make_client(broker)) == {}
    assert broker.count("/user") == 2


def test_c21_read_timeout_gives_up(broker):
    broker.hang.set()
    with pytest.raises(BrokerUnavailable):
        post(make_client(broker, read_timeout=0.2, retries=1))
    assert broker.count("/user") == 2


def test_c21_connection_refused_is_unavailable():
    client = BrokerClient("http://127.0.0.1:9", "skc_test", SECRET, retries=1, connect_timeout=0.5)
    with pytest.raises(BrokerUnavailable):
        post(client)


@pytest.mark.parametrize("status", [400, 404, 409, 410])
def test_4xx_is_not_retried_and_keeps_the_status(broker, status):
    broker.user_answers = [status]
    with pytest.raises(BrokerRejected) as caught:
        post(make_client(broker))
    assert caught.value.status == status
    assert broker.count("/user") == 1


def test_e1_secret_never_in_exceptions_or_logs(broker, caplog):
    caplog.set_level(logging.DEBUG)
    broker.user_answers = [500, 500, 500]
    with pytest.raises(BrokerUnavailable) as unavailable:
        post(make_client(broker))
    refused = BrokerClient("http://127.0.0.1:9", "skc_test", SECRET, retries=0)
    with pytest.raises(BrokerUnavailable) as unreachable:
        post(refused)
    for text in (str(unavailable.value), str(unreachable.value), caplog.text):
        assert SECRET not in text


def test_c20_refused_credentials_leave_the_secret_out_of_the_error_and_logs(broker, caplog):
    """The case most tempting to "explain" with the credentials: the broker refused them."""
    caplog.set_level(logging.DEBUG)
    broker.refuse_credentials = True
    with pytest.raises(BrokerRejected) as refused:
        post(make_client(broker))
    assert refused.value.error == "invalid_client"
    assert broker.count("/user") == 0
    for text in (str(refused.value), repr(refused.value.args), caplog.text):
        assert SECRET not in text


def test_c21_the_read_timeout_reaches_the_profile_post():
    """The broker accepts and never answers: the client gives up (closes) on its own, before
    the silent peer's patience runs out — the configured timeout reached the call."""
    with SilentServer() as silent:
        client = BrokerClient(silent.url, "skc_test", SECRET, read_timeout=0.2, retries=1)
        with pytest.raises(BrokerUnavailable):
            client.post_user("conn_test", "lri_1", {"sub": "1", "email": "a@example.com"})
    assert silent.outcomes and set(silent.outcomes) == {"client gave up"}, silent.outcomes
    assert len(silent.outcomes) == 2  # the first try and one bounded retry
