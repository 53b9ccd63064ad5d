"""Configuration: development defaults that work, refusals that say what to set, the key file,
and the one CLI command."""

from __future__ import annotations

import stat

import pytest
from joserfc.jwk import RSAKey

from upstream_idp import create_app, settings
from upstream_idp.config import ConfigError

_ENVIRONMENT = (
    "UPSTREAM_IDP_ISSUER",
    "UPSTREAM_IDP_DATABASE_URL",
    "UPSTREAM_IDP_SECRET_KEY",
    "UPSTREAM_IDP_SIGNING_KEY",
    "UPSTREAM_IDP_SIGNING_KEY_FILE",
    "UPSTREAM_IDP_AUTH_CODE_TTL",
    "UPSTREAM_IDP_TOKEN_TTL",
    "UPSTREAM_IDP_CLIENT_ID",
    "UPSTREAM_IDP_CLIENT_SECRET",
    "UPSTREAM_IDP_REDIRECT_URIS",
    "UPSTREAM_IDP_TOKEN_ENDPOINT_AUTH_METHOD",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local(tmp_path, signing_key_pem):
    """The config a test needs so nothing lands in the real instance folder."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'upstream.sqlite3'}",
        "SIGNING_KEY": signing_key_pem,
    }


def test_the_development_defaults_come_from_the_settings_module(local):
    app = create_app(local)

    assert app.config["ISSUER"] == settings.DEV_ISSUER
    assert app.config["CLIENTS"] == [
        {
            "client_id": settings.DEV_CLIENT_ID,
            "client_secret": settings.DEV_CLIENT_SECRET,
            "redirect_uris": [settings.DEV_REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_basic",
        }
    ]
    assert app.config["SESSION_COOKIE_NAME"] == "upstream_session"
    document = app.test_client().get("/.well-known/openid-configuration").json
    assert document["issuer"] == "http://127.0.0.1:5002"


def test_the_default_client_can_come_from_the_environment(monkeypatch, local):
    monkeypatch.setenv("UPSTREAM_IDP_ISSUER", "http://127.0.0.1:7002/")
    monkeypatch.setenv("UPSTREAM_IDP_CLIENT_ID", "from-env")
    monkeypatch.setenv("UPSTREAM_IDP_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv(
        "UPSTREAM_IDP_REDIRECT_URIS", "http://127.0.0.1:7000/cb  https://rp.example/cb"
    )
    monkeypatch.setenv("UPSTREAM_IDP_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_post")

    app = create_app(local)

    assert app.config["ISSUER"] == "http://127.0.0.1:7002"
    assert app.config["CLIENTS"] == [
        {
            "client_id": "from-env",
            "client_secret": "env-secret",
            "redirect_uris": ["http://127.0.0.1:7000/cb", "https://rp.example/cb"],
            "token_endpoint_auth_method": "client_secret_post",
        }
    ]


_CLIENT = {
    "client_id": "c",
    "client_secret": "s",
    "redirect_uris": ["http://127.0.0.1:9/cb"],
    "token_endpoint_auth_method": "client_secret_basic",
}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ISSUER": "http://idp.example.com"}, "plain http on a non-loopback host"),
        ({"ISSUER": "ftp://127.0.0.1"}, "absolute http(s) URL"),
        ({"ISSUER": "http://127.0.0.1:5002/?x=1"}, "must not have a query"),
        ({"AUTH_CODE_TTL": 61}, "at most 60"),
        ({"AUTH_CODE_TTL": 0}, "positive"),
        ({"TOKEN_TTL": "an hour"}, "whole number"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"CLIENTS": []}, "at least one client"),
        ({"CLIENTS": [_CLIENT, _CLIENT]}, "each client_id once"),
        ({"CLIENTS": ["c"]}, "must be a dict"),
        ({"CLIENTS": [{**_CLIENT, "client_secret": ""}]}, "client_secret"),
        ({"CLIENTS": [{**_CLIENT, "redirect_uris": []}]}, "redirect URI"),
        ({"CLIENTS": [{**_CLIENT, "redirect_uris": ["http://rp.example/cb"]}]}, "plain http"),
        ({"CLIENTS": [{**_CLIENT, "redirect_uris": ["http://127.0.0.1/cb#f"]}]}, "fragment"),
        ({"CLIENTS": [{**_CLIENT, "token_endpoint_auth_method": "none"}]}, "auth_method"),
        ({"SIGNING_KEY": "not a key"}, "private RSA key"),
        (
            {"SIGNING_KEY": RSAKey.generate_key(2048).as_pem(private=False).decode()},
            "private RSA key",
        ),
    ],
)
def test_unusable_settings_are_refused_with_a_message(local, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_app({**local, **overrides})


def test_the_generated_key_is_kept_private_and_reused(tmp_path):
    config = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'upstream.sqlite3'}",
        "SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing.pem"),
    }
    first = create_app(config).test_client().get("/jwks").json

    key_file = tmp_path / "keys" / "signing.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert create_app(config).test_client().get("/jwks").json == first
    assert not list(key_file.parent.glob("*.tmp"))


def test_init_db_prepares_everything_and_can_run_twice(local):
    runner = create_app(local).test_cli_runner()

    for _ in range(2):
        result = runner.invoke(args=["init-db"], catch_exceptions=False)
        assert result.exit_code == 0
        assert "Database ready" in result.output
        assert "kid" in result.output
