"""Configuration from the environment, and refusing plain http off loopback."""

from __future__ import annotations

import pytest

from mcp_server import Settings, SettingsError
from mcp_server.__main__ import connect_instructions


def test_defaults_match_the_seeded_dev_resource():
    settings = Settings.from_env({})

    assert settings.server_url == "http://127.0.0.1:5003/mcp"
    assert settings.issuer == "http://127.0.0.1:5001/resources/res_dev_notes"
    assert settings.jwks_url == "http://127.0.0.1:5001/keys"
    assert (settings.host, settings.port) == ("127.0.0.1", 5003)
    assert settings.resource_metadata_url == (
        "http://127.0.0.1:5003/.well-known/oauth-protected-resource/mcp"
    )


def test_environment_variables_override_the_defaults():
    settings = Settings.from_env(
        {
            "MCP_SERVER_URL": "https://notes.example.com/mcp",
            "BROKER_ENV_URL": "https://acme.scalekit.dev/",
            "MCP_RESOURCE_ID": "res_123",
            "MCP_SERVER_HOST": "10.0.0.5",
            "MCP_SERVER_PORT": "8080",
        }
    )

    assert settings.issuer == "https://acme.scalekit.dev/resources/res_123"
    assert settings.resource_metadata_url == (
        "https://notes.example.com/.well-known/oauth-protected-resource/mcp"
    )
    assert (settings.host, settings.port) == ("10.0.0.5", 8080)


@pytest.mark.parametrize(
    "environ",
    [
        {"MCP_SERVER_URL": "http://notes.example.com/mcp"},
        {"BROKER_ENV_URL": "http://acme.scalekit.dev"},
        {"MCP_SERVER_URL": "https://notes.example.com/mcp#frag"},
        {"MCP_SERVER_URL": "notes.example.com/mcp"},
        {"MCP_RESOURCE_ID": ""},
        {"MCP_SERVER_PORT": "http"},
    ],
)
def test_unsafe_or_malformed_settings_are_refused(environ):
    with pytest.raises(SettingsError):
        Settings.from_env(environ)


def test_the_start_message_says_how_to_connect():
    message = connect_instructions(Settings())

    assert "http://127.0.0.1:5003/mcp" in message
    assert "http://127.0.0.1:5001/resources/res_dev_notes" in message
    assert "jwt, locally (a revoked token works until it expires)" in message
