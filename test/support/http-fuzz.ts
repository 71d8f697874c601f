/**
 * Generated HTTP requests for the property suite over the local web server
 * (test/e2e/http-property.test.ts; issue 12 part 5), and the raw client that sends them.
 *
 * A request is one of three kinds:
 * - `route`: aimed at one route (the template's `GET|POST /ack/{token}`, `POST /reports`, the
 *   operator console's `GET /` and `GET /{proxy+}` with its "view as" cookie, and the local
 *   server's own /health, /policies/<id>/v<n>, /reports/compliance and /admin/*), mostly as a
 *   well-behaved client would send it, so the handlers behind the guard are reached;
 * - `fuzz`: any path (real and forged acknowledgement tokens, traversal, overlong, odd
 *   percent-encodings, unicode percent-encoded and raw), any method, any Host / Origin /
 *   Sec-Fetch-Site / Content-Type / Cookie, huge headers, and any body (JSON valid, invalid
 *   and oversized, forms, text/plain, binary);
 * - `raw`: bytes no well-behaved client library sends (spaces and control characters in the
 *   target, bare LF, no Host, obs-fold, conflicting lengths, lower-case and unknown methods,
 *   CONNECT), written to a socket.
 *
 * Requests go through node:http (fetch cannot set Host or send a malformed target) on one
 * keep-alive connection, so that a body the server refuses before reading (413) is drained
 * by the server rather than cut off mid-write; `raw` requests use their own socket.
 * Every case prints as one short line (fc.toStringMethod), bodies and huge values summarised.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { type JsonObject, mutatedFrom } from './bad-input.ts';

export interface FuzzContext {
  port: number;
  /** Real acknowledgement tokens, from the links in welcome emails. */
  tokens: readonly string[];
  /** A case that exists (opened through POST /reports). */
  caseId: string;
  /** Email addresses for the console's "view as" cookie (someone with a role on the case first). */
  viewers: readonly string[];
  /** `policyId` and version of each configured policy. */
  policies: readonly { policyId: string; version: number }[];
  schools: readonly string[];
  /** examples/breach-report.json and examples/ses-bounce.json. */
  report: JsonObject;
  sesBounce: JsonObject;
}

export type Kind = 'route' | 'fuzz' | 'raw';

export interface HttpCase {
  kind: Kind;
  method: string;
  /** The request target as sent: a latin1 string of the bytes (raw UTF-8 bytes stay raw). */
  target: string;
  /** Header lines in order; Host among them, or absent. */
  headers: [string, string][];
  body: Buffer | null;
  /** Send the body chunked (no Content-Length). */
  chunked: boolean;
  /** For `raw`: the exact bytes written to the socket. */
  raw: Buffer | null;
  /** Strings that must never appear in a log: the path, query and token, when longer than 12 characters. */
  secrets: string[];
  /** What was generated, for the report. */
  notes: string[];
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bodyBytes: number;
  ms: number;
}
/** `reread`: node:http could not parse the answer (e.g. a body on an answer to HEAD), so it was sent again on a raw socket. */
export type Outcome = ({ answer: Answer } | { error: string; ms: number }) & { reread?: string };

// ---------------------------------------------------------------------------------
// Small helpers

const KB = 1024;
/** For fc.oneof: a failing case may shrink to the first (simplest) choice: no header, own Host, no body. */
const CROSS = { withCrossShrink: true } as const;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const clip = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text);
const printable = (text: string) => JSON.stringify(text).slice(1, -1);

/** Percent-encodes every byte of `text`'s UTF-8 form except unreserved ASCII. */
function encodeAll(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** `text`'s UTF-8 bytes as a latin1 string: sent as raw bytes; ASCII that node:http refuses in a path is percent-encoded. */
function rawUtf8(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (b <= 0x20 || b === 0x7f ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b))).join('');
}

