/**
 * Who is looking at the operator console (functions/handlers/console-http.ts), in one of two modes:
 *
 * - `cognito` (AWS, lib/operator-console.ts): the OAuth 2.0 authorization code flow with PKCE
 *   (RFC 7636, S256) against the user pool's hosted UI. The function is a public client (no
 *   secret: a secret in a Lambda environment would be one more credential to leak and rotate).
 *
 *     GET /anything, no valid session ──302──▶ <domain>/oauth2/authorize?…&state&code_challenge
 *        (the state, the PKCE verifier and the page asked for wait in `__Host-tpn_auth`, 10 minutes)
 *     GET /auth/callback?code&state ──POST <domain>/oauth2/token (code + verifier)──▶ id token
 *        ──303──▶ the page first asked for, with `__Host-tpn_session` = the id token
 *     GET /auth/sign-out ──302──▶ <domain>/logout (the session cookie cleared)
 *
 *   Every request verifies the session cookie (signature against the pool's JWKS, issuer,
 *   expiry, `token_use` id, audience = the app client) with aws-jwt-verify; the viewer is the
 *   token's `email`. The session is the id token itself, so it lasts as long as the token
 *   (an hour, lib/operator-console.ts) and nothing is stored server-side. A browser
 *   navigation cannot send a bearer token, which is why this is a cookie checked here and not
 *   an API Gateway authorizer. Cookies are `__Host-` (Secure, Path=/, no Domain: no other
 *   host can set or read them), HttpOnly, SameSite=Lax (the callback is a top-level
 *   navigation from the Cognito domain, which Strict would strip).
 *
 * - `loopback` (the local runtime on 127.0.0.1): no sign-in; loopback is the boundary. The
 *   viewer is whoever the `tpn_view_as` cookie names (set by `GET /auth/view-as?email=&next=`),
 *   so a developer can see the console as a person with, or without, a role on a case.
 *
 * Redirect targets (`next`) are only same-site relative paths (one leading `/`, no `//`, no
 * backslash), so the console is never an open redirect. Errors and pages never contain a
 * token, a code or a verifier.
 *
 * No AWS SDK: node:crypto, fetch and aws-jwt-verify only.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import { FetchError, JwkValidationError, JwksValidationError, JwtBaseError } from 'aws-jwt-verify/error';
import * as z from 'zod';
import { ConfigError } from '../config/trust-config.ts';
import { escapeHtml, htmlResponse, page, SECURITY_HEADERS } from './pages.ts';

export type ConsoleAuthSettings =
  | { mode: 'loopback' }
  | { mode: 'cognito'; userPoolId: string; clientId: string; domainUrl: string; callbackUrl: string };

export type AuthResult = { viewer: { email: string } | null } | { response: APIGatewayProxyStructuredResultV2 };

export const CALLBACK_PATH = '/auth/callback';
export const SIGN_OUT_PATH = '/auth/sign-out';
export const VIEW_AS_PATH = '/auth/view-as';
/** The signed-in session: the id token (cognito mode). */
export const SESSION_COOKIE = '__Host-tpn_session';
/** The sign-in in progress: state, PKCE verifier and the page asked for (cognito mode). */
export const SIGN_IN_COOKIE = '__Host-tpn_auth';
/** Whose view the local console shows (loopback mode). */
export const VIEW_AS_COOKIE = 'tpn_view_as';
/** Seconds a sign-in may take at the hosted UI (password, then the TOTP code). */
export const SIGN_IN_SECONDS = 600;
/** The token endpoint must answer within this, well inside the function's 10 s timeout. */
const TOKEN_TIMEOUT_MS = 5_000;

const USER_POOL_ID = /^(?:eusc-[a-z]{2}|[a-z]{2})-(?:gov-)?[a-z]+-\d_[A-Za-z0-9]+$/;
const CLIENT_ID = /^[\w+]{1,128}$/;
const email = z.email().max(254);

// ---------------------------------------------------------------------------------
// Settings

/**
 * The console's sign-in settings from the environment, checked at cold start: a missing or
 * invalid variable fails at once with its name (never its value).
 */
