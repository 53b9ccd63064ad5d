"""The MCP SDK's own OAuth client against this server and the broker, headless.

What a real MCP client does: connect without a token, follow the 401 to the metadata and the
broker, sign in (the browser's part played by `requests`, the customer side by posting the
profile), and — when a tool needs more — step up on the 403 and retry. The client is a
pre-registered public client; nothing about the SDK's OAuth logic is bypassed.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import requests
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata

from scripts.mcp_demo import MemoryStorage
from tests.broker.flows import csrf_token, redirect_query
from tests.mcp_server.stack import ALICE, TIMEOUT, McpStack


class HeadlessBrowser:
    """Signs in wherever the SDK sends it; records the scope each authorization asked for."""

    def __init__(self, stack: McpStack) -> None:
        self.stack = stack
        self.requested_scopes: list[str] = []
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, authorization_url: str) -> None:
        self.requested_scopes.append(parse_qs(urlsplit(authorization_url).query)["scope"][0])
        self._result = await anyio.to_thread.run_sync(self._sign_in, authorization_url)

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None
        return self._result

    def _sign_in(self, authorization_url: str) -> AuthorizationCodeResult:
        broker = self.stack.broker
        browser = requests.Session()
        login = browser.get(authorization_url, allow_redirects=False, timeout=TIMEOUT)
        assert login.status_code == 302, login.text
        login_query = redirect_query(login)
        posted = broker.post_user(login_query["login_request_id"], ALICE)
        assert posted.status_code == 200
        # Back through the callback the broker named, carrying its one-time value (B12).
        consent = browser.get(posted.json()["redirect_uri"], timeout=TIMEOUT)
        assert consent.status_code == 200, consent.text
        approved = browser.post(
            f"{broker.url}/oauth/consent",
            data={
                "login_request_id": login_query["login_request_id"],
                "decision": "approve",
                "csrf_token": csrf_token(consent.text),
            },
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert approved.status_code == 302, approved.text
        query = redirect_query(approved)
        return AuthorizationCodeResult(code=query["code"], state=query["state"], iss=query["iss"])


def test_the_sdk_client_signs_in_on_401_and_steps_up_on_403(stack):
    redirect_uri = stack.broker.demo_redirect_uri
    storage = MemoryStorage(
        client_info=OAuthClientInformationFull(
            client_id=stack.client_id,
            redirect_uris=[redirect_uri],
            token_endpoint_auth_method="none",
        )
    )
    browser = HeadlessBrowser(stack)
    auth = OAuthClientProvider(
        server_url=stack.url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[redirect_uri],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code"],
        ),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )

    async def run():
        async with (
            httpx2.AsyncClient(auth=auth, timeout=TIMEOUT) as http,
            streamable_http_client(stack.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            me = await session.call_tool("whoami")
            added = await session.call_tool("add_note", {"text": "stepped up"})
            return me, added

    me, added = anyio.run(run)

    assert me.structured_content["email"] == "alice@example.com"
    assert me.structured_content["scope"] == "notes:read"  # least privilege first
    assert added.is_error is False
    assert browser.requested_scopes == ["notes:read", "notes:read notes:write"]
    assert storage.tokens is not None and storage.tokens.scope == "notes:read notes:write"
