"""An HTTPS server on 127.0.0.1 that serves Client ID Metadata Documents to the broker in tests.

How a test serves a CIMD document under a hostname without DNS:

- a throwaway CA (trustme) issues a certificate for the hostname `cimd.test`; the broker
  trusts that CA through `CIMD_CA_FILE` and still verifies every certificate;
- the broker's fetcher takes an injectable resolver (`CIMD_RESOLVER`, a test-only setting)
  that maps `cimd.test` to 127.0.0.1 (and other test names to private addresses), so the
  real SSRF check and the pinned connection run unchanged on the resolver's answer;
- because 127.0.0.1 is loopback, the happy paths run with `CIMD_ALLOW_PRIVATE_ADDRESSES`
  on, and the SSRF tests with it off (the default).

Each route can answer with any status, headers and body, or hold its answer until released
(the slow document); the server counts the requests per path (for the caching tests).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme

HOSTNAME = "cimd.test"

#: What the test resolver answers (addresses in 10/8, 169.254/16 are never contacted).
ADDRESSES = {
    HOSTNAME: ["127.0.0.1"],
    "private.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.216.34", "127.0.0.1"],
    "mapped.test": ["::ffff:127.0.0.1"],
}


def resolver(hostname: str, port: int) -> list[str]:
    if hostname not in ADDRESSES:
        raise OSError(f"test resolver: unknown host {hostname}")
    return ADDRESSES[hostname]


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # wait for DocumentServer.release before answering
    content_length: bool = True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.hits[self.path] += 1
        route = owner.routes.get(self.path, Route(status=404, body=b"not found"))
        if route.hold:
            owner.release.wait(10)
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.content_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests assert on hits, not on logs."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: DocumentServer

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (the slow document) is expected, not an error."""


class DocumentServer:
    """Serves routes over HTTPS with a certificate for `cimd.test` from a throwaway CA."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = directory / "cimd-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(HOSTNAME).configure_cert(context)
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str, hostname: str = HOSTNAME) -> str:
        return f"https://{hostname}:{self.port}{path}"

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def serve_document(self, path: str, headers: dict[str, str] | None = None, **fields) -> str:
        """Serve a valid document at `path` (its client_id is its URL); `fields` override."""
        url = self.url(path)
        document = {
            "client_id": url,
            "client_name": "CIMD Agent",
            "client_uri": "https://agent.example",
            "redirect_uris": ["http://127.0.0.1:7777/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            **fields,
        }
        body = json.dumps({k: v for k, v in document.items() if v is not None}).encode()
        return self.serve(
            path,
            Route(body=body, headers={"Content-Type": "application/json", **(headers or {})}),
        )

    def start(self) -> DocumentServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
