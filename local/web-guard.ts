/**
 * What the local web server refuses before it routes anything (local/web.ts). The server
 * listens on 127.0.0.1, but any web page the user visits can make the browser send it
 * requests, and DNS rebinding can make those look same-site; so:
 * - the `Host` must be this server's own address (127.0.0.1 or localhost with its port, or
 *   the host of the configured public base URL), else 421: a rebound name never reaches a page;
 * - a request that can change state (any method but GET and HEAD, and anything under
 *   `/admin/`) must come from this origin (`Origin`, `Sec-Fetch-Site`) or from no browser at
 *   all (the CLI sends neither), else 403;
 * - a body must have the content type its route declares (JSON for the intake and the admin
 *   routes, a form for the pages' forms), else 415, and fit the route's limit, else 413;
 * - a path that does not decode is a 400.
 * Each refusal is one line of text naming what was wrong, never echoing the request.
 */

export type BodyType = 'application/json' | 'application/x-www-form-urlencoded';

export interface RoutePolicy {
  /** The route as a template, for logs: never the request's own path (it may hold a token). */
  template: string;
  /** The content type a body must have (a request without a body needs none). */
  contentType?: BodyType;
  /** The largest body taken, in bytes. */
  maxBody: number;
}

export interface Refusal {
  status: 400 | 403 | 413 | 415 | 421;
  reason: string;
}

const KB = 1024;

/** The route's template and body rules, by method and (decoded) path. */
export function routePolicy(method: string, path: string): RoutePolicy {
  const writes = method !== 'GET' && method !== 'HEAD';
  if (path.startsWith('/admin/')) return { template: `${method} /admin/*`, contentType: 'application/json', maxBody: 64 * KB };
  // A breach report: 20,000 characters of narrative, JSON-escaped at worst, and the other fields.
  if (path === '/reports') return { template: `${method} /reports`, contentType: 'application/json', maxBody: 256 * KB };
  if (path.startsWith('/ack/')) return { template: `${method} /ack/{token}`, contentType: 'application/x-www-form-urlencoded', maxBody: 4 * KB };
  if (path.startsWith('/policies/')) return { template: `${method} /policies/{policyId}/{version}`, maxBody: 0 };
  if (path === '/health') return { template: `${method} /health`, maxBody: 0 };
  if (path === '/reports/compliance') return { template: `${method} /reports/compliance`, maxBody: 0 };
  return writes
    ? { template: `${method} /{proxy+}`, contentType: 'application/x-www-form-urlencoded', maxBody: 16 * KB }
    : { template: `${method} /{proxy+}`, maxBody: 0 };
}

export interface GuardInput {
  method: string;
  /** The raw request target (`req.url`). */
  target: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface GuardContext {
  /** `host:port` values this server answers to (lower case). */
  hosts: ReadonlySet<string>;
  /** Origins (`http://host:port`) whose pages may send state-changing requests. */
  origins: ReadonlySet<string>;
}

/** The hosts and origins of a server on 127.0.0.1:<port>, plus the configured public base URL's. */
export function guardContext(port: number, publicBaseUrl: string): GuardContext {
  const own = [`127.0.0.1:${port}`, `localhost:${port}`];
  const origins = own.map((h) => `http://${h}`);
  const pub = new URL(publicBaseUrl);
  return { hosts: new Set([...own, pub.host.toLowerCase()]), origins: new Set([...origins, pub.origin.toLowerCase()]) };
}

const one = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** The request's path, decoded, or a refusal. */
export function decodedPath(target: string): { path: string; url: URL } | Refusal {
  let url: URL;
  try {
    url = new URL(target, 'http://127.0.0.1');
  } catch {
    return { status: 400, reason: 'the request target is not a valid URL' };
  }
  try {
    return { path: decodeURIComponent(url.pathname), url };
  } catch {
    return { status: 400, reason: 'the path is not valid percent-encoded UTF-8' };
  }
}

/** Checks a request's host, origin, body size and content type against its route's policy. */
export function refuse(input: GuardInput, policy: RoutePolicy, context: GuardContext): Refusal | null {
  const host = one(input.headers.host)?.toLowerCase();
  if (!host || !context.hosts.has(host)) return { status: 421, reason: 'this server answers only to its own address (the Host header names another)' };
  // An absolute-form target (`GET http://host/path`) must name this server too.
  if (/^[a-z][a-z0-9+.-]*:/i.test(input.target)) {
    let authority: string;
    try {
      authority = new URL(input.target).host.toLowerCase();
    } catch {
      return { status: 400, reason: 'the request target is not a valid URL' };
    }
    if (!context.hosts.has(authority)) return { status: 421, reason: 'this server answers only to its own address (the request target names another)' };
  }

  const changesState = (input.method !== 'GET' && input.method !== 'HEAD') || policy.template.includes('/admin/');
  if (changesState) {
    // A browser's Fetch metadata decides when it is there: our own pages send `Origin: null`
    // with their forms (they are served with `Referrer-Policy: no-referrer`) but
    // `Sec-Fetch-Site: same-origin`. Without it (an older browser), the Origin must be ours;
    // without either, it is no browser (the CLI).
    const site = one(input.headers['sec-fetch-site']);
    const origin = one(input.headers.origin);
    if (site !== undefined) {
      if (site !== 'same-origin' && site !== 'none') return { status: 403, reason: 'cross-site requests may not change anything here' };
    } else if (origin !== undefined && !context.origins.has(origin.toLowerCase())) {
      return { status: 403, reason: 'requests from another origin may not change anything here' };
    }
  }

  const length = one(input.headers['content-length']);
  const chunked = /chunked/i.test(one(input.headers['transfer-encoding']) ?? '');
  const declared = length === undefined ? 0 : Number(length);
  if (!Number.isSafeInteger(declared) || declared < 0) return { status: 400, reason: 'Content-Length is not a number of bytes' };
  if (declared > policy.maxBody) return { status: 413, reason: `the body is larger than this route takes (${policy.maxBody} bytes)` };
  const hasBody = declared > 0 || chunked;
  if (hasBody) {
    if (!policy.contentType) return { status: 415, reason: 'this route takes no body' };
    const type = (one(input.headers['content-type']) ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== policy.contentType) return { status: 415, reason: `the body must be ${policy.contentType}` };
  }
  return null;
}
