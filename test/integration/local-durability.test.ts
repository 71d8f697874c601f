// Local durability where it matters (issue #11): what the local platform has accepted
// survives a kill -9, as it does in AWS. Each test runs a child process (test/support/),
// kills its whole process group with SIGKILL at a chosen moment, and starts again on the
// same data folder:
// - SQS (local/servers.ts with `sqsDataDir`): queues keep their URLs, ARNs and redrive
//   policy; messages come back, the one in flight after its visibility timeout with its
//   receive count kept, so maxReceiveCount still moves it to the dead-letter queue.
// - Async invocations and accepted events (local/lambda-runner.ts, local/event-bus.ts): an
//   invocation killed mid-run runs again to completion; one whose retries are used up goes
//   to its on-failure destination; an event answered 200 but not yet routed is delivered.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type LocalServers, startLocalServers } from '../../local/servers.ts';
import { DLQ_ATTRIBUTES, QUEUE_ATTRIBUTES, type SqsChildReport } from '../support/local-sqs-durability-child.ts';
import { eventually } from '../support/poll.ts';

const SUPPORT = fileURLToPath(new URL('../support/', import.meta.url));
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const root = mkdtempSync(join(tmpdir(), 'tpn-durability-'));
const children: ChildProcess[] = [];

afterEach(() => {
  // A test that failed half way must not leave its child (or DynamoDB Local) running.
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) killGroup(child);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs a support script as the leader of its own process group, collecting its stderr. */
function startChild(script: string, env: Record<string, string>): { child: ChildProcess; lines: AsyncIterator<string>; stderr: () => string } {
  const child = spawn(process.execPath, [join(SUPPORT, script)], {
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return { child, lines, stderr: () => stderr };
}

/** The child's next line of output, or a failure with its stderr if it exits first. */
async function nextLine(started: ReturnType<typeof startChild>, timeoutMs = 60_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`no output within ${timeoutMs} ms; stderr:\n${started.stderr()}`)), timeoutMs);
  });
  try {
    const next = await Promise.race([started.lines.next(), timeout]);
    if (next.done) throw new Error(`the child exited (${started.child.exitCode ?? started.child.signalCode}); stderr:\n${started.stderr()}`);
    return next.value;
  } finally {
    clearTimeout(timer);
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** SIGKILL to the child's whole process group (DynamoDB Local's java too); waits for the exit. */
async function killAndWait(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  killGroup(child);
  await exited;
  expect(child.signalCode).toBe('SIGKILL');
  // Nothing of the group is left (the group id is the child's pid).
  await eventually(
    async () => {
      try {
        process.kill(-(child.pid as number), 0);
        return undefined;
      } catch {
        return true;
      }
    },
    { timeoutMs: 10_000, what: 'the killed process group to be gone' },
  );
}

describe('SQS persisted in a data folder (startLocalServers with sqsDataDir)', () => {
  let servers: LocalServers | undefined;
  afterAll(async () => {
    await servers?.stop();
  });

  it('keeps queues and messages through a kill -9: the in-flight one returns after its visibility timeout with its receive count', async () => {
    const sqsDataDir = join(root, 'sqs');
    const visibilityS = 10;
    const first = startChild('local-sqs-durability-child.ts', { DURABILITY_SQS_DIR: sqsDataDir, DURABILITY_VISIBILITY_S: String(visibilityS) });
    const before = JSON.parse(await nextLine(first)) as SqsChildReport;
    expect(before.inFlight.body).toBe('message 0');
    await killAndWait(first.child);

    // Started again on the same folder (and port), in this process.
    servers = await startLocalServers({ sqsDataDir, sqsPort: Number(new URL(before.sqs).port) });
    const sqs = new SQSClient({ endpoint: servers.endpoints.sqs, region: 'eu-west-2', credentials, useQueueUrlAsEndpoint: false });

    // Provisioning again is idempotent and gives the same URLs, ARNs and redrive policy.
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'durable', Attributes: QUEUE_ATTRIBUTES }));
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: 'durable-dlq', Attributes: DLQ_ATTRIBUTES }));
    expect([queue.QueueUrl, dlq.QueueUrl]).toEqual([before.queueUrl, before.dlqUrl]);
    const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: before.queueUrl, AttributeNames: ['All'] }))).Attributes ?? {};
    expect(attributes.QueueArn).toBe(before.queueArn);
    expect(JSON.parse(attributes.RedrivePolicy ?? '{}')).toEqual({ deadLetterTargetArn: before.dlqArn, maxReceiveCount: 2 });

    // The four never received are there; the one received before the kill is still in flight.
    if (Date.now() < before.inFlight.receivedAt + visibilityS * 1000 - 2_000) {
      expect([attributes.ApproximateNumberOfMessages, attributes.ApproximateNumberOfMessagesNotVisible]).toEqual(['4', '1']);
    }
    const visible = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: before.queueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
    );
    expect((visible.Messages ?? []).map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount]).sort()).toEqual(
      before.sent.slice(1).map((body) => [body, '1']),
    );
    for (const message of visible.Messages ?? []) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: before.queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }

    // After its visibility timeout: the in-flight one, received for the second time.
    await sleep(Math.max(0, before.inFlight.receivedAt + visibilityS * 1000 - Date.now()));
    const again = await eventually(
      async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: before.queueUrl, VisibilityTimeout: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
        );
        return out.Messages?.[0];
      },
      { timeoutMs: 5_000, what: 'the in-flight message to come back' },
    );
    expect([again.MessageId, again.Body, again.Attributes?.ApproximateReceiveCount]).toEqual([before.inFlight.messageId, 'message 0', '2']);

    // Its third receive is over maxReceiveCount 2: it moves to the DLQ (a count restarted at
    // the kill would have let it through once more).
    await sleep(1_100);
    const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl: before.queueUrl }));
    expect(third.Messages ?? []).toEqual([]);
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: before.dlqUrl, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    expect(dead.Messages?.map((m) => m.Body)).toEqual(['message 0']);

    // Made visible again at once (as `redrive` does): fauxqs 2.4.1's own persistence threw
    // here and lost the message (servers.ts mends it); the receive count is kept.
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: before.dlqUrl, ReceiptHandle: dead.Messages?.[0]?.ReceiptHandle, VisibilityTimeout: 0 }));
    const redelivered = await sqs.send(new ReceiveMessageCommand({ QueueUrl: before.dlqUrl, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    expect(redelivered.Messages?.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([
      ['message 0', String(Number(dead.Messages?.[0]?.Attributes?.ApproximateReceiveCount) + 1)],
    ]);
    sqs.destroy();
  });
});

