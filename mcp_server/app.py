"""The ASGI app: protected-resource metadata, a health check, and the guarded MCP endpoint.

Assembled from the MCP SDK's pieces rather than `MCPServer(auth=…)`, because the SDK's
built-in wiring advertises `required_scopes` as `scopes_supported` and demands them on every
request — it cannot say "notes:read to connect, notes:write for one tool". What is the SDK's:
the streamable-HTTP transport and session manager, `create_protected_resource_routes` (RFC
9728 metadata), `BearerAuthBackend` + `AuthContextMiddleware` (token → request user →
`get_access_token()` in tools). What is ours: the token verifier, the access guard, the CORS
policy for browser-based clients and the Host check.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx2
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend
from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_server.access_guard import AccessGuard, BrokerOutageGuard
from mcp_server.cors import BrowserClientCors
from mcp_server.host_guard import HostGuard
from mcp_server.introspection import Introspector
from mcp_server.jwks import JwksCache
from mcp_server.notes import NoteStore
from mcp_server.settings import INTROSPECTION, READ_SCOPE, Settings
from mcp_server.token_verifier import BrokerTokenVerifier
from mcp_server.tools import TOOL_SCOPES, create_mcp_server


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    jwks = JwksCache(
        settings.jwks_url,
        timeout=httpx2.Timeout(settings.jwks_read_timeout, connect=settings.jwks_connect_timeout),
        max_age=settings.jwks_max_age,
        refetch_cooldown=settings.jwks_refetch_cooldown,
    )
    introspector = None
    if settings.token_check == INTROSPECTION:
        introspector = Introspector(
            settings.introspection_url,
            settings.introspection_client_id,
            settings.introspection_client_secret,
            timeout=httpx2.Timeout(
                settings.jwks_read_timeout, connect=settings.jwks_connect_timeout
            ),
            cache_seconds=settings.introspection_cache_seconds,
        )
    verifier = BrokerTokenVerifier(
        jwks, settings.issuer, settings.server_url, settings.leeway, introspector
    )
    mcp = create_mcp_server(NoteStore())
    transport = mcp.streamable_http_app(
        streamable_http_path=settings.mcp_path,
        # The SDK's Host/Origin check is replaced by HostGuard: any Origin may call (cors).
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    # The SDK's backend checks `AccessToken.resource` against our URL too (defence in depth).
    backend = BearerAuthBackend(verifier, resource_server_url=AnyHttpUrl(settings.server_url))
    # Outermost first: CORS (so every answer is readable cross-origin); our Host only (421);
    # outage → 503; token → request user; user → contextvar; then the gate.
    guarded_mcp = BrowserClientCors(
        HostGuard(
            BrokerOutageGuard(
                AuthenticationMiddleware(
                    AuthContextMiddleware(
                        AccessGuard(
                            transport,
                            resource_metadata_url=settings.resource_metadata_url,
                            base_scopes=(READ_SCOPE,),
                            tool_scopes=TOOL_SCOPES,
                        )
                    ),
                    backend=backend,
                )
            ),
            settings.server_url,
        )
    )
    metadata_routes = create_protected_resource_routes(
        resource_url=AnyHttpUrl(settings.server_url),
        authorization_servers=[AnyHttpUrl(settings.issuer)],
        scopes_supported=list(settings.scopes_supported),
        resource_name="Notes (sample MCP server)",
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            try:
                yield
            finally:
                await jwks.aclose()
                if introspector is not None:
                    await introspector.aclose()

    app = Starlette(
        routes=[
            *metadata_routes,
            Route("/healthz", healthz, methods=["GET"]),
            Route(settings.mcp_path, guarded_mcp, methods=["GET", "POST", "DELETE", "OPTIONS"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.jwks = jwks
    return app
