/**
 * Counting proxies in front of the local AWS servers, for the benchmark and load tests
 * (`TPN_COUNT_REQUESTS=1`): the functions' SDK clients are pointed at these, which forward
 * every request unchanged and count it by service and operation (DynamoDB and SQS name it
 * in `X-Amz-Target`, SES v2 in its REST path), plus the destinations of SendBulkEmail calls.
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

export async function startCountingProxy(
  service: 'dynamodb' | 'sqs' | 'ses',
  target: string,
  counter: RequestCounter,
): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const op = operation(service, req.method ?? 'GET', req.url ?? '/', req.headers['x-amz-target'] as string | undefined);
      counter.add(`${service}:${op}`);
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
