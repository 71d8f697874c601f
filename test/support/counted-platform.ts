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
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { type PlatformEndpoints, processesMentioning } from './e2e-setup.ts';

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

const CLI = join(REPO_ROOT, 'bin', 'trust-notify.ts');
const START_DEADLINE_MS = 120_000;
const STOP_DEADLINE_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

async function until<T>(what: string, child: ChildProcess, deadline: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the platform exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}`);
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export async function startCountedPlatform(): Promise<CountedPlatform> {
  const root = mkdtempSync(join(tmpdir(), 'tpn-e2e-http-'));
  const dataDir = join(root, 'data');
  const workDir = join(root, 'work');
  const logFile = join(root, 'platform.log');
  mkdirSync(workDir);
  const out = openSync(logFile, 'a');
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, 'start', '--reset'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      TPN_BUS_PORT: '0',
      TPN_DYNAMODB_PORT: '0',
      TPN_SES_PORT: '0',
      TPN_SQS_PORT: '0',
      TPN_WEB_PORT: '0',
      TPN_DATA_DIR: dataDir,
      TPN_ASYNC_RETRY_DELAY_MS: '100',
      TPN_DELIVERY_RETRY_BASE_MS: '50',
      TPN_SCHEDULES: 'off',
      TPN_COUNT_REQUESTS: '1',
      TPN_INJECT_FAULTS: '',
    },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let endpoints: PlatformEndpoints;
  try {
    const deadline = started + START_DEADLINE_MS;
    const endpointsFile = join(dataDir, 'endpoints.json');
    endpoints = await until('endpoints.json', child, deadline, async () =>
      existsSync(endpointsFile) ? (JSON.parse(readFileSync(endpointsFile, 'utf8')) as PlatformEndpoints) : undefined,
    );
    await until('GET /health to answer 200', child, deadline, async () => {
      const response = await fetch(`${endpoints.web}/health`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      return response?.status === 200 ? true : undefined;
    });
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    const output = tail(logFile);
    rmSync(root, { recursive: true, force: true });
    throw new Error(`the counted platform did not become ready: ${(error as Error).message}\n--- its output (tail) ---\n${output}`);
  }

  const stop = async () => {
    const problems: string[] = [];
    child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), STOP_DEADLINE_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!stopped) {
      problems.push(`it did not exit within ${STOP_DEADLINE_MS / 1000} s of SIGINT`);
      child.kill('SIGKILL');
      await exited;
    } else if (child.exitCode !== 0) {
      problems.push(`it exited with ${child.exitCode ?? child.signalCode} after SIGINT, not 0`);
    }
    process.removeListener('exit', killOnExit);
    const deadline = Date.now() + STOP_DEADLINE_MS;
    let left = processesMentioning(root);
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(200);
      left = processesMentioning(root);
    }
    for (const [pid] of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (left.length > 0) problems.push(`processes still running after it stopped: ${left.map(([pid]) => pid).join(', ')}`);
    const output = tail(logFile);
    if (!process.env.TPN_E2E_KEEP) rmSync(root, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`the counted platform: ${problems.join('; ')}\n--- its output (tail) ---\n${output}`);
  };

  return { endpoints, dataDir, workDir, logFile, functionsLog: join(dataDir, 'logs', 'functions.log'), readyMs: Date.now() - started, stop };
}
