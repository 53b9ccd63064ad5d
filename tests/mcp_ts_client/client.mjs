// The official MCP TypeScript SDK client (@modelcontextprotocol/sdk), as a desktop MCP client
// uses it: a Client over the Streamable HTTP transport with the SDK's OAuth support, a loopback
// redirect URI served by this process, and its registration and tokens kept in a file between
// runs. Driven by tests/ts_mcp_client.py, which plays the person at the browser.
//
// Environment:
//   MCP_URL              the MCP server's URL
//   CALLBACK_PORT        the loopback port of the redirect URI (http://127.0.0.1:<port>/callback)
//   STATE_FILE           JSON file: client information, tokens, PKCE verifier (kept across runs)
//   STEPS                comma-separated: whoami | add_note | list_notes | break_token
//                        (break_token replaces the stored access token with a dead one, so the
//                        next call gets a 401 and the SDK must refresh)
//   GRANT_TYPES          default "authorization_code,refresh_token"
//   CLIENT_METADATA_URL  optional: a Client ID Metadata Document URL to use instead of DCR
//
// Output: one JSON object per line on stdout: {"event": "authorize", "url"} when the SDK sends
// the user to the broker, {"event": "tokens", "scope", "refresh"} when it saves tokens,
// {"event": "tool", "name", "result"} per call, {"event": "done"}; {"event": "error"} and exit 1.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const required = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const mcpUrl = new URL(required('MCP_URL'));
const port = Number(required('CALLBACK_PORT'));
const stateFile = required('STATE_FILE');
const steps = required('STEPS').split(',').filter(Boolean);
const grantTypes = (process.env.GRANT_TYPES || 'authorization_code,refresh_token').split(',');
const redirectUrl = `http://127.0.0.1:${port}/callback`;

const load = () => (existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : {});
const store = (changes) => writeFileSync(stateFile, JSON.stringify({ ...load(), ...changes }));

class FileBackedProvider {
  get redirectUrl() {
    return redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK end-to-end client',
      redirect_uris: [redirectUrl],
      grant_types: grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  get clientMetadataUrl() {
    return process.env.CLIENT_METADATA_URL || undefined;
  }

  clientInformation() {
    return load().clientInformation;
  }

  saveClientInformation(clientInformation) {
    store({ clientInformation });
  }

  tokens() {
    return load().tokens;
  }

  saveTokens(tokens) {
    store({ tokens });
    say({ event: 'tokens', scope: tokens.scope, refresh: Boolean(tokens.refresh_token) });
  }

  redirectToAuthorization(url) {
    say({ event: 'authorize', url: url.toString() });
  }

  saveCodeVerifier(codeVerifier) {
    store({ codeVerifier });
  }

  codeVerifier() {
    return load().codeVerifier;
  }
}

// The redirect URI: each authorization response resolves the next waiting code.
let deliver;
const codes = [];
const server = createServer((request, response) => {
  const url = new URL(request.url, redirectUrl);
  if (url.pathname !== '/callback') {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { 'Content-Type': 'text/plain' }).end('Signed in. You can close this window.');
  const answer = { code: url.searchParams.get('code'), error: url.searchParams.get('error') };
  if (deliver) {
    deliver(answer);
    deliver = undefined;
  } else {
    codes.push(answer);
  }
});
const nextAnswer = () =>
  codes.length ? Promise.resolve(codes.shift()) : new Promise((resolve) => (deliver = resolve));

const provider = new FileBackedProvider();
let transport;
let client;
let connect;

async function authorized(action) {
  // A call that needs the user: the SDK has sent them to the broker (redirectToAuthorization)
  // and thrown; the code arrives at the redirect URI; finishAuth exchanges it; call again.
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof UnauthorizedError) || attempt >= 3) throw error;
      const answer = await nextAnswer();
      if (!answer.code) throw new Error(`authorization failed: ${answer.error}`);
      await transport.finishAuth(answer.code);
    }
  }
}

async function main() {
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  client = new Client({ name: 'ts-sdk-e2e', version: '1.0.0' });
  connect = async () => {
    transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await client.connect(transport);
  };
  await authorized(connect);
  for (const step of steps) {
    if (step === 'break_token') {
      const { tokens } = load();
      store({ tokens: { ...tokens, access_token: 'expired.or.revoked.token' } });
      continue;
    }
    const args = step === 'add_note' ? { text: 'hello from the TypeScript SDK' } : {};
    const call = () => authorized(() => client.callTool({ name: step, arguments: args }));
    let result;
    try {
      result = await call();
    } catch (error) {
      // The SDK (1.32), holding a refresh token, answers 403 insufficient_scope by refreshing
      // it — the same scope again — and then gives up, instead of asking the user for more. A
      // client recovers by forgetting the refresh token and reconnecting: the next 403 then
      // sends the user to authorize the union of the scopes (the step-up).
      if (!(error instanceof StreamableHTTPError) || error.code !== 403) throw error;
      say({ event: 'step_up_without_refresh_token' });
      const { tokens } = load();
      store({ tokens: { ...tokens, refresh_token: undefined } });
      await client.close();
      await authorized(connect);
      result = await call();
    }
    say({ event: 'tool', name: step, result: result.structuredContent ?? result.content, isError: Boolean(result.isError) });
  }
  await client.close();
  say({ event: 'done' });
}

main()
  .catch((error) => {
    say({ event: 'error', message: String(error?.stack || error) });
    process.exitCode = 1;
  })
  .finally(() => server.close());
