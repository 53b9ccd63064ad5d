"""E3: unsafe production configuration refuses to start, saying what to set."""

from __future__ import annotations

import pytest

from app import create_app
from identity.config import DEV_SECRET_KEY, ConfigError, from_environment

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "a" * 64,
    "PUBLIC_URL": "https://id.example.com",
    "BROKER_ENV_URL": "https://acme.scalekit.dev",
    "BROKER_CLIENT_ID": "skc_123",
    "BROKER_CLIENT_SECRET": "secret",
    "BROKER_CONNECTION_ID": "conn_123",
    "DATABASE_URL": "sqlite://",
}


def test_safe_production_config_starts():
    app = create_app(PRODUCTION)
    assert app.config["SESSION_COOKIE_SECURE"] is True  # C6: Secure outside loopback


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is the development default"),
        ({"DEBUG": True}, "debug mode"),
        ({"BROKER_ENV_URL": "http://broker.example.com"}, "BROKER_ENV_URL is plain http"),
        ({"PUBLIC_URL": "http://id.example.com"}, "PUBLIC_URL is plain http"),
        ({"BROKER_ENV_URL": "ftp://x"}, r"must be an absolute http\(s\) URL"),
        ({"BROKER_CLIENT_SECRET": ""}, "BROKER_CLIENT_SECRET is not set"),
        ({"BROKER_CONNECTION_ID": None}, "BROKER_CONNECTION_ID is not set"),
        ({"LOGIN_REQUEST_ADDRESS_LIMIT": 0}, "LOGIN_REQUEST_ADDRESS_LIMIT must be"),
        ({"LOGIN_REQUEST_MAX_PER_BROWSER": 0}, "LOGIN_REQUEST_MAX_PER_BROWSER must be"),
        ({"LOGIN_REQUEST_ADDRESS_WINDOW": 7200}, "LOGIN_REQUEST_ADDRESS_WINDOW must be 1 to"),
        ({"HOUSEKEEPING_GRACE": -1}, "HOUSEKEEPING_GRACE must be 0 or more"),
    ],
)
def test_unsafe_production_config_refuses_to_start(override, says):
    with pytest.raises(ConfigError, match=says):
        create_app({**PRODUCTION, **override})


def test_development_allows_loopback_http_and_dev_secret():
    app = create_app(
        {
            **PRODUCTION,
            "APP_ENV": "development",
            "SECRET_KEY": DEV_SECRET_KEY,
            "PUBLIC_URL": "http://127.0.0.1:5000",
            "BROKER_ENV_URL": "http://127.0.0.1:5001",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_NAME"] == "idp_session"


def test_environment_is_read_and_development_gets_mock_broker_defaults():
    config = from_environment(
        {"APP_ENV": "development", "LOGIN_REQUEST_TTL": "120", "LOGIN_METHOD_X_CODE": "7"}
    )
    assert config["LOGIN_REQUEST_TTL"] == 120
    assert config["LOGIN_METHOD_X_CODE"] == "7"  # a method's own setting
    assert config["BROKER_CONNECTION_ID"] == "conn_dev"
    assert config["SECRET_KEY"] == DEV_SECRET_KEY
    production = from_environment({})
    assert production["SECRET_KEY"] is None
    assert production["BROKER_CLIENT_SECRET"] is None


@pytest.mark.parametrize(
    ("hostname", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_one_loopback_rule_for_every_app(hostname, loopback):
    """identity/urls.py decides where plain http is allowed, for all four apps alike."""
    from identity.urls import is_loopback_host

    assert is_loopback_host(hostname) is loopback
