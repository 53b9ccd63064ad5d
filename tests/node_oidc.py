"""A real, independent, certified OpenID Provider for interoperability tests.

``NodeOidcProvider`` runs panva's ``oidc-provider`` (tests/oidc_provider/server.mjs, pinned in
its package-lock.json) under Node.js on a free loopback port, with one registered confidential
client and a table of accounts, and stops it again::

    with NodeOidcProvider("rp", "rp-secret", [redirect_uri], accounts={...}) as op:
        op.issuer  # http://127.0.0.1:<port>, discovery at op.issuer + "/.well-known/..."

Its login and consent pages are oidc-provider's devInteractions (any login name, any
password); ``complete_interaction`` drives them as a browser would, with a ``requests.Session``.

Node's packages are installed by ``npm ci --prefix tests/oidc_provider`` (the Makefile's test
target runs it); without them this module says so instead of failing obscurely.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests
from bs4 import BeautifulSoup

HARNESS_DIR = Path(__file__).resolve().parent / "oidc_provider"
SERVER_SCRIPT = HARNESS_DIR / "server.mjs"
NPM_INSTALL_COMMAND = "npm ci --prefix tests/oidc_provider"

# Ports the OS handed out can be taken again before node binds them; try a few.
_PORT_ATTEMPTS = 3
_PORT_IN_USE_MARK = "cannot listen on"


class NodeOidcProviderError(RuntimeError):
    """The provider could not be started, or its pages did not behave as expected."""


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise NodeOidcProviderError(
            "Node.js (`node`) is not on PATH; the oidc-provider tests need it"
        )
    return node


def _check_node_modules() -> None:
    if not (HARNESS_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        raise NodeOidcProviderError(
            f"oidc-provider is not installed in {HARNESS_DIR / 'node_modules'}; "
            f"run `{NPM_INSTALL_COMMAND}` from the repository root"
        )


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class NodeOidcProvider:
    """oidc-provider on ``127.0.0.1:<free port>``; a context manager (or ``start``/``stop``).

    Arguments configure its one client and its accounts:

    - ``client_id``, ``client_secret``: a confidential client;
    - ``redirect_uris``: that client's exact redirect URIs;
    - ``accounts``: login name -> claims (``email``, ``email_verified``, ``name``,
      ``given_name``, ``family_name``, ``groups`` ...); ``sub`` defaults to the login name.
      Any other login signs in as ``{sub: login, email: login@example.net,
      email_verified: true}``;
    - ``token_endpoint_auth_method``: ``client_secret_basic`` or ``client_secret_post``;
    - ``conform_id_token_claims``: oidc-provider's default (True) returns scope claims such as
      ``email`` from userinfo only, not in the ID Token of a code flow; False puts them in the
      ID Token as well.

    Attributes once started: ``issuer`` (``http://127.0.0.1:<port>``), ``port``,
    ``metadata`` (the discovery document), ``process`` (the ``subprocess.Popen``).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        accounts: Mapping[str, Mapping[str, Any]] | None = None,
        token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 - a method name
        *,
        conform_id_token_claims: bool = True,
        startup_timeout: float = 20.0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        if not self.redirect_uris:
            raise ValueError("at least one redirect URI is required")
        self.accounts = {login: dict(claims) for login, claims in (accounts or {}).items()}
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self.conform_id_token_claims = conform_id_token_claims
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.metadata: dict[str, Any] = {}
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self.returncode: int | None = None  # the process's exit code, once stopped

    @property
    def issuer(self) -> str:
        if self.port is None:
            raise NodeOidcProviderError("the provider is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def __enter__(self) -> NodeOidcProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _env(self, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("NODE_OPTIONS", None)
        env.update(
            PORT=str(port),
            CLIENT_ID=self.client_id,
            CLIENT_SECRET=self.client_secret,
            REDIRECT_URIS=" ".join(self.redirect_uris),
            TOKEN_ENDPOINT_AUTH_METHOD=self.token_endpoint_auth_method,
            ACCOUNTS=json.dumps(self.accounts),
            CONFORM_ID_TOKEN_CLAIMS="1" if self.conform_id_token_claims else "0",
        )
        return env

    def start(self) -> NodeOidcProvider:
        if self.process is not None:
            raise NodeOidcProviderError("the provider is already started")
        node = _node_executable()
        _check_node_modules()
        for attempt in range(_PORT_ATTEMPTS):
            port = _free_loopback_port()
            # Files, not pipes: nobody reads the output while the provider runs, and a full
            # pipe would block it.
            self._stdout = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
            self.port = port
            self.process = subprocess.Popen(
                [node, str(SERVER_SCRIPT)],
                cwd=HARNESS_DIR,
                env=self._env(port),
                stdin=subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=self._stderr,
            )
            try:
                self.metadata = self._wait_ready()
                return self
            except NodeOidcProviderError as error:
                output = self.stderr_text()
                self.stop()
                if _PORT_IN_USE_MARK in output and attempt + 1 < _PORT_ATTEMPTS:
                    continue
                raise error from None
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self) -> dict[str, Any]:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        with requests.Session() as http:
            while True:
                try:
                    response = http.get(self.discovery_url, timeout=1)
                    # The issuer check: not some other server that got the port first.
                    if response.status_code == 200 and response.json()["issuer"] == self.issuer:
                        return response.json()
                except (requests.RequestException, ValueError, KeyError):
                    pass  # not listening yet, or not oidc-provider that answered
                # Waiting on the process is the poll interval, and notices at once if it died.
                try:
                    code = self.process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
                else:
                    raise NodeOidcProviderError(
                        f"oidc-provider exited with code {code} before it was ready; "
                        f"its stderr:\n{self.stderr_text()}"
                    )
                if time.monotonic() > deadline:
                    raise NodeOidcProviderError(
                        f"{self.discovery_url} did not answer 200 in {self.startup_timeout}s; "
                        f"its stderr:\n{self.stderr_text()}"
                    )

    def _read(self, stream: IO[bytes] | None) -> str:
        if stream is None or stream.closed:
            return ""
        # pread: the file offset is shared with the child, which keeps appending at it.
        fd = stream.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def stdout_text(self) -> str:
        """What the provider printed on stdout so far (``READY <issuer>`` once listening)."""
        return self._read(self._stdout)

    def stderr_text(self) -> str:
        """What the provider printed on stderr so far (oidc-provider's warnings, errors)."""
        return self._read(self._stderr)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the provider and wait for it; SIGKILL if it does not exit in ``timeout``."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self.returncode = process.returncode
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stdout = self._stderr = None


def complete_interaction(
    session: requests.Session,
    response: requests.Response,
    login: str,
    *,
    password: str = "any password",  # noqa: S107 - devInteractions accept any password
    max_steps: int = 10,
) -> requests.Response:
    """Sign ``login`` in on the devInteractions pages and consent; return the redirect to the RP.

    ``response`` is the answer to a GET of the provider's authorization URL, followed or not
    (the login page, or the 303 to ``/interaction/<uid>``). Redirects on the provider's own
    origin are followed; the login form (``login``, ``password``; any password is accepted)
    and the consent form are submitted. The returned response is the provider's redirect whose
    ``Location`` leaves its origin: the RP's redirect_uri with ``code``, ``state`` and ``iss``
    (or ``error``). ``session`` keeps the provider's cookies between the steps.

    A browser already signed in and consented is sent straight back to the RP: GET the
    authorization URL with ``allow_redirects=False`` then, and the 303 itself is returned.
    """
    origin = _origin(response.url)
    for _ in range(max_steps):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if _origin(location) != origin:
                return response
            response = session.get(location, allow_redirects=False, timeout=10)
            continue
        form = BeautifulSoup(response.text, "html.parser").find("form", method="post")
        if response.status_code != 200 or form is None:
            raise NodeOidcProviderError(
                f"expected a devInteractions page at {response.url}, got "
                f"{response.status_code}: {response.text[:500]}"
            )
        data = {
            field["name"]: field.get("value", "")
            for field in form.find_all("input")
            if field.get("name")
        }
        prompt = data.get("prompt")
        if prompt == "login":
            data["login"] = login
            if "password" in data:
                data["password"] = password
        elif prompt != "consent":
            raise NodeOidcProviderError(f"unexpected devInteractions prompt {prompt!r}")
        action = urljoin(response.url, form.get("action") or response.url)
        if _origin(action) != origin:
            raise NodeOidcProviderError(f"the {prompt} form posts off the provider: {action}")
        response = session.post(action, data=data, allow_redirects=False, timeout=10)
    raise NodeOidcProviderError(f"no redirect to the RP after {max_steps} steps")
