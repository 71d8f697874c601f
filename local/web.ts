/**
 * The local runtime's web server, on 127.0.0.1 only (DESIGN.md "Local endpoints"):
 * - `GET /health`: 200 when every part of the platform answers, 503 (naming the parts
 *   that do not) otherwise;
 * - the template's HTTP API routes (`GET|POST /ack/<token>`), served by their functions;
 * - `GET /policies/<policyId>/v<version>`: a configured policy's document as a page;
 * - `GET /admin/functions`: each local function's invocation, error and retry counts;
 * - `POST /admin/tick` (`{"today":"YYYY-MM-DD"}`): fires the scheduled rules now
 *   (`trust-notify tick`);
 * - `GET /reports/compliance?policy=&version=&school=`: the compliance report as a page;
 * - `POST /admin/ses-events` (an SES event as EventBridge delivers it): injects an SES bounce or
 *   complaint on the local default bus (`trust-notify inject-ses-event`, local/ses-injection.ts);
 * - `GET /` and every other GET path: the operator console (functions/handlers/console-http.ts,
 *   from the template's routes; on loopback without sign-in), or an index when the template has none.
 * Every page carries security headers and no script at all.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { join } from 'node:path';
import { marked } from 'marked';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import { ContractError } from '../functions/contracts/events.ts';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { escapeHtml, page, SECURITY_HEADERS } from '../functions/http/pages.ts';
import { complianceReportBody, reportErrorBody } from '../functions/http/report-page.ts';
import type { ComplianceReport } from '../functions/domain/compliance-report.ts';
import { type ReportQuery, ReportQueryError, reportSchools } from '../functions/services/compliance-report.ts';
import { type HttpRoute, INTEGRATION_FAILURE, matchRoute, toHttpApiEvent } from './http-api.ts';
import { decodedPath, type GuardContext, guardContext, refuse, routePolicy } from './web-guard.ts';

export interface WebServerOptions {
  port: number;
  config: TrustConfig;
  health: () => Promise<Record<string, boolean>>;
  tick: (today?: string) => Promise<number>;
  /** The template's HTTP API routes (e.g. `/ack/{token}`) and how to invoke their functions. */
  httpApi?: {
    routes: HttpRoute[];
    invoke: (functionArn: string, event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2 | null>;
  };
  /** The functions' request counts (`GET /admin/requests`, `POST /admin/requests/reset`), when counted. */
  requestCounts?: { get(): Record<string, number>; reset(): void };
  /** Invocation counts per function (`GET /admin/functions`). */
  functionStats: () => Record<string, unknown>;
  /** The compliance report (`GET /reports/compliance`), from the data table. */
  report?: (query: ReportQuery) => Promise<ComplianceReport>;
  /** Routes an SES bounce or complaint from the local default bus (`POST /admin/ses-events`); returns its event id. */
  injectSesEvent?: (input: unknown) => Promise<string>;
  log: (line: string) => void;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string) {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}

/** The request body, at most `limit` bytes (the route's, local/web-guard.ts): a chunked body past it is a 413. */
async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A real calendar date in the form YYYY-MM-DD (2026-13-45 is not one). */
function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

