"""Both apps over real HTTP on loopback, and a scripted browser to walk the federated flow.

`Stack` binds two free ports first, then builds the mock broker and the customer side with
each other's URL, migrates and seeds both databases, and serves them in threads. `Browser` is
a `requests.Session` (cookies are shared across the ports of 127.0.0.1, as in a real browser)
with helpers that read forms from the HTML it receives — it follows the pages, it does not
know their internals.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from bs4 import BeautifulSoup

from identity import mail
from mock_broker import seed as broker_seed
from tests import databases
from tests.databases import database_url
from tests.helpers import DEMO_EMAIL, DEMO_PASSWORD, customer_test_config
from tests.mail_sink import MailSink
from tests.servers import LiveServer


class Stack:
    """The customer side and the mock broker, each on its own free loopback port."""

    def __init__(
        self,
        directory: Path,
        customer_overrides: dict[str, Any] | None = None,
        broker_overrides: dict[str, Any] | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.customer_overrides = dict(customer_overrides or {})
        self.broker_overrides = dict(broker_overrides or {})
        # Ports first: each app's configuration names the other's URL (and a test may start a
        # third party, e.g. an OpenID Provider, that must know the customer side's URL).
        self.mail = MailSink(directory / "mail")
        self.broker = LiveServer()
        self.idp = LiveServer()

    def _build(self) -> None:
        from app import create_app as create_customer_app
        from mock_broker import create_app as create_broker_app
        from mock_broker import database as broker_database

        self.broker.app = create_broker_app(
            {
                "TESTING": True,
                "ENV_URL": self.broker.url,
                "DATABASE_URL": database_url(self.directory, "broker"),
                "LOGIN_ENDPOINT": f"{self.idp.url}/login",
                # Every test signs in afresh and meets the consent page (remembered consent
                # has its own tests in tests/broker).
                "REMEMBER_CONSENT": False,
                **self.broker_overrides,
            }
        )
        broker_database.init_db(self.broker.app)
        self.idp.app = create_customer_app(
            customer_test_config(
                self.directory,
                self.broker.url,
                **{
                    "PUBLIC_URL": self.idp.url,
                    "MAIL_PORT": self.mail.port,
                    "DEV_MAIL_DIR": str(self.mail.directory),
                    **self.customer_overrides,
                },
            )
        )
        runner = self.idp.app.test_cli_runner()
        runner.invoke(args=["init-db"], catch_exceptions=False)
        runner.invoke(args=["seed-demo"], catch_exceptions=False)

    def __enter__(self) -> Stack:
        # Each step registers its undoing first, so a failure part-way (an app that refuses
        # its configuration, a server that does not come up) still disposes what was built.
        with ExitStack() as running:
            running.callback(self._dispose_engines)  # last: no thread uses them any more
            self._build()
            running.enter_context(self.mail)
            # Queued mail goes out (and is audited) before the sink and the engines go.
            running.callback(mail.shutdown, self.idp.app)
            running.callback(self.broker.stop)
            self.broker.start()
            running.callback(self.idp.stop)
            self.idp.start()
            self._running = running.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._running.close()

    def _dispose_engines(self) -> None:
        for server in (self.idp, self.broker):
            if server.app is not None:
                databases.dispose(server.app)

    @property
    def demo_redirect_uri(self) -> str:
        return broker_seed.demo_redirect_uri(self.broker.url)

    @contextmanager
    def broker_configured(self, **values: Any) -> Iterator[None]:
        """Change the running broker's configuration for the duration of a test."""
        config = self.broker.app.config
        before = {key: config[key] for key in values}
        config.update(values)
        try:
            yield
        finally:
            config.update(before)

    def browser(self) -> Browser:
        return Browser(self)


@dataclass
class Authorization:
    """What an MCP client keeps while the user signs in."""

    verifier: str
    client_state: str
    login_url: str


