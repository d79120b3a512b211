// A newcomer's app on openid-client, against a running Tessera: discovery, authorization code
// with PKCE and DPoP, ID token validation, refresh with DPoP, userinfo, and a standard error;
// pushed authorization requests (RFC 9126) with DPoP, and signed request objects (RFC 9101) by
// value and pushed, from a client that authenticates with private_key_jwt; and the device
// authorization grant (RFC 8628), approved by the "user" at /device while the library polls;
// dynamic client registration (RFC 7591) with an initial access token, and the registered
// client's read, update and delete (RFC 7592); with the example mail API: its authorization server found from its protected resource
// metadata (RFC 9728, oauth4webapi), claims challenges, and token exchange (RFC 8693).
// Nothing here knows Tessera except the issuer URL, the client id and the user's credentials;
// the "user" fills in the sign-in form the way a browser would.
//
//   TESSERA_ISSUER=http://127.0.0.1:8080 TESSERA_USER=admin TESSERA_PASSWORD=… node openid-client.mjs

import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';

const issuer = new URL(process.env.TESSERA_ISSUER ?? 'http://127.0.0.1:8080');
const clientId = process.env.TESSERA_CLIENT_ID ?? 'interop-app';
const redirectUri = process.env.TESSERA_REDIRECT_URI ?? 'http://127.0.0.1:9999/callback';
const username = process.env.TESSERA_USER ?? 'admin';
const password = process.env.TESSERA_PASSWORD;
assert.ok(password, 'set TESSERA_PASSWORD');

const step = (what) => console.log(`openid-client: ${what}`);

// --- the app -----------------------------------------------------------------------------
const config = await client.discovery(issuer, clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests], // the test server listens on plain http://127.0.0.1
});
step(`discovered ${config.serverMetadata().issuer}`);

const dpopKey = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, dpopKey);
const codeVerifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorizationUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});

// --- the user, in a browser ---------------------------------------------------------------
const callback = await signIn(authorizationUrl);
step('signed in; back at the redirect URI');

// --- the app again ------------------------------------------------------------------------
const tokens = await client.authorizationCodeGrant(
  config,
  callback,
  { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
  undefined,
  { DPoP },
);
assert.equal(tokens.token_type.toLowerCase(), 'dpop');
assert.ok(tokens.refresh_token, 'a refresh token');
const claims = tokens.claims();
assert.equal(claims.preferred_username, username);
step(`code redeemed: DPoP-bound access token, ID token for ${claims.sub}`);

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'rotated');
assert.equal(refreshed.token_type.toLowerCase(), 'dpop');
step('refreshed with DPoP; the refresh token rotated');

const info = await client.fetchUserInfo(config, refreshed.access_token, claims.sub, { DPoP });
assert.equal(info.sub, claims.sub);
step(`userinfo: ${info.preferred_username}`);

// The old refresh token again is reuse: a standard OAuth error, which the library surfaces as-is.
await assert.rejects(
  client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP }),
  (err) => err.error === 'invalid_grant',
);
step('reused refresh token refused with invalid_grant');

// A stolen refresh token replayed from another machine (another key) is refused too.
const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
await assert.rejects(
  client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: thief }),
  (err) => err.error === 'invalid_grant',
);
step('refresh token replayed with another DPoP key refused with invalid_grant');

// --- pushed authorization requests and request objects -----------------------------------
{
  // A public client pushes its request (with a DPoP proof, which binds the code to the key).
  const verifier = client.randomPKCECodeVerifier();
  const st = client.randomState();
  const pushedUrl = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: st,
    },
    { DPoP },
  );
  assert.deepEqual([...pushedUrl.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  const back = await signIn(pushedUrl);
  const pushed = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: st }, undefined, { DPoP });
  assert.equal(pushed.token_type.toLowerCase(), 'dpop');
  step('pushed authorization request with DPoP: signed in, code redeemed');
  const reused = await fetch(pushedUrl, { redirect: 'manual' });
  assert.equal(reused.status, 400, 'a request_uri serves one code');
  step('the used request_uri is refused');

  // A confidential client with keys: private_key_jwt at /par and /token, request objects signed
  // with the same key, by value and pushed.
  const { publicKey, privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', publicKey);
  await admin('POST', '/applications', {
    id: 'interop-jar', kind: 'confidential', redirect_uris: [redirectUri], jwks: { keys: [{ ...jwk, alg: 'ES256', use: 'sig' }] },
  });
  const keyed = await client.discovery(issuer, 'interop-jar', undefined, client.PrivateKeyJwt(privateKey), {
    execute: [client.allowInsecureRequests],
  });
  for (const how of ['by value', 'pushed']) {
    const v = client.randomPKCECodeVerifier();
    const n = client.randomNonce();
    const jar = await client.buildAuthorizationUrlWithJAR(keyed, {
      redirect_uri: redirectUri,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(v),
      code_challenge_method: 'S256',
      nonce: n,
    }, privateKey);
    const url = how === 'pushed' ? await client.buildAuthorizationUrlWithPAR(keyed, jar.searchParams) : jar;
    const cb = await signIn(url);
    const t = await client.authorizationCodeGrant(keyed, cb, { pkceCodeVerifier: v, expectedNonce: n, idTokenExpected: true });
    assert.equal(t.claims().preferred_username, username);
    step(`request object ${how}: signed in, ID token for ${t.claims().sub}`);
  }
}

