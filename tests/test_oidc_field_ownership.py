"""C24: a provider changes only the local fields it owns, against a real, independent OpenID
Provider (oidc-provider) that sends every claim it can — the way an upstream tenant admin who
edits their directory would.

By default a provider owns the names, picture and locale; roles, groups and the organization
only when configuration maps a claim to them (LOGIN_METHOD_OIDC_<P>_CLAIMS); SYNC_FIELDS lists
exactly what it owns. Each test compares the whole user record before and after a linked
sign-in, so a field that changes without being owned fails it.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from itertools import count

import pytest
from sqlalchemy import select

from identity import db
from identity.models import User
from tests.node_oidc import NodeOidcProvider, complete_interaction
from tests.stack import Stack
from tests.test_flow import verified_claims

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET = "customer-idp", "ownership-provider-secret"
EMAIL = "erin@example.org"
#: What the upstream directory says about Erin: every claim, each different from the local record.
UPSTREAM = {
    "email": EMAIL,
    "email_verified": True,
    "given_name": "Erin",
    "family_name": "Upstream",
    "name": "Erin Upstream",
    "preferred_username": "erin-from-upstream",
    "picture": "https://upstream.example/erin.png",
    "locale": "de-DE",
    "groups": ["upstream-admins"],
    "roles": ["owner"],
    "org_id": "org_upstream",
    "org_name": "Upstream Org",
    "phone_number": "+4930123456",
    "phone_number_verified": True,
}
LOCAL = [
    "create-user",
    EMAIL,
    "--verified",
    "--name",
    "Erin Local",
    "--given-name",
    "E",
    "--role",
    "viewer",
    "--group",
    "eng",
    "--org-id",
    "org_local",
    "--org-name",
    "Local Org",
    "--attributes",
    '{"plan": "team"}',
    "--password",
    "erins long passphrase",
]
FIELDS = (
    "email",
    "email_verified",
    "given_name",
    "family_name",
    "name",
    "preferred_username",
    "picture",
    "locale",
    "phone_number",
    "phone_number_verified",
    "roles",
    "groups",
    "organization_external_id",
    "organization_external_name",
    "custom_attributes",
)


@pytest.fixture
def upstream_admin(tmp_path):
    """A factory: (claims the provider sends, provider policy) → the local record before and
    after a linked sign-in, and the profile the broker received."""
    running = ExitStack()
    made = count()

    def sign_in(claims: dict, **policy: str) -> tuple[dict, dict, dict]:
        stack = Stack(tmp_path / f"stack{next(made)}")
        op = running.enter_context(
            NodeOidcProvider(
                CLIENT_ID,
                CLIENT_SECRET,
                [f"{stack.idp.url}/login/oidc/up/callback"],
                accounts={"erin": claims},
                conform_id_token_claims=False,
            )
        )
        stack.customer_overrides.update(
            {
                "LOGIN_METHODS": "password,oidc",
                "LOGIN_METHOD_OIDC_PROVIDERS": "up",
                "LOGIN_METHOD_OIDC_UP_ISSUER": op.issuer,
                "LOGIN_METHOD_OIDC_UP_CLIENT_ID": CLIENT_ID,
                "LOGIN_METHOD_OIDC_UP_CLIENT_SECRET": CLIENT_SECRET,
                "LOGIN_METHOD_OIDC_UP_SCOPES": "openid email profile groups phone organization",
                "LOGIN_METHOD_OIDC_UP_TRUST_EMAIL": "true",
                **{f"LOGIN_METHOD_OIDC_UP_{key}": value for key, value in policy.items()},
            }
        )
        running.enter_context(stack)
        result = stack.idp.app.test_cli_runner().invoke(args=LOCAL)
        assert result.exit_code == 0, result.output
        before = record(stack)

        browser = stack.browser()
        authorization = browser.authorize()
        login = browser.page("GET", authorization.login_url)
        started = browser.submit(login, "/login/oidc/up/start")
        at_provider = browser.get(started.response.headers["Location"], allow_redirects=False)
        back = complete_interaction(browser, at_provider, login="erin")
        handed_off = browser.page("GET", back.headers["Location"])
        assert handed_off.status == 303, handed_off.text()
        redirect = browser.approve(browser.follow(handed_off))
        token = browser.exchange(redirect["code"][0], authorization.verifier)
        return before, record(stack), verified_claims(stack, token.json()["access_token"])

    with running:
        yield sign_in


def record(stack: Stack) -> dict:
    with stack.idp.app.app_context():
        user = db.session().scalar(select(User).where(User.email == EMAIL))
        return {field: getattr(user, field) for field in FIELDS}


def changed(before: dict, after: dict) -> dict:
    return {field: after[field] for field in FIELDS if before[field] != after[field]}


def test_by_default_a_provider_owns_the_names_picture_and_locale_only(upstream_admin):
    before, after, profile = upstream_admin(UPSTREAM)
    assert changed(before, after) == {
        "given_name": "Erin",
        "family_name": "Upstream",
        "name": "Erin Upstream",
        "picture": "https://upstream.example/erin.png",
        "locale": "de-DE",
    }
    # What the broker is told about who Erin is to the application stays the local truth.
    assert (profile["roles"], profile["groups"]) == (["viewer"], ["eng"])
    assert (profile["org_id"], profile["org_name"]) == ("org_local", "Local Org")
    assert "phone_number" not in profile and profile["email"] == EMAIL


def test_roles_groups_and_organization_change_only_when_mapped(upstream_admin):
    mapping = {"groups": "groups", "roles": "roles", "organization_external_name": "org_name"}
    before, after, profile = upstream_admin(UPSTREAM, CLAIMS=json.dumps(mapping))
    assert changed(before, after) == {
        "given_name": "Erin",
        "family_name": "Upstream",
        "name": "Erin Upstream",
        "picture": "https://upstream.example/erin.png",
        "locale": "de-DE",
        "groups": ["upstream-admins"],
        "roles": ["owner"],
        "organization_external_name": "Upstream Org",
    }
    assert profile["roles"] == ["owner"] and profile["groups"] == ["upstream-admins"]


def test_sync_fields_lists_exactly_what_the_provider_owns(upstream_admin):
    before, after, _ = upstream_admin(UPSTREAM, SYNC_FIELDS="locale")
    assert changed(before, after) == {"locale": "de-DE"}
    before, after, _ = upstream_admin(UPSTREAM, SYNC_FIELDS="none")
    assert changed(before, after) == {}


def test_owned_claims_that_break_the_field_rules_are_ignored_not_stored(upstream_admin):
    """An upstream value a local write would refuse (identity/profile_fields.py) is skipped:
    the sign-in still works and the field keeps its value."""
    hostile = {
        **UPSTREAM,
        "name": "Erin\u202e nimda",  # a bidi override: spoofs what the consent page shows
        "picture": "javascript:alert(1)",
        "locale": "x" * 40,
        "given_name": "G" * 201,
    }
    before, after, _ = upstream_admin(hostile)
    assert changed(before, after) == {"family_name": "Upstream"}
