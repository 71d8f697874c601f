/**
 * Local Lambda functions, with the semantics the template gives them:
 * - `invoke` (RequestResponse): runs the handler in a sandbox (a worker thread,
 *   local/lambda-worker.ts) that runs one invocation at a time, as Lambda's do; up to
 *   `maxSandboxes` run side by side and further invocations wait. A timed-out sandbox is
 *   terminated and replaced, as Lambda does. Used by the SQS event source and the web server.
 * - `invokeAsync` (Event): accepted at once; a function error is retried per the
 *   function's EventInvokeConfig (MaximumRetryAttempts, MaximumEventAgeInSeconds) and then
 *   sent to its on-failure destination as an invocation record in AWS's format. Locally the
 *   delay between retries is short (`asyncRetryDelayMs`), where AWS waits about 1 and 2
 *   minutes; the number of retries and the destination are the template's.
 * - `ReservedConcurrentExecutions: 0` throttles every invocation (the invoke is refused).
 * - With `asyncJournalDir`, asynchronous invocations are as durable as Lambda's own queue:
 *   each is journalled to `<asyncJournalDir>/<function name>/<id>.json` (written and fsynced
 *   before `invokeAsync` returns), its attempt count is updated as each attempt starts, and
 *   the file is removed once the invocation is over (it succeeded, or went to its on-failure
 *   destination, or was dropped). `resumeJournal()` runs those a killed process left: the
 *   attempt that was running counts as failed, as a crashed sandbox's does in AWS, so
 *   MaximumRetryAttempts and MaximumEventAgeInSeconds hold across restarts.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  type WriteStream,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { InvokeMessage, InvokeReply } from './lambda-worker.ts';

export interface LocalFunctionSpec {
  logicalId: string;
  name: string;
  arn: string;
  /** The module to import (a bundle in cdk.out, or a handler's source file). */
  modulePath: string;
  exportName: string;
  env: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  reservedConcurrency?: number;
  async: { maxRetries: number; maxEventAgeMs: number; onFailureArn?: string };
}

export type InvokeResult = { ok: true; result: unknown } | { ok: false; error: { errorType: string; errorMessage: string } };

export class ThrottledError extends Error {
  override name = 'TooManyRequestsException';
}

export interface RunnerDeps {
  /** Sends a message to a local queue by ARN (on-failure destinations). */
  sendToQueue: (arn: string, body: string) => Promise<void>;
  log: (line: string) => void;
  /** Where the functions' own output (their structured logs) goes. */
  logFile?: string;
  asyncRetryDelayMs: number;
  /** Sandboxes per function at most (Lambda's concurrency; each is a worker thread). Default 2. */
  maxSandboxes?: number;
  /** Where asynchronous invocations are journalled (a folder per function); none: in memory only. */
  asyncJournalDir?: string;
}

/** One asynchronous invocation, as journalled. */
interface AsyncInvocation {
  id: string;
  event: unknown;
  /** When it was accepted (epoch ms), for MaximumEventAgeInSeconds. */
  acceptedAt: number;
  /** Attempts started so far. */
  attempts: number;
}

/**
 * Replaces `file` with `text` through a temporary file and a rename, so that a kill leaves
 * the old or the new content, never a part; `durable`: fsyncs the file and its folder too,
 * so that the write also survives an operating-system crash. (The event bus's journal too.)
 */
export function writeJournalFile(file: string, text: string, durable: boolean): void {
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    writeSync(fd, text);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  if (!durable) return;
  try {
    const folder = openSync(dirname(file), 'r');
    try {
      fsyncSync(folder);
    } finally {
      closeSync(folder);
    }
  } catch {
    // Folders cannot be opened for fsync on every system (Windows); the file itself is synced.
  }
}

/** One sandbox runs one invocation at a time. */
interface Sandbox {
  worker: Worker;
  busy: boolean;
  /** The invocation it is running. */
  current?: number;
}

const WORKER = fileURLToPath(new URL('./lambda-worker.ts', import.meta.url));

export class LocalLambda {
  readonly spec: LocalFunctionSpec;
  private readonly deps: RunnerDeps;
  private sandboxes: Sandbox[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly maxSandboxes: number;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: InvokeReply) => void>();
  private readonly inflightAsync = new Set<Promise<void>>();
  private stopped = false;
  private output: WriteStream | undefined;
  /** Counts, for the platform's health and the tests. */
  readonly stats = { invocations: 0, errors: 0, timeouts: 0, asyncRetries: 0, sentToDestination: 0, resumed: 0 };
  /** This function's journal folder, if asynchronous invocations are journalled. */
  private readonly journal: string | undefined;
  /** The journal entries this process wrote (resumeJournal leaves them alone). */
  private readonly journalledHere = new Set<string>();
  private resumed = false;
  private journalFolderMade = false;

  constructor(spec: LocalFunctionSpec, deps: RunnerDeps) {
    this.spec = spec;
    this.deps = deps;
    this.maxSandboxes = Math.max(1, Math.min(spec.reservedConcurrency ?? deps.maxSandboxes ?? 2, deps.maxSandboxes ?? 2));
    this.journal = deps.asyncJournalDir === undefined ? undefined : join(deps.asyncJournalDir, spec.name);
  }

