/**
 * Shared pieces of the fault injection suite (test/faults): a seeded PRNG (a failure
 * reproduces), the suite's tally and its summary, a check of what each test intended
 * (from its own input) against the SES store, and an SQS consumer loop that redelivers
 * failed messages at once (a visibility timeout of 0, so the real queue's receive count and
 * redrive policy apply without waiting).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBServiceException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, ScanCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { LedgerRepository, LedgerRow } from '../../functions/adapters/ledger-repository.ts';
import { sesStore, type StoredEmail } from '../support/ses-store.ts';

/** Park–Miller-style LCG: the same seed gives the same faults. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One email a test intended, from the test's own input (the emails it recorded, the people
 * it onboarded, the reports it filed), never from the ledger: an email the code under test
 * never recorded is still expected, and missing it counts as lost.
 */
export interface ExpectedEmail {
  /** The address a copy must reach. */
  to: string;
  /** Text the subject must contain (tells apart two kinds of email to one address). */
  subject?: string;
  /** A phrase (a whole word or words) the subject or body must contain, e.g. the new person's name in an induction notice. */
  mentions?: string;
  /**
   * Its ledger key, as the test's input names it. Used only to explain what the SES store
   * shows: whether a duplicate's row is flagged `possibleDuplicate`, whether a missing copy
   * was refused by SES with a recorded reason. Never to decide what was intended or delivered.
   */
  key?: string;
}

export interface FaultTally {
  fault: string;
  /** Emails the test's input says should reach someone. */
  intended: number;
  /** Intended emails with at least one copy in the SES store (the witness the code under test does not write). */
  delivered: number;
  /** Copies in the SES store that match the intended emails. */
  copies: number;
  /** Copies beyond one per intended email. */
  duplicated: number;
  /** Duplicates whose ledger row is not flagged `possibleDuplicate` (or has no row): must be 0. */
  unflaggedDuplicates: number;
  /** Intended with no copy, other than those SES refused with a recorded reason. */
  lost: number;
  /** Intended with no copy whose row SES refused with a recorded reason (`failed` with `lastError`). */
  failedWithReason: number;
  /** From the ledger, for the record: intended emails whose row is flagged `possibleDuplicate` (not all were really sent twice). */
  flaggedPossibleDuplicate: number;
  /** From the ledger, for the record: intended emails whose row is `abandoned` (outcome unknown twice). */
  abandoned: number;
}

export const suite = {
  faultsInjected: {} as Record<string, number>,
  perFault: [] as FaultTally[],
  rowsStored: { ledgerRows: 0, ackRequests: 0, receipts: 0, cases: 0 },
  deadLettered: {} as Record<string, number>,
};

/** Every expectation reconciled so far, with the copies counted then: re-checked at the end of the suite. */
const reconciled: { fault: string; expected: ExpectedEmail; copies: number }[] = [];

export function injected(kind: string, n = 1): void {
  suite.faultsInjected[kind] = (suite.faultsInjected[kind] ?? 0) + n;
}

export function deadLettered(where: string, n: number): void {
  suite.deadLettered[where] = (suite.deadLettered[where] ?? 0) + n;
}

const COUNTS = ['intended', 'delivered', 'copies', 'duplicated', 'unflaggedDuplicates', 'lost', 'failedWithReason', 'flaggedPossibleDuplicate', 'abandoned'] as const;

function line(t: Omit<FaultTally, 'fault'>): string {
  return `intended ${t.intended}, delivered ${t.delivered} (copies ${t.copies}), duplicated ${t.duplicated} (unflagged ${t.unflaggedDuplicates}), lost ${t.lost}, failed with reason ${t.failedWithReason}; ledger: flagged possibleDuplicate ${t.flaggedPossibleDuplicate}, abandoned ${t.abandoned}`;
}