/** A one-line refusal, with the security headers, that echoes nothing of the request. */
function refuseWith(res: ServerResponse, status: number, reason: string) {
  send(res, status, 'text/plain; charset=utf-8', `${reason}\n`);
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const { config } = options;
  const documents = new Map(config.policies.map((p) => [`${p.policyId}/v${p.version}`, p]));
  const html = (status: number, title: string, body: string) => (res: ServerResponse) =>
    send(res, status, 'text/html; charset=utf-8', page(title, body, config.trust.name));

  let requests = 0;
  // The port is known once listening (0 picks one); until then nothing is served.
  let guard: GuardContext | undefined;
  // No Host at all is the guard's 421 too, with the security headers (not Node's bare 400).
  const server = createServer({ requireHostHeader: false }, async (req, res) => {
    const requestId = `r${++requests}`;
    const method = req.method ?? 'GET';
    const decoded = decodedPath(req.url ?? '/');
    if ('status' in decoded) return refuseWith(res, decoded.status, decoded.reason);
    const { url } = decoded;
    const policy = routePolicy(method, decoded.path);
    const refusal = guard ? refuse({ method, target: req.url ?? '/', headers: req.headers }, policy, guard) : { status: 421 as const, reason: 'starting' };
    if (refusal) return refuseWith(res, refusal.status, refusal.reason);
    const body = () => readBody(req, policy.maxBody);
    try {
      if (req.method === 'GET' && url.pathname === '/health') {
        const parts = await options.health();
        const up = Object.values(parts).every(Boolean);
        return send(res, up ? 200 : 503, 'application/json', JSON.stringify({ status: up ? 'ok' : 'degraded', parts }));
      }
      const doc = /^\/policies\/([a-z0-9-]+)\/(v\d+)$/.exec(url.pathname);
      if (req.method === 'GET' && doc) {
        const policy = documents.get(`${doc[1]}/${doc[2]}`);
        if (!policy) return html(404, 'Policy not found', '<h1>Policy not found</h1><p>No such policy version is published here.</p>')(res);
        const markdown = readFileSync(join(REPO_ROOT, policy.document), 'utf8');
        return html(200, policy.title, await marked.parse(markdown))(res);
      }
      if (req.method === 'GET' && url.pathname === '/reports/compliance' && options.report) {
        const form = Object.fromEntries(['policy', 'version', 'school'].map((k) => [k, url.searchParams.get(k) || undefined]));
        const schools = reportSchools(config);
        const title = 'Compliance report';
        if (form.version !== undefined && !/^[1-9]\d{0,8}$/.test(form.version)) {
          return html(400, title, reportErrorBody('version must be a positive whole number', form, schools))(res);
        }
        // Ids are slugs (the Policy Updated contract): anything else is no policy or school of ours.
        for (const field of ['policy', 'school'] as const) {
          const value = form[field];
          if (value !== undefined && !/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(value)) {
            return html(400, title, reportErrorBody(`${field} must be an id such as use-of-social-media`, {}, schools))(res);
          }
        }
        try {
          const report = await options.report({ policyId: form.policy, version: form.version ? Number(form.version) : undefined, schoolId: form.school });
          return html(200, `${title}: ${report.title}`, complianceReportBody(report, form, schools))(res);
        } catch (error) {
          if (error instanceof ReportQueryError) return html(404, title, reportErrorBody(error.message, form, schools))(res);
          throw error;
        }
      }
      if (req.method === 'GET' && url.pathname === '/admin/functions') {
        return send(res, 200, 'application/json', JSON.stringify(options.functionStats()));
      }
      if (options.requestCounts && url.pathname === '/admin/requests') {
        return send(res, 200, 'application/json', JSON.stringify(options.requestCounts.get()));
      }
      if (options.requestCounts && req.method === 'POST' && url.pathname === '/admin/requests/reset') {
        options.requestCounts.reset();
        return send(res, 200, 'application/json', '{}');
      }
      if (options.injectSesEvent && req.method === 'POST' && url.pathname === '/admin/ses-events') {
        let input: unknown;
        try {
          input = JSON.parse(await body());
        } catch (error) {
          if (error instanceof BodyTooLarge) throw error;
          return send(res, 400, 'application/json', JSON.stringify({ error: 'the body must be an SES event as JSON' }));
        }
        try {
          return send(res, 202, 'application/json', JSON.stringify({ id: await options.injectSesEvent(input) }));
        } catch (error) {
          if (!(error instanceof ContractError)) throw error;
          return send(res, 400, 'application/json', JSON.stringify({ error: error.message, fields: error.fields }));
        }
      }
      if (req.method === 'POST' && url.pathname === '/admin/tick') {
        let input: { today?: unknown };
        try {
          const parsed: unknown = JSON.parse((await body()) || '{}');
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SyntaxError('not an object');
          input = parsed as { today?: unknown };
        } catch (error) {
          if (error instanceof BodyTooLarge) throw error;
          return send(res, 400, 'application/json', JSON.stringify({ error: 'the body must be a JSON object, e.g. {"today":"2026-12-01"}' }));
        }
        if (input.today !== undefined && (typeof input.today !== 'string' || !isCalendarDate(input.today))) {
          return send(res, 400, 'application/json', JSON.stringify({ error: 'today must be a calendar date in the form YYYY-MM-DD' }));
        }
        const fired = await options.tick(input.today as string | undefined);
        return send(res, 200, 'application/json', JSON.stringify({ fired }));
      }
      // The template's HTTP API routes (the acknowledgement links, the intake, the operator
      // console's `GET /` and `GET /{proxy+}`), after the local runtime's own pages above.
      const matched = options.httpApi ? matchRoute(options.httpApi.routes, method, url.pathname) : null;
      if (matched && options.httpApi) {
        const event = toHttpApiEvent(
          {
            method,
            path: url.pathname,
            query: url.search.slice(1),
            headers: req.headers,
            body: await body(),
            sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
          },
          matched.route,
          matched.pathParameters,
        );
        const result = (await options.httpApi.invoke(matched.route.functionArn, event)) ?? INTEGRATION_FAILURE;
        const responseBody = result.body ?? '';
        const setCookies = result.cookies?.length ? { 'Set-Cookie': result.cookies } : {};
        // Every answer carries the security headers, the function's own on top of them.
        res.writeHead(result.statusCode ?? 200, { ...SECURITY_HEADERS, ...(result.headers as Record<string, string>), ...setCookies, 'Content-Length': Buffer.byteLength(responseBody) });
        res.end(responseBody);
        return;
      }
      if (req.method === 'GET' && url.pathname === '/') {
        const links = config.policies
          .map((p) => `<li><a href="/policies/${p.policyId}/v${p.version}">${escapeHtml(p.title)}</a> (version ${p.version})</li>`)
          .join('');
        return html(200, config.trust.name, `<h1>${escapeHtml(config.trust.name)}: policy notifications</h1><h2>Policies</h2><ul>${links}</ul><p><a href="/health">Platform health</a></p>${options.report ? '<p><a href="/reports/compliance">Compliance report</a></p>' : ''}`)(res);
      }
      return html(404, 'Not found', '<h1>Not found</h1>')(res);
    } catch (error) {
      if (error instanceof BodyTooLarge) return refuseWith(res, 413, `the body is larger than this route takes (${policy.maxBody} bytes)`);
      // The route's template and a request id, never the path: an /ack/ path is a person's bearer link.
      options.log(`web: request ${requestId} to ${policy.template} failed: ${(error as Error).name}`);
      return html(500, 'Something went wrong', '<h1>Something went wrong</h1><p>Please try again later.</p>')(res);
    }
  });
  // Node's own answers to requests it cannot parse (headers too large: 431; anything else: 400)
  // carry the security headers too, and nothing of the request.
  // An Expect other than 100-continue: Node's own 417, with the security headers.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => refuseWith(res, 417, 'only Expect: 100-continue is supported'));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const text = `${status.slice(4)}\n`;
    const headers = Object.entries({ ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), Connection: 'close' })
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
    socket.end(`HTTP/1.1 ${status}\r\n${headers}\r\n\r\n${text}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  guard = guardContext(port, config.publicBaseUrl);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