export function consoleAuthSettings(env: Record<string, string | undefined> = process.env): ConsoleAuthSettings {
  const mode = env.CONSOLE_AUTH;
  if (!mode) throw new ConfigError('environment variable CONSOLE_AUTH is not set (cognito or loopback)');
  if (mode === 'loopback') return { mode };
  if (mode !== 'cognito') throw new ConfigError('environment variable CONSOLE_AUTH must be cognito or loopback');

  const required = (name: string, valid: (value: string) => boolean, what: string): string => {
    const value = env[name];
    if (!value) throw new ConfigError(`environment variable ${name} is not set (CONSOLE_AUTH=cognito)`);
    if (!valid(value)) throw new ConfigError(`environment variable ${name} must be ${what}`);
    return value;
  };
  const userPoolId = required('CONSOLE_USER_POOL_ID', (v) => USER_POOL_ID.test(v), 'a Cognito user pool id (<region>_<id>)');
  const clientId = required('CONSOLE_CLIENT_ID', (v) => CLIENT_ID.test(v), 'a Cognito app client id');
  const domainUrl = required(
    'CONSOLE_AUTH_DOMAIN_URL',
    (v) => webUrl(v.replace(/\/$/, ''))?.pathname === '/',
    'the user pool domain, https://<host> with no path',
  ).replace(/\/$/, '');
  const callbackUrl = required(
    'CONSOLE_CALLBACK_URL',
    (v) => webUrl(v)?.pathname.endsWith(CALLBACK_PATH) === true,
    `an https URL ending in ${CALLBACK_PATH}`,
  );
  return { mode, userPoolId, clientId, domainUrl, callbackUrl };
}

/** An https URL without credentials, query or fragment (http only on loopback, for local test servers). */
function webUrl(value: string): URL | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return null;
  if (url.username || url.password || url.search || url.hash) return null;
  return url;
}

// ---------------------------------------------------------------------------------
// Authentication

/**
 * Who the viewer is, or the response to send instead (a redirect to sign in, the callback's
 * redirect, a refusal). `context.trustName` heads the few pages this module renders itself.
 */
export async function authenticate(
  event: APIGatewayProxyEventV2,
  settings: ConsoleAuthSettings,
  context: { trustName?: string } = {},
): Promise<AuthResult> {
  const trustName = context.trustName ?? 'Operator console';
  return settings.mode === 'loopback' ? loopback(event) : cognito(event, settings, trustName);
}

function loopback(event: APIGatewayProxyEventV2): AuthResult {
  const path = event.rawPath;
  const query = new URLSearchParams(event.rawQueryString ?? '');
  if (path === VIEW_AS_PATH) {
    const next = safeNextPath(query.get('next'));
    const asked = (query.get('email') ?? '').trim();
    if (asked === '') return { response: redirect(303, next, [clearCookie(VIEW_AS_COOKIE, 'Strict', false)]) };
    if (!email.safeParse(asked).success) return { response: plainPage(400, 'Not an email address', 'View as: email is not a valid email address.', 'Operator console') };
    return { response: redirect(303, next, [cookie(VIEW_AS_COOKIE, encodeURIComponent(asked), { sameSite: 'Strict', secure: false })]) };
  }
  if (path === SIGN_OUT_PATH) return { response: redirect(303, '/', [clearCookie(VIEW_AS_COOKIE, 'Strict', false)]) };
  const viewAs = readCookie(event, VIEW_AS_COOKIE);
  if (viewAs === undefined) return { viewer: null };
  let decoded: string;
  try {
    decoded = decodeURIComponent(viewAs);
  } catch {
    return { viewer: null };
  }
  return { viewer: email.safeParse(decoded).success ? { email: decoded } : null };
}

type CognitoSettings = Extract<ConsoleAuthSettings, { mode: 'cognito' }>;