/** The path and query a target carries (for the log check), each kept if longer than 12 characters. */
export function secretsOf(target: string, extra: readonly string[] = []): string[] {
  const found = new Set<string>();
  const add = (s: string | undefined) => {
    if (s && s.length > 12) found.add(s);
  };
  const utf8 = Buffer.from(target, 'latin1').toString('utf8');
  for (const t of [target, utf8]) {
    add(t);
    const [path = '', query] = t.split(/[?#]/, 2);
    add(path);
    add(query);
    try {
      add(decodeURIComponent(path));
    } catch {
      // not decodable: the raw form is checked
    }
    if (path.startsWith('/ack/')) {
      const segment = path.slice('/ack/'.length);
      add(segment);
      try {
        add(decodeURIComponent(segment));
      } catch {
        // idem
      }
    }
  }
  for (const s of extra) add(s);
  return [...found];
}

// ---------------------------------------------------------------------------------
// Acknowledgement tokens: real ones and every kind of forgery

/** Alternative spellings of the last character of a base64url part that decode to the same bytes (non-canonical). */
function nonCanonicalSpellings(part: string): string[] {
  const bytes = Buffer.from(part, 'base64url');
  return [...B64URL].map((c) => `${part.slice(0, -1)}${c}`).filter((alt) => alt !== part && Buffer.from(alt, 'base64url').equals(bytes));
}

function forgedPayload(token: string, change: (payload: Record<string, unknown>) => void): string {
  const [text = '', signature = ''] = token.split('.');
  const payload = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(payload);
  return `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
}

const PAYLOAD_CHANGES: [string, (p: Record<string, unknown>) => void][] = [
  ['sub of 5,000 characters', (p) => (p.sub = 'A'.repeat(5_000))],
  ['sub of another person', (p) => (p.sub = 'SM-T1')],
  ['sub with traversal', (p) => (p.sub = '../../PERSON#x')],
  ['sub a number', (p) => (p.sub = 12)],
  ['ver 2', (p) => (p.ver = Number(p.ver) + 1)],
  ['ver 0', (p) => (p.ver = 0)],
  ['ver -1', (p) => (p.ver = -1)],
  ['ver 1e12', (p) => (p.ver = 1e12)],
  ['ver "1"', (p) => (p.ver = '1')],
  ['exp in the past', (p) => (p.exp = 1_000_000_000)],
  ['exp far future', (p) => (p.exp = 99_999_999_999)],
  ['exp a string', (p) => (p.exp = 'never')],
  ['pur admin', (p) => (p.pur = 'admin')],
  ['kid unknown', (p) => (p.kid = 'other-key')],
  ['kid 100 characters', (p) => (p.kid = 'k'.repeat(100))],
  ['pol another policy', (p) => (p.pol = 'social-media-acceptable-use')],
  ['pol with a slash', (p) => (p.pol = 'a/../b')],
  ['jti empty', (p) => (p.jti = '')],
  ['extra field', (p) => (p.admin = true)],
  ['__proto__ field', (p) => Object.defineProperty(p, '__proto__', { value: { polluted: 1 }, enumerable: true })],
];

function tokenArb(tokens: readonly string[]): fc.Arbitrary<{ token: string; note: string }> {
  const real = fc.constantFrom(...tokens);
  const as = (note: string) => (token: string) => ({ token, note });
  return fc.oneof(
    CROSS,
    { weight: 3, arbitrary: real.map(as('real token')) },
    {
      weight: 6,
      arbitrary: fc.tuple(real, fc.nat(), fc.nat(B64URL.length - 1)).map(([t, i, c]) => {
        const at = i % t.length;
        return { token: `${t.slice(0, at)}${B64URL[c]}${t.slice(at + 1)}`, note: `real token, character ${at} changed` };
      }),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(real, fc.boolean(), fc.nat()).map(([t, inSignature, i]) => {
        const [text = '', signature = ''] = t.split('.');
        const alts = nonCanonicalSpellings(inSignature ? signature : text);
        const alt = alts[i % Math.max(1, alts.length)];
        if (!alt) return { token: t, note: 'real token (no non-canonical spelling)' };
        return { token: inSignature ? `${text}.${alt}` : `${alt}.${signature}`, note: `real token, non-canonical last character of the ${inSignature ? 'signature' : 'payload'}` };
      }),
    },
    { weight: 3, arbitrary: fc.tuple(real, fc.nat()).map(([t, n]) => ({ token: t.slice(0, n % t.length), note: 'real token, truncated' })) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(real, fc.constantFrom('=', '==', '.', '.x', 'A', '%00', '%2E', '/', '\\', ';a=b', '%20', '..', `.${'A'.repeat(43)}`))
        .map(([t, s]) => ({ token: `${t}${s}`, note: `real token + ${JSON.stringify(s)}` })),
    },
    {
      weight: 2,
      arbitrary: real.chain((t) =>
        fc.constantFrom<[string, string]>(
          ['upper case', t.toUpperCase()],
          ['lower case', t.toLowerCase()],
          ['parts swapped', t.split('.').reverse().join('.')],
          ['standard base64 alphabet', t.replaceAll('-', '+').replaceAll('_', '/')],
          ['padded', `${t.split('.')[0]}==.${t.split('.')[1]}=`],
          ['dot percent-encoded', t.replace('.', '%2E')],
          ['dot double-encoded', t.replace('.', '%252E')],
          ['every character percent-encoded', [...t].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('')],
          ['signature only', t.split('.')[1] ?? ''],
          ['payload only', t.split('.')[0] ?? ''],
          ['doubled', `${t}${t}`],
          ['over 1,024 characters', t.repeat(Math.ceil(1_100 / t.length))],
          ['about 9 KB', t.repeat(Math.ceil(9_000 / t.length))],
          ['about 20 KB (past Node header limit)', t.repeat(Math.ceil(20_000 / t.length))],
        ).map(([note, token]) => ({ token, note: `real token, ${note}` })),
      ),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(real, fc.constantFrom(...PAYLOAD_CHANGES), fc.boolean())
        .map(([t, [note, change], randomSignature]) => {
          const forged = forgedPayload(t, change);
          const [text = ''] = forged.split('.');
          return {
            token: randomSignature ? `${text}.${Buffer.from(note.padEnd(32, '!')).subarray(0, 32).toString('base64url')}` : forged,
            note: `forged payload (${note}), ${randomSignature ? 'made-up' : 'original'} signature`,
          };
        }),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 300 }), fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 60 }))
        .map(([a, b]) => ({ token: `${a}.${b}`, note: 'random base64url pair' })),
    },
    { weight: 1, arbitrary: fc.constantFrom('', '.', '..', 'a.', '.a', 'a.b.c', 'null', 'undefined', '%00', '0').map(as('degenerate token')) },
  );
}

// ---------------------------------------------------------------------------------
// Paths

const BAD_ESCAPES = ['%', '%%', '%2', '%G1', '%zz', '%C0%AE', '%C0%AF', '%E0%A4%A', '%ED%A0%80', '%F4%90%80%80', '%FF', '%FE%FF', '%00', '%0A', '%0D%0A', '%u002e', '%252e', '%2e%2e', '%2F', '%5C', '%C3', '%E2%82', '%F0%9F%98'];

const TRAVERSALS = [
  '/../../etc/passwd',
  '/..',
  '/.',
  '/ack/../admin/tick',
  '/ack/..%2F..%2Fadmin%2Ftick',
  '/%2e%2e/%2e%2e/etc/passwd',
  '/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
  '/policies/..%2f..%2fconfig%2ftrust.json',
  '/policies/use-of-social-media/v1/../../../package.json',
  '/policies/../admin/functions',
  '//admin/tick',
  '///health',
  '/./admin/tick',
  '/admin/./tick',
  '/admin%2ftick',
  '/admin%2Frequests%2Freset',
  '/ADMIN/TICK',
  '/Admin/Functions',
  '/admin/tick/',
  '/admin/tick/..',
  '/health/',
  '/health/..',
  '/health;.css',
  '/health%00',
  '/health%00.html',
  '/admin\\tick',
  '/\\attacker.example',
  '/reports/',
  '/reports/..',
  '/reports%2f',
  '/cases/..%2F..%2F',
  '/compliance/..%2F..%2F/v1',
  '/compliance/use-of-social-media/v1/..%2F..%2F..',
  '/auth/view-as/../../admin/tick',
  '/.env',
  '/.git/config',
  '/node_modules/.bin/node',
  '/package.json',
  '/config/trust.json',
  '/%2e%2e%5c%2e%2e%5cwindows',
  '/....//....//etc/passwd',
];

const ODD_TARGETS = [
  '*',
  'http://attacker.example/admin/tick',
  'http://attacker.example/ack/x.y',
  'HTTP://127.0.0.1/health',
  'https://127.0.0.1/health',
  '//attacker.example/x',
  '/?',
  '/#',
  '/#/admin/tick',
  '/;',
  '/?a=%ZZ',
  '/?__proto__[x]=1',
  '/?constructor=1&prototype=2',
  '/%3F',
  '/%23',
  '/a?b?c#d#e',
];

function consolePaths(c: FuzzContext): string[] {
  const [first] = c.policies;
  const p = first ? `${first.policyId}/v${first.version}` : 'use-of-social-media/v1';
  const school = c.schools[0] ?? 'st-marys';
  const viewer = c.viewers[0] ?? 'someone@example.org';
  return [
    '/',
    `/compliance/${p}`,
    `/compliance/${p}/${school}`,
    `/compliance/${p}/nowhere`,
    '/compliance/use-of-social-media/v999999999',
    '/compliance/UPPER/v1',
    `/compliance/${'a'.repeat(65)}/v1`,
    '/cases',
    '/cases?status=new',
    '/cases?status=bogus&before=CASE-2026-000001',
    `/cases?before=${'9'.repeat(40)}`,
    `/cases/${c.caseId}`,
    '/cases/CASE-2026-999999',
    '/cases/CASE-2026-000001%00',
    '/cases/%E0%A4%A',
    '/cases/%252E',
    '/ledger',
    '/ledger?state=sent',
    '/ledger?state=bogus',
    '/queues',
    '/favicon.ico',
    `/auth/view-as?email=${encodeURIComponent(viewer)}&next=%2Fcases%2F${c.caseId}`,
    '/auth/view-as?email=&next=/',
    '/auth/view-as?email=not-an-address&next=/',
    '/auth/view-as?email=a%40b.example&next=//attacker.example',
    '/auth/view-as?email=a%40b.example&next=https://attacker.example',
    '/auth/view-as?email=a%40b.example&next=/%0D%0ASet-Cookie:x=1',
    `/auth/view-as?email=a%40b.example&next=/${'x'.repeat(3000)}`,
    '/auth/view-as?email=%E0%A4%A',
    '/auth/sign-out',
    '/auth/sign-in',
    '/auth/callback?code=x&state=y',
    '/nothing-here',
  ];
}

function ownPaths(c: FuzzContext): string[] {
  const docs = c.policies.map((p) => `/policies/${p.policyId}/v${p.version}`);
  const [first] = c.policies;
  const q = first ? `policy=${first.policyId}&version=${first.version}` : 'policy=x&version=1';
  return [
    '/health',
    ...docs,
    '/policies/use-of-social-media/v999',
    '/policies/no-such-policy/v1',
    '/policies/use-of-social-media/vx',
    '/policies/USE-OF-SOCIAL-MEDIA/v1',
    '/policies/',
    '/reports/compliance',
    `/reports/compliance?${q}`,
    `/reports/compliance?${q}&school=${c.schools[0] ?? 'x'}`,
    '/reports/compliance?policy=no-such-policy',
    '/reports/compliance?version=abc',
    '/reports/compliance?version=0',
    `/reports/compliance?version=${'9'.repeat(30)}`,
    '/reports/compliance?school=nowhere',
    '/reports/compliance?policy=%E0%A4%A',
    '/admin/functions',
    '/admin/requests',
    '/admin/tick',
    '/admin/ses-events',
    '/admin/requests/reset',
    '/admin/',
    '/admin/nope',
    '/reports',
  ];
}

const segmentArb = fc.oneof(
  { weight: 4, arbitrary: fc.webSegment() },
  { weight: 3, arbitrary: fc.constantFrom(...BAD_ESCAPES) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeAll) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).map(encodeAll) },
  { weight: 1, arbitrary: fc.constantFrom('..', '.', '', '%2e%2e', '~', '$', '@', ':', ';', ',', '!', "'", '(', ')', '*', '+', '=', '&', '[', ']', '{', '}', '|', '^', '`', '"', '<', '>') },
);

function pathArb(c: FuzzContext, token: fc.Arbitrary<{ token: string; note: string }>): fc.Arbitrary<{ target: string; note: string }> {
  const ack = fc
    .tuple(token, fc.constantFrom('', '', '', '/', '/x', '?a=1', '#frag', '%00', ';jsessionid=1', '%2F..'))
    .map(([t, suffix]) => ({ target: `/ack/${t.token}${suffix}`, note: `ack path: ${t.note}${suffix ? ` + ${JSON.stringify(suffix)}` : ''}` }));
  const known = fc.constantFrom(...ownPaths(c), ...consolePaths(c)).map((target) => ({ target, note: 'a known route' }));
  const joined = fc
    .tuple(fc.constantFrom('', '/ack', '/admin', '/policies', '/reports', '/cases', '/compliance', '/auth'), fc.array(segmentArb, { minLength: 1, maxLength: 6 }))
    .map(([prefix, segments]) => ({ target: `${prefix}/${segments.join('/')}`, note: 'segments (odd escapes, unicode, random)' }));
  const unicodeRaw = fc
    .tuple(fc.constantFrom('/', '/ack/', '/cases/', '/policies/'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }))
    .map(([prefix, s]) => ({ target: `${prefix}${rawUtf8(s)}`, note: 'unicode sent as raw UTF-8 bytes' }));
  const overlong = fc
    .tuple(fc.constantFrom(1_000, 8_000, 15_000, 17_000, 70_000), fc.constantFrom('a', '%41', '/', '../', '%2e%2e%2f', 'é'), fc.constantFrom('/', '/ack/', '/cases/', '/reports/compliance?policy='))
    .map(([n, unit, prefix]) => {
      const fill = unit === 'é' ? encodeAll(unit) : unit;
      return { target: `${prefix}${fill.repeat(Math.ceil(n / fill.length))}`, note: `overlong (${n} characters of ${JSON.stringify(unit)})` };
    });
  return fc.oneof(
    CROSS,
    { weight: 5, arbitrary: known },
    { weight: 6, arbitrary: ack },
    { weight: 2, arbitrary: fc.constantFrom(...TRAVERSALS).map((target) => ({ target, note: 'traversal' })) },
    { weight: 3, arbitrary: joined },
    { weight: 1, arbitrary: unicodeRaw },
    { weight: 1, arbitrary: overlong },
    { weight: 1, arbitrary: fc.constantFrom(...ODD_TARGETS).map((target) => ({ target, note: 'odd target' })) },
  );
}

const queryArb = fc.oneof(CROSS, 
  { weight: 8, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.webQueryParameters().map((q) => `?${q}`) },
  { weight: 1, arbitrary: fc.constantFrom('?a=%ZZ', '?%E0%A4%A', `?a=${'x'.repeat(5_000)}`, `?${'a=1&'.repeat(2_000)}`, '?next=//attacker.example', '?email=a%40b', '?__proto__=1') },
);

// ---------------------------------------------------------------------------------
// Headers

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;
const methodArb = fc.oneof(
  { weight: 30, arbitrary: fc.constant('GET') },
  { weight: 24, arbitrary: fc.constant('POST') },
  { weight: 6, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') },
  { weight: 1, arbitrary: fc.constantFrom('TRACE', 'PROPFIND', 'MKCOL', 'SEARCH', 'PURGE') },
);

function hostArb(port: number): fc.Arbitrary<string | null> {
  return fc.oneof(CROSS, 
    { weight: 30, arbitrary: fc.constant(`127.0.0.1:${port}`) },
    { weight: 4, arbitrary: fc.constantFrom(`localhost:${port}`, `LOCALHOST:${port}`, `LocalHost:${port}`, '127.0.0.1:3000') },
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        'attacker.example.com',
        `attacker.example.com:${port}`,
        '127.0.0.1',
        'localhost',
        `127.0.0.1:${port + 1}`,
        `[::1]:${port}`,
        `127.1:${port}`,
        `2130706433:${port}`,
        `0x7f000001:${port}`,
        `localhost.:${port}`,
        `localhost.attacker.example:${port}`,
        `127.0.0.1.nip.io:${port}`,
        `127.0.0.1:${port}@attacker.example`,
        `attacker.example#@127.0.0.1:${port}`,
        ` 127.0.0.1:${port}`,
        `127.0.0.1:${port} `,
        `127.0.0.1:0${port}`,
        `127.0.0.1:${port}:${port}`,
        '',
        `${'h'.repeat(10_000)}.example`,
        Buffer.from(`lоcalhost:${port}`, 'utf8').toString('latin1'), // Cyrillic o
      ),
    },
    { weight: 1, arbitrary: fc.constant(null) },
  );
}

