"""E2 for the MCP server: each class of hostile input a fuzzing run found (docs/security.md),
sent with a valid token inside an initialized MCP session — a clear 4xx (or a JSON-RPC error),
never a 500. The inputs are the fixed tables of `tests/fuzz_inputs.py`, the same for all four
apps."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from mcp_server.access_guard import MAX_BODY_BYTES
from mcp_server.json_depth import MAX_JSON_DEPTH, nesting_depth
from tests.fuzz_inputs import (
    CONTROL_HEADER_VALUES,
    FOREIGN_HOSTS,
    HUGE_INTEGERS,
    ODD_TEXT,
    deep_json,
    deep_object,
)
from tests.mcp_server.conftest import serve_stack
from tests.mcp_server.live_asgi import LiveAsgiServer
from tests.mcp_server.stack import TIMEOUT, McpStack

_ACCEPT = "application/json, text/event-stream"


class _Session:
    """A raw MCP session over HTTP: `initialize`, then JSON-RPC bodies of the test's choosing."""

    def __init__(self, stack: McpStack, token: str) -> None:
        self.url = stack.url
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": _ACCEPT,
            "Content-Type": "application/json",
        }
        started = self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "fuzz", "version": "1"},
                },
            }
        )
        assert started.status_code == 200, started.text
        self.headers["Mcp-Session-Id"] = started.headers["Mcp-Session-Id"]
        self.headers["MCP-Protocol-Version"] = "2025-06-18"
        initialized = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert initialized.status_code == 202, initialized.text

    def post(self, body: object | bytes, **headers: str) -> requests.Response:
        """POST `body` (bytes as they are; anything else as JSON, lone surrogates escaped)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode("ascii")
        return requests.post(
            self.url, data=data, headers={**self.headers, **headers}, timeout=TIMEOUT
        )


@pytest.fixture(scope="module")
def stack(broker_and_counter) -> Iterator[McpStack]:
    """One MCP server for the module: these tests change nothing a later one depends on."""
    servers: list[LiveAsgiServer] = []
    yield serve_stack(broker_and_counter[0], servers)
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def session(stack: McpStack) -> _Session:
    return _Session(stack, stack.token())


def _refused_by_http_parser(value: str) -> bool:
    """uvicorn (h11) answers a header with a control character other than tab with 400 and
    closes the connection: the app never sees it, and the unread body may reset the client."""
    return any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value)


def _is_parse_error(response: requests.Response) -> bool:
    return response.status_code == 400 and response.json()["error"]["code"] == -32700


@pytest.mark.parametrize(
    "body",
    [
        deep_json(),
        deep_object("params"),
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
        + b'{"name": "add_note", "arguments": {"text": '
        + deep_json()
        + b"}}}",
        deep_json(MAX_JSON_DEPTH + 1),
    ],
    ids=["array", "params", "tool-arguments", "one-past-the-limit"],
)
def test_e2_deeply_nested_json_is_a_parse_error_not_a_500(session, body):
    """JSON ~990 deep overflowed the parser's recursion (RecursionError: a 500). It is refused
    before any parser recurses: HTTP 400 with a JSON-RPC parse error."""
    response = session.post(body)

    assert _is_parse_error(response), (response.status_code, response.text[:300])
    assert f"{MAX_JSON_DEPTH}" in response.json()["error"]["message"]


def test_e2_json_nested_to_the_limit_still_works(session):
    """The limit refuses depth, not JSON: a call whose arguments nest to it is answered."""
    text = json.dumps({"a": [[[1]]]})
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add_note", "arguments": {"text": text}},
    }
    nested = json.dumps(call).encode()[:-1] + b', "x": ' + deep_json(MAX_JSON_DEPTH - 1) + b"}"
    assert nesting_depth(nested) == MAX_JSON_DEPTH  # the brackets in the note's text don't count

    response = session.post(nested)

    assert response.status_code == 200, response.text[:300]


def test_e2_an_oversized_body_is_413(session):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x" * 10}}
    padded = json.dumps(body).encode()[:-1] + b', "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'

    response = session.post(padded)

    assert response.status_code == 413


def _calls(value: object) -> list[dict]:
    """JSON-RPC messages with `value` in each place a client fills in."""
    return [
        {"jsonrpc": "2.0", "id": value, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1, "method": value},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": value}},
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "add_note", "arguments": {"text": value}},
        },
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": value},
        {"jsonrpc": value, "id": 1, "method": "tools/list"},
    ]


@pytest.mark.parametrize("value", [*ODD_TEXT, *HUGE_INTEGERS, *(int(v) for v in HUGE_INTEGERS[:4])])
def test_e2_odd_text_and_huge_numbers_in_every_field(session, value):
    """Lone surrogates, NULs, controls and integers past 64 bits (as strings and as JSON
    numbers) in the id, method, tool name, arguments and params of a message."""
    for message in _calls(value):
        response = session.post(message)
        assert response.status_code < 500, (message, response.status_code, response.text[:300])
    listed = session.post(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_notes", "arguments": {}},
        }
    )
    assert listed.status_code == 200, listed.text[:300]  # whatever was stored can be listed


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_e2_a_foreign_host_header_is_a_4xx(stack, session, host):
    """DNS-rebinding protection (the SDK's): a Host that is not the server's is refused."""
    response = session.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, Host=host)
    metadata = requests.get(
        stack.settings.resource_metadata_url, headers={"Host": host}, timeout=TIMEOUT
    )

    assert 400 <= response.status_code < 500, response.status_code
    assert metadata.json()["resource"] == stack.url  # from configuration, not the Host


@pytest.mark.parametrize("value", CONTROL_HEADER_VALUES)
def test_e2_control_characters_in_headers(stack, session, value):
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in (
        {"User-Agent": value, "Accept-Language": value},
        {"Mcp-Session-Id": value},
        {"MCP-Protocol-Version": value},
        {"Authorization": f"Bearer {value}"},
        {"Accept": value},
        {"Content-Type": value},
    ):
        try:
            response = session.post(call, **headers)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            assert _refused_by_http_parser(value), headers
            continue
        assert response.status_code < 500, (headers, response.status_code, response.text[:300])
    for path in ("/healthz", "/.well-known/oauth-protected-resource/mcp"):
        response = requests.get(
            stack.url.removesuffix("/mcp") + path, headers={"User-Agent": value}, timeout=TIMEOUT
        )
        assert response.status_code < 500
