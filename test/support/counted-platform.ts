/**
 * A second local platform (`trust-notify start --reset`) for one e2e file, with the counting
 * proxies on (`TPN_COUNT_REQUESTS=1`: `GET /admin/requests` gives the functions' DynamoDB,
 * SQS and SES calls by operation, local/request-counter.ts). The HTTP property suite
 * (test/e2e/http-property.test.ts) uses it so that its thousands of requests (schedules
 * ticked, SES bounces injected, cases opened) never change what the other e2e files see on
 * the shared platform (test/support/e2e-setup.ts), and so that their asynchronous work never
 * lands in its before/after counts.
 *
 * Same contract as the shared platform: free ports, a temporary data folder, ready when
 * `endpoints.json` exists and `GET /health` answers 200; `stop()` sends SIGINT, expects exit 0
 * and no process left that names the folder.
 */
import { join } from 'node:path';
import { type PlatformEndpoints, startPlatformProcess } from './platform-process.ts';

export interface CountedPlatform {
  endpoints: PlatformEndpoints;
  dataDir: string;
  workDir: string;
  /** The platform's stdout and stderr. */
  logFile: string;
  /** `<dataDir>/logs/functions.log`: every function's log lines. */
  functionsLog: string;
  readyMs: number;
  stop(): Promise<void>;
}

export async function startCountedPlatform(): Promise<CountedPlatform> {
  const platform = await startPlatformProcess('tpn-e2e-http', { TPN_COUNT_REQUESTS: '1', TPN_INJECT_FAULTS: '' });
  const { endpoints, dataDir, workDir, logFile, readyMs, stop } = platform;
  return { endpoints, dataDir, workDir, logFile, functionsLog: join(dataDir, 'logs', 'functions.log'), readyMs, stop };
}
