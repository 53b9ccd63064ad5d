"""Serve a WSGI app over real HTTP on a free loopback port, for integration tests.

Why not Flask's test client: the broker contract is about real HTTP between two processes
(timeouts, redirects, headers), so integration tests speak it over sockets. The port is
chosen by the OS (bind to port 0) and readiness is proven by polling a health URL, never by
sleeping.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from werkzeug.serving import BaseWSGIServer, make_server


class LiveServer:
    """A WSGI app bound to 127.0.0.1 on an OS-chosen port; start() serves it in a thread."""

    def __init__(self, app=None, port: int = 0) -> None:
        # The app may be attached after binding (``server.app = create_app(...)``): two apps that
        # must know each other's URL are bound first, then built with both ports known.
        self.app = app
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, self._dispatch, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _dispatch(self, environ, start_response):
        return self.app(environ, start_response)

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, health_path: str = "/healthz", timeout: float = 10.0) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + health_path, timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.url}{health_path} did not answer 200 in {timeout}s")
            time.sleep(0.02)  # poll interval of the health check, not a wait for readiness

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serving(app) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


class SilentServer:
    """A TCP peer that accepts connections and never says a word: a hung broker, SMTP server
    or OpenID Provider. It records whether each client gave up (closed the connection) before
    the server's own patience (`patience` seconds) ran out — which proves that the client's
    read timeout reached the call, without measuring how long anything took (C21)."""

    def __init__(self, patience: float = 10.0) -> None:
        self.patience = patience
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self.outcomes: list[str] = []  # per connection: "client gave up" or "server gave up"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._waiters: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            waiter = threading.Thread(target=self._wait_out, args=(connection,), daemon=True)
            self._waiters.append(waiter)
            waiter.start()

    def _wait_out(self, connection: socket.socket) -> None:
        """Read (and ignore) whatever comes, until the client closes or patience runs out."""
        deadline = time.monotonic() + self.patience
        connection.settimeout(0.05)
        with connection:
            while time.monotonic() < deadline:
                try:
                    if connection.recv(65536) == b"":
                        self.outcomes.append("client gave up")
                        return
                except TimeoutError:
                    continue
                except OSError:
                    self.outcomes.append("client gave up")
                    return
            self.outcomes.append("server gave up")

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for waiter in self._waiters:  # each ends when its client closes, or at its patience
            waiter.join(self.patience + 1)
