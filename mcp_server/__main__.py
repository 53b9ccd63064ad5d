"""`python -m mcp_server`: serve the sample MCP server with uvicorn (settings from the env)."""

from __future__ import annotations

import sys

import uvicorn

from mcp_server.app import create_app
from mcp_server.settings import INTROSPECTION, Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"mcp_server: {error}", file=sys.stderr)
        return 2
    print(connect_instructions(settings), flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def connect_instructions(settings: Settings) -> str:
    return f"""\
Notes MCP server (streamable HTTP): {settings.server_url}
  tokens from:   {settings.issuer}
  metadata:      {settings.resource_metadata_url}
  token check:   {_token_check(settings)}

Connect an MCP client to {settings.server_url}; it is sent to the broker to sign in
(the mock broker must be running: `make run`). For example:
  npx @modelcontextprotocol/inspector   # transport "Streamable HTTP", URL above
  claude mcp add --transport http notes {settings.server_url}
"""


def _token_check(settings: Settings) -> str:
    if settings.token_check == INTROSPECTION:
        return f"introspection at {settings.introspection_url} (revocation seen at once)"
    return "jwt, locally (a revoked token works until it expires)"


if __name__ == "__main__":
    sys.exit(main())