/** Writes the summary to stderr and test-artifacts/faults-summary.json. */
export function writeSummary(): void {
  const totals = Object.fromEntries(COUNTS.map((c) => [c, suite.perFault.reduce((n, f) => n + f[c], 0)])) as Omit<FaultTally, 'fault'>;
  const summary = {
    generatedAt: new Date().toISOString(),
    ...suite,
    emails: {
      ...totals,
      method:
        "intended from each test's own input; delivered, copies and duplicates from the local SES server's store; the ledger only says whether a duplicate was flagged and why a missing email was refused",
    },
  };
  mkdirSync('test-artifacts', { recursive: true });
  writeFileSync('test-artifacts/faults-summary.json', `${JSON.stringify(summary, null, 2)}\n`);
  const lines = [
    '[faults] summary',
    `  faults injected: ${Object.entries(suite.faultsInjected)
      .map(([k, n]) => `${k}=${n}`)
      .join(', ')}`,
    `  emails (intended from the tests' inputs, delivered = copies in the SES store): ${line(totals)}`,
    ...suite.perFault.map((f) => `    ${f.fault}: ${line(f)}`),
    `  rows stored: ${Object.entries(suite.rowsStored)
      .map(([k, n]) => `${k}=${n}`)
      .join(', ')}`,
    `  dead-lettered: ${
      Object.entries(suite.deadLettered)
        .map(([k, n]) => `${k}=${n}`)
        .join(', ') || 'none'
    }`,
    '  written to test-artifacts/faults-summary.json',
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** Every row of the ledger table that `keep` accepts (a strongly consistent scan). */
export async function ledgerRowsWhere(db: DynamoDBDocumentClient, table: string, keep: (row: LedgerRow) => boolean): Promise<LedgerRow[]> {
  const rows: LedgerRow[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) if (keep(item as LedgerRow)) rows.push(item as LedgerRow);
    start = page.LastEvaluatedKey;
  } while (start);
  return rows;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether a stored copy is the email `expected` describes. */
export function matches(email: StoredEmail, expected: ExpectedEmail): boolean {
  if (!email.destination.to.includes(expected.to)) return false;
  if (expected.subject !== undefined && !email.subject.includes(expected.subject)) return false;
  if (expected.mentions !== undefined) {
    const phrase = new RegExp(`(?<![\\w])${escapeRegExp(expected.mentions)}(?![\\w])`);
    if (![email.subject, email.body.text ?? '', email.body.html ?? ''].some((text) => phrase.test(text))) return false;
  }
  return true;
}

const describeExpected = (e: ExpectedEmail) => [e.to, e.subject && `subject "${e.subject}"`, e.mentions && `mentioning "${e.mentions}"`].filter(Boolean).join(', ');

/**
 * Reconciles what a test intended (`intended`, from its own input) with the SES store:
 * each intended email's copies are the stored emails that match it; none is lost (unless
 * SES refused its row with a recorded reason: failed with reason), more than one is a
 * duplicate, which must be on a row flagged `possibleDuplicate`. A stored copy that matches
 * two intended emails makes the oracle ambiguous: that throws, so a test's expectations
 * must tell its emails apart. `ledger` is read only for the intended emails' own keys.
 */
export async function reconcile(
  fault: string,
  sesEndpoint: string,
  intended: readonly ExpectedEmail[],
  ledger: LedgerRepository,
): Promise<FaultTally & { byAddress: Map<string, number>; perEmail: { expected: ExpectedEmail; copies: number; row: LedgerRow | undefined }[] }> {
  const store = await sesStore(sesEndpoint);
  const keys = intended.flatMap((e) => (e.key ? [e.key] : []));
  const rows = keys.length > 0 ? await ledger.getMany(keys) : new Map<string, LedgerRow>();
  const claimedBy = new Map<string, number>();
  const perEmail = intended.map((expected, i) => {
    const mine = store.filter((email) => matches(email, expected));
    for (const email of mine) {
      const other = claimedBy.get(email.messageId);
      if (other !== undefined) throw new Error(`${fault}: a stored copy (${email.messageId}) matches two intended emails: ${describeExpected(intended[other] as ExpectedEmail)} and ${describeExpected(expected)}`);
      claimedBy.set(email.messageId, i);
    }
    return { expected, copies: mine.length, row: expected.key ? rows.get(expected.key) : undefined };
  });
  const refused = (row: LedgerRow | undefined) => row?.state === 'failed' && Boolean(row.lastError);
  const tally: FaultTally = {
    fault,
    intended: intended.length,
    delivered: perEmail.filter((e) => e.copies > 0).length,
    copies: perEmail.reduce((n, e) => n + e.copies, 0),
    duplicated: perEmail.reduce((n, e) => n + Math.max(0, e.copies - 1), 0),
    unflaggedDuplicates: perEmail.reduce((n, e) => n + (e.row?.possibleDuplicate ? 0 : Math.max(0, e.copies - 1)), 0),
    lost: perEmail.filter((e) => e.copies === 0 && !refused(e.row)).length,
    failedWithReason: perEmail.filter((e) => e.copies === 0 && refused(e.row)).length,
    flaggedPossibleDuplicate: perEmail.filter((e) => e.row?.possibleDuplicate).length,
    abandoned: perEmail.filter((e) => e.row?.state === 'abandoned').length,
  };
  suite.perFault.push(tally);
  suite.rowsStored.ledgerRows += rows.size;
  for (const e of perEmail) reconciled.push({ fault, expected: e.expected, copies: e.copies });
  const byAddress = new Map<string, number>();
  for (const e of perEmail) byAddress.set(e.expected.to, (byAddress.get(e.expected.to) ?? 0) + e.copies);
  return { ...tally, byAddress, perEmail };
}

/**
 * The whole suite's intended emails against the SES store once every fault has run: each
 * still has the copies its test counted (nothing later, a sweep or a redrive, sent it again),
 * and every copy stored to any address the suite intended to reach is one intended email's
 * copy, of one email only (nothing arrived that no test's input explains).
 */
export async function recheckSuite(sesEndpoint: string): Promise<{
  checked: number;
  changed: { fault: string; email: string; counted: number; stored: number }[];
  unexplained: { to: string; subject: string }[];
  ambiguous: { to: string; subject: string }[];
}> {
  const store = await sesStore(sesEndpoint);
  const changed = reconciled.flatMap(({ fault, expected, copies }) => {
    const now = store.filter((email) => matches(email, expected)).length;
    return now === copies ? [] : [{ fault, email: describeExpected(expected), counted: copies, stored: now }];
  });
  const addresses = new Set(reconciled.map((r) => r.expected.to));
  const unexplained: { to: string; subject: string }[] = [];
  const ambiguous: { to: string; subject: string }[] = [];
  for (const email of store) {
    const to = email.destination.to.find((a) => addresses.has(a));
    if (to === undefined) continue;
    const claims = reconciled.filter((r) => matches(email, r.expected)).length;
    if (claims === 0) unexplained.push({ to, subject: email.subject });
    if (claims > 1) ambiguous.push({ to, subject: email.subject });
  }
  return { checked: reconciled.length, changed, unexplained, ambiguous };
}

type UpdateInput = {
  Key?: Record<string, unknown>;
  UpdateExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
};

/** Whether an update sets the row's `state` to `sent` for one of `keys` (whatever its placeholders are called). */
function setsSent(update: UpdateInput | undefined, keys: ReadonlySet<string>): boolean {
  if (!update || !keys.has(String(update.Key?.pk))) return false;
  const names = Object.entries(update.ExpressionAttributeNames ?? {}).filter(([, name]) => name === 'state').map(([alias]) => alias);
  return ['state', ...names].some((name) => {
    const assigned = new RegExp(`(?:^|[\\s,])${escapeRegExp(name)}\\s*=\\s*(:\\w+)`).exec(update.UpdateExpression ?? '')?.[1];
    return assigned !== undefined && update.ExpressionAttributeValues?.[assigned] === 'sent';
  });
}

/**
 * A wrapped document client that always refuses the write marking one of `keys` `sent`:
 * an UpdateItem that sets its state to `sent` fails with a ValidationException (a client
 * error the SDK never retries); a TransactWriteItems holding such an update is cancelled
 * as DynamoDB cancels a transaction one of whose items is refused, with a reason per item.
 * Every other request goes to `inner` unchanged. DynamoDB Local cannot be made to refuse
 * one row's write, so this fault lives in the client. `onRefuse` is told of each refusal.
 */
export function refusingMarkSent(inner: DynamoDBDocumentClient, keys: ReadonlySet<string>, onRefuse: (operation: string) => void): DynamoDBDocumentClient {
  const send = async (command: unknown, ...rest: unknown[]): Promise<unknown> => {
    if (command instanceof UpdateCommand && setsSent(command.input as UpdateInput, keys)) {
      onRefuse('UpdateItem');
      throw new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'injected: this write is refused' });
    }
    if (command instanceof TransactWriteCommand) {
      const refused = (command.input.TransactItems ?? []).map((item) => setsSent(item.Update as UpdateInput | undefined, keys));
      if (refused.some(Boolean)) {
        onRefuse('TransactWriteItems');
        throw new TransactionCanceledException({
          message: 'injected: transaction cancelled',
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: refused.map((r) => (r ? { Code: 'ValidationError', Message: 'injected: this write is refused' } : { Code: 'None' })),
        });
      }
    }
    return (inner.send as (c: unknown, ...r: unknown[]) => Promise<unknown>).call(inner, command, ...rest);
  };
  return new Proxy(inner, { get: (target, property, receiver) => (property === 'send' ? send : Reflect.get(target, property, receiver)) });
}

