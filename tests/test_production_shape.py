"""The production shape: gunicorn serving both apps, ProxyFix, readiness, JSON logs.

gunicorn runs as a real subprocess on a free loopback port (its own config modules in deploy/);
the rest goes through each app's HTTP surface, in process or over loopback (tests/stack.py).
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from identity import broker_client, db, logging_setup
from identity.config import ConfigError
from identity.models import AuditEvent
from mock_broker import create_app as create_broker_app
from mock_broker.config import ConfigError as BrokerConfigError
from tests.cluster import gunicorn
from tests.helpers import DEMO_PASSWORD, customer_test_config
from tests.mail_sink import free_port
from tests.stack import Stack

HEX_ID = 32
TWO_WORKERS = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "2"}


# -- gunicorn ------------------------------------------------------------------------------


def gunicorn_lines(log_path: Path) -> list[dict]:
    """Every line gunicorn and the app wrote, each of which must be a JSON object."""
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("config", "env"),
    [
        (
            "deploy/gunicorn_customer.py",
            {
                "SECRET_KEY": secrets.token_hex(32),
                "PUBLIC_URL": "{url}",
                "BROKER_ENV_URL": "http://127.0.0.1:9",
                "BROKER_CLIENT_ID": "skc_test",
                "BROKER_CLIENT_SECRET": "test-secret",
                "BROKER_CONNECTION_ID": "conn_test",
                "DATABASE_URL": "sqlite:///{tmp}/identity.sqlite3",
            },
        ),
        (
            "deploy/gunicorn_broker.py",
            {
                "MOCK_BROKER_ENV_URL": "{url}",
                "MOCK_BROKER_DATABASE_URL": "sqlite:///{tmp}/broker.sqlite3",
            },
        ),
    ],
    ids=["customer", "broker"],
)
def test_gunicorn_serves_the_app_with_two_workers_and_json_logs(tmp_path, config, env):
    env = {key: value.replace("{tmp}", str(tmp_path)) for key, value in env.items()}
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(config, {**env, **TWO_WORKERS}, log_path) as url:
        ready = requests.get(f"{url}/readyz", headers={"X-Request-Id": "probe-1"}, timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok"}
    assert ready.headers["X-Request-Id"] == "probe-1"

    lines = gunicorn_lines(log_path)
    booted = [line for line in lines if line["message"].startswith("Booting worker")]
    assert len(booted) == 2, lines
    access = [line for line in lines if line.get("path") == "/readyz"]
    assert access == [access[0]] and access[0]["status"] == 200
    assert access[0]["request_id"] == "probe-1"


# -- behind a proxy ------------------------------------------------------------------------


def sign_in(stack: Stack, **headers: str) -> None:
    browser = stack.browser()
    browser.headers.update(headers)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    handed_off = browser.sign_in_with_password(login)
    assert handed_off.status == 303, handed_off.text()


def last_sign_in_address(stack: Stack) -> str | None:
    with stack.idp.app.app_context():
        return (
            db.session()
            .scalars(
                select(AuditEvent.client_address)
                .where(AuditEvent.event == "sign_in.succeeded")
                .order_by(AuditEvent.id.desc())
            )
            .first()
        )


def test_forwarded_for_is_ignored_by_default(tmp_path):
    with Stack(tmp_path) as stack:
        sign_in(stack, **{"X-Forwarded-For": "203.0.113.7"})
        assert last_sign_in_address(stack) == "127.0.0.1"


def test_forwarded_for_from_a_trusted_hop_is_the_client_address(tmp_path):
    with Stack(tmp_path, customer_overrides={"TRUSTED_PROXY_HOPS": "1"}) as stack:
        # A client-supplied value first, then the one the (single, trusted) proxy appended.
        sign_in(stack, **{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        assert last_sign_in_address(stack) == "203.0.113.7"


def test_broker_applies_proxy_fix_only_when_hops_are_set(tmp_path):
    url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"
    assert not isinstance(create_broker_app({"DATABASE_URL": url}).wsgi_app, ProxyFix)
    trusted = create_broker_app({"DATABASE_URL": url, "TRUSTED_PROXY_HOPS": "2"})
    assert isinstance(trusted.wsgi_app, ProxyFix)
    assert trusted.wsgi_app.x_for == trusted.wsgi_app.x_proto == 2


@pytest.mark.parametrize("hops", ["-1", "two", True])
def test_bad_proxy_hops_refuse_to_start(tmp_path, hops):
    from app import create_app

    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS"):
        create_app(customer_test_config(tmp_path, "http://127.0.0.1:9", TRUSTED_PROXY_HOPS=hops))
    with pytest.raises(BrokerConfigError, match="MOCK_BROKER_TRUSTED_PROXY_HOPS"):
        create_broker_app({"TRUSTED_PROXY_HOPS": hops})


def test_unknown_log_format_refuses_to_start(tmp_path):
    from app import create_app

    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        create_app(customer_test_config(tmp_path, "http://127.0.0.1:9", LOG_FORMAT="xml"))
    with pytest.raises(BrokerConfigError, match="LOG_FORMAT"):
        create_broker_app({"LOG_FORMAT": "xml"})


# -- readiness -----------------------------------------------------------------------------


def test_readyz_is_ok_when_the_database_answers(client):
    assert client.get("/readyz").json == {"status": "ok"}


def test_customer_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    from app import create_app

    missing = f"sqlite:///{tmp_path / 'no-such-directory' / 'identity.sqlite3'}"
    app = create_app(customer_test_config(tmp_path, "http://127.0.0.1:9", DATABASE_URL=missing))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # alive, just not ready
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "reason": "database unreachable"}


def test_broker_readyz_is_503_when_the_database_is_unreachable():
    closed = f"postgresql+psycopg://probe@127.0.0.1:{free_port()}/nothing"
    client = create_broker_app({"DATABASE_URL": closed}).test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "reason": "database unreachable"}


class SilentHost(socketserver.ThreadingTCPServer):
    """A loopback TCP server that accepts connections and never answers: a database host that
    is stuck, or behind a firewall that drops its replies. After `PATIENCE` it hangs up itself
    (and counts it), so a client without a timeout of its own fails the test instead of
    waiting minutes."""

    PATIENCE = 30.0  # seconds; far beyond any connect timeout under test
    block_on_close = True  # server_close() joins the handler threads

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SilentHandler)
        self.connections: list[socket.socket] = []
        self.hung_up = 0

    @property
    def port(self) -> int:
        return self.server_address[1]

    def close_connections(self) -> None:
        """Wake every handler blocked in recv (shutdown, not close, is what wakes it)."""
        for connection in self.connections:
            with suppress(OSError):  # the handler may have closed it already
                connection.shutdown(socket.SHUT_RDWR)


class _SilentHandler(socketserver.BaseRequestHandler):
    server: SilentHost

    def handle(self) -> None:
        self.server.connections.append(self.request)
        self.request.settimeout(self.server.PATIENCE)
        try:
            while self.request.recv(4096):  # read what the client sends, answer nothing
                pass
        except TimeoutError:
            self.server.hung_up += 1


@contextmanager
def silent_host() -> Iterator[SilentHost]:
    server = SilentHost()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("app_name", ["customer", "broker"])
def test_readyz_is_503_when_the_database_host_never_answers(tmp_path, monkeypatch, app_name):
    """Without a connect timeout psycopg waits minutes on such a host, and so would the probe."""
    from app import create_app
    from identity import engines

    monkeypatch.setattr(engines, "CONNECT_TIMEOUT", 1)  # libpq makes it 2 s, the minimum
    with silent_host() as host:
        url = f"postgresql+psycopg://probe@127.0.0.1:{host.port}/nothing"
        if app_name == "customer":
            app = create_app(customer_test_config(tmp_path, "http://127.0.0.1:9", DATABASE_URL=url))
        else:
            app = create_broker_app({"DATABASE_URL": url})
        response = app.test_client().get("/readyz")
        # The client's connect timeout ended the wait, not the host hanging up after PATIENCE.
        assert host.connections and host.hung_up == 0
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "reason": "database unreachable"}


@pytest.mark.parametrize(
    ("url", "connect_args"),
    [
        ("postgresql+psycopg://u@db.internal/identity", {"connect_timeout": 5}),
        ("postgresql://u@db.internal/identity", {"connect_timeout": 5}),
        ("postgresql+psycopg://u@db.internal/identity?connect_timeout=2", {}),  # the URL's wins
        ("sqlite:///identity.sqlite3", {}),
    ],
)
def test_postgresql_connections_get_a_connect_timeout(url, connect_args):
    from identity import engines

    assert engines.connect_args(url) == connect_args


# -- request ids and JSON logs -------------------------------------------------------------


@pytest.mark.parametrize("app_name", ["customer", "broker"])
def test_request_id_is_kept_when_well_formed_and_replaced_otherwise(client, tmp_path, app_name):
    if app_name == "broker":
        url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"
        client = create_broker_app({"DATABASE_URL": url}).test_client()
    kept = client.get("/healthz", headers={"X-Request-Id": "req-42.a:b_c"})
    assert kept.headers["X-Request-Id"] == "req-42.a:b_c"
    for unsafe in ("has space", "x" * 65, "quote\"'", ""):
        replaced = client.get("/healthz", headers={"X-Request-Id": unsafe})
        assert len(replaced.headers["X-Request-Id"]) == HEX_ID
        int(replaced.headers["X-Request-Id"], 16)
    fresh = {client.get("/healthz").headers["X-Request-Id"] for _ in range(2)}
    assert len(fresh) == 2


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The JSON handler LOG_FORMAT=json installs, writing into a buffer; removed afterwards."""
    root, werkzeug = logging.getLogger(), logging.getLogger("werkzeug")
    levels = (root.level, werkzeug.level)
    buffer = io.StringIO()
    yield buffer
    for handler in [h for h in root.handlers if h.name == logging_setup.HANDLER_NAME]:
        root.removeHandler(handler)
    root.setLevel(levels[0])
    werkzeug.setLevel(levels[1])


