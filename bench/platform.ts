/**
 * What the benchmarks share (bench/fanout.ts, bench/load.ts): the environment that runs the
 * local platform as a child on free ports with its requests counted, starting it and waiting
 * for its endpoints, stopping it, and the memory of its process tree.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';

export const CLI = join(REPO_ROOT, 'bin', 'trust-notify.ts');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The platform on free ports, with its data in `dataDir`, no wall-clock schedules, requests counted. */
export function benchEnv(dataDir: string, configPath: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TPN_DATA_DIR: dataDir,
    TRUST_CONFIG_PATH: configPath,
    TPN_BUS_PORT: '0',
    TPN_DYNAMODB_PORT: '0',
    TPN_SES_PORT: '0',
    TPN_SQS_PORT: '0',
    TPN_WEB_PORT: '0',
    TPN_SCHEDULES: 'off',
    TPN_COUNT_REQUESTS: '1',
    ...extra,
  };
}

export interface BenchPlatform {
  child: ChildProcess;
  urls: Record<string, string>;
  /** The platform's stderr so far (its log). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `trust-notify start` as a child and waits (up to 2 minutes) for its endpoints.json. */
export async function startBenchPlatform(env: NodeJS.ProcessEnv, dataDir: string): Promise<BenchPlatform> {
  const child = spawn(process.execPath, [CLI, 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  };
  const endpointsFile = join(dataDir, 'endpoints.json');
  const readyBy = Date.now() + 120_000;
  while (!existsSync(endpointsFile)) {
    if (Date.now() > readyBy || child.exitCode !== null) {
      await stop();
      throw new Error(`the platform did not start:\n${err.slice(-2000)}`);
    }
    await sleep(200);
  }
  const urls = JSON.parse(readFileSync(endpointsFile, 'utf8')) as Record<string, string>;
  return { child, urls, stderr: () => err, stop };
}

/** RSS in bytes of a process and all its descendants (Linux /proc). */
export function treeRss(pid: number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      if (children) stack.push(...children.split(/\s+/).map(Number));
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

/** Prints `[label, value]` rows as an aligned two-column table on stdout. */
export function printTable(rows: [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}
