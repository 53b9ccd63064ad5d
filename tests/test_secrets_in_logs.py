"""E1: no secret a sign-in creates reaches a log line, in either log format.

Whole federated sign-ins with each login method run through the three apps (customer side,
mock broker, upstream stand-in) while every log record of the process is kept. The secrets
are collected from what actually travelled: the password, the M2M client secret and the M2M
access token, every one-time value in a query string or a redirect (the broker's state, the
completion value, authorization codes upstream and at the broker, the OIDC state and nonce,
the magic-link token), every cookie value, and the tokens the MCP client received. Each log
record is then formatted as the text and the JSON formatter write it, and searched for each.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from identity import broker_client
from identity.logging_setup import _TEXT_FORMAT, JsonFormatter
from mock_broker import seed as broker_seed
from tests.conftest import STANDIN_CLIENT_SECRET
from tests.federated import SIGN_IN, finish_at_broker
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD
from tests.stack import Browser

pytestmark = pytest.mark.integration

#: Query parameters and form fields whose values are credentials.
SECRET_PARAMETERS = {"state", "completion", "code", "token", "nonce", "code_verifier", "password"}


class Records(logging.Handler):
    """Every record at the level the apps log at (INFO: identity.logging_setup.configure)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records():
    root, handler = logging.getLogger(), Records()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def watch(browser: requests.Session, secrets: set[str]) -> None:
    """Collect every credential that passes through this browser."""

    def collect(response: requests.Response, *args, **kwargs) -> None:
        for url in (response.request.url, response.headers.get("Location", "")):
            secrets.update(
                value for name, value in parse_qsl(urlsplit(url).query) if name in SECRET_PARAMETERS
            )
        secrets.update(cookie.value for cookie in response.cookies)

    browser.hooks["response"].append(collect)


@pytest.mark.parametrize("method", ["password", "magic_link", "oidc"])
def test_e1_no_secret_of_a_whole_sign_in_is_logged(standin, records, method):
    stack = standin()
    secrets = {DEMO_PASSWORD, broker_seed.DEV_M2M_CLIENT_SECRET, STANDIN_CLIENT_SECRET}
    browser = Browser(stack)
    watch(browser, secrets)

    authorization = browser.authorize(scope="notes:read offline_access")
    login = browser.page("GET", authorization.login_url)
    handed_off = SIGN_IN[method](stack, browser, login, DEMO_EMAIL, DEMO_PASSWORD)
    redirect = finish_at_broker(browser, handed_off)
    tokens = browser.exchange(redirect["code"][0], authorization.verifier).json()
    secrets |= {tokens["access_token"], tokens["refresh_token"], authorization.verifier}
    with stack.idp.app.app_context():
        secrets.add(broker_client.client().session.token["access_token"])  # the M2M token

    secrets = {secret for secret in secrets if len(secret) >= 8}
    assert len(secrets) >= 10  # the collection itself works
    formatters = {"text": logging.Formatter(_TEXT_FORMAT), "json": JsonFormatter()}
    assert records.records, "nothing was logged: the capture is broken"
    leaks = [
        (name, line)
        for record in records.records
        for name, formatter in formatters.items()
        for line in [formatter.format(record)]
        if any(secret in line for secret in secrets)
    ]
    assert leaks == []