describe('async invocations and accepted events through a kill -9 (journals in a data folder)', () => {
  const markerLines = (dir: string, fn: string) => {
    const file = join(dir, 'markers', `${fn}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
  };
  const filesIn = (folder: string) => (existsSync(folder) ? readdirSync(folder) : []);

  it('runs a killed invocation again, sends one out of retries to its destination, and routes an event accepted but not routed', async () => {
    const dir = join(root, 'async');
    const first = startChild('local-durability-child.ts', { DURABILITY_DIR: dir, DURABILITY_PHASE: 'first' });
    const { bus } = JSON.parse(await nextLine(first)) as { bus: string };
    const eventBridge = new EventBridgeClient({ endpoint: bus, region: 'eu-west-2', credentials });
    const entry = (detail: Record<string, unknown>) => ({ EventBusName: 'trust-events', Source: 'test.durability', DetailType: 'Durability', Detail: JSON.stringify(detail) });
    const out = await eventBridge.send(
      new PutEventsCommand({
        Entries: [entry({ function: 'slow-ok' }), entry({ function: 'no-retry' }), entry({ function: 'slow-ok', hold: true })],
      }),
    );
    eventBridge.destroy();
    expect(out.FailedEntryCount).toBe(0);
    const [runs, outOfRetries, held] = (out.Entries ?? []).map((e) => e.EventId ?? '');

    // Killed while both invocations run (their handlers never finish in the first run) and
    // while the third event is accepted but not routed.
    await eventually(
      async () => (markerLines(dir, 'slow-ok').length === 1 && markerLines(dir, 'no-retry').length === 1 ? true : undefined),
      { timeoutMs: 30_000, what: 'both invocations to start' },
    );
    expect(filesIn(join(dir, 'async', 'slow-ok'))).toHaveLength(1);
    expect(filesIn(join(dir, 'async', 'no-retry'))).toHaveLength(1);
    const busJournal = filesIn(join(dir, 'accepted-events'));
    expect(busJournal).toHaveLength(1);
    // The bus's entry holds only the event not yet routed.
    const pendingEvents = JSON.parse(readFileSync(join(dir, 'accepted-events', busJournal[0] ?? ''), 'utf8')) as { event: { id: string } }[];
    expect(pendingEvents.map((p) => p.event.id)).toEqual([held]);
    await killAndWait(first.child);

    const restart = startChild('local-durability-child.ts', { DURABILITY_DIR: dir, DURABILITY_PHASE: 'restart' });
    await nextLine(restart);
    expect(await nextLine(restart)).toBe('settled');

    // slow-ok: the killed invocation ran again and finished; the held event was delivered once.
    expect(markerLines(dir, 'slow-ok').sort()).toEqual(
      [`start ${runs} first`, `start ${runs} restart`, `done ${runs}`, `start ${held} restart`, `done ${held}`].sort(),
    );
    // no-retry (MaximumRetryAttempts 0): the killed attempt was its only one, so it went to
    // its on-failure destination without running again.
    expect(markerLines(dir, 'no-retry')).toEqual([`start ${outOfRetries} first`]);
    const destination = readFileSync(join(dir, 'destination.jsonl'), 'utf8').trim().split('\n');
    expect(destination).toHaveLength(1);
    const record = JSON.parse((JSON.parse(destination[0] ?? '{}') as { body: string }).body) as {
      requestContext: { condition: string; approximateInvokeCount: number };
      requestPayload: { id: string };
    };
    expect(record.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 1 });
    expect(record.requestPayload.id).toBe(outOfRetries);
    // Every journal is empty once everything finished.
    expect([filesIn(join(dir, 'async', 'slow-ok')), filesIn(join(dir, 'async', 'no-retry')), filesIn(join(dir, 'accepted-events'))]).toEqual([[], [], []]);
  });
});