function originArb(port: number): fc.Arbitrary<string | null> {
  return fc.oneof(CROSS, 
    { weight: 14, arbitrary: fc.constant(null) },
    { weight: 4, arbitrary: fc.constantFrom(`http://127.0.0.1:${port}`, `http://localhost:${port}`, `HTTP://LOCALHOST:${port}`, 'http://127.0.0.1:3000') },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        'null',
        'https://attacker.example',
        `http://127.0.0.1:${port}.attacker.example`,
        `http://localhost:${port}/`,
        `https://127.0.0.1:${port}`,
        `http://127.0.0.1:${port + 1}`,
        'file://',
        '',
        `http://127.0.0.1:${port}, https://attacker.example`,
      ),
    },
  );
}

const siteArb = fc.oneof(CROSS, 
  { weight: 14, arbitrary: fc.constant(null) },
  { weight: 4, arbitrary: fc.constantFrom('same-origin', 'none') },
  { weight: 3, arbitrary: fc.constantFrom('cross-site', 'same-site', 'SAME-ORIGIN', '', 'same-origin, cross-site') },
);

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  ' application/json ',
  'application/json;charset=latin1',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'text/plain',
  'text/plain;charset=UTF-8',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/jsonp',
  'application/json-patch+json',
  'text/html',
  '',
  'application/json, text/plain',
  '*/*',
];

