"""The login-method registry: configuration picks and orders methods; a third-party method
(examples/admin_code) plugs in without touching core code and ends in the same
complete_login() → broker → callback as the password method."""

from __future__ import annotations

import pytest

from app import create_app
from login_methods.registry import LoginMethodConfigError
from tests.helpers import DEMO_EMAIL, customer_test_config
from tests.test_admin_code_example import GENERIC_FAILURE, WRONG, issue_code

THIRD_PARTY = "examples.admin_code:AdminCodeMethod"


def test_methods_are_enabled_and_ordered_by_configuration(tmp_path):
    app = create_app(
        customer_test_config(
            tmp_path, "http://127.0.0.1:9", LOGIN_METHODS=f"{THIRD_PARTY},password"
        )
    )
    assert [method.name for method in app.extensions["login_methods"]] == [
        "admin_code",
        "password",
    ]
    assert "admin_code.sign_in" in app.view_functions
    only = create_app(
        customer_test_config(tmp_path, "http://127.0.0.1:9", LOGIN_METHODS="password")
    )
    assert "admin_code.sign_in" not in only.view_functions


@pytest.mark.parametrize(
    ("methods", "says"),
    [
        ("nonsense", "not a known method name"),
        ("examples.nope:Missing", "cannot load"),
        ("tests.helpers:csrf_token", "not a LoginMethod class"),
        ("password,password", "enabled twice"),
        (" , ", "LOGIN_METHODS is empty"),
    ],
)
def test_bad_method_configuration_refuses_to_start(tmp_path, methods, says):
    with pytest.raises(LoginMethodConfigError, match=says):
        create_app(customer_test_config(tmp_path, "http://127.0.0.1:9", LOGIN_METHODS=methods))


@pytest.mark.integration
def test_third_party_method_completes_the_federated_login(fresh_stack):
    stack = fresh_stack(LOGIN_METHODS=f"password,{THIRD_PARTY}")
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    text = login.text()
    assert text.index("Password") < text.index("Sign in with a code from your administrator")

    refused = browser.submit(login, "/login/admin_code/", email=DEMO_EMAIL, code=WRONG)
    assert refused.status == 422 and GENERIC_FAILURE in refused.text()

    code = issue_code(stack.idp.app)
    handed_off = browser.submit(login, "/login/admin_code/", email=DEMO_EMAIL, code=code)
    assert handed_off.status == 303
    redirect = browser.approve(browser.follow(handed_off))
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200


def test_a_method_setting_that_does_not_parse_refuses_to_start(tmp_path):
    from identity.config import ConfigError

    with pytest.raises(ConfigError, match="LOGIN_METHOD_MAGIC_LINK_TTL='ten' is not valid"):
        create_app(
            customer_test_config(tmp_path, "http://127.0.0.1:9", LOGIN_METHOD_MAGIC_LINK_TTL="ten")
        )


def test_turning_a_shipped_method_off_keeps_init_db_working(tmp_path):
    """The database holds magic_link's revision; with the method off, Alembic must still
    find it (shipped methods' migrations are always known)."""
    with_link = create_app(
        customer_test_config(tmp_path, "http://127.0.0.1:9", LOGIN_METHODS="password,magic_link")
    )
    assert with_link.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    without = create_app(
        customer_test_config(tmp_path, "http://127.0.0.1:9", LOGIN_METHODS="password")
    )
    result = without.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
