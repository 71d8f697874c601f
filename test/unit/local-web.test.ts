/**
 * The local web server's refusals (local/web.ts, local/web-guard.ts), over real HTTP on
 * 127.0.0.1, replaying the probes that found the holes: a page on another site posting to
 * the admin routes, a rebound host name, oversized bodies, malformed encodings and dates,
 * oversized headers. Every refusal is a 4xx with the security headers and a one-line
 * reason; nothing behind it runs; no log line carries a request path.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { SECURITY_HEADERS } from '../../functions/http/pages.ts';
import { startWebServer, type WebServer } from '../../local/web.ts';
import { decodedPath, guardContext, refuse, routePolicy } from '../../local/web-guard.ts';

const config = loadTrustConfig();
const TOKEN = 'eyJraWQiOiJrMSJ9.c2lnbmF0dXJl';

let web: WebServer;
let port = 0;
const ticks: (string | undefined)[] = [];
const invoked: string[] = [];
const logs: string[] = [];
const reportQueries: string[] = [];

beforeAll(async () => {
  web = await startWebServer({
    port: 0,
    config,
    health: async () => ({ ok: true }),
    tick: async (today) => {
      ticks.push(today);
      return 3;
    },
    functionStats: () => ({}),
    // Reached only with ids that passed the page's own checks.
    report: async (query) => {
      reportQueries.push(JSON.stringify(query));
      throw new Error('no report in this test');
    },
    httpApi: {
      routes: [
        { routeKey: 'GET /ack/{token}', method: 'GET', pattern: /^\/ack\/([^/]+)$/, params: ['token'], functionArn: 'ack' },
        { routeKey: 'POST /ack/{token}', method: 'POST', pattern: /^\/ack\/([^/]+)$/, params: ['token'], functionArn: 'ack' },
        { routeKey: 'POST /reports', method: 'POST', pattern: /^\/reports$/, params: [], functionArn: 'intake' },
      ],
      invoke: async (arn: string, event: APIGatewayProxyEventV2) => {
        invoked.push(`${arn} ${event.requestContext.http.method}`);
        if (event.pathParameters?.token === 'explode') throw new Error('boom');
        return { statusCode: 200, headers: { 'Content-Type': 'text/plain' }, body: 'ok' };
      },
    },
    log: (line) => logs.push(line),
  });
  port = Number(new URL(web.url).port);
});
afterAll(() => web?.close());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw request, with exactly the headers given (Host included), as any client could send. */
function raw(method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const securityHeadersOf = (a: Answer) => Object.fromEntries(Object.keys(SECURITY_HEADERS).map((k) => [k, a.headers[k.toLowerCase()]]));

describe('the local web server refuses what it should, with a 4xx and the security headers', () => {
  it('a cross-site page cannot run the schedules (text/plain POST to /admin/tick, as a form would)', async () => {
    const before = ticks.length;
    const fromAnotherSite = await raw('POST', '/admin/tick', { origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' }, '{"today":"2030-01-01"}');
    expect(fromAnotherSite.status).toBe(403);
    const textPlainNoOrigin = await raw('POST', '/admin/tick', { 'content-type': 'text/plain' }, '{"today":"2030-01-01"}');
    expect(textPlainNoOrigin.status).toBe(415);
    expect(ticks.length).toBe(before);
    // The CLI (no Origin, JSON) still can.
    const cli = await raw('POST', '/admin/tick', { 'content-type': 'application/json' }, '{"today":"2030-01-01"}');
    expect(cli.status).toBe(200);
    expect(ticks.at(-1)).toBe('2030-01-01');
  });

  it('POST /reports takes JSON only: text/plain and forms are 415 and reach no function', async () => {
    const before = invoked.length;
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expect((await raw('POST', '/reports', { 'content-type': type }, 'a=b')).status, type).toBe(415);
    }
    expect(invoked.length).toBe(before);
  });

  it('a foreign Host (DNS rebinding) gets 421 before anything is routed', async () => {
    for (const host of ['attacker.example.com', `attacker.example.com:${port}`, `127.0.0.1:${port + 1}`]) {
      const answer = await raw('GET', `/ack/${TOKEN}`, { host });
      expect(answer.status, host).toBe(421);
      expect(securityHeadersOf(answer)).toEqual(SECURITY_HEADERS);
    }
    expect((await raw('GET', '/health', { host: `localhost:${port}` })).status).toBe(200);
  });

  it('big bodies get 413 with a one-line reason, without being read', async () => {
    for (const size of [300 * 1024, 5 * 1024 * 1024]) {
      const answer = await raw('POST', '/reports', { 'content-type': 'application/json' }, `{"narrative":"${'x'.repeat(size)}"}`);
      expect(answer.status, String(size)).toBe(413);
      expect(answer.body.trim().split('\n')).toHaveLength(1);
      expect(securityHeadersOf(answer)).toEqual(SECURITY_HEADERS);
    }
  });

  it('malformed percent-encodings get 400, not 500', async () => {
    for (const path of [`/ack/${TOKEN}%C0%AE`, '/cases/%E0%A4%A', '/%C0%AE', '/policies/%ZZ']) {
      const answer = await raw('GET', path);
      expect(answer.status, path).toBe(400);
      expect(securityHeadersOf(answer)).toEqual(SECURITY_HEADERS);
    }
  });

  it('bad JSON and impossible dates on /admin/tick get 400, and nothing fires', async () => {
    const before = ticks.length;
    for (const body of ['{', '[1]', '"x"', '{"today":"2026-13-45"}', '{"today":"2026-02-30"}', '{"today":20261201}']) {
      const answer = await raw('POST', '/admin/tick', { 'content-type': 'application/json' }, body);
      expect(answer.status, body).toBe(400);
      expect(JSON.parse(answer.body)).toHaveProperty('error');
    }
    expect(ticks.length).toBe(before);
  });

  it('a 60 KB header gets 431 from Node with the security headers', async () => {
    const answer = await raw('GET', `/ack/${'a'.repeat(60 * 1024)}`);
    expect(answer.status).toBe(431);
    expect(securityHeadersOf(answer)).toEqual(SECURITY_HEADERS);
  });

  it('a failing route logs its template and a request id, never the path (an /ack/ path is a bearer link)', async () => {
    const answer = await raw('GET', '/ack/explode');
    expect(answer.status).toBe(500);
    expect(logs.some((l) => l.includes('GET /ack/{token}'))).toBe(true);
    expect(logs.join('\n')).not.toContain('explode');
    expect(logs.join('\n')).not.toContain(TOKEN);
  });

  it('Node\'s own refusals carry the security headers: no Host at all (421), an unknown Expect (417)', async () => {
    const noHost = await new Promise<Answer>((resolve, reject) => {
      // HTTP/1.1 without a Host header: what a hand-written client may send.
      const socket = connect(port, '127.0.0.1', () => socket.end('GET /health HTTP/1.1\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => {
        text += d.toString('latin1');
      });
      socket.on('error', reject);
      socket.on('end', () => {
        const [head = '', body = ''] = text.split('\r\n\r\n');
        const [status = '', ...lines] = head.split('\r\n');
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        resolve({ status: Number(status.split(' ')[1]), headers, body });
      });
    });
    expect(noHost.status).toBe(421);
    expect(securityHeadersOf(noHost)).toEqual(SECURITY_HEADERS);
    const expect417 = await raw('GET', '/health', { expect: 'bogus' });
    expect(expect417.status).toBe(417);
    expect(securityHeadersOf(expect417)).toEqual(SECURITY_HEADERS);
  });

  it('an absolute-form target naming another host is refused like a foreign Host', async () => {
    expect((await raw('GET', 'http://attacker.example/admin/functions')).status).toBe(421);
    expect((await raw('GET', `http://127.0.0.1:${port}/health`)).status).toBe(200);
  });

  it('the compliance page refuses ids that are not slugs before reading anything (a 2,100-character policy id was a 500)', async () => {
    for (const query of [`policy=${'a'.repeat(8_000)}`, 'school=St%20Mary%27s', 'policy=..%2F..']) {
      const answer = await raw('GET', `/reports/compliance?${query}`);
      expect(answer.status, query.slice(0, 30)).toBe(400);
      expect(securityHeadersOf(answer)).toEqual(SECURITY_HEADERS);
    }
    expect(reportQueries).toEqual([]);
  });

  it('the acknowledgement form still works from its own page (same origin) and from the CLI', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' };
    expect((await raw('POST', `/ack/${TOKEN}`, form, 'confirm=1')).status).toBe(200);
    expect((await raw('POST', `/ack/${TOKEN}`)).status).toBe(200);
    expect((await raw('POST', `/ack/${TOKEN}`, { ...form, origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' }, 'confirm=1')).status).toBe(403);
    // Chromium's form POST from our page (Referrer-Policy: no-referrer): Origin null, same-origin by Fetch metadata.
    expect((await raw('POST', `/ack/${TOKEN}`, { ...form, origin: 'null' }, 'confirm=1')).status).toBe(200);
    // An opaque origin without Fetch metadata (a sandboxed frame on an older browser) is refused.
    expect((await raw('POST', `/ack/${TOKEN}`, { 'content-type': 'application/x-www-form-urlencoded', origin: 'null' }, 'confirm=1')).status).toBe(403);
    expect((await raw('POST', `/ack/${TOKEN}`, { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://attacker.example' }, 'confirm=1')).status).toBe(403);
  });
});

describe('web guard rules (local/web-guard.ts)', () => {
  const context = guardContext(3000, 'https://policies.example.org');
  const headers = { host: '127.0.0.1:3000' };
  it('answers to its own loopback addresses and the public base URL host only', () => {
    for (const host of ['127.0.0.1:3000', 'localhost:3000', 'policies.example.org', 'LOCALHOST:3000']) {
      expect(refuse({ method: 'GET', target: '/', headers: { host } }, routePolicy('GET', '/'), context), host).toBeNull();
    }
    expect(refuse({ method: 'GET', target: '/', headers: {} }, routePolicy('GET', '/'), context)?.status).toBe(421);
  });
  it('treats every /admin/ route as state-changing, GET included', () => {
    const policy = routePolicy('GET', '/admin/functions');
    expect(refuse({ method: 'GET', target: '/admin/functions', headers: { ...headers, 'sec-fetch-site': 'cross-site' } }, policy, context)?.status).toBe(403);
    expect(refuse({ method: 'GET', target: '/admin/functions', headers }, policy, context)).toBeNull();
  });
  it('refuses a body on a route that takes none', () => {
    expect(refuse({ method: 'GET', target: '/health', headers: { ...headers, 'content-length': '5', 'content-type': 'application/json' } }, routePolicy('GET', '/health'), context)?.status).toBe(413);
  });
  it('decodes paths or says why not', () => {
    expect(decodedPath('/ack/abc')).toMatchObject({ path: '/ack/abc' });
    expect(decodedPath('/%E0%A4%A')).toMatchObject({ status: 400 });
  });
});