async function cognito(event: APIGatewayProxyEventV2, settings: CognitoSettings, trustName: string): Promise<AuthResult> {
  const path = event.rawPath;
  if (path === CALLBACK_PATH) return { response: await callback(event, settings, trustName) };
  if (path === SIGN_OUT_PATH) {
    const logout = new URL(`${settings.domainUrl}/logout`);
    logout.searchParams.set('client_id', settings.clientId);
    logout.searchParams.set('logout_uri', signOutLandingUrl(settings));
    return { response: redirect(302, logout.href, [clearCookie(SESSION_COOKIE, 'Lax', true)]) };
  }

  const session = readCookie(event, SESSION_COOKIE);
  if (session) {
    const claims = await verifySession(session, settings);
    if (claims) {
      if (!claims.email) return { response: plainPage(403, 'No email address', 'Your sign-in has no email address, so the console cannot tell whose case roles apply. Ask the trust to add one to your account.', trustName) };
      return { viewer: { email: claims.email } };
    }
  }
  const asked = `${path}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
  return { response: startSignIn(settings, safeNextPath(asked)) };
}

/** 302 to the hosted UI, with a fresh state and PKCE pair kept in the sign-in cookie. */
function startSignIn(settings: CognitoSettings, next: string): APIGatewayProxyStructuredResultV2 {
  const state = randomBytes(32).toString('base64url');
  const verifier = randomBytes(32).toString('base64url'); // 43 characters, RFC 7636's minimum
  const authorize = new URL(`${settings.domainUrl}/oauth2/authorize`);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: settings.callbackUrl,
    scope: 'openid email',
    state,
    code_challenge: pkceChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  const pending: PendingSignIn = { state, verifier, next };
  const value = Buffer.from(JSON.stringify(pending)).toString('base64url');
  return redirect(302, authorize.href, [cookie(SIGN_IN_COOKIE, value, { sameSite: 'Lax', secure: true, maxAge: SIGN_IN_SECONDS })]);
}

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

interface PendingSignIn {
  state: string;
  verifier: string;
  next: string;
}

const pendingSchema = z.object({ state: z.string().min(1), verifier: z.string().min(43).max(128), next: z.string() });
const tokenResponseSchema = z.object({ id_token: z.string().min(1) });

async function callback(event: APIGatewayProxyEventV2, settings: CognitoSettings, trustName: string): Promise<APIGatewayProxyStructuredResultV2> {
  const query = new URLSearchParams(event.rawQueryString ?? '');
  const clearPending = clearCookie(SIGN_IN_COOKIE, 'Lax', true);
  const refuse = (status: number, title: string, text: string) => ({ ...plainPage(status, title, text, trustName), cookies: [clearPending] });

  const pending = readPending(readCookie(event, SIGN_IN_COOKIE));
  if (!pending) return refuse(400, 'Sign-in expired', 'This sign-in has expired or was started in another browser. Start again from the console.');
  if (query.has('error')) return refuse(403, 'Sign-in not completed', 'Sign-in was not completed. Start again from the console, or ask the trust to check your account.');
  const state = query.get('state') ?? '';
  if (!sameText(state, pending.state)) return refuse(400, 'Sign-in refused', 'This sign-in response does not belong to the sign-in this browser started. Start again from the console.');
  const code = query.get('code');
  if (!code) return refuse(400, 'Sign-in refused', 'The sign-in response has no authorization code. Start again from the console.');

  const idToken = await exchangeCode(settings, code, pending.verifier);
  const claims = idToken ? await verifySession(idToken, settings) : null;
  if (!idToken || !claims) return refuse(502, 'Sign-in failed', 'The sign-in service did not complete the sign-in. Try again in a minute.');
  const maxAge = Math.max(0, claims.exp - Math.floor(Date.now() / 1000));
  return redirect(303, safeNextPath(pending.next), [cookie(SESSION_COOKIE, idToken, { sameSite: 'Lax', secure: true, maxAge }), clearPending]);
}

function readPending(value: string | undefined): PendingSignIn | null {
  if (!value) return null;
  try {
    const parsed = pendingSchema.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** POST /oauth2/token (a public client: the PKCE verifier instead of a secret). Null when it answers anything but an id token. */
async function exchangeCode(settings: CognitoSettings, code: string, verifier: string): Promise<string | null> {
  let response: Response;
  try {
    response = await fetch(`${settings.domainUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: settings.clientId,
        code,
        redirect_uri: settings.callbackUrl,
        code_verifier: verifier,
      }),
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      redirect: 'error',
    });
  } catch {
    return null; // unreachable or too slow: reported as a failed sign-in, without detail
  }
  if (!response.ok) return null;
  try {
    const parsed = tokenResponseSchema.safeParse(await response.json());
    return parsed.success ? parsed.data.id_token : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------
// Session verification

type SessionVerifier = ReturnType<typeof createVerifier>;
const createVerifier = (settings: CognitoSettings) =>
  CognitoJwtVerifier.create({ userPoolId: settings.userPoolId, clientId: settings.clientId, tokenUse: 'id' });
const verifiers = new Map<string, SessionVerifier>();

/**
 * The verifier for this pool and client, built once per container so the pool's JWKS is
 * fetched once and cached. Tests load a JWKS into it with `cacheJwks` (no network).
 */
export function sessionVerifier(settings: CognitoSettings): SessionVerifier {
  const key = `${settings.userPoolId}|${settings.clientId}`;
  let verifier = verifiers.get(key);
  if (!verifier) {
    verifier = createVerifier(settings);
    verifiers.set(key, verifier);
  }
  return verifier;
}

/** Thrown when the pool's signing keys cannot be loaded: a fault of ours or of Cognito, not of the viewer's token. */
export class SigningKeysUnavailableError extends Error {
  override name = 'SigningKeysUnavailableError';
}

/**
 * The verified id token's claims, or null when the token is not a valid session of this
 * client (bad signature, expired, another audience or issuer, not an id token, malformed).
 * An unreachable JWKS is thrown, not treated as "signed out": that would send every viewer
 * round the sign-in loop.
 */
async function verifySession(token: string, settings: CognitoSettings): Promise<{ email: string | null; exp: number } | null> {
  try {
    const payload = await sessionVerifier(settings).verify(token);
    return { email: typeof payload.email === 'string' && email.safeParse(payload.email).success ? payload.email : null, exp: payload.exp };
  } catch (error) {
    if (error instanceof FetchError || error instanceof JwksValidationError || error instanceof JwkValidationError) {
      throw new SigningKeysUnavailableError('the user pool signing keys (JWKS) could not be loaded', { cause: error.name });
    }
    if (error instanceof JwtBaseError) return null;
    throw error;
  }
}

// ---------------------------------------------------------------------------------
// Helpers

/**
 * `next` when it is a same-site relative path (one leading `/`, not `//` or `/\`, no control
 * characters, and it stays on this origin once parsed), else `/`.
 */
export function safeNextPath(next: string | null | undefined): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.includes('\\')) return '/';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(next)) return '/';
  const base = 'https://console.invalid';
  let url: URL;
  try {
    url = new URL(next, base);
  } catch {
    return '/';
  }
  return url.origin === base ? `${url.pathname}${url.search}` : '/';
}