function cookieArb(viewers: readonly string[]): fc.Arbitrary<string | null> {
  const viewAs = fc.constantFrom(...viewers).map((e) => `tpn_view_as=${encodeURIComponent(e)}`);
  return fc.oneof(CROSS, 
    { weight: 10, arbitrary: fc.constant(null) },
    { weight: 5, arbitrary: viewAs },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'tpn_view_as=not-an-address',
        'tpn_view_as=%E0%A4%A',
        `tpn_view_as=${'x'.repeat(5_000)}%40example.org`,
        'tpn_view_as=a%40b.example; tpn_view_as=emma.wright%40holytrinity.example.org',
        'tpn_view_as=',
        'tpn_view_as',
        '__Host-tpn_session=eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImFAYi5leGFtcGxlIn0.',
        '__Host-tpn_signin=garbage',
        `${'c=1; '.repeat(500)}tpn_view_as=a%40b.example`,
        'tpn_view_as="a@b.example"',
        Buffer.from('tpn_view_as=é@example.org', 'utf8').toString('latin1'),
      ),
    },
  );
}

const EXTRA_HEADERS: [string, string][] = [
  ['X-Forwarded-For', '203.0.113.7'],
  ['X-Forwarded-Host', 'attacker.example.com'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Original-URL', '/admin/tick'],
  ['X-HTTP-Method-Override', 'POST'],
  ['Referer', 'https://attacker.example/page'],
  ['Accept', 'application/json'],
  ['Accept', '*/*'],
  ['Accept-Encoding', 'gzip, br'],
  ['Accept-Language', 'cy-GB, en;q=0.5'],
  ['User-Agent', 'u'.repeat(4_000)],
  ['X-Pad', 'p'.repeat(15_000)],
  ['X-Pad', 'p'.repeat(20_000)],
  ['X-Pad', 'p'.repeat(70_000)],
  ['Content-Encoding', 'gzip'],
  ['Expect', '100-continue'],
  ['Expect', 'bogus'],
  ['Upgrade', 'websocket'],
  ['Connection', 'Upgrade'],
  ['Range', 'bytes=0-10'],
  ['If-None-Match', '*'],
  ['Authorization', 'Bearer eyJhbGciOiJub25lIn0.e30.'],
  ['X-Amz-Target', 'DynamoDB_20120810.DeleteTable'],
  ['X-Unicode', Buffer.from('ünïcödé ☃ 😀', 'utf8').toString('latin1')],
  ['Max-Forwards', '0'],
];

const extrasArb = fc.oneof(CROSS, 
  { weight: 8, arbitrary: fc.constant<[string, string][]>([]) },
  { weight: 2, arbitrary: fc.subarray(EXTRA_HEADERS, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 300 }).map((n) => Array.from({ length: n }, (_, i): [string, string] => [`X-N${i}`, String(i)])) },
);

