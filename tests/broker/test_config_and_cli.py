"""Configuration refusals (E3), the database setup, and the CLI commands."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mock_broker import create_app, database, faults
from mock_broker.config import ConfigError
from mock_broker.database import init_db
from mock_broker.models import Fault, M2MClient, OAuthClient, Resource, SigningKey
from mock_broker.seed import (
    DEBUGGER_CLIENT_ID,
    DEBUGGER_CLIENT_SECRET,
    DEMO_CLIENT_ID,
    debugger_redirect_uri,
)


@pytest.fixture
def app(tmp_path):
    application = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
            "ENV_URL": "http://127.0.0.1:5901",
            "LOGIN_ENDPOINT": "http://127.0.0.1:5900/login",
        }
    )
    init_db(application)
    return application


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ENV_URL": "http://broker.example.com"}, "plain http on a non-loopback host"),
        ({"ENV_URL": "ftp://127.0.0.1"}, "absolute http(s) URL"),
        ({"ENV_URL": "https://broker.example/?x=1"}, "must not have a query"),
        ({"LOGIN_ENDPOINT": "http://idp.example.com/login"}, "MOCK_BROKER_LOGIN_ENDPOINT"),
        ({"AUTH_CODE_TTL": 61}, "at most 60"),
        ({"ACCESS_TOKEN_TTL": "soon"}, "whole number"),
        ({"LOGIN_REQUEST_TTL": 0}, "positive"),
        ({"HOUSEKEEPING_GRACE": -1}, "HOUSEKEEPING_GRACE must be 0 or more"),
        ({"ENV": "production"}, "MOCK_BROKER_SECRET_KEY"),
        ({"ENV": "staging"}, "development"),
        ({"REFRESH_REUSE_GRACE": 61}, "MOCK_BROKER_REFRESH_REUSE_GRACE must be 0 to 60"),
        ({"REFRESH_REUSE_GRACE": -1}, "MOCK_BROKER_REFRESH_REUSE_GRACE must be 0 to 60"),
        ({"REFRESH_REUSE_GRACE": "10s"}, "REFRESH_REUSE_GRACE must be a whole number"),
        ({"CALLBACK_MODE": "off"}, "MOCK_BROKER_CALLBACK_MODE must be one of bound, state-only"),
        ({"CUSTOMER_RETRIES": "many"}, "MOCK_BROKER_CUSTOMER_RETRIES must be a whole number"),
        ({"CUSTOMER_RETRIES": 11}, "MOCK_BROKER_CUSTOMER_RETRIES must be 0 to 10"),
        (
            {"REFRESH_TOKEN_POLICY": "always"},
            "MOCK_BROKER_REFRESH_TOKEN_POLICY must be one of refresh_grant, offline_access",
        ),
        (
            {"ENV": "production", "SECRET_KEY": "mock-broker-dev-secret-key-not-for-production"},
            "development default",
        ),
    ],
)
def test_e3_unsafe_configuration_refuses_to_start(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", **overrides})


def test_configuration_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MOCK_BROKER_ENV_URL", "https://broker.example/")
    monkeypatch.setenv("MOCK_BROKER_LOGIN_REQUEST_TTL", "120")
    monkeypatch.setenv("MOCK_BROKER_SECRET_KEY", "from-the-environment")

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'env.sqlite3'}"})

    assert app.config["ENV_URL"] == "https://broker.example"
    assert app.config["LOGIN_REQUEST_TTL"] == 120
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "broker_session"


def test_production_mode_hides_the_dev_pages(tmp_path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            "ENV": "production",
            "SECRET_KEY": "a-real-secret",
            "ENV_URL": "https://broker.example",
        }
    )

    assert app.test_client().get("/dev/faults").status_code == 404


def test_init_db_is_idempotent_and_follows_the_configured_urls(app, tmp_path):
    init_db(app)
    moved = create_app(
        {
            "DATABASE_URL": app.config["DATABASE_URL"],
            "ENV_URL": "http://127.0.0.1:6001",
            "LOGIN_ENDPOINT": "http://127.0.0.1:6000/login",
        }
    )
    init_db(moved)

    with moved.app_context():
        db = database.session()
        assert db.scalar(select(func.count()).select_from(SigningKey)) == 1
        assert db.scalar(select(func.count()).select_from(M2MClient)) == 1
        demo = db.get(OAuthClient, DEMO_CLIENT_ID)
        assert demo.redirect_uris == ["http://127.0.0.1:6001/demo/callback"]
        assert db.get(Resource, "res_dev_notes").connection.login_endpoint == (
            "http://127.0.0.1:6000/login"
        )


def test_cli_init_db(app):
    result = app.test_cli_runner().invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    assert "Database ready." in result.output


def test_cli_registers_a_customer_resource_and_client(app):
    runner = app.test_cli_runner()

    m2m = runner.invoke(args=["create-m2m-client", "--name", "Acme"])
    client_id = m2m.output.split("client_id=")[1].split()[0]
    assert "client_secret=" in m2m.output
    connection = runner.invoke(
        args=[
            "create-connection",
            "--m2m-client",
            client_id,
            "--login-endpoint",
            "https://acme.example/login",
        ]
    )
    connection_id = connection.output.split("connection_id=")[1].strip()
    resource = runner.invoke(
        args=[
            "register-resource",
            "--name",
            "Acme MCP",
            "--mcp-server-url",
            "https://mcp.acme.example/mcp",
            "--scope",
            "files:read",
            "--connection",
            connection_id,
        ]
    )
    resource_id = resource.output.split("resource_id=")[1].strip()
    client = runner.invoke(
        args=[
            "register-client",
            "--name",
            "Acme agent",
            "--redirect-uri",
            "https://agent.example/cb",
            "--resource",
            resource_id,
            "--auth-method",
            "client_secret_basic",
        ]
    )

    assert client.exit_code == 0, client.output
    assert "client_secret=" in client.output
    with app.app_context():
        registered = database.session().get(Resource, resource_id)
        assert registered.scopes_supported == ["files:read", "offline_access"]


def test_cli_registers_a_machine_client_for_client_credentials(app):
    result = app.test_cli_runner().invoke(
        args=["register-machine-client", "--name", "Nightly agent", "--resource", "res_dev_notes"]
    )

    assert result.exit_code == 0, result.output
    client_id = result.output.split("client_id=")[1].split()[0]
    assert "client_secret=" in result.output
    with app.app_context():
        client = database.session().get(OAuthClient, client_id)
        assert client.grant_types == ["client_credentials"]
        assert client.redirect_uris == []
        assert client.token_endpoint_auth_method == "client_secret_basic"


@pytest.mark.parametrize(
    "args",
    [
        ["register-machine-client", "--name", "x", "--resource", "res_missing"],
        ["register-machine-client", "--name", "x\u202e", "--resource", "res_dev_notes"],
        [
            "register-client",
            "--name",
            "x",
            "--redirect-uri",
            "http://evil.example/cb",
            "--resource",
            "res_dev_notes",
        ],
        [
            "register-client",
            "--name",
            "x",
            "--redirect-uri",
            "https://a.example/cb#frag",
            "--resource",
            "res_dev_notes",
        ],
        [
            "register-client",
            "--name",
            "x",
            "--redirect-uri",
            "https://a.example/cb",
            "--resource",
            "res_missing",
        ],
        [
            "register-client",
            "--name",
            "Claude\u202e (official)",
            "--redirect-uri",
            "https://a.example/cb",
            "--resource",
            "res_dev_notes",
        ],
        [
            "create-connection",
            "--m2m-client",
            "skc_missing",
            "--login-endpoint",
            "https://a.example/login",
        ],
        [
            "register-resource",
            "--name",
            "x",
            "--mcp-server-url",
            "http://mcp.example/mcp",
            "--scope",
            "a",
            "--connection",
            "conn_dev",
        ],
    ],
    ids=[
        "machine-unknown-resource",
        "machine-bidi-name",
        "http-redirect",
        "fragment",
        "unknown-resource",
        "b14-bidi-name",
        "unknown-m2m-client",
        "http-resource",
    ],
)
def test_cli_refuses_bad_registrations(app, args):
    result = app.test_cli_runner().invoke(args=args)

    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_cli_fault_revocation_and_expiry_switches(app):
    runner = app.test_cli_runner()

    armed = runner.invoke(
        args=["inject-fault", "token_endpoint", "--status", "503", "--count", "2"]
    )
    assert armed.exit_code == 0, armed.output
    with app.app_context():
        fault = database.session().get(Fault, faults.TOKEN_ENDPOINT)
        assert (fault.status, fault.remaining_count) == (503, 2)
    assert runner.invoke(args=["clear-faults"]).exit_code == 0
    assert runner.invoke(args=["inject-fault", "token_endpoint", "--status", "200"]).exit_code != 0
    revoked = runner.invoke(args=["revoke-m2m-tokens", "skc_dev_customer_idp"])
    assert "Revoked 0 token(s)." in revoked.output
    assert runner.invoke(args=["expire-login-request", "lri_missing"]).exit_code != 0


def test_production_init_db_disables_the_debugger_client(app, tmp_path):
    """The debugger client's secret is public: seeded in development, a production seed of
    the same database leaves it unable to start a sign-in or use any grant."""
    init_db(app)
    production = create_app(
        {
            "DATABASE_URL": app.config["DATABASE_URL"],
            "ENV": "production",
            "SECRET_KEY": "a-real-secret",
            "ENV_URL": "https://broker.example",
        }
    )
    init_db(production)

    client = production.test_client()
    assert client.get("/dev/debugger").status_code == 404
    authorize = client.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": DEBUGGER_CLIENT_ID,
            # The redirect URI the development seed registered.
            "redirect_uri": debugger_redirect_uri(app.config["ENV_URL"]),
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
            "resource": "res_dev_notes",
        },
    )
    assert authorize.status_code == 400
    assert "Location" not in authorize.headers
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": DEBUGGER_CLIENT_ID,
            "client_secret": DEBUGGER_CLIENT_SECRET,
        },
    )
    assert token.status_code in (400, 401)
    assert token.json["error"] == "unauthorized_client"
