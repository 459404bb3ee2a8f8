// A real OpenID provider for the sign-in tests: oidc-provider (certified), configured from a JSON file.
//
//   node provider.mjs CONFIG.json     prints one JSON line {"issuer", "port"} when it listens
//
// CONFIG: module (path of oidc-provider's lib/index.js), issuer (default http://127.0.0.1:PORT), port (0:
// any), jwks (private keys, signing key first), clockOffset (seconds the provider's clock is ahead of the
// system's: negative issues tokens already expired), discovery ("oidc" or "rfc8414": only at RFC 8414's
// /.well-known/oauth-authorization-server), users ({login: claims}), clients, resources ({indicator:
// {audience, scope, ttl, format ("jwt" | "opaque"), alg, secret (for HS*)}}; any http://127.0.0.1:PORT/...
// is a resource too, a JWT for itself).
//
// Clients are configured, or register themselves (RFC 7591). No browser: GET /auth with login_hint=<login>
// signs that user in and consents to what was asked, then redirects to the client with a code (the tests
// then use the token endpoint as any client does).
// POST /_test/jwks {keys} restarts the provider on new keys (key rotation), keeping its sessions.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createSecretKey } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { default: Provider, errors } = await import(pathToFileURL(config.module).href);

if (config.clockOffset) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + config.clockOffset * 1000;
}

// The configured resources, and any MCP server the tests run on loopback (its URL is its audience).
function resourceServer(indicator) {
  const loopback = /^http:\/\/127\.0\.0\.1:\d+\//.test(indicator);
  const rs = config.resources[indicator] || (loopback ? {} : undefined);
  if (!rs) return undefined;
  const alg = rs.alg || 'RS256';
  const sign = alg.startsWith('HS') ? { alg, key: createSecretKey(Buffer.from(rs.secret)) } : { alg };
  return {
    scope: rs.scope || 'sipsim',
    audience: rs.audience || indicator,
    accessTokenTTL: rs.ttl || 600,
    accessTokenFormat: rs.format || 'jwt',
    ...(rs.format === 'opaque' ? {} : { jwt: { sign } }),
  };
}

function build(issuer, jwks) {
  const provider = new Provider(issuer, {
    jwks,
    clients: config.clients,
    clientDefaults: { token_endpoint_auth_method: 'client_secret_basic' },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'offline_access', 'sipsim', 'calendar'], // the resources' scopes too
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      registration: { enabled: true }, // dynamic client registration (RFC 7591), as MCP clients use it
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => {
          const info = resourceServer(indicator);
          if (!info) throw new errors.InvalidTarget();
          return info;
        },
      },
    },
    findAccount: async (ctx, sub) => (config.users[sub]
      ? { accountId: sub, claims: async () => ({ sub, ...config.users[sub] }) }
      : undefined),
    // what a resource server needs to know of the user, in every access token (or its introspection)
    extraTokenClaims: async (ctx, token) => (token.accountId ? { ...config.users[token.accountId] } : undefined),
    ttl: { Session: 3600, Interaction: 600, Grant: 3600 },
  });
  provider.use(async (ctx, next) => {
    if (config.discovery === 'rfc8414') {
      if (ctx.path === '/.well-known/openid-configuration') {
        ctx.status = 404;
        return undefined;
      }
      if (ctx.path === '/.well-known/oauth-authorization-server') ctx.path = '/.well-known/openid-configuration';
    }
    if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) return interact(provider, ctx);
    return next();
  });
  return provider;
}

// The user named by login_hint signs in, then consents to every scope and resource asked for.
async function interact(provider, ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;
  let result;
  if (prompt.name === 'login') {
    if (!config.users[params.login_hint]) {
      result = { error: 'access_denied', error_description: `no user ${params.login_hint}` };
    } else {
      result = { login: { accountId: params.login_hint } };
    }
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    result = { consent: details.grantId ? {} : { grantId } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.respond = false;
  return undefined;
}

let handler;
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/_test/jwks') {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      handler = build(issuer, JSON.parse(body)).callback();
      res.writeHead(204).end();
    });
    return;
  }
  handler(req, res);
});
server.listen(config.port || 0, '127.0.0.1');
await new Promise((resolve) => { server.once('listening', resolve); });
const { port } = server.address();
const issuer = config.issuer || `http://127.0.0.1:${port}`;
handler = build(issuer, config.jwks).callback();
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
