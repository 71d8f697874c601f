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
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
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
  readonly stats = { invocations: 0, errors: 0, timeouts: 0, asyncRetries: 0, sentToDestination: 0 };

  constructor(spec: LocalFunctionSpec, deps: RunnerDeps) {
    this.spec = spec;
    this.deps = deps;
    this.maxSandboxes = Math.max(1, Math.min(spec.reservedConcurrency ?? deps.maxSandboxes ?? 2, deps.maxSandboxes ?? 2));
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
  async invoke(event: unknown): Promise<InvokeResult> {
    if (this.stopped) throw new Error(`${this.spec.name} is stopped`);
    if (this.spec.reservedConcurrency === 0) throw new ThrottledError(`Rate Exceeded: ${this.spec.name} has no concurrency`);
    this.stats.invocations++;
    const sandbox = await this.acquire();
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
   */
  invokeAsync(event: unknown): void {
    if (this.spec.reservedConcurrency === 0) throw new ThrottledError(`Rate Exceeded: ${this.spec.name} has no concurrency`);
    const run = this.runAsync(event).finally(() => this.inflightAsync.delete(run));
    this.inflightAsync.add(run);
  }

  private async runAsync(event: unknown): Promise<void> {
    const accepted = Date.now();
    const { maxRetries, maxEventAgeMs, onFailureArn } = this.spec.async;
    let attempt = 0;
    let last: InvokeResult | undefined;
    for (;;) {
      if (this.stopped) return;
      attempt++;
      last = await this.invoke(event).catch((error: Error) => ({
        ok: false as const,
        error: { errorType: error.name, errorMessage: error.message },
      }));
      if (last.ok) return;
      const tooOld = Date.now() - accepted > maxEventAgeMs;
      if (attempt > maxRetries || tooOld) break;
      this.stats.asyncRetries++;
      this.deps.log(`${this.spec.name}: ${last.error.errorType}; retry ${attempt} of ${maxRetries}`);
      await new Promise((resolve) => setTimeout(resolve, this.deps.asyncRetryDelayMs * attempt));
    }
    const condition = Date.now() - accepted > maxEventAgeMs ? 'EventAgeExceeded' : 'RetriesExhausted';
    if (!onFailureArn) {
      this.deps.log(`${this.spec.name}: ${condition}; the function has no on-failure destination, so the event is dropped`);
      return;
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
