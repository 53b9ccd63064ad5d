"""One federated sign-in, step by step, for each login method: what a user's browser does
between the broker's redirect to /login and the customer side's hand-off back to the broker.

Shared by the multi-instance tests and bench/flow.py. `target` is anything with the apps'
URLs and a mailbox: a tests.stack.Stack, a tests.cluster.Cluster, or bench/flow.py's view of
a running `make run`. `headers` go on the customer-side requests (e.g. to pin an instance).
"""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import parse_qs, urljoin, urlsplit

from requests import Response

from tests.stack import Browser, Page, meta_refresh

LINK = re.compile(r"^(http://\S+/login/magic_link/confirm\?token=\S+)$", re.MULTILINE)
METHODS = ("password", "magic_link", "oidc")


class Mailbox(Protocol):
    def wait_for(self, to: str, count: int = 1, timeout: float = 10.0) -> list[Any]: ...


def newest_link(mail: Mailbox, to: str, count: int = 1) -> str:
    """The sign-in link in the `count`-th message to `to` (waiting for it to arrive)."""
    message = mail.wait_for(to, count=count)[-1]
    return LINK.search(message.get_body(preferencelist=("plain",)).get_content()).group(1)


def with_password(
    target: Any, browser: Browser, login: Page, email: str, password: str, **headers: str
) -> Page:
    action, fields = login.form("/login/password/")
    data = {**fields, "email": email, "password": password}
    return browser.page("POST", action, data=data, headers=headers)


def with_magic_link(
    target: Any, browser: Browser, login: Page, email: str, password: str, **headers: str
) -> Page:
    """Ask for a link, open it from the mailbox, confirm it (`count`: links already sent)."""
    sent_before = len(target.mail.wait_for(email, count=0))
    action, fields = login.form("/login/magic_link/")
    data = {**fields, "magic_link-email": email}
    asked = browser.page("POST", action, data=data, headers=headers)
    assert asked.status == 303, asked.text()
    confirm = browser.page("GET", newest_link(target.mail, email, sent_before + 1), headers=headers)
    assert confirm.status == 200, confirm.text()
    action, fields = confirm.form("/login/magic_link/confirm")
    return browser.page("POST", action, data=fields, headers=headers)


def with_oidc(
    target: Any, browser: Browser, login: Page, email: str, password: str, **headers: str
) -> Page:
    """Through the upstream stand-in, as the user named by `email`'s local part."""
    action, fields = login.form("/login/oidc/standin/start")
    started = browser.page("POST", action, data=fields, headers=headers)
    assert started.status == 303, started.text()
    form_page = browser.page("GET", started.response.headers["Location"])
    url, fields = form_page.form("/authorize")
    fields.pop("no_email", None)
    fields.update(username=email.split("@")[0], email=email, email_verified="true")
    back = browser.page("POST", url, data={**fields, "action": "continue"})
    assert back.status in (302, 303), back.text()
    return browser.page("GET", back.response.headers["Location"], headers=headers)


SIGN_IN = {"password": with_password, "magic_link": with_magic_link, "oidc": with_oidc}


def finish_at_broker(browser: Browser, handed_off: Page, **headers: str) -> dict[str, list[str]]:
    """From the customer side's 303 to the broker's callback (consent too, if asked): the
    query of the broker's redirect to the MCP client."""
    assert handed_off.status == 303, handed_off.text()
    # The customer side's 303 leads to its hand-off page, whose refresh names the callback.
    handoff = urljoin(handed_off.response.url, handed_off.response.headers["Location"])
    target = meta_refresh(browser.page("GET", handoff, headers=headers))
    assert target, "the hand-off page names no callback"
    callback = browser.page("GET", target, headers=headers)
    if callback.status == 200:  # the consent page
        action, fields = callback.form(button="Allow")
        answer = browser.page("POST", action, data=fields, headers=headers)
    else:  # consent remembered from an earlier sign-in
        answer = callback
    assert answer.status in (302, 303), answer.text()
    return parse_qs(urlsplit(answer.response.headers["Location"]).query)


def federated_sign_in(target: Any, method: str, email: str, password: str = "") -> Response:
    """authorize → login page → sign in with `method` → callback → consent → token: the MCP
    client's token response."""
    browser = Browser(target)
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    redirect = finish_at_broker(browser, SIGN_IN[method](target, browser, login, email, password))
    return browser.exchange(redirect["code"][0], authorization.verifier)