  /** Starts one sandbox: a worker thread with the function's environment. */
  private startSandbox(): Sandbox {
    const worker = new Worker(WORKER, {
      env: { ...this.spec.env },
      workerData: {
        modulePath: this.spec.modulePath,
        exportName: this.spec.exportName,
        functionName: this.spec.name,
        functionArn: this.spec.arn,
        memoryMb: this.spec.memoryMb,
        timeoutMs: this.spec.timeoutMs,
      },
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(128, this.spec.memoryMb) },
    });
    if (this.deps.logFile) {
      this.output ??= createWriteStream(this.deps.logFile, { flags: 'a' });
      worker.stdout.pipe(this.output, { end: false });
      worker.stderr.pipe(this.output, { end: false });
    } else {
      worker.stdout.resume();
      worker.stderr.resume();
    }
    const sandbox: Sandbox = { worker, busy: false };
    worker.on('message', (reply: InvokeReply) => {
      const resolve = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      resolve?.(reply);
    });
    const gone = (errorMessage: string) => {
      this.sandboxes = this.sandboxes.filter((s) => s !== sandbox);
      const current = sandbox.current;
      sandbox.current = undefined;
      if (current !== undefined) this.pending.get(current)?.({ id: current, ok: false, error: { errorType: 'Runtime.ExitError', errorMessage } });
      this.pending.delete(current ?? -1);
    };
    worker.on('error', (error) => gone(error.message));
    worker.on('exit', (code) => gone(`the sandbox exited with code ${code}`));
    this.sandboxes.push(sandbox);
    return sandbox;
  }

  /** An idle sandbox, a new one while under the concurrency limit, or a wait for one. */
  private async acquire(): Promise<Sandbox> {
    for (;;) {
      if (this.stopped) throw new Error(`${this.spec.name} is stopped`);
      const idle = this.sandboxes.find((s) => !s.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.sandboxes.length < this.maxSandboxes) {
        const fresh = this.startSandbox();
        fresh.busy = true;
        return fresh;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(sandbox: Sandbox) {
    sandbox.busy = false;
    this.waiting.shift()?.();
  }

  /** A synchronous (RequestResponse) invocation: one at a time per sandbox, as in Lambda. */
  invoke(event: unknown): Promise<InvokeResult> {
    return this.run(event);
  }

  /** Runs one invocation in a sandbox; `onStart` is called once it has one. */
  private async run(event: unknown, onStart?: () => void): Promise<InvokeResult> {
    if (this.stopped) throw new Error(`${this.spec.name} is stopped`);
    if (this.spec.reservedConcurrency === 0) throw new ThrottledError(`Rate Exceeded: ${this.spec.name} has no concurrency`);
    this.stats.invocations++;
    const sandbox = await this.acquire();
    try {
      onStart?.();
    } catch (error) {
      this.release(sandbox);
      throw error;
    }
    const id = this.nextId++;
    sandbox.current = id;
    const reply = await new Promise<InvokeReply>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        this.stats.timeouts++;
        this.deps.log(`${this.spec.name}: timed out after ${this.spec.timeoutMs} ms; its sandbox is replaced`);
        this.pending.delete(id);
        sandbox.current = undefined;
        resolve({ id, ok: false, error: { errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(this.spec.timeoutMs / 1000).toFixed(2)} seconds` } });
        void sandbox.worker.terminate();
      }, this.spec.timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      sandbox.worker.postMessage({ type: 'invoke', id, requestId: randomUUID(), event } satisfies InvokeMessage);
    });
    sandbox.current = undefined;
    this.release(sandbox);
    if (!reply.ok) this.stats.errors++;
    return reply.ok ? { ok: true, result: reply.result } : { ok: false, error: reply.error };
  }

  /**
   * An asynchronous (Event) invocation: throws only if the invoke itself is refused
   * (throttled), which the caller (the event bus) retries per the rule target's policy.
   * With a journal, the invocation is on disk (fsynced) when this returns.
   */
  invokeAsync(event: unknown): void {
    if (this.spec.reservedConcurrency === 0) throw new ThrottledError(`Rate Exceeded: ${this.spec.name} has no concurrency`);
    const invocation: AsyncInvocation = { id: randomUUID(), event, acceptedAt: Date.now(), attempts: 0 };
    if (this.journal !== undefined) {
      if (!this.journalFolderMade) mkdirSync(this.journal, { recursive: true });
      this.journalFolderMade = true;
      this.journalledHere.add(invocation.id);
      this.writeJournal(invocation, true);
    }
    this.startAsync(invocation);
  }

  /**
   * Runs again the asynchronous invocations a previous process journalled and did not
   * finish (it was killed), once, at start; returns how many. The attempt each was running
   * counts as failed, so one whose retries are used up goes to its on-failure destination.
   */
  resumeJournal(): number {
    if (this.journal === undefined || this.resumed) return 0;
    this.resumed = true;
    let names: string[];
    try {
      names = readdirSync(this.journal);
    } catch {
      return 0; // no folder: nothing was journalled
    }
    let count = 0;
    for (const name of names.sort()) {
      const file = join(this.journal, name);
      if (name.endsWith('.tmp')) {
        rmSync(file, { force: true }); // a write the kill interrupted; the file it was replacing, if any, is intact
        continue;
      }
      if (!name.endsWith('.json') || this.journalledHere.has(name.slice(0, -'.json'.length))) continue;
      let invocation: AsyncInvocation;
      try {
        invocation = JSON.parse(readFileSync(file, 'utf8')) as AsyncInvocation;
      } catch (error) {
        this.deps.log(`${this.spec.name}: unreadable async invocation journal ${file} left in place: ${(error as Error).message}`);
        continue;
      }
      this.journalledHere.add(invocation.id);
      this.stats.resumed++;
      count++;
      this.deps.log(
        `${this.spec.name}: resuming async invocation ${invocation.id} after a restart (${invocation.attempts} attempt(s) started before, counted as failed)`,
      );
      this.startAsync(invocation);
    }
    return count;
  }

  private journalFile(id: string): string {
    return join(this.journal ?? '', `${id}.json`);
  }

  private writeJournal(invocation: AsyncInvocation, durable: boolean): void {
    writeJournalFile(this.journalFile(invocation.id), JSON.stringify(invocation), durable);
  }

  private startAsync(invocation: AsyncInvocation): void {
    const run = this.runAsync(invocation)
      .then((finished) => {
        // Stopped before it finished: the entry stays for the next start.
        if (finished && this.journal !== undefined) {
          rmSync(this.journalFile(invocation.id), { force: true });
          this.journalledHere.delete(invocation.id);
        }
      })
      .catch((error: Error) => this.deps.log(`${this.spec.name}: async invocation ${invocation.id} failed in the runner: ${error.message}`))
      .finally(() => this.inflightAsync.delete(run));
    this.inflightAsync.add(run);
  }

  /** Runs an asynchronous invocation to its end; false if the function was stopped before that. */
  private async runAsync(invocation: AsyncInvocation): Promise<boolean> {
    const { event, acceptedAt: accepted } = invocation;
    const { maxRetries, maxEventAgeMs, onFailureArn } = this.spec.async;
    // Attempts a previous process started count as failed (resumeJournal).
    let attempt = invocation.attempts;
    let last: InvokeResult | undefined =
      attempt > 0 ? { ok: false, error: { errorType: 'Runtime.ExitError', errorMessage: 'the local platform stopped during the invocation' } } : undefined;
    for (;;) {
      if (this.stopped) return false;
      if (attempt > 0) {
        const tooOld = Date.now() - accepted > maxEventAgeMs;
        if (attempt > maxRetries || tooOld) break;
        if (last && !last.ok) {
          this.stats.asyncRetries++;
          this.deps.log(`${this.spec.name}: ${last.error.errorType}; retry ${attempt} of ${maxRetries}`);
          // After a restart the retry runs at once.
          if (attempt > invocation.attempts) await new Promise((resolve) => setTimeout(resolve, this.deps.asyncRetryDelayMs * attempt));
          if (this.stopped) return false;
        }
      }
      attempt++;
      const onStart =
        this.journal === undefined
          ? undefined
          : () => {
              // Not fsynced: this survives the process being killed, which is what it is for;
              // after an operating-system crash the attempt would merely not be counted.
              this.writeJournal({ ...invocation, attempts: attempt }, false);
            };
      last = await this.run(event, onStart).catch((error: Error) => ({
        ok: false as const,
        error: { errorType: error.name, errorMessage: error.message },
      }));
      if (last.ok) return true;
      if (this.stopped) return false;
    }
    const condition = Date.now() - accepted > maxEventAgeMs ? 'EventAgeExceeded' : 'RetriesExhausted';
    if (!onFailureArn) {
      this.deps.log(`${this.spec.name}: ${condition}; the function has no on-failure destination, so the event is dropped`);
      return true;
    }
    // The invocation record Lambda sends to an on-failure destination.
    const record = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: randomUUID(),
        functionArn: `${this.spec.arn}:$LATEST`,
        condition,
        approximateInvokeCount: attempt,
      },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: last && !last.ok ? last.error : undefined,
    };
    await this.deps.sendToQueue(onFailureArn, JSON.stringify(record));
    this.stats.sentToDestination++;
    this.deps.log(`${this.spec.name}: ${condition} after ${attempt} attempts; sent to its on-failure destination`);
    return true;
  }

  /** Waits for asynchronous invocations in flight (retries included). */
  async settle(): Promise<void> {
    while (this.inflightAsync.size > 0) await Promise.allSettled([...this.inflightAsync]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const sandboxes = this.sandboxes;
    this.sandboxes = [];
    await Promise.all(sandboxes.map((s) => s.worker.terminate()));
    for (const wake of this.waiting.splice(0)) wake();
    this.output?.end();
  }
}
