"""The login-method registry: configuration picks and orders methods; a third-party method
(tests/plugins/shared_code.py) plugs in without touching core code and ends in the same
complete_login() → broker → callback as the password method."""

from __future__ import annotations

import pytest

from app import create_app
from login_methods.registry import LoginMethodConfigError
from tests.helpers import DEMO_EMAIL, customer_test_config

THIRD_PARTY = "tests.plugins.shared_code:SharedCodeMethod"


def test_methods_are_enabled_and_ordered_by_configuration(tmp_path):
    app = create_app(
        customer_test_config(
            tmp_path, "http://127.0.0.1:9", LOGIN_METHODS=f"{THIRD_PARTY},password"
        )
    )
    assert [method.name for method in app.extensions["login_methods"]] == [
        "shared_code",
        "password",
    ]
    assert "shared_code.sign_in" in app.view_functions
    only = create_app(
        customer_test_config(tmp_path, "http://127.0.0.1:9", LOGIN_METHODS="password")
    )
    assert "shared_code.sign_in" not in only.view_functions


@pytest.mark.parametrize(
    ("methods", "says"),
    [
        ("nonsense", "not a known method name"),
        ("tests.plugins.nope:Missing", "cannot load"),
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
    stack = fresh_stack(
        LOGIN_METHODS=f"password,{THIRD_PARTY}", LOGIN_METHOD_SHARED_CODE_CODE="472-913"
    )
    browser = stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    text = login.text()
    assert text.index("Password") < text.index("Code from your administrator")

    refused = browser.submit(login, "/login/shared_code/", email=DEMO_EMAIL, code="000-000")
    assert refused.status == 422 and "That code is not valid." in refused.text()

    handed_off = browser.submit(login, "/login/shared_code/", email=DEMO_EMAIL, code="472-913")
    assert handed_off.status == 303
    redirect = browser.approve(browser.follow(handed_off))
    assert browser.exchange(redirect["code"][0], authorization.verifier).status_code == 200