export type SqsFn = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

/** Received messages as the event source mapping hands them to the function. */
function toRecords(messages: readonly Message[], queue: { arn: string }): SQSRecord[] {
  return messages.map((m) => ({
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
      SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: 'eu-west-2',
  }));
}

/** Runs `fn` on the records; the ids it failed (all of them if it threw). */
async function invoke(fn: SqsFn, records: SQSRecord[]): Promise<{ failed: Set<string>; threw: boolean }> {
  try {
    const response = await fn({ Records: records });
    return { failed: new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier)), threw: false };
  } catch {
    return { failed: new Set(records.map((r) => r.messageId)), threw: true };
  }
}

async function deleteMessages(sqs: SQSClient, url: string, records: readonly SQSRecord[]): Promise<void> {
  if (records.length === 0) return;
  await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: records.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })) }));
}

/**
 * Consumes a real queue as the event source mapping would, except that a failed message is
 * made visible again at once (ChangeMessageVisibility 0) instead of after the visibility
 * timeout. The queue's receive count and redrive policy are the real ones: a message that
 * keeps failing moves to the dead-letter queue. Returns handled and redelivered counts.
 */
export async function consumeWithRedelivery(
  sqs: SQSClient,
  queue: { url: string; arn: string },
  fn: SqsFn,
  { maxRounds = 300, pauseMs = 50 }: { maxRounds?: number; pauseMs?: number } = {},
): Promise<{ handled: number; redelivered: number }> {
  let handled = 0;
  let redelivered = 0;
  for (let round = 0; round < maxRounds; round++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return { handled, redelivered };
    const records = toRecords(messages, queue);
    const { failed } = await invoke(fn, records);
    const done = records.filter((r) => !failed.has(r.messageId));
    const again = records.filter((r) => failed.has(r.messageId));
    await deleteMessages(sqs, queue.url, done);
    if (again.length > 0) {
      redelivered += again.length;
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queue.url,
          Entries: again.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle, VisibilityTimeout: 0 })),
        }),
      );
      await sleep(pauseMs);
    }
    handled += done.length;
  }
  throw new Error(`the queue did not drain in ${maxRounds} rounds`);
}

