// panva/oidc-provider configured for the same workloads as Tessera's load tool, on 127.0.0.1
// only, with its default in-memory adapter (entry cap raised, see below):
//   client "load" (client_secret_basic): client_credentials, ES256 JWT access tokens for the
//     resource urn:tessera:load (opaque ones for urn:tessera:introspect), introspection;
//   client "load-public" (public): refresh_token with rotation on every use, DPoP-bound.
// It prints "listening on http://127.0.0.1:PORT" once ready. `POST /bench/seed` with
// {"jkts": [...]} creates one signed-in session per DPoP key thumbprint (what a code grant
// would leave behind) and answers with their refresh tokens, so the refresh workload starts as
// it does against Tessera, whose sessions are seeded in its database.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';
// The provider's own in-memory adapter, with its entry cap raised: the stock cap of 1,000
// entries is less than one workload writes, and evicted sessions would fail their refreshes.
import LRU from './node_modules/oidc-provider/lib/helpers/lru.js';
import MemoryAdapter from './node_modules/oidc-provider/lib/adapters/memory_adapter.js';

const storage = new LRU({ maxSize: 10_000_000 });

const port = Number(process.argv[2] ?? 0);
const SECRET = process.env.LOAD_SECRET ?? 'load-secret-load-secret-load-secret';
const RESOURCE = 'urn:tessera:load';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'load', use: 'sig', alg: 'ES256' };

// Access tokens are ES256 JWTs, as Tessera's are. oidc-provider cannot introspect those, so the
// introspection workload asks for the resource urn:tessera:introspect, whose tokens are opaque.
const INTROSPECTED = 'urn:tessera:introspect';
const resourceServer = {
  scope: 'load',
  audience: RESOURCE,
  accessTokenTTL: 3600,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: 'ES256' } },
};
const opaqueResourceServer = {
  scope: 'load',
  audience: INTROSPECTED,
  accessTokenTTL: 3600,
  accessTokenFormat: 'opaque',
};

function configuration(issuer) {
  return {
    adapter: (model) => new MemoryAdapter(model, storage),
    jwks: { keys: [signingKey] },
    clients: [
      {
        client_id: 'load',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        introspection_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'load-public',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/cb'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    scopes: ['openid', 'load', 'offline_access'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => (resource === INTROSPECTED ? opaqueResourceServer : resourceServer),
      },
    },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    rotateRefreshToken: true,
    ttl: { RefreshToken: 86_400, Grant: 86_400 },
    enabledJWA: { dPoPSigningAlgValues: ['ES256'] },
    // Benchmarks only: nothing is rendered.
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
    issuer,
  };
}

async function seed(provider, jkts) {
  const client = await provider.Client.find('load-public');
  const now = Math.floor(Date.now() / 1000);
  const tokens = [];
  for (const jkt of jkts) {
    const grant = new provider.Grant({ accountId: 'load-user', clientId: 'load-public' });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(RESOURCE, 'load');
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId: 'load-user',
      client,
      grantId,
      gty: 'authorization_code',
      scope: 'openid offline_access load',
      resource: RESOURCE,
      authTime: now,
      amr: ['pwd'],
      iiat: now,
      jkt,
    });
    tokens.push(await token.save());
  }
  return tokens;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

// Listen first: the issuer names the port the system chose.
const { createServer } = await import('node:http');
const server = createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, configuration(issuer));
const callback = provider.callback();
server.on('request', async (req, res) => {
  if (req.method === 'POST' && req.url === '/bench/seed') {
    try {
      const { jkts } = await readJson(req);
      const tokens = await seed(provider, jkts);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ refresh_tokens: tokens }));
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(e?.stack ?? e));
    }
    return;
  }
  callback(req, res);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
console.log(`listening on ${issuer}`);