// ---------------------------------------------------------------------------------
// Bodies

type BodyKind = 'json' | 'form' | 'text' | 'binary';
interface Body {
  bytes: Buffer;
  kind: BodyKind;
  note: string;
}

const big = (n: number, note: string, kind: BodyKind = 'json'): Body => ({ bytes: Buffer.from(`{"narrative":"${'x'.repeat(Math.max(0, n - 16))}"}`), kind, note });
const OVERSIZED = [big(64 * KB + 1, 'JSON of 64 KB + 1'), big(256 * KB + 1, 'JSON of 256 KB + 1'), big(300 * KB, 'JSON of 300 KB'), big(5 * KB * KB, 'JSON of 5 MB')];
const json = (value: unknown, note: string): Body => ({ bytes: Buffer.from(JSON.stringify(value)), kind: 'json', note });
const text = (value: string, note: string, kind: BodyKind = 'text'): Body => ({ bytes: Buffer.from(value), kind, note });

function reportBodyArb(c: FuzzContext): fc.Arbitrary<Body> {
  const valid = fc
    .tuple(fc.constantFrom(...c.schools), fc.string({ minLength: 1, maxLength: 200 }), fc.option(fc.constantFrom('dup-1', 'dup-2', 'dup-3'), { nil: undefined }))
    .map(([schoolId, narrative, eventId]) => json({ ...c.report, schoolId, narrative: `${narrative} ${c.report.narrative}`, ...(eventId ? { eventId: `http-property-${eventId}` } : {}) }, 'a valid report'));
  return fc.oneof(
    { weight: 1, arbitrary: valid },
    { weight: 6, arbitrary: mutatedFrom(c.report).map((m) => json(m.input, `a mutated report (${clip(m.steps.join(', '), 80)})`)) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map((j) => ({ bytes: Buffer.from(j), kind: 'json' as const, note: 'random JSON' })) },
  );
}

const tickBodyArb = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom('2026-12-01', '2027-03-01', '2030-01-01').map((today) => json({ today }, 'a tick for a real date')) },
  { weight: 1, arbitrary: fc.constant(json({}, 'a tick for today')) },
  {
    weight: 24,
    arbitrary: fc
      .constantFrom('2026-13-45', '2026-02-30', '2026-00-10', '20261201', '2026-1-1', '', 'today', '9999-99-99', '2026-12-01T00:00:00Z', ' 2026-12-01', '\u0000')
      .map((today) => json({ today }, `a tick for ${JSON.stringify(today)}`)),
  },
  { weight: 4, arbitrary: fc.constantFrom('{', '[1]', '"x"', 'null', '1', '{"today":20261201}', '{"today":null}', '{"today":["2026-12-01"]}', '{"__proto__":{"today":"2026-12-01"}}').map((t) => text(t, `tick body ${t}`, 'json')) },
);

function sesBodyArb(c: FuzzContext): fc.Arbitrary<Body> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(json(c.sesBounce, 'a valid SES bounce')) },
    { weight: 15, arbitrary: mutatedFrom(c.sesBounce).map((m) => json(m.input, `a mutated SES event (${clip(m.steps.join(', '), 80)})`)) },
  );
}

const formBodyArb = fc.oneof(
  fc.constantFrom(text('confirm=1', 'form confirm=1', 'form'), text('', 'empty form', 'form'), text('a=b&c=%ZZ', 'form with a bad escape', 'form'), text(`x=${'y'.repeat(5_000)}`, 'form of 5 KB', 'form'), text(`x=${'y'.repeat(20 * KB)}`, 'form of 20 KB', 'form')),
  fc.webQueryParameters().map((q) => text(q, 'random form', 'form')),
);

