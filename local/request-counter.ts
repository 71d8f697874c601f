/**
 * Counting proxies in front of the local AWS servers, for the benchmark and load tests
 * (`TPN_COUNT_REQUESTS=1`): the functions' SDK clients are pointed at these, which forward
 * every request unchanged and count it by service and operation (DynamoDB and SQS name it
 * in `X-Amz-Target`, SES v2 in its REST path), plus the destinations of SendBulkEmail calls.
 *
 * Opt-in faults (`TPN_INJECT_FAULTS=ses:0.05,dynamodb:0.02`, for the load run): a proxy
 * answers that share of requests itself with the service's throttling error, before
 * forwarding anything (so nothing was done and a retry is safe), counted as `fault:<service>`.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

export class RequestCounter {
  private counts = new Map<string, number>();

  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  reset(): void {
    this.counts.clear();
  }
}

const SES_OPERATIONS: [RegExp, string][] = [
  [/^POST \/v2\/email\/outbound-bulk-emails/, 'SendBulkEmail'],
  [/^POST \/v2\/email\/outbound-emails/, 'SendEmail'],
  [/^POST \/v2\/email\/templates/, 'CreateEmailTemplate'],
];

function operation(service: string, method: string, path: string, target: string | undefined): string {
  if (target) return target.split('.').pop() ?? target;
  const line = `${method} ${path}`;
  return SES_OPERATIONS.find(([re]) => re.test(line))?.[1] ?? `${method} ${path.split('?')[0]}`;
}

export type FaultService = 'dynamodb' | 'sqs' | 'ses';
/** The share (0-1) of each service's requests to refuse with a throttling error. */
export type FaultRates = Partial<Record<FaultService, number>>;

/** Parses `ses:0.05,dynamodb:0.02` (TPN_INJECT_FAULTS); errors name the setting, not the value. */
export function parseFaultRates(text: string | undefined): FaultRates {
  const rates: FaultRates = {};
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const [service, rate] = part.split(':');
    const share = Number(rate);
    if ((service !== 'dynamodb' && service !== 'sqs' && service !== 'ses') || rate === undefined || !(share >= 0 && share <= 1)) {
      throw new Error('TPN_INJECT_FAULTS must be a list of <dynamodb|sqs|ses>:<share 0-1>, e.g. ses:0.05,dynamodb:0.02');
    }
    rates[service] = share;
  }
  return rates;
}

/** The service's own throttling answer, in its wire format. */
function throttled(service: FaultService): { status: number; headers: Record<string, string>; body: string } {
  if (service === 'ses') {
    return {
      status: 429,
      headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': 'TooManyRequestsException' },
      body: JSON.stringify({ message: 'Maximum sending rate exceeded.' }),
    };
  }
  if (service === 'dynamodb') {
    return {
      status: 400,
      headers: { 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        message: 'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
      }),
    };
  }
  return {
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': 'RequestThrottled;Sender' },
    body: JSON.stringify({ __type: 'com.amazonaws.sqs#RequestThrottled', message: 'Request is throttled.' }),
  };
}

export async function startCountingProxy(
  service: FaultService,
  target: string,
  counter: RequestCounter,
  faultRate = 0,
): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const op = operation(service, req.method ?? 'GET', req.url ?? '/', req.headers['x-amz-target'] as string | undefined);
      counter.add(`${service}:${op}`);
      // Refused before forwarding: the server never saw it (template set-up is left alone).
      if (faultRate > 0 && op !== 'CreateEmailTemplate' && Math.random() < faultRate) {
        counter.add(`fault:${service}`);
        const fault = throttled(service);
        res.writeHead(fault.status, fault.headers);
        res.end(fault.body);
        return;
      }
      if (service === 'ses' && op === 'SendBulkEmail') {
        try {
          counter.add('ses:destinations', (JSON.parse(body.toString('utf8')) as { BulkEmailEntries?: unknown[] }).BulkEmailEntries?.length ?? 0);
        } catch {
          // not JSON: counted as a call, no destinations
        }
      }
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
