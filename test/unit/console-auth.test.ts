/**
 * The operator console's sign-in (functions/http/console-auth.ts): settings that fail by
 * variable name, the loopback "view as" cookie and its redirect (never an open redirect),
 * and the Cognito authorization code flow with PKCE: the redirect to the hosted UI, id
 * tokens signed by a key generated here (the verifier's JWKS cache is loaded with
 * `cacheJwks`, so nothing goes to Cognito), the callback's state check, and the code
 * exchange against a node:http server on 127.0.0.1 standing in for the token endpoint.
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Jwks } from 'aws-jwt-verify/jwk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authenticate,
  type AuthResult,
  type ConsoleAuthSettings,
  consoleAuthSettings,
  safeNextPath,
  sessionVerifier,
} from '../../functions/http/console-auth.ts';

const POOL_ID = 'eu-west-2_Console1';
const CLIENT_ID = '4k2consoleclient0000000000';
const ISSUER = `https://cognito-idp.eu-west-2.amazonaws.com/${POOL_ID}`;
const KID = 'test-key-1';

/** A payload-v2 GET event as API Gateway (and the local runtime) delivers it. */
function get(pathAndQuery: string, cookies: string[] = []): APIGatewayProxyEventV2 {
  const [rawPath = '/', rawQueryString = ''] = pathAndQuery.split('?');
  return {
    version: '2.0',
    routeKey: 'GET /{proxy+}',
    rawPath,
    rawQueryString,
    headers: { host: 'console.example.org' },
    ...(cookies.length > 0 ? { cookies } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'console.example.org',
      domainPrefix: 'console',
      http: { method: 'GET', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'r-1',
      routeKey: 'GET /{proxy+}',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}

function responseOf(result: AuthResult): APIGatewayProxyStructuredResultV2 {
  if (!('response' in result)) throw new Error('expected a response, got a viewer');
  return result.response;
}
const location = (r: APIGatewayProxyStructuredResultV2) => String(r.headers?.Location ?? '');
/** `name=value` of the Set-Cookie entry for this cookie. */
const setCookie = (r: APIGatewayProxyStructuredResultV2, name: string) => (r.cookies ?? []).find((c) => c.startsWith(`${name}=`));
const cookieValue = (header: string | undefined) => (header ?? '').split(';')[0]?.split('=').slice(1).join('=') ?? '';

describe('consoleAuthSettings', () => {
  const cognitoEnv = {
    CONSOLE_AUTH: 'cognito',
    CONSOLE_USER_POOL_ID: POOL_ID,
    CONSOLE_CLIENT_ID: CLIENT_ID,
    CONSOLE_AUTH_DOMAIN_URL: 'https://tpn-console.auth.eu-west-2.amazoncognito.com',
    CONSOLE_CALLBACK_URL: 'https://console.example.org/auth/callback',
  };

  it('reads loopback and cognito settings', () => {
    expect(consoleAuthSettings({ CONSOLE_AUTH: 'loopback' })).toEqual({ mode: 'loopback' });
    expect(consoleAuthSettings(cognitoEnv)).toEqual({
      mode: 'cognito',
      userPoolId: POOL_ID,
      clientId: CLIENT_ID,
      domainUrl: 'https://tpn-console.auth.eu-west-2.amazoncognito.com',
      callbackUrl: 'https://console.example.org/auth/callback',
    });
    // A trailing "/" on the domain is dropped, so paths join cleanly.
    expect(consoleAuthSettings({ ...cognitoEnv, CONSOLE_AUTH_DOMAIN_URL: `${cognitoEnv.CONSOLE_AUTH_DOMAIN_URL}/` })).toMatchObject({
      domainUrl: cognitoEnv.CONSOLE_AUTH_DOMAIN_URL,
    });
  });

  it('names the missing or invalid variable, never its value', () => {
    expect(() => consoleAuthSettings({})).toThrow(/CONSOLE_AUTH is not set/);
    expect(() => consoleAuthSettings({ CONSOLE_AUTH: 'open-sesame' })).toThrow(/CONSOLE_AUTH must be cognito or loopback/);
    expect(() => consoleAuthSettings({ CONSOLE_AUTH: 'open-sesame' })).not.toThrow(/open-sesame/);
    for (const name of ['CONSOLE_USER_POOL_ID', 'CONSOLE_CLIENT_ID', 'CONSOLE_AUTH_DOMAIN_URL', 'CONSOLE_CALLBACK_URL'] as const) {
      expect(() => consoleAuthSettings({ ...cognitoEnv, [name]: undefined }), name).toThrow(new RegExp(`${name} is not set`));
    }
    const invalid: Record<string, string> = {
      CONSOLE_USER_POOL_ID: 'not-a-pool',
      CONSOLE_CLIENT_ID: 'has spaces',
      CONSOLE_AUTH_DOMAIN_URL: 'http://tpn-console.auth.eu-west-2.amazoncognito.com', // http off loopback
      CONSOLE_CALLBACK_URL: 'https://console.example.org/somewhere-else',
    };
    for (const [name, value] of Object.entries(invalid)) {
      const run = () => consoleAuthSettings({ ...cognitoEnv, [name]: value });
      expect(run, name).toThrow(new RegExp(`${name} must be`));
      expect(run, name).not.toThrow(value);
    }
    expect(() => consoleAuthSettings({ ...cognitoEnv, CONSOLE_AUTH_DOMAIN_URL: 'https://x.example/path' })).toThrow(/CONSOLE_AUTH_DOMAIN_URL must be/);
  });
});

describe('safeNextPath', () => {
  it('keeps same-site relative paths and turns everything else into "/"', () => {
    expect(safeNextPath('/cases/CASE-2026-000001')).toBe('/cases/CASE-2026-000001');
    expect(safeNextPath('/cases?status=open')).toBe('/cases?status=open');
    for (const attempt of ['//evil.example', 'https://evil.example', '/\\evil', '\\\\evil', '/\t/evil.example', 'evil', '', null, undefined]) {
      expect(safeNextPath(attempt), String(attempt)).toBe('/');
    }
  });
});

describe('loopback mode (the local runtime): no sign-in, "view as" picks the viewer', () => {
  const loopback: ConsoleAuthSettings = { mode: 'loopback' };

  it('nobody in particular without the cookie; the person the cookie names with it', async () => {
    expect(await authenticate(get('/cases'), loopback)).toEqual({ viewer: null });
    expect(await authenticate(get('/cases', ['tpn_view_as=dsl%40st-marys.example.org']), loopback)).toEqual({
      viewer: { email: 'dsl@st-marys.example.org' },
    });
    // Not an email address: ignored.
    expect(await authenticate(get('/cases', ['tpn_view_as=%3Cscript%3E']), loopback)).toEqual({ viewer: null });
  });

  it('GET /auth/view-as sets the cookie (HttpOnly, SameSite=Strict, Path=/) and 303s to next', async () => {
    const r = responseOf(await authenticate(get('/auth/view-as?email=head%40st-marys.example.org&next=%2Fcases%2FCASE-2026-000001'), loopback));
    expect(r.statusCode).toBe(303);
    expect(location(r)).toBe('/cases/CASE-2026-000001');
    const set = setCookie(r, 'tpn_view_as') ?? '';
    expect(set.split('; ')).toEqual(['tpn_view_as=head%40st-marys.example.org', 'Path=/', 'HttpOnly', 'SameSite=Strict']);
    // Round trip: the cookie it set names the viewer.
    expect(await authenticate(get('/', [set.split(';')[0] ?? '']), loopback)).toEqual({ viewer: { email: 'head@st-marys.example.org' } });
  });

  it('an empty email clears the cookie; a bad one is refused (400) without changing it', async () => {
    const cleared = responseOf(await authenticate(get('/auth/view-as?email=&next=%2Fledger'), loopback));
    expect(cleared.statusCode).toBe(303);
    expect(location(cleared)).toBe('/ledger');
    expect(setCookie(cleared, 'tpn_view_as')).toMatch(/^tpn_view_as=; .*Max-Age=0/);
    const bad = responseOf(await authenticate(get('/auth/view-as?email=not-an-address&next=%2F'), loopback));
    expect(bad.statusCode).toBe(400);
    expect(bad.cookies ?? []).toEqual([]);
    expect(bad.body).not.toContain('not-an-address');
  });

  it.each(['//evil.example', 'https://evil.example', '/\\evil', '/\t/evil.example'])('refuses the open redirect next=%s: goes to "/"', async (next) => {
    const r = responseOf(await authenticate(get(`/auth/view-as?email=a%40b.example&next=${encodeURIComponent(next)}`), loopback));
    expect(r.statusCode).toBe(303);
    expect(location(r)).toBe('/');
  });
});

// ---------------------------------------------------------------------------------
// Cognito mode

let privateKey: KeyObject;
let otherKey: KeyObject;
let jwks: Jwks;

beforeAll(() => {
  ({ privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
  ({ privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
  const publicJwk = createPublicJwk(privateKey);
  jwks = { keys: [{ ...publicJwk, kid: KID, alg: 'RS256', use: 'sig' }] };
});

function createPublicJwk(key: KeyObject) {
  const { kty, n, e } = (key as KeyObject).export({ format: 'jwk' });
  return { kty: String(kty), n: String(n), e: String(e) };
}

/** An RS256 JWT as Cognito issues id tokens, signed with `key` (default: the key in the cached JWKS). */
function idToken(claims: Record<string, unknown> = {}, key: KeyObject = privateKey): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { kid: KID, alg: 'RS256', typ: 'JWT' };
  const payload = {
    sub: '7f3c-test-user',
    aud: CLIENT_ID,
    email: 'dsl@st-marys.example.org',
    email_verified: true,
    token_use: 'id',
    auth_time: now,
    iss: ISSUER,
    'cognito:username': '7f3c-test-user',
    iat: now,
    exp: now + 3600,
    ...claims,
  };
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const data = `${encode(header)}.${encode(payload)}`;
  return `${data}.${sign('RSA-SHA256', Buffer.from(data), key).toString('base64url')}`;
}

describe('cognito mode: authorization code flow with PKCE', () => {
  const settings: ConsoleAuthSettings = {
    mode: 'cognito',
    userPoolId: POOL_ID,
    clientId: CLIENT_ID,
    domainUrl: 'https://tpn-console.auth.eu-west-2.amazoncognito.com',
    callbackUrl: 'https://console.example.org/auth/callback',
  };
  beforeAll(() => {
    if (settings.mode === 'cognito') sessionVerifier(settings).cacheJwks(jwks);
  });

  /** Asserts a redirect to the hosted UI's authorize endpoint and returns its parameters and the sign-in cookie. */
  function expectSignInRedirect(result: AuthResult) {
    const r = responseOf(result);
    expect(r.statusCode).toBe(302);
    const url = new URL(location(r));
    expect(`${url.origin}${url.pathname}`).toBe('https://tpn-console.auth.eu-west-2.amazoncognito.com/oauth2/authorize');
    return { params: url.searchParams, cookie: setCookie(r, '__Host-tpn_auth') ?? '', response: r };
  }

  it('no session: 302 to authorize with a state and an S256 code challenge; the verifier waits in a __Host- cookie', async () => {
    const { params, cookie } = expectSignInRedirect(await authenticate(get('/cases/CASE-2026-000001?tab=timeline'), settings));
    expect(Object.fromEntries(params)).toMatchObject({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: 'https://console.example.org/auth/callback',
      scope: 'openid email',
      code_challenge_method: 'S256',
    });
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie.split('; ').slice(1)).toEqual(['Path=/', 'HttpOnly', 'Secure', 'SameSite=Lax', 'Max-Age=600']);
    // The cookie holds the state, a verifier whose S256 hash is the challenge, and the page asked for.
    const pending = JSON.parse(Buffer.from(cookieValue(cookie), 'base64url').toString()) as { state: string; verifier: string; next: string };
    expect(pending.state).toBe(params.get('state'));
    expect(createHash('sha256').update(pending.verifier).digest('base64url')).toBe(params.get('code_challenge'));
    expect(pending.next).toBe('/cases/CASE-2026-000001?tab=timeline');
    // Each sign-in gets its own state.
    const again = expectSignInRedirect(await authenticate(get('/'), settings));
    expect(again.params.get('state')).not.toBe(params.get('state'));
  });

  it('a valid id token (signed by the pool key, this client, not expired) gives the viewer its email', async () => {
    expect(await authenticate(get('/cases', [`__Host-tpn_session=${idToken()}`]), settings)).toEqual({
      viewer: { email: 'dsl@st-marys.example.org' },
    });
  });

  const invalid: [string, () => string][] = [
    ['expired', () => idToken({ exp: Math.floor(Date.now() / 1000) - 60, iat: Math.floor(Date.now() / 1000) - 3660 })],
    ['for another app client (wrong audience)', () => idToken({ aud: 'someotherclient00000000000' })],
    ['an access token, not an id token', () => idToken({ token_use: 'access', client_id: CLIENT_ID })],
    ['from another user pool (issuer)', () => idToken({ iss: 'https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Other' })],
    ['signed by another key', () => idToken({}, otherKey)],
    [
      'tampered (email changed after signing)',
      () => {
        const [header, payload, signature] = idToken().split('.');
        const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
        const forged = Buffer.from(JSON.stringify({ ...claims, email: 'head@st-marys.example.org' })).toString('base64url');
        return `${header}.${forged}.${signature}`;
      },
    ],
    ['not a JWT at all', () => 'not.a.jwt'],
  ];
  it.each(invalid)('a session token that is %s: redirect to sign in, never a viewer', async (_what, token) => {
    const result = await authenticate(get('/cases', [`__Host-tpn_session=${token()}`]), settings);
    expect('viewer' in result).toBe(false);
    expectSignInRedirect(result);
  });

  it('the callback with a wrong state is refused (400), exchanges nothing and sets no session', async () => {
    const { cookie } = expectSignInRedirect(await authenticate(get('/ledger'), settings));
    const r = responseOf(await authenticate(get('/auth/callback?code=abc123&state=not-the-state', [cookie.split(';')[0] ?? '']), settings));
    expect(r.statusCode).toBe(400);
    expect(setCookie(r, '__Host-tpn_session')).toBeUndefined();
    expect(r.body).not.toContain('abc123');
  });

  it('the callback without the sign-in cookie (expired, or another browser) is refused (400)', async () => {
    const r = responseOf(await authenticate(get('/auth/callback?code=abc123&state=whatever'), settings));
    expect(r.statusCode).toBe(400);
    expect(setCookie(r, '__Host-tpn_session')).toBeUndefined();
  });

  it('GET /auth/sign-out clears the session and goes to the hosted UI logout, back to the console root', async () => {
    const r = responseOf(await authenticate(get('/auth/sign-out', [`__Host-tpn_session=${idToken()}`]), settings));
    expect(r.statusCode).toBe(302);
    const url = new URL(location(r));
    expect(`${url.origin}${url.pathname}`).toBe('https://tpn-console.auth.eu-west-2.amazoncognito.com/logout');
    expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: CLIENT_ID, logout_uri: 'https://console.example.org/' });
    expect(setCookie(r, '__Host-tpn_session')).toMatch(/^__Host-tpn_session=; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=0$/);
  });
});

describe('cognito mode: the code exchange, against a local node:http server on 127.0.0.1 standing in for the token endpoint', () => {
  let server: Server;
  let settings: ConsoleAuthSettings & { mode: 'cognito' };
  /** What the stand-in token endpoint received, and what it answers next. */
  const received: { path: string; contentType: string; form: Record<string, string> }[] = [];
  let answer: { status: number; body: unknown } = { status: 200, body: {} };

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', form: Object.fromEntries(new URLSearchParams(body)) });
        res.writeHead(answer.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    settings = {
      mode: 'cognito',
      userPoolId: POOL_ID,
      clientId: CLIENT_ID,
      domainUrl: `http://127.0.0.1:${port}`,
      callbackUrl: 'https://console.example.org/auth/callback',
    };
    sessionVerifier(settings).cacheJwks(jwks);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function startSignIn(pathAndQuery: string) {
    const r = responseOf(await authenticate(get(pathAndQuery), settings));
    const url = new URL(location(r));
    return { state: url.searchParams.get('state') ?? '', challenge: url.searchParams.get('code_challenge') ?? '', cookie: (setCookie(r, '__Host-tpn_auth') ?? '').split(';')[0] ?? '' };
  }

  it('exchanges the code with the PKCE verifier (public client, no secret), sets the session for the token lifetime, returns to the page asked for', async () => {
    // Prepare
    const token = idToken({ exp: Math.floor(Date.now() / 1000) + 3600 });
    answer = { status: 200, body: { id_token: token, access_token: 'unused', refresh_token: 'unused', expires_in: 3600, token_type: 'Bearer' } };
    received.length = 0;
    const { state, challenge, cookie } = await startSignIn('/cases/CASE-2026-000007');

    // Act
    const r = responseOf(await authenticate(get(`/auth/callback?code=the-code&state=${state}`, [cookie]), settings));

    // Assess: the token request
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.path).toBe('/oauth2/token');
    expect(request?.contentType).toBe('application/x-www-form-urlencoded');
    expect(request?.form).toEqual({
      grant_type: 'authorization_code',
      client_id: CLIENT_ID,
      code: 'the-code',
      redirect_uri: 'https://console.example.org/auth/callback',
      code_verifier: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(createHash('sha256').update(request?.form.code_verifier ?? '').digest('base64url')).toBe(challenge);
    expect(request?.form.client_secret).toBeUndefined();
    // … and the answer: back to the page, with the session cookie, the sign-in cookie cleared.
    expect(r.statusCode).toBe(303);
    expect(location(r)).toBe('/cases/CASE-2026-000007');
    const session = setCookie(r, '__Host-tpn_session') ?? '';
    expect(cookieValue(session)).toBe(token);
    const attributes = session.split('; ').slice(1);
    expect(attributes.slice(0, 4)).toEqual(['Path=/', 'HttpOnly', 'Secure', 'SameSite=Lax']);
    const maxAge = Number(attributes[4]?.replace('Max-Age=', ''));
    expect(maxAge).toBeGreaterThan(3590);
    expect(maxAge).toBeLessThanOrEqual(3600);
    expect(setCookie(r, '__Host-tpn_auth')).toMatch(/Max-Age=0$/);
    // The session it set is accepted on the next request.
    expect(await authenticate(get('/cases/CASE-2026-000007', [session.split(';')[0] ?? '']), settings)).toEqual({
      viewer: { email: 'dsl@st-marys.example.org' },
    });
  });

  it('a token endpoint error (invalid_grant) or an id token that does not verify: 502, no session, no token in the page', async () => {
    for (const next of [
      { status: 400, body: { error: 'invalid_grant' } },
      { status: 200, body: { id_token: idToken({ aud: 'someotherclient00000000000' }) } },
      { status: 200, body: { access_token: 'only-an-access-token' } },
    ]) {
      answer = next;
      const { state, cookie } = await startSignIn('/');
      const r = responseOf(await authenticate(get(`/auth/callback?code=the-code&state=${state}`, [cookie]), settings));
      expect(r.statusCode, JSON.stringify(next.body).slice(0, 40)).toBe(502);
      expect(setCookie(r, '__Host-tpn_session')).toBeUndefined();
      expect(r.body).not.toMatch(/the-code|invalid_grant|eyJ|only-an-access-token/);
    }
  });

  it('the callback with a wrong state never reaches the token endpoint', async () => {
    received.length = 0;
    const { cookie } = await startSignIn('/');
    const r = responseOf(await authenticate(get('/auth/callback?code=the-code&state=forged-state-forged-state-forged-state-0000', [cookie]), settings));
    expect(r.statusCode).toBe(400);
    expect(received).toHaveLength(0);
  });
});