// --- a device without a browser (RFC 8628) -------------------------------------------------
{
  const grant = 'urn:ietf:params:oauth:grant-type:device_code';
  await admin('POST', '/applications', { id: 'interop-tv', grant_types: [grant, 'refresh_token'] });
  const tv = await client.discovery(issuer, 'interop-tv', undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  const tvKey = client.getDPoPHandle(tv, await client.randomDPoPKeyPair('ES256'));
  const asked = await client.initiateDeviceAuthorization(tv, { scope: 'openid offline_access' });
  assert.match(asked.user_code, /^[B-Z]{4}-[B-Z]{4}$/);
  step(`device authorization: user code ${asked.user_code}, poll every ${asked.interval} s`);
  const polled = client.pollDeviceAuthorizationGrant(tv, asked, undefined, { DPoP: tvKey });
  await approveDevice(new URL(asked.verification_uri_complete), asked.user_code);
  const deviceTokens = await polled;
  assert.equal(deviceTokens.token_type.toLowerCase(), 'dpop');
  assert.ok(deviceTokens.refresh_token);
  step(`approved at /device; the polling library got DPoP-bound tokens for ${deviceTokens.claims().sub}`);
}

// --- dynamic client registration (RFC 7591, RFC 7592) -------------------------------------
{
  // The operator's provisioning client gets an initial access token by client credentials.
  const provisioner = await admin('POST', '/applications', {
    id: 'interop-provisioner', kind: 'confidential', grant_types: ['client_credentials'], scopes: ['tessera.register'],
  });
  const asProvisioner = await client.discovery(issuer, 'interop-provisioner', provisioner.client_secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  assert.equal(asProvisioner.serverMetadata().registration_endpoint, new URL('/register', issuer).href);
  const initial = await client.clientCredentialsGrant(asProvisioner, { scope: 'tessera.register' });
  const metadata = {
    client_name: 'Registered by openid-client',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    dpop_bound_access_tokens: true,
    scope: 'openid mail.read',
  };
  const options = { initialAccessToken: initial.access_token, execute: [client.allowInsecureRequests] };
  try {
    await client.dynamicClientRegistration(issuer, { ...metadata, redirect_uris: ['javascript:alert(document.cookie)//'] }, client.None(), options);
    assert.fail('a javascript: redirect URI was registered');
  } catch (e) {
    assert.equal(e.error, 'invalid_redirect_uri', e.message);
  }
  step('a registration with a javascript: redirect URI is refused: invalid_redirect_uri');
  const registered = await client.dynamicClientRegistration(issuer, metadata, client.None(), options);
  const mine = registered.clientMetadata();
  step(`registered ${mine.client_id} with an initial access token`);

  const key = client.getDPoPHandle(registered, await client.randomDPoPKeyPair('ES256'));
  const v = client.randomPKCECodeVerifier();
  const st = client.randomState();
  const url = client.buildAuthorizationUrl(registered, {
    redirect_uri: redirectUri, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(v),
    code_challenge_method: 'S256', state: st,
  });
  const t = await client.authorizationCodeGrant(registered, await signIn(url), { pkceCodeVerifier: v, expectedState: st }, undefined, { DPoP: key });
  assert.equal(t.token_type.toLowerCase(), 'dpop');
  step('the registered client signed in; its tokens are DPoP-bound');

  // RFC 7592 has no helper in openid-client: plain requests with the token the registration gave.
  const manage = (method, body) => fetch(mine.registration_client_uri, {
    method,
    headers: { authorization: `Bearer ${mine.registration_access_token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const read = await manage('GET');
  assert.equal(read.status, 200);
  const current = await read.json();
  assert.equal(current.client_name, metadata.client_name);
  for (const field of ['registration_client_uri', 'client_id_issued_at']) delete current[field];
  const updated = await manage('PUT', { ...current, client_name: 'Renamed by openid-client' });
  assert.equal(updated.status, 200, await updated.clone().text());
  assert.equal((await updated.json()).client_name, 'Renamed by openid-client');
  assert.equal((await manage('DELETE')).status, 204);
  assert.equal((await manage('GET')).status, 401);
  step('read, updated and deleted with its registration access token; the token then opens nothing');
}

// --- an API that speaks continuous access evaluation -------------------------------------
// The app declares the CAE capability (cp1) and asks for a token for the API (RFC 8707).
// When the API answers with a claims challenge, it does what any CAE-aware app does: refresh
// with those claims, and retry once. Still nothing Tessera-specific.
if (process.env.MAIL_API) {
  const api = process.env.MAIL_API;
  // Where does this API want tokens from? Its protected resource metadata says (RFC 9728).
  const metadataResponse = await oauth.resourceDiscoveryRequest(new URL(api), { [oauth.allowInsecureRequests]: true });
  const apiMetadata = await oauth.processResourceDiscoveryResponse(new URL(api), metadataResponse);
  assert.deepEqual(apiMetadata.authorization_servers, [process.env.TESSERA_ISSUER]);
  assert.ok(apiMetadata.scopes_supported.includes('mail.read'));
  step(`the API's metadata names ${apiMetadata.authorization_servers[0]} and scopes ${apiMetadata.scopes_supported.join(' ')}`);
  const cae = await signInForApi(api);
  let current = cae;
  step(`token for ${api}: ${current.expires_in} s (CAE-capable)`);
  const inbox = new URL('/inbox', api);
  const read = () => client.fetchProtectedResource(config, current.access_token, inbox, 'GET', null, undefined, { DPoP });
  assert.equal((await read()).status, 200);
  step('the API answers');

  // The mail API calls the archive API for her (RFC 8693 token exchange, openid-client's
  // generic grant), with a DPoP key of its own: the new token is bound to it, names the API as
  // the actor and carries her session, so the revocation below reaches it too.
  const apiConfig = await client.discovery(issuer, 'mail-api', process.env.MAIL_API_SECRET, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const apiDPoP = client.getDPoPHandle(apiConfig, await client.randomDPoPKeyPair('ES256'));
  const exchanged = await client.genericGrantRequest(apiConfig, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: current.access_token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    audience: 'https://archive.example',
    scope: 'mail.read',
  }, { DPoP: apiDPoP });
  assert.equal(exchanged.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
  assert.equal(exchanged.token_type.toLowerCase(), 'dpop');
  const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
  const onBehalf = payload(exchanged.access_token);
  const original = payload(current.access_token);
  assert.deepEqual(onBehalf.act, { sub: 'mail-api' });
  assert.equal(onBehalf.sub, claims.sub);
  assert.equal(onBehalf.sid, original.sid);
  assert.equal(onBehalf.aud, 'https://archive.example');
  step(`token exchange: the mail API got a DPoP-bound token for the archive acting for ${onBehalf.sub}`);

  // Claims change at the IdP (alice joins a group): the API refuses the token with a claims
  // challenge; a refresh with those claims gives a new token, and the call goes through.
  await new Promise((r) => setTimeout(r, 1100)); // revocation instants are whole seconds
  await admin('POST', '/groups', { id: 'interop', name: 'Interop' });
  await admin('PUT', `/groups/interop/members/${claims.sub}`);
  const challenge = await untilChallenged(read);
  step(`the API challenges: ${challenge.parameters.error}`);
  assert.equal(challenge.parameters.resource_metadata, new URL('/.well-known/oauth-protected-resource', api).href);
  current = await followChallenge(current, challenge);
  assert.equal((await read()).status, 200);
  step('refreshed with the challenge\'s claims; the call goes through');

  // The admin ends her sessions: the API challenges again, and the IdP refuses the refresh.
  await new Promise((r) => setTimeout(r, 1100));
  await admin('POST', `/users/${claims.sub}/revoke-sessions`);
  const again = await untilChallenged(read);
  await assert.rejects(followChallenge(current, again), (err) => err.error === 'invalid_grant');
  step('after the admin revokes her sessions the refresh is refused: sign in again');
  const afterwards = await client.tokenIntrospection(apiConfig, exchanged.access_token);
  assert.equal(afterwards.active, false);
  step('the token exchanged for the archive is revoked with her sessions');
}
console.log('openid-client: ok');

async function signInForApi(api) {
  const verifier = client.randomPKCECodeVerifier();
  const st = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid offline_access mail.read',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: st,
    resource: api,
    claims: JSON.stringify({ access_token: { xms_cc: { values: ['cp1'] } } }),
  });
  const back = await signIn(url);
  return client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: st }, { resource: api }, { DPoP });
}

// Calls until the API answers with an insufficient_claims challenge (the signal is on its way).
async function untilChallenged(call) {
  for (let i = 0; i < 200; i++) {
    try {
      await call();
    } catch (err) {
      if (!(err instanceof client.WWWAuthenticateChallengeError)) throw err;
      const found = err.cause.find((c) => c.parameters.error === 'insufficient_claims');
      if (found) return found;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the API never challenged');
}

// RFC 6750 challenge → the claims JSON (base64) → a refresh carrying it.
async function followChallenge(tokens, challenge) {
  const json = Buffer.from(challenge.parameters.claims, 'base64').toString('utf8');
  return client.refreshTokenGrant(config, tokens.refresh_token, { claims: json }, { DPoP });
}

async function admin(method, path, body) {
  const basic = Buffer.from(`${process.env.TESSERA_ADMIN_CLIENT}:${process.env.TESSERA_ADMIN_SECRET}`).toString('base64');
  const token = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=tessera.admin',
  }).then((r) => r.json());
  const response = await fetch(new URL(`/admin/api${path}`, issuer), {
    method,
    headers: { authorization: `Bearer ${token.access_token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// A browser, reduced to what signing in needs: cookies, one form, redirects.
async function signIn(url) {
  const jar = new Map();
  const remember = (response) => {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
  };
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let response = await fetch(url, { redirect: 'manual' });
  remember(response);
  const page = await response.text();
  assert.equal(response.status, 200, page);
  const form = new URLSearchParams();
  for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(name, decodeEntities(value));
  }
  form.set('username', username);
  form.set('password', password);
  response = await fetch(new URL('/login', url), {
    method: 'POST',
    body: form,
    headers: { cookie: cookieHeader() },
    redirect: 'manual',
  });
  remember(response);
  for (let hops = 0; hops < 5; hops++) {
    assert.equal(response.status, 303, await response.text());
    const location = new URL(response.headers.get('location'), url);
    if (location.href.startsWith(redirectUri)) return location;
    response = await fetch(location, { headers: { cookie: cookieHeader() }, redirect: 'manual' });
    remember(response);
  }
  throw new Error('too many redirects');
}

// The user on a machine with a browser: sign in at /device, confirm the code, approve.
async function approveDevice(url, userCode) {
  const jar = new Map();
  const remember = (response) => {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
  };
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const go = async (target, init = {}) => {
    let response = await fetch(target, { ...init, headers: { ...init.headers, cookie: cookieHeader() }, redirect: 'manual' });
    remember(response);
    for (let hops = 0; response.status === 303 && hops < 8; hops++) {
      response = await fetch(new URL(response.headers.get('location'), url), { headers: { cookie: cookieHeader() }, redirect: 'manual' });
      remember(response);
    }
    return response;
  };
  const fields = (page) => {
    const form = new URLSearchParams();
    for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      form.set(name, decodeEntities(value));
    }
    return form;
  };
  let page = await (await go(url)).text();
  const login = fields(page);
  login.set('username', username);
  login.set('password', password);
  page = await (await go(new URL('/login', url), { method: 'POST', body: login })).text();
  assert.ok(page.includes(`value="${userCode}"`), 'the complete URI filled the code in');
  const entered = fields(page);
  entered.set('user_code', userCode);
  page = await (await go(new URL('/device', url), { method: 'POST', body: entered })).text();
  assert.ok(page.includes('Sign in to'), page);
  const decided = fields(page);
  decided.set('decision', 'approve');
  const done = await go(new URL('/device/decide', url), { method: 'POST', body: decided });
  assert.equal(done.status, 200);
  assert.ok((await done.text()).includes('is signed in'));
}

function decodeEntities(s) {
  return s
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