const invalidJsonArb = fc.constantFrom('{', '{"a":', 'nul', '\u0000', '{"a":1}}', '\uFEFF{}', '{"a":"\uD800"}', '[]'.repeat(10_000), `${'['.repeat(5_000)}${']'.repeat(5_000)}`, '{"__proto__":{"polluted":1}}').map((t) => text(t, `invalid or odd JSON ${clip(printable(t), 24)}`, 'json'));

const anyBodyArb: fc.Arbitrary<Body | null> = fc.oneof(CROSS, 
  { weight: 8, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 2 }).map((j) => ({ bytes: Buffer.from(j), kind: 'json' as const, note: 'random JSON' })) },
  { weight: 2, arbitrary: invalidJsonArb },
  { weight: 2, arbitrary: formBodyArb },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }).map((s) => text(s, 'text/plain (any unicode)')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((b) => ({ bytes: Buffer.from(b), kind: 'binary' as const, note: `${b.length} random bytes` })) },
  { weight: 1, arbitrary: fc.constantFrom(...OVERSIZED) },
);

const typeFor: Record<BodyKind, string> = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
  text: 'text/plain',
  binary: 'application/octet-stream',
};

// ---------------------------------------------------------------------------------
// Requests

function summarise(c: Omit<HttpCase, 'notes' | 'secrets'>, notes: string[]): string {
  if (c.raw) return `raw ${JSON.stringify(clip(c.raw.toString('latin1'), 300))} [${notes.join('; ')}]`;
  const headers = c.headers.map(([k, v]) => `${k}: ${clip(printable(v), 80)}`).join(' | ');
  const body = c.body ? ` body ${c.body.length} bytes${c.chunked ? ' (chunked)' : ''} ${JSON.stringify(clip(c.body.subarray(0, 120).toString('utf8'), 100))}` : '';
  return `${c.method} ${clip(printable(c.target), 300)} {${headers}}${body} [${notes.join('; ')}]`;
}

function makeCase(fields: Omit<HttpCase, 'secrets' | 'notes'>, notes: string[], extraSecrets: string[] = []): HttpCase {
  const value: HttpCase = { ...fields, notes, secrets: secretsOf(fields.target, extraSecrets) };
  Object.defineProperty(value, fc.toStringMethod, { value: () => summarise(fields, notes), enumerable: false });
  return value;
}

interface HeaderChoice {
  host: string | null;
  origin: string | null;
  site: string | null;
  contentType: string | null;
  cookie: string | null;
  extras: [string, string][];
}

function headerLines(h: HeaderChoice): [string, string][] {
  const lines: [string, string][] = [];
  if (h.host !== null) lines.push(['Host', h.host]);
  if (h.origin !== null) lines.push(['Origin', h.origin]);
  if (h.site !== null) lines.push(['Sec-Fetch-Site', h.site]);
  if (h.contentType !== null) lines.push(['Content-Type', h.contentType]);
  if (h.cookie !== null) lines.push(['Cookie', h.cookie]);
  return [...lines, ...h.extras];
}

/** A request aimed at one route, mostly as its own clients send it. */
function routeCaseArb(c: FuzzContext): fc.Arbitrary<HttpCase> {
  const token = tokenArb(c.tokens);
  const own = `127.0.0.1:${c.port}`;
  const sameOrigin = `http://127.0.0.1:${c.port}`;
  type Route = { name: string; methods: readonly string[]; path: fc.Arbitrary<string>; body: fc.Arbitrary<Body | null>; cookie?: boolean };
  const routes: [number, Route][] = [
    [1, { name: 'health', methods: ['GET'], path: fc.constant('/health'), body: fc.constant(null) }],
    [3, { name: 'policy page', methods: ['GET'], path: fc.constantFrom(...ownPaths(c).filter((p) => p.startsWith('/policies/'))), body: fc.constant(null) }],
    [2, { name: 'compliance report page', methods: ['GET'], path: fc.constantFrom(...ownPaths(c).filter((p) => p.startsWith('/reports/compliance'))), body: fc.constant(null) }],
    [1, { name: 'console dashboard', methods: ['GET'], path: fc.constant('/'), body: fc.constant(null), cookie: true }],
    [6, { name: 'console page', methods: ['GET'], path: fc.constantFrom(...consolePaths(c).filter((p) => p !== '/')), body: fc.constant(null), cookie: true }],
    [12, { name: 'acknowledgement link', methods: ['GET', 'GET', 'GET', 'POST'], path: token.map((t) => `/ack/${t.token}`), body: fc.option(formBodyArb, { nil: null, freq: 2 }) }],
    [6, { name: 'report intake', methods: ['POST'], path: fc.constant('/reports'), body: fc.oneof({ weight: 6, arbitrary: reportBodyArb(c) }, { weight: 2, arbitrary: invalidJsonArb }, { weight: 1, arbitrary: fc.constantFrom(...OVERSIZED) }) }],
    [3, { name: 'tick', methods: ['POST'], path: fc.constant('/admin/tick'), body: tickBodyArb }],
    [2, { name: 'SES event injection', methods: ['POST'], path: fc.constant('/admin/ses-events'), body: fc.oneof({ weight: 5, arbitrary: sesBodyArb(c) }, { weight: 1, arbitrary: invalidJsonArb }) }],
    [2, { name: 'admin read', methods: ['GET'], path: fc.constantFrom('/admin/functions', '/admin/requests'), body: fc.constant(null) }],
    [1, { name: 'request counts reset', methods: ['POST'], path: fc.constant('/admin/requests/reset'), body: fc.constant(json({}, 'empty JSON object')) }],
  ];
  return fc.oneof(...routes.map(([weight, r]) => ({ weight, arbitrary: fc.constant(r) }))).chain((route) =>
    fc
      .record({
        path: route.path,
        body: route.body,
        method: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...route.methods) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
        host: fc.oneof(CROSS, { weight: 12, arbitrary: fc.constant<string | null>(own) }, { weight: 1, arbitrary: hostArb(c.port) }),
        browser: fc.oneof(CROSS, { weight: 6, arbitrary: fc.constant<[string | null, string | null]>([null, null]) }, { weight: 3, arbitrary: fc.constant<[string | null, string | null]>([sameOrigin, 'same-origin']) }, { weight: 1, arbitrary: fc.tuple(originArb(c.port), siteArb) }),
        typeRight: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        otherType: fc.constantFrom(...CONTENT_TYPES),
        cookie: route.cookie ? fc.oneof(CROSS, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: cookieArb(c.viewers) }) : fc.constant(null),
        extras: fc.oneof(CROSS, { weight: 9, arbitrary: fc.constant<[string, string][]>([]) }, { weight: 1, arbitrary: extrasArb }),
        query: route.name === 'console page' || route.name === 'acknowledgement link' ? fc.oneof(CROSS, { weight: 9, arbitrary: fc.constant('') }, { weight: 1, arbitrary: queryArb }) : fc.constant(''),
      })
      .map((r) => {
        const contentType = r.body ? (r.typeRight ? typeFor[r.body.kind] : r.otherType) : null;
        const target = `${r.path}${r.query}`;
        return makeCase(
          {
            kind: 'route',
            method: r.method,
            target,
            headers: headerLines({ host: r.host, origin: r.browser[0], site: r.browser[1], contentType, cookie: r.cookie, extras: r.extras }),
            body: r.body?.bytes ?? null,
            chunked: false,
            raw: null,
          },
          [`route: ${route.name}`, ...(r.body ? [r.body.note] : [])],
        );
      }),
  );
}

