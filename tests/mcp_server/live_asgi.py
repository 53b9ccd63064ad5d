"""Serve an ASGI app with uvicorn on a free loopback port, in a thread, for integration tests.

The ASGI twin of `tests/servers.py`: the socket is bound first (port 0, chosen by the OS), so
an app that must know its own URL — an MCP server's URL is its token audience — can be built
after the port is known; readiness is proven by polling a health URL, never by sleeping.
"""

from __future__ import annotations

import socket
import threading
import time

import requests
import uvicorn


class LiveAsgiServer:
    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, app, health_path: str = "/healthz", timeout: float = 10.0) -> LiveAsgiServer:
        config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + health_path, timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.url}{health_path} did not answer 200 in {timeout}s")
            time.sleep(0.02)  # poll interval of the health check, not a wait for readiness

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "uvicorn did not stop"
        self._socket.close()