/** Where the hosted UI's logout sends the browser: the console's root (`<publicBaseUrl>/`, the client's logout URL). */
function signOutLandingUrl(settings: CognitoSettings): string {
  return `${settings.callbackUrl.slice(0, -CALLBACK_PATH.length)}/`;
}

function readCookie(event: APIGatewayProxyEventV2, name: string): string | undefined {
  // Payload v2 gives cookies one per entry (API Gateway, and the local runtime's toHttpApiEvent).
  for (const entry of event.cookies ?? []) {
    const at = entry.indexOf('=');
    if (at > 0 && entry.slice(0, at).trim() === name) return entry.slice(at + 1).trim();
  }
  return undefined;
}

function cookie(name: string, value: string, options: { sameSite: 'Strict' | 'Lax'; secure: boolean; maxAge?: number }): string {
  return [
    `${name}=${value}`,
    'Path=/',
    'HttpOnly',
    ...(options.secure ? ['Secure'] : []),
    `SameSite=${options.sameSite}`,
    ...(options.maxAge !== undefined ? [`Max-Age=${options.maxAge}`] : []),
  ].join('; ');
}

function clearCookie(name: string, sameSite: 'Strict' | 'Lax', secure: boolean): string {
  return cookie(name, '', { sameSite, secure, maxAge: 0 });
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function redirect(status: 302 | 303, location: string, cookies: string[]): APIGatewayProxyStructuredResultV2 {
  return { statusCode: status, headers: { ...SECURITY_HEADERS, Location: location }, cookies, body: '' };
}

function plainPage(status: number, title: string, text: string, trustName: string): APIGatewayProxyStructuredResultV2 {
  const body = `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="/">Back to the console</a></p>`;
  return htmlResponse(status, page(title, body, trustName));
}
