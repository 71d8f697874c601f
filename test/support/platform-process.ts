/**
 * The local platform (`trust-notify start --reset`) as a child process for tests: free ports
 * (every port variable 0), data in a temporary folder, short retry pauses, the wall-clock
 * scheduler off. Ready means it wrote `endpoints.json` and `GET /health` answers 200 (polled
 * with a deadline). `stop()` checks the contract "Ctrl-C stops every child process; nothing
 * is left running": SIGINT, exit 0 within the deadline, and no process whose command line
 * names the temporary folder (DynamoDB Local's java does) still alive.
 *
 * Used by the e2e global setup (the shared platform, test/support/e2e-setup.ts) and by
 * files that need a platform of their own (test/support/counted-platform.ts).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../functions/config/load-trust-config.ts';

export interface PlatformEndpoints {
  bus: string;
  dynamodb: string;
  ses: string;
  sesViewer: string;
  sqs: string;
  web: string;
}

export interface PlatformProcess {
  endpoints: PlatformEndpoints;
  root: string;
  /** The platform's TPN_DATA_DIR (endpoints.json, stack-outputs.json, logs/). */
  dataDir: string;
  /** A scratch folder for the tests' own files; removed with everything else. */
  workDir: string;
  pid: number;
  /** The platform's stdout and stderr. */
  logFile: string;
  readyMs: number;
  /** SIGINT, then the checks above; throws naming what was wrong, with the output's tail. */
  stop(): Promise<void>;
}

export const CLI = join(REPO_ROOT, 'bin', 'trust-notify.ts');
const START_DEADLINE_MS = 120_000;
const STOP_DEADLINE_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** Polls `probe` until it returns a value, the child exits, or the deadline passes. */
async function until<T>(what: string, child: ChildProcess, deadline: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the platform exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}`);
    }
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${START_DEADLINE_MS / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

/** Processes (other than this one) whose command line contains `needle`: [pid, command line]. */
export function processesMentioning(needle: string): [number, string][] {
  if (existsSync('/proc/self/cmdline')) {
    const found: [number, string][] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      let args: string;
      try {
        args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      } catch {
        continue; // it exited while we looked
      }
      if (args.includes(needle)) found.push([Number(entry), args]);
    }
    return found;
  }
  return execFileSync('ps', ['-ww', '-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
    .flatMap((m) => (m?.[1] && m[2] !== undefined && Number(m[1]) !== process.pid && m[2].includes(needle) ? [[Number(m[1]), m[2]] as [number, string]] : []));
}

/** Starts the platform; `env` adds to (or overrides) the defaults above. `name` prefixes the temporary folder and errors. */
export async function startPlatformProcess(name: string, env: Record<string, string> = {}): Promise<PlatformProcess> {
  const root = mkdtempSync(join(tmpdir(), `${name}-`));
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
      ...env,
    },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If the test runner itself dies, do not leave the platform behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  if (child.pid === undefined) throw new Error(`${name}: could not start the platform process`);
  const pid = child.pid;

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
    throw new Error(`${name}: the local platform did not become ready: ${(error as Error).message}\n--- its output (tail) ---\n${output}`);
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
      problems.push(`the platform did not exit within ${STOP_DEADLINE_MS / 1000} s of SIGINT`);
      child.kill('SIGKILL');
      await exited;
    } else if (child.exitCode !== 0) {
      problems.push(`the platform exited with ${child.exitCode ?? child.signalCode} after SIGINT, not 0`);
    }
    process.removeListener('exit', killOnExit);
    // DynamoDB Local's launcher exits when its stdin closes, so give it the same deadline.
    const stopDeadline = Date.now() + STOP_DEADLINE_MS;
    let left = processesMentioning(root);
    while (left.length > 0 && Date.now() < stopDeadline) {
      await sleep(200);
      left = processesMentioning(root);
    }
    if (left.length > 0) {
      problems.push(`processes still running after the platform stopped:\n${left.map(([p, args]) => `  ${p} ${args.slice(0, 200)}`).join('\n')}`);
      for (const [p] of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    const output = tail(logFile);
    if (!process.env.TPN_E2E_KEEP) rmSync(root, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`${name} teardown: ${problems.join('; ')}\n--- platform output (tail) ---\n${output}`);
  };

  return { endpoints, root, dataDir, workDir, pid, logFile, readyMs: Date.now() - started, stop };
}