def test_json_logs_of_a_sign_in_carry_the_request_id_and_no_secret(tmp_path, json_logs):
    json_mode = {"LOG_FORMAT": "json"}
    with Stack(tmp_path, customer_overrides=json_mode, broker_overrides=json_mode) as stack:
        (handler,) = [h for h in logging.getLogger().handlers if h.name == "identity.json"]
        assert isinstance(handler.formatter, logging_setup.JsonFormatter)
        handler.setStream(json_logs)

        browser = stack.browser()
        authorization = browser.authorize(scope="notes:read offline_access")
        login = browser.page("GET", authorization.login_url)
        handed_off = browser.sign_in_with_password(login)
        assert handed_off.status == 303, handed_off.text()
        redirect = browser.approve(browser.follow(handed_off))
        tokens = browser.exchange(redirect["code"][0], authorization.verifier).json()
        with stack.idp.app.app_context():
            m2m_token = broker_client.client().session.token["access_token"]
        secrets_seen = {
            "password": DEMO_PASSWORD,
            "client secret": stack.idp.app.config["BROKER_CLIENT_SECRET"],
            "M2M access token": m2m_token,
            "access token": tokens["access_token"],
            "authorization code": redirect["code"][0],
            "refresh token": tokens["refresh_token"],  # issued for offline_access
        }

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    text = json_logs.getvalue()
    for name, value in secrets_seen.items():
        assert value not in text, f"the {name} is in the logs"
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)

    (password_post,) = [
        line
        for line in lines
        if line["logger"] == "identity.access" and line.get("path") == "/login/password/"
    ]
    assert password_post["method"] == "POST" and password_post["status"] == 303
    assert handed_off.response.headers["X-Request-Id"] == password_post["request_id"]
    (profile_post,) = [
        line
        for line in lines
        if line["logger"] == "mock_broker.access" and line.get("path", "").endswith("/user")
    ]
    assert profile_post["method"] == "POST" and profile_post["status"] == 200
    assert profile_post["request_id"] == password_post["request_id"]