/** Any path, method, headers and body. */
function fuzzCaseArb(c: FuzzContext): fc.Arbitrary<HttpCase> {
  return fc
    .record({
      path: pathArb(c, tokenArb(c.tokens)),
      query: queryArb,
      method: methodArb,
      host: hostArb(c.port),
      origin: originArb(c.port),
      site: siteArb,
      contentType: fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: null, freq: 3 }),
      cookie: cookieArb(c.viewers),
      extras: extrasArb,
      body: anyBodyArb,
      chunked: fc.oneof(CROSS, { weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    })
    .map((r) => {
      const target = r.path.target.includes('?') || r.path.target.includes('#') ? r.path.target : `${r.path.target}${r.query}`;
      return makeCase(
        {
          kind: 'fuzz',
          method: r.method,
          target,
          headers: headerLines({ host: r.host, origin: r.origin, site: r.site, contentType: r.contentType, cookie: r.cookie, extras: r.extras }),
          body: r.body?.bytes ?? null,
          chunked: r.body !== null && r.chunked,
          raw: null,
        },
        [r.path.note, ...(r.body ? [r.body.note] : [])],
      );
    });
}

/** Bytes no client library sends; `{T}` is a generated target, `{H}` this server's own Host. */
const RAW_TEMPLATES: [string, string][] = [
  ['space in the target', 'GET /ack/a b HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['tab in the target', 'GET /he\talth HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['NUL in the target', 'GET {T}\u0000 HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['DEL in the target', 'GET /\u007f HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['raw UTF-8 in the target', `GET /ack/${rawUtf8('tökén😀')} HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n`],
  ['HTTP/1.1 without Host', 'GET {T} HTTP/1.1\r\nConnection: close\r\n\r\n'],
  ['HTTP/1.0 without Host', 'GET {T} HTTP/1.0\r\n\r\n'],
  ['HTTP/0.9', 'GET {T}\r\n\r\n'],
  ['HTTP/2.0 request line', 'GET {T} HTTP/2.0\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ['bare LF line ends', 'GET {T} HTTP/1.1\nHost: {H}\nConnection: close\n\n'],
  ['obs-fold header', 'GET {T} HTTP/1.1\r\nHost: {H}\r\nX-A: a\r\n folded\r\nConnection: close\r\n\r\n'],
  ['header without colon', 'GET {T} HTTP/1.1\r\nHost: {H}\r\nNoColon\r\nConnection: close\r\n\r\n'],
  ['space before colon', 'GET {T} HTTP/1.1\r\nHost : {H}\r\nConnection: close\r\n\r\n'],
  ['NUL in a header', 'GET {T} HTTP/1.1\r\nHost: {H}\r\nX-A: a\u0000b\r\nConnection: close\r\n\r\n'],
  ['two Hosts, own first', 'GET {T} HTTP/1.1\r\nHost: {H}\r\nHost: attacker.example\r\nConnection: close\r\n\r\n'],
  ['two Hosts, foreign first', 'GET {T} HTTP/1.1\r\nHost: attacker.example\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['Content-Length and chunked', 'POST /reports HTTP/1.1\r\nHost: {H}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n'],
  ['two Content-Lengths', 'POST /reports HTTP/1.1\r\nHost: {H}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}'],
  ['negative Content-Length', 'POST {T} HTTP/1.1\r\nHost: {H}\r\nContent-Length: -1\r\nConnection: close\r\n\r\n'],
  ['huge Content-Length', 'POST {T} HTTP/1.1\r\nHost: {H}\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n'],
  ['bad chunk size', 'POST /reports HTTP/1.1\r\nHost: {H}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
  ['chunked, then nothing', 'POST /admin/tick HTTP/1.1\r\nHost: {H}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
  ['lower-case method', 'get {T} HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['unknown method', 'BREW {T} HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['CONNECT', 'CONNECT {H} HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['absolute-form, foreign authority', 'GET http://attacker.example{T} HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n'],
  ['request line of 70 KB', `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n`],
  ['Expect: bogus', 'GET {T} HTTP/1.1\r\nHost: {H}\r\nExpect: bogus\r\nConnection: close\r\n\r\n'],
  ['pipelined second request with a foreign Host', 'GET /health HTTP/1.1\r\nHost: {H}\r\n\r\nGET {T} HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n'],
];

function rawCaseArb(c: FuzzContext): fc.Arbitrary<HttpCase> {
  const own = `127.0.0.1:${c.port}`;
  const target = pathArb(c, tokenArb(c.tokens)).map((p) => p.target);
  return fc.tuple(fc.constantFrom(...RAW_TEMPLATES), target).map(([[note, template], t]) => {
    const text = template.replaceAll('{T}', t.startsWith('/') ? t : `/${t}`).replaceAll('{H}', own);
    const method = text.slice(0, text.indexOf(' '));
    return makeCase({ kind: 'raw', method, target: t, headers: [], body: null, chunked: false, raw: Buffer.from(text, 'latin1') }, [`raw: ${note}`]);
  });
}

/** Every kind of request, in the proportions the suite sends them. */
export function httpCaseArb(c: FuzzContext): fc.Arbitrary<HttpCase> {
  return fc.oneof({ weight: 10, arbitrary: routeCaseArb(c) }, { weight: 9, arbitrary: fuzzCaseArb(c) }, { weight: 1, arbitrary: rawCaseArb(c) });
}

// ---------------------------------------------------------------------------------
// Sending

/** One keep-alive connection for the generated requests (a refused body is drained by the server, not cut off). */
export const caseAgent = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * Sends a case and returns the server's answer. When node:http loses the answer (it cannot
 * parse it, e.g. a body on an answer to HEAD; or the server answered early, 431 or 413, and
 * closed while the request was still being written, so the client saw ECONNRESET or EPIPE
 * first), the request is sent again on a raw socket that stops writing as soon as the server
 * answers, up to three times: the server's answer is what is checked, never skipped.
 */
export async function send(port: number, c: HttpCase, timeoutMs = 60_000): Promise<Outcome> {
  if (c.raw) return sendRaw(port, c.raw, timeoutMs);
  const outcome = await sendHttp(port, c, timeoutMs);
  if (!('error' in outcome) || !/^(HPE_|ECONNRESET$|EPIPE$)/.test(outcome.error)) return outcome;
  let again: Outcome = outcome;
  for (let attempt = 0; attempt < 3 && 'error' in again; attempt++) again = await sendRaw(port, asBytes(c), timeoutMs);
  return { ...again, reread: outcome.error };
}

/** The request as bytes, asking the server to close after answering (for a raw socket). */
function asBytes(c: HttpCase): Buffer {
  const lines = [`${c.method} ${c.target} HTTP/1.1`, ...c.headers.map(([k, v]) => `${k}: ${v}`)];
  if (c.body) lines.push(`Content-Length: ${c.body.length}`);
  lines.push('Connection: close', '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), c.body ?? Buffer.alloc(0)]);
}

function sendHttp(port: number, c: HttpCase, timeoutMs: number): Promise<Outcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const flat: string[] = c.headers.flat();
    if (c.body && c.chunked) flat.push('Transfer-Encoding', 'chunked');
    else if (c.body) flat.push('Content-Length', String(c.body.length));
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request({ host: '127.0.0.1', port, method: c.method, path: c.target, headers: flat as unknown as Record<string, string>, setHost: false, agent: caseAgent }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        res.on('end', () => finish({ answer: { status: res.statusCode ?? 0, headers: res.headers, bodyBytes: bytes, ms: elapsed() } }));
        res.on('error', (error) => finish({ error: `response: ${(error as NodeJS.ErrnoException).code ?? error.message}`, ms: elapsed() }));
      });
    } catch (error) {
      // node:http refused to send it (a character it will not put in a request): not a server answer.
      finish({ error: `client refused: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, ms: elapsed() });
      return;
    }
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (error) => finish({ error: (error as NodeJS.ErrnoException).code ?? error.message, ms: elapsed() }));
    if (c.body && c.chunked) {
      req.write(c.body.subarray(0, Math.ceil(c.body.length / 2)));
      req.end(c.body.subarray(Math.ceil(c.body.length / 2)));
    } else {
      req.end(c.body ?? undefined);
    }
  });
}

/** Writes the bytes, reads until the server closes (every raw request asks it to, or it closes on a parse error), parses the first answer. */
function sendRaw(port: number, bytes: Buffer, timeoutMs: number): Promise<Outcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {
      // EPIPE / ECONNRESET after the server answered and closed: what arrived is parsed below.
    });
    socket.setTimeout(Math.min(timeoutMs, 10_000), () => socket.destroy());
    socket.on('close', () => {
      const received = Buffer.concat(chunks).toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      const head = end >= 0 ? received.slice(0, end) : received;
      const [statusLine = '', ...lines] = head.split('\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
      if (!status) return resolve({ error: received.length === 0 ? 'closed without an answer' : `unparseable answer ${JSON.stringify(clip(received, 60))}`, ms: elapsed() });
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ answer: { status: Number(status), headers, bodyBytes: Math.max(0, received.length - end - 4), ms: elapsed() } });
    });
    // In pieces, and no more once the server has answered: an early answer (431, 413) is
    // followed by a close, and bytes still arriving then make the server's kernel reset the
    // connection, which can discard the answer before it is read.
    let offset = 0;
    const pump = () => {
      if (chunks.length > 0 || offset >= bytes.length || socket.destroyed) return;
      const piece = bytes.subarray(offset, offset + 4 * KB);
      offset += piece.length;
      if (socket.write(piece)) setImmediate(pump);
      else socket.once('drain', pump);
    };
    pump();
  });
}
