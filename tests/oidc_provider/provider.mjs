// A real OpenID provider (panva's oidc-provider) for escalation-flow's sign-in tests. Never
// deployed: the tests start it on 127.0.0.1 and configure it through the environment.
//
//   PORT          where to listen (the issuer is http://127.0.0.1:PORT)
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI   the one registered client (the service)
//   JWKS          {"keys": [private JWKs]}: the first signs; a restart with a new first key and
//                 the old one after it is a key rotation, as a real provider does it
//   ACCOUNTS      {"id": {"password": "...", "claims": {...}}}: who can sign in, and what the
//                 ID token says about them
//
// Test-only control: POST /__test__/next-id-token {"claims": {...}, "exp_offset": seconds,
// "key": JWK} makes the next token response carry an ID token with those claims changed,
// re-signed with the provider's own key (so only the claims are wrong: a wrong audience, an
// expired token), or with "key", a key it never published.
//
// Prints "ready ISSUER" once listening.
import { createPrivateKey } from 'node:crypto';
import { importJWK, decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(process.env.JWKS);
const accounts = JSON.parse(process.env.ACCOUNTS);
let nextIdToken = null;

const configuration = {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // the claims in the ID token itself, as Entra ID and Google send them
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['escalation-flow test provider, never deployed'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
  },
  // a first-party client: no consent screen (the trust's own service)
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><h1>Test provider</h1>${message ? `<p role="alert">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}">
<label for="account">Account</label><input id="account" name="account" autocomplete="off">
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button></form></body></html>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const readForm = async (req) => new URLSearchParams(await readBody(req));

async function interaction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = loginPage(details.uid);
    return;
  }
  const form = await readForm(ctx.req);
  const id = form.get('account') || '';
  if (!accounts[id] || accounts[id].password !== form.get('password')) {
    ctx.type = 'html';
    ctx.status = 401;
    ctx.body = loginPage(details.uid, 'Wrong account or password.');
    return;
  }
  const target = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: id } });
  ctx.redirect(target);
}

async function tamper(body) {
  const idToken = body.id_token;
  const { kid, alg } = decodeProtectedHeader(idToken);
  const payload = { ...decodeJwt(idToken), ...(nextIdToken.claims || {}) };
  if (nextIdToken.exp_offset !== undefined) {
    const now = Math.floor(Date.now() / 1000);
    payload.exp = now + nextIdToken.exp_offset;
    payload.iat = Math.min(payload.iat, payload.exp - 60);
  }
  // "key": sign with this private JWK instead (one the provider never published)
  const jwk = nextIdToken.key || jwks.keys.find((key) => key.kid === kid);
  const key = await importJWK(jwk, alg);
  body.id_token = await new SignJWT(payload).setProtectedHeader({ alg, kid: jwk.kid }).sign(key);
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/interaction/')) {
    await interaction(ctx);
    return;
  }
  if (ctx.path === '/__test__/next-id-token' && ctx.method === 'POST') {
    nextIdToken = JSON.parse(await readBody(ctx.req));
    ctx.status = 204;
    return;
  }
  await next();
  if (ctx.path === '/token' && nextIdToken && ctx.body?.id_token) {
    await tamper(ctx.body);
    nextIdToken = null;
  }
});

// a key that cannot be read is a mistake in the test, said at once
for (const key of jwks.keys) createPrivateKey({ key, format: 'jwk' });

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
