"""Upstream OIDC providers are configuration, checked at start (E3)."""

from __future__ import annotations

import pytest

from app import create_app
from identity.config import ConfigError
from tests.helpers import customer_test_config

GOOGLE = {
    "LOGIN_METHODS": "password,oidc",
    "LOGIN_METHOD_OIDC_PROVIDERS": "google,okta",
    "LOGIN_METHOD_OIDC_GOOGLE_LABEL": "Google",
    "LOGIN_METHOD_OIDC_GOOGLE_ISSUER": "https://accounts.google.com",
    "LOGIN_METHOD_OIDC_GOOGLE_CLIENT_ID": "id",
    "LOGIN_METHOD_OIDC_GOOGLE_CLIENT_SECRET": "secret",
    "LOGIN_METHOD_OIDC_GOOGLE_TRUST_EMAIL": "true",
    "LOGIN_METHOD_OIDC_OKTA_DISCOVERY_URL": "https://acme.okta.com/.well-known/openid-configuration",
    "LOGIN_METHOD_OIDC_OKTA_CLIENT_ID": "okta-id",
    "LOGIN_METHOD_OIDC_OKTA_CLIENT_SECRET": "okta-secret",
    "LOGIN_METHOD_OIDC_OKTA_AUTH_METHOD": "client_secret_post",
    "LOGIN_METHOD_OIDC_OKTA_JIT": "false",
    "LOGIN_METHOD_OIDC_OKTA_CLAIMS": '{"groups": "okta_groups"}',
    "LOGIN_METHOD_OIDC_OKTA_CLAIMS_OPTIONS": '{"iss": {"values": ["https://acme.okta.com"]}}',
}


def make(tmp_path, **overrides):
    app = create_app(
        customer_test_config(tmp_path, "http://127.0.0.1:9", **{**GOOGLE, **overrides})
    )
    app.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    return app


def test_providers_are_read_in_order_with_their_policies(tmp_path):
    app = make(tmp_path)
    method = next(m for m in app.extensions["login_methods"] if m.name == "oidc")
    google, okta = method.providers.values()
    assert (google.name, google.label, google.trust_email, google.jit) == (
        "google",
        "Google",
        True,
        True,
    )
    assert google.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    # C23: the issuer the discovery document must name, configured or implied by its URL.
    assert (google.issuer, okta.issuer) == ("https://accounts.google.com", "https://acme.okta.com")
    assert okta.label == "Okta" and okta.auth_method == "client_secret_post" and not okta.jit
    assert okta.claims["groups"] == "okta_groups" and okta.claims["name"] == "name"
    # C24: the names, picture and locale by default, plus what CLAIMS maps.
    assert google.sync_fields == ("given_name", "family_name", "name", "picture", "locale")
    assert okta.sync_fields == (*google.sync_fields, "groups") and "groups" not in google.claims
    assert okta.claims_options == {"iss": {"values": ["https://acme.okta.com"]}}
    html = app.test_client().get("/login?login_request_id=lri_1&state=s").get_data(as_text=True)
    assert html.index("Sign in with Google") < html.index("Sign in with Okta")
    assert 'action="/login/oidc/google/start"' in html


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"LOGIN_METHOD_OIDC_PROVIDERS": ""}, "names no provider"),
        ({"LOGIN_METHOD_OIDC_PROVIDERS": "Bad-Name"}, "short lowercase name"),
        ({"LOGIN_METHOD_OIDC_GOOGLE_CLIENT_SECRET": ""}, "needs LOGIN_METHOD_OIDC_GOOGLE_ISSUER"),
        ({"LOGIN_METHOD_OIDC_GOOGLE_AUTH_METHOD": "private_key_jwt"}, "AUTH_METHOD must be"),
        ({"LOGIN_METHOD_OIDC_GOOGLE_SCOPES": "email profile"}, "must include openid"),
        ({"LOGIN_METHOD_OIDC_GOOGLE_TRUST_EMAIL": "maybe"}, "TRUST_EMAIL='maybe' is not valid"),
        ({"LOGIN_METHOD_OIDC_OKTA_CLAIMS": "[1]"}, "OKTA_CLAIMS='\\[1\\]' is not valid"),
        ({"LOGIN_METHOD_OIDC_OKTA_CLAIMS": '{"password_hash": "x"}'}, "unknown profile fields"),
        ({"LOGIN_METHOD_OIDC_OKTA_LEEWAY": "soon"}, "LEEWAY='soon' is not valid"),
        ({"LOGIN_METHOD_OIDC_OKTA_SYNC_FIELDS": "name,password_hash"}, "unknown profile fields"),
        ({"LOGIN_METHOD_OIDC_GOOGLE_SYNC_FIELDS": "name,roles"}, "names fields with no claim"),
        ({"LOGIN_METHOD_OIDC_OKTA_CLAIMS": '{"roles": ""}'}, "each field maps to a claim name"),
        (
            {"LOGIN_METHOD_OIDC_OKTA_DISCOVERY_URL": "https://acme.okta.com/oidc/metadata"},
            "OKTA_DISCOVERY_URL is not at /.well-known/openid-configuration: set",
        ),
    ],
)
def test_bad_provider_configuration_refuses_to_start(tmp_path, override, says):
    with pytest.raises(ConfigError, match=says):
        make(tmp_path, **override)


def test_unknown_provider_routes_are_404(tmp_path):
    client = make(tmp_path).test_client()
    assert client.get("/login/oidc/nope/callback?state=x&code=y").status_code == 404


def test_development_defaults_match_the_stand_in_and_the_mock_broker():
    """The customer side's development defaults name the same values the local stand-ins
    are seeded with (each side keeps its own copy; this keeps them equal)."""
    from identity.config import DEVELOPMENT_DEFAULTS as dev
    from mock_broker import seed
    from upstream_idp import settings

    assert dev["BROKER_CLIENT_ID"] == seed.DEV_M2M_CLIENT_ID
    assert dev["BROKER_CLIENT_SECRET"] == seed.DEV_M2M_CLIENT_SECRET
    assert dev["BROKER_CONNECTION_ID"] == seed.DEV_CONNECTION_ID
    assert dev["LOGIN_METHOD_OIDC_STANDIN_ISSUER"] == settings.DEV_ISSUER
    assert dev["LOGIN_METHOD_OIDC_STANDIN_CLIENT_ID"] == settings.DEV_CLIENT_ID
    assert dev["LOGIN_METHOD_OIDC_STANDIN_CLIENT_SECRET"] == settings.DEV_CLIENT_SECRET
