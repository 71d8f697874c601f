/**
 * The platform as a process group, for the crash suite (test/crash/run.ts): `trust-notify
 * start` spawned detached (its own process group: node and DynamoDB Local's java), on free
 * ports, its data in one folder that survives every kill; SIGKILL to the whole group; a
 * restart on the same folder (never --reset) waits for readiness again.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Endpoints {
  bus: string;
  dynamodb: string;
  ses: string;
  sqs: string;
  web: string;
}

export interface RunningPlatform {
  pid: number;
  endpoints: Endpoints;
  /** ms from spawn to ready (endpoints.json written and /health 200). */
  readyMs: number;
  startedAt: number;
  logFile: string;
  exited: () => boolean;
}

export interface PlatformSetup {
  repoRoot: string;
  dataDir: string;
  configPath: string;
  smtpPort: number;
  /** Folder for each start's output (platform-<n>.log). */
  logDir: string;
  /** Preload that makes the local SES durable (ses-durable.ts); undefined: the stock emulator. */
  preload: string | undefined;
}

let starts = 0;

/** Processes of a process group that are still alive (zombies do not count), from /proc. */
export function groupMembers(pgid: number): number[] {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const alive: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') alive.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return alive;
}

export async function startPlatform(setup: PlatformSetup, deadlineMs = 240_000): Promise<RunningPlatform> {
  const n = ++starts;
  const logFile = join(setup.logDir, `platform-${n}.log`);
  const endpointsFile = join(setup.dataDir, 'endpoints.json');
  // A kill -9 leaves the previous run's endpoints.json behind (only a clean stop removes it):
  // remove it so that readiness means THIS start wrote it.
  rmSync(endpointsFile, { force: true });
  const out = openSync(logFile, 'a');
  const startedAt = Date.now();
  const args = [
    ...(setup.preload ? ['--import', pathToFileURL(setup.preload).href] : []),
    join(setup.repoRoot, 'bin', 'trust-notify.ts'),
    'start',
  ];
  const child = spawn(process.execPath, args, {
    cwd: setup.repoRoot,
    detached: true,
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      TPN_DATA_DIR: setup.dataDir,
      TRUST_CONFIG_PATH: setup.configPath,
      TPN_BUS_PORT: '0',
      TPN_DYNAMODB_PORT: '0',
      TPN_SES_PORT: '0',
      TPN_SQS_PORT: '0',
      TPN_WEB_PORT: '0',
      // aws-ses-v2-local (in the platform process) forwards every accepted email here.
      SMTP_TRANSPORT: JSON.stringify({ host: '127.0.0.1', port: setup.smtpPort, secure: false, ignoreTLS: true }),
    },
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error('could not spawn the platform');
  const pid = child.pid;
  let gone = false;
  child.once('exit', () => {
    gone = true;
  });
  child.unref();
  const deadline = startedAt + deadlineMs;
  let endpoints: Endpoints | undefined;
  for (;;) {
    if (gone) throw new Error(`the platform (start ${n}) exited before it was ready; see ${logFile}`);
    if (Date.now() > deadline) {
      killGroup(pid);
      throw new Error(`the platform (start ${n}) was not ready within ${deadlineMs / 1000} s; see ${logFile}`);
    }
    if (!endpoints && existsSync(endpointsFile)) {
      try {
        endpoints = JSON.parse(readFileSync(endpointsFile, 'utf8')) as Endpoints;
      } catch {
        // being written
      }
    }
    if (endpoints) {
      const health = await fetch(`${endpoints.web}/health`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
      if (health?.status === 200) break;
    }
    await sleep(100);
  }
  return { pid, endpoints, readyMs: Date.now() - startedAt, startedAt, logFile, exited: () => gone };
}

/** SIGKILL to the whole group (node, java, anything they started). */
export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Waits until no member of the group is alive (DynamoDB Local's files are free again). */
export async function waitGroupGone(pgid: number, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (groupMembers(pgid).length > 0) {
    if (Date.now() > deadline) throw new Error(`process group ${pgid} still has members ${deadlineMs / 1000} s after SIGKILL`);
    killGroup(pgid);
    await sleep(50);
  }
}
