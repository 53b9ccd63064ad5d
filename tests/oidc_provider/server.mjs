// An independent, certified OpenID Provider (panva/oidc-provider) for interoperability tests.
//
// Run by tests/node_oidc.py as `node tests/oidc_provider/server.mjs`; everything comes from env:
//   PORT                        loopback port to listen on (required); issuer is http://127.0.0.1:PORT
//   CLIENT_ID, CLIENT_SECRET    the one registered confidential client (required)
//   REDIRECT_URIS               space-separated redirect URIs of that client (required)
//   TOKEN_ENDPOINT_AUTH_METHOD  client_secret_basic (default) or client_secret_post, ...
//   ACCOUNTS                    JSON object: login -> claims object (email, groups, ...)
//   CONFORM_ID_TOKEN_CLAIMS     "1" (default): scope claims only via userinfo when an access
//                               token is issued (OIDC Core 5.4); "0": also put them in the ID Token
//
// Prints `READY <issuer>` on stdout once listening; exits 0 on SIGTERM/SIGINT.
//
// The login and consent pages are oidc-provider's own devInteractions (any login name, any
// password); tests drive them as HTML forms. PKCE (S256) is required of every client. RFC 9207
// (`iss` in the authorization response) is always on in oidc-provider 9.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import process from 'node:process';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`server.mjs: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(required('PORT'), 10);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const conformIdTokenClaims = (process.env.CONFORM_ID_TOKEN_CLAIMS ?? '1') !== '0';

// A fresh RS256 signing key per run, so oidc-provider never falls back to its dev keys.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

function claimsFor(login) {
  const configured = Object.hasOwn(accounts, login) ? accounts[login] : null;
  if (configured) {
    return { sub: login, ...configured };
  }
  return { sub: login, email: `${login}@example.net`, email_verified: true };
}

const configuration = {
  clients: [
    {
      client_id: required('CLIENT_ID'),
      client_secret: required('CLIENT_SECRET'),
      redirect_uris: required('REDIRECT_URIS').split(/\s+/).filter(Boolean),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: process.env.TOKEN_ENDPOINT_AUTH_METHOD || 'client_secret_basic',
    },
  ],
  async findAccount(_ctx, id) {
    const claims = claimsFor(id);
    return {
      accountId: claims.sub,
      async claims() {
        return claims;
      },
    };
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'phone', 'organization'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture', 'locale'],
    groups: ['groups'],
    phone: ['phone_number', 'phone_number_verified'],
    // What an upstream admin controls and a relying party must not take unasked (C24).
    organization: ['roles', 'org_id', 'org_name'],
  },
  conformIdTokenClaims,
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
  },
  responseTypes: ['code'],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 600,
    Grant: 600,
  },
  // Errors as JSON-ish plain text: the tests read them, no browser does.
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(issuer, configuration);

// oidc-provider validates static clients lazily, on first use; fail at startup instead, so a
// bad client configuration is reported by the harness rather than by some later request.
try {
  await provider.Client.find(configuration.clients[0].client_id);
} catch (err) {
  console.error(`server.mjs: invalid client configuration: ${err.error_description ?? err.message}`);
  process.exit(1);
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
server.on('error', (err) => {
  console.error(`server.mjs: cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // keep-alive sockets from the tests' sessions
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