/** One receive of a message by `consumeAsEventSource`: when (ms after the first receive), its receive count, what became of it. */
export interface ReceiveRecord {
  atMs: number;
  receiveCount: number;
  outcome: 'deleted' | 'handed back' | 'invocation failed';
}

/**
 * Consumes a real queue exactly as the event source mapping does: a message the function
 * hands back (a batch item failure), or every message of an invocation that threw or timed
 * out, is left alone and comes back only when the queue's own visibility timeout runs out;
 * the queue's redrive policy dead-letters it after maxReceiveCount. Polls every `pollMs`
 * until `done()` or `deadlineMs` after the first receive; returns every receive.
 */
export async function consumeAsEventSource(
  sqs: SQSClient,
  queue: { url: string; arn: string },
  fn: SqsFn,
  { done, deadlineMs, pollMs = 50 }: { done: (receives: readonly ReceiveRecord[]) => boolean; deadlineMs: number; pollMs?: number },
): Promise<ReceiveRecord[]> {
  const receives: ReceiveRecord[] = [];
  const started = Date.now();
  let first: number | undefined;
  while (!done(receives) && Date.now() - (first ?? started) < deadlineMs) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      await sleep(pollMs);
      continue;
    }
    const at = Date.now();
    first ??= at;
    const records = toRecords(messages, queue);
    const { failed, threw } = await invoke(fn, records);
    await deleteMessages(
      sqs,
      queue.url,
      records.filter((r) => !failed.has(r.messageId)),
    );
    for (const r of records) {
      receives.push({
        atMs: at - first,
        receiveCount: Number(r.attributes.ApproximateReceiveCount),
        outcome: threw ? 'invocation failed' : failed.has(r.messageId) ? 'handed back' : 'deleted',
      });
    }
  }
  return receives;
}

/** Receives everything waiting on a queue (and deletes it): a dead-letter queue's content. */
export async function receiveAll(sqs: SQSClient, url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) return bodies;
    bodies.push(...messages.map((m) => m.Body ?? ''));
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })) }));
  }
}
