/**
 * API Gateway HTTP APIs, locally: routes read from the synthesized template
 * (`AWS::ApiGatewayV2::Route` → `AWS::ApiGatewayV2::Integration` → function), requests
 * turned into the payload-v2 event Lambda receives, and the function's structured result
 * written back. So the local web server serves `/ack/<token>` with the same function and
 * the same routes that deploy.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { resourcesOfType } from './cloud-template.ts';
import type { LocalResources } from './provision.ts';

export interface HttpRoute {
  routeKey: string;
  method: string;
  pattern: RegExp;
  params: string[];
  functionArn: string;
}

export function httpRoutesFromTemplate(resources: LocalResources): HttpRoute[] {
  const integrations = new Map(resourcesOfType(resources.template, 'AWS::ApiGatewayV2::Integration'));
  return resourcesOfType(resources.template, 'AWS::ApiGatewayV2::Route').map(([id, route]) => {
    const props = route.Properties ?? {};
    const routeKey = String(props.RouteKey);
    const [method = 'ANY', path = '/'] = routeKey.split(' ');
    const target = String(resources.resolve(props.Target ?? ''));
    const integrationId = target.startsWith('integrations/') ? target.slice('integrations/'.length) : '';
    const integration = integrations.get(integrationId);
    if (!integration) throw new Error(`route ${id} (${routeKey}) has no integration this runtime can find`);
    const params: string[] = [];
    const pattern = new RegExp(
      `^${path
        .split('/')
        .map((part) => {
          const param = /^\{([A-Za-z0-9_]+)\+?\}$/.exec(part);
          if (!param?.[1]) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
          params.push(param[1]);
          return part.endsWith('+}') ? '(.+)' : '([^/]+)';
        })
        .join('/')}$`,
    );
    return { routeKey, method, pattern, params, functionArn: String(resources.resolve(integration.Properties?.IntegrationUri)) };
  });
}

/**
 * The route API Gateway would choose: the most specific one (a route without a greedy
 * `{proxy+}` before one with it, then the one with fewer parameters), so `GET /ack/{token}`
 * wins over `GET /{proxy+}` whatever their order in the template.
 */
export function matchRoute(routes: readonly HttpRoute[], method: string, path: string) {
  const greedy = (r: HttpRoute) => (r.pattern.source.includes('(.+)') ? 1 : 0);
  const ordered = [...routes].sort((a, b) => greedy(a) - greedy(b) || a.params.length - b.params.length);
  for (const route of ordered) {
    if (route.method !== 'ANY' && route.method !== method) continue;
    const m = route.pattern.exec(path);
    if (!m) continue;
    const pathParameters = Object.fromEntries(route.params.map((name, i) => [name, decodeURIComponent(m[i + 1] ?? '')]));
    return { route, pathParameters };
  }
  return null;
}

export function toHttpApiEvent(
  request: { method: string; path: string; query: string; headers: IncomingHttpHeaders; body: string; sourceIp: string },
  route: HttpRoute,
  pathParameters: Record<string, string>,
): APIGatewayProxyEventV2 {
  // Payload v2 moves cookies out of the headers into `cookies` (one entry per cookie).
  const headers = Object.fromEntries(
    Object.entries(request.headers)
      .filter(([k]) => k.toLowerCase() !== 'cookie')
      .map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(',') : (v ?? '')]),
  );
  const cookieHeader = request.headers.cookie;
  const cookies = (Array.isArray(cookieHeader) ? cookieHeader.join(';') : (cookieHeader ?? ''))
    .split(';')
    .map((c) => c.trim())
    .filter(Boolean);
  const now = new Date();
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: request.path,
    rawQueryString: request.query,
    headers,
    ...(cookies.length > 0 ? { cookies } : {}),
    ...(request.query ? { queryStringParameters: Object.fromEntries(new URLSearchParams(request.query)) } : {}),
    ...(route.params.length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: crypto.randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(request.body ? { body: request.body } : {}),
    isBase64Encoded: false,
  };
}

/** API Gateway's answer when the function fails (it shows no detail either). */
export const INTEGRATION_FAILURE: APIGatewayProxyStructuredResultV2 = {
  statusCode: 500,
  headers: { 'Content-Type': 'application/json' },
  body: '{"message":"Internal Server Error"}',
};