@dataclass
class Page:
    response: requests.Response

    @property
    def soup(self) -> BeautifulSoup:
        return BeautifulSoup(self.response.text, "html.parser")

    @property
    def status(self) -> int:
        return self.response.status_code

    def text(self) -> str:
        return self.soup.get_text(" ", strip=True)

    def href(self, selector: str) -> str:
        """The absolute URL of the first link matching the CSS `selector`."""
        return urljoin(self.response.url, self.soup.select_one(selector)["href"])

    def form(
        self, action_contains: str = "", button: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """(absolute action URL, the form's fields) for the first matching form."""
        for form in self.soup.find_all("form"):
            action = form.get("action", "")
            if action_contains not in action:
                continue
            if button is not None and button not in form.get_text(" ", strip=True):
                continue
            fields = {
                field["name"]: field.get("value", "")
                for field in form.find_all(["input", "button"])
                if field.get("name")
            }
            return urljoin(self.response.url, action), fields
        raise AssertionError(f"no form with action containing {action_contains!r} and {button!r}")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


class Browser(requests.Session):
    """A cookie-keeping HTTP client that walks the flow the way a user's browser would."""

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.stack = stack

    def page(self, method: str, url: str, **kwargs: Any) -> Page:
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 30)
        return Page(self.request(method, url, **kwargs))

    def submit(
        self, page: Page, action_contains: str = "", button: str | None = None, **values: str
    ) -> Page:
        action, fields = page.form(action_contains, button)
        return self.page("POST", action, data={**fields, **values})

    # -- the MCP client's side ------------------------------------------------------------

    def authorize(self, scope: str = "notes:read", **params: str) -> Authorization:
        """Start an authorization as the demo client; returns where the broker sent us."""
        verifier, challenge = pkce_pair()
        client_state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": broker_seed.DEMO_CLIENT_ID,
            "redirect_uri": self.stack.demo_redirect_uri,
            "scope": scope,
            "state": client_state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": broker_seed.DEV_MCP_SERVER_URL,
            **params,
        }
        response = self.get(
            f"{self.stack.broker.url}/oauth/authorize", params=query, allow_redirects=False
        )
        assert response.status_code == 302, response.text
        return Authorization(verifier, client_state, response.headers["Location"])

    def exchange(self, code: str, verifier: str) -> requests.Response:
        return requests.post(
            f"{self.stack.broker.url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.stack.demo_redirect_uri,
                "client_id": broker_seed.DEMO_CLIENT_ID,
                "code_verifier": verifier,
                "resource": broker_seed.DEV_MCP_SERVER_URL,
            },
            timeout=30,
        )

    # -- the user's side ------------------------------------------------------------------

    def sign_in_with_password(
        self, login_page: Page, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD
    ) -> Page:
        return self.submit(login_page, "/login/password/", email=email, password=password)

    def approve(self, callback: Page) -> dict[str, list[str]]:
        """At the broker's consent page: approve; returns the client redirect's query."""
        assert callback.status == 200, callback.text()
        answer = self.submit(callback, button="Allow")
        assert answer.status in (302, 303), answer.text()
        location = answer.response.headers["Location"]
        assert location.startswith(self.stack.demo_redirect_uri + "?"), location
        return parse_qs(urlsplit(location).query)

    def follow(self, page: Page) -> Page:
        """What a browser does next: follow the redirect, and the customer side's hand-off
        page's refresh when that is where it leads (identity/completion.py)."""
        assert page.status in (301, 302, 303), (page.status, page.text())
        landed = self.page("GET", urljoin(page.response.url, page.response.headers["Location"]))
        refresh = meta_refresh(landed)
        return self.page("GET", refresh) if refresh else landed

    def handoff_target(self, handed_off: Page) -> str:
        """Where a sign-in's 303 sends the browser on: the broker callback URL on the customer
        side's hand-off page (visiting the page spends it, as a browser does)."""
        assert handed_off.status == 303, (handed_off.status, handed_off.text())
        location = urljoin(handed_off.response.url, handed_off.response.headers["Location"])
        landed = self.page("GET", location)
        refresh = meta_refresh(landed)
        assert landed.status == 200 and refresh, (landed.status, landed.text())
        return refresh


def meta_refresh(page: Page) -> str | None:
    """The URL of a page's `<meta http-equiv="refresh" content="0; url=…">`, if it has one."""
    if page.status != 200 or "html" not in page.response.headers.get("Content-Type", ""):
        return None
    tag = page.soup.select_one('meta[http-equiv="refresh"]')
    if tag is None:
        return None
    _, _, url = tag["content"].partition("url=")
    return urljoin(page.response.url, url.strip())
