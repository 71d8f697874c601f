/**
 * Global setup of the e2e project: ONE local platform (`trust-notify start --reset`) for the
 * whole suite, as a child process on free ports (every port variable 0), with its data in a
 * temporary folder, short retry pauses and the wall-clock scheduler off. Ready means the
 * platform wrote `endpoints.json` and `GET /health` answers 200 (polled with a deadline).
 *
 * Teardown checks the contract "Ctrl-C stops every child process; nothing is left running":
 * SIGINT, the process must exit 0 within the deadline, and no process whose command line
 * names the temporary folder (DynamoDB Local's java does) may still be alive.
 *
 * The tests also use {@link runCli} from here, to run the CLI against this platform.
 */
import { spawn } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { CLI, type PlatformEndpoints, startPlatformProcess } from './platform-process.ts';

export { type PlatformEndpoints, processesMentioning } from './platform-process.ts';

export interface E2EContext {
  endpoints: PlatformEndpoints;
  /** The platform's TPN_DATA_DIR (endpoints.json, stack-outputs.json, logs/). */
  dataDir: string;
  /** A scratch folder for the tests' own files; removed with everything else. */
  workDir: string;
  pid: number;
  /** The platform's stdout and stderr. */
  logFile: string;
  readyMs: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: E2EContext;
  }
}

const log = (line: string) => process.stderr.write(`[e2e setup] ${line}\n`);

export default async function setup(project: TestProject) {
  const [major] = process.versions.node.split('.').map(Number);
  if ((major ?? 0) < 24) throw new Error(`the e2e tests need Node 24 (the project's devDependency); this is ${process.version}: run them through npm test / npx vitest`);
  const platform = await startPlatformProcess('tpn-e2e');
  const { endpoints, dataDir, workDir, pid, logFile, readyMs, root } = platform;
  log(`platform (pid ${pid}) ready in ${(readyMs / 1000).toFixed(1)} s: web ${endpoints.web}, bus ${endpoints.bus}`);
  project.provide('e2e', { endpoints, dataDir, workDir, pid, logFile, readyMs });

  return async () => {
    if (process.env.TPN_E2E_KEEP) log(`keeping ${root} (TPN_E2E_KEEP is set)`);
    await platform.stop();
    log('platform stopped cleanly on SIGINT; no process left running');
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `trust-notify <args>` (Node 24, like the tests) against the platform in `dataDir`. */
export function runCli(dataDir: string, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, TPN_DATA_DIR: dataDir };
  for (const name of ['TPN_BUS_PORT', 'TPN_DYNAMODB_PORT', 'TPN_SES_PORT', 'TPN_SQS_PORT', 'TPN_WEB_PORT']) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trust-notify ${args.join(' ')} did not finish within ${timeoutMs / 1000} s\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
