/**
 * Shared pieces of the fault injection suite (test/faults): a seeded PRNG (a failure
 * reproduces), the suite's tally and its summary, a check of ledger rows against the SES
 * store, and an SQS consumer loop that redelivers failed messages at once (a visibility
 * timeout of 0, so the real queue's receive count and redrive policy apply without waiting).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { LedgerRow } from '../../functions/adapters/ledger-repository.ts';
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

export interface FaultTally {
  fault: string;
  intended: number;
  sent: number;
  duplicated: number;
  /** Duplicates whose row is not flagged `possibleDuplicate`: must be 0. */
  unflaggedDuplicates: number;
  /** Rows flagged `possibleDuplicate` (resent after an unknown outcome; not all were really sent twice). */
  flaggedDuplicates: number;
  lost: number;
  failedWithReason: number;
}

export const suite = {
  faultsInjected: {} as Record<string, number>,
  perFault: [] as FaultTally[],
  rowsStored: { ledgerRows: 0, ackRequests: 0, receipts: 0, cases: 0 },
  deadLettered: {} as Record<string, number>,
};

export function injected(kind: string, n = 1): void {
  suite.faultsInjected[kind] = (suite.faultsInjected[kind] ?? 0) + n;
}

export function deadLettered(where: string, n: number): void {
  suite.deadLettered[where] = (suite.deadLettered[where] ?? 0) + n;
}

/** Writes the summary to stderr and test-artifacts/faults-summary.json. */
export function writeSummary(): void {
  const totals = suite.perFault.reduce(
    (t, f) => ({
      intended: t.intended + f.intended,
      sent: t.sent + f.sent,
      duplicated: t.duplicated + f.duplicated,
      unflaggedDuplicates: t.unflaggedDuplicates + f.unflaggedDuplicates,
      flaggedDuplicates: t.flaggedDuplicates + f.flaggedDuplicates,
      lost: t.lost + f.lost,
      failedWithReason: t.failedWithReason + f.failedWithReason,
    }),
    { intended: 0, sent: 0, duplicated: 0, unflaggedDuplicates: 0, flaggedDuplicates: 0, lost: 0, failedWithReason: 0 },
  );
  const summary = { generatedAt: new Date().toISOString(), ...suite, emails: totals };
  mkdirSync('test-artifacts', { recursive: true });
  writeFileSync('test-artifacts/faults-summary.json', `${JSON.stringify(summary, null, 2)}\n`);
  const lines = [
    '[faults] summary',
    `  faults injected: ${Object.entries(suite.faultsInjected)
      .map(([k, n]) => `${k}=${n}`)
      .join(', ')}`,
    `  emails: intended ${totals.intended}, sent ${totals.sent}, duplicated ${totals.duplicated} (unflagged ${totals.unflaggedDuplicates}), rows flagged possibleDuplicate ${totals.flaggedDuplicates}, lost ${totals.lost}, failed with reason ${totals.failedWithReason}`,
    ...suite.perFault.map(
      (f) => `    ${f.fault}: intended ${f.intended}, sent ${f.sent}, duplicated ${f.duplicated} (unflagged ${f.unflaggedDuplicates}), flagged ${f.flaggedDuplicates}, lost ${f.lost}, failed ${f.failedWithReason}`,
    ),
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

/**
 * Compares ledger rows with what the SES server stored, per recipient (copies that other
 * rows of `allRows` recorded are left out): a copy beyond the
 * rows `sent` to an address is a duplicate, a row with no copy is lost. Rows `failed`
 * (with their reason) are counted apart: they are neither sent nor lost.
 */
export async function reconcile(
  fault: string,
  sesEndpoint: string,
  rows: readonly LedgerRow[],
  allRows: readonly LedgerRow[],
): Promise<FaultTally & { copies: Map<string, number> }> {
  const addresses = new Set(rows.map((r) => r.recipient));
  const mineKeys = new Set(rows.map((r) => r.pk));
  // Copies recorded by other rows to the same addresses (other tests' emails) are not ours.
  const others = new Set(allRows.filter((r) => !mineKeys.has(r.pk) && r.messageId).map((r) => r.messageId));
  const stored: StoredEmail[] = (await sesStore(sesEndpoint)).filter((e) => addresses.has(e.destination.to[0] ?? '') && !others.has(e.messageId));
  const copies = new Map<string, number>();
  for (const e of stored) copies.set(e.destination.to[0] ?? '', (copies.get(e.destination.to[0] ?? '') ?? 0) + 1);
  const storedIds = new Set(stored.map((e) => e.messageId));
  let duplicated = 0;
  let unflaggedDuplicates = 0;
  let lost = 0;
  for (const address of addresses) {
    const mine = rows.filter((r) => r.recipient === address);
    const expected = mine.filter((r) => r.state === 'sent').length;
    // An email abandoned after its outcome was unknown twice (the crash window) may have reached SES.
    const unknown = mine.filter((r) => r.state === 'failed' && r.lastError === 'UNKNOWN_OUTCOME_TWICE').length;
    const n = copies.get(address) ?? 0;
    const extra = Math.max(0, n - expected - unknown);
    duplicated += extra;
    if (!mine.some((r) => r.possibleDuplicate)) unflaggedDuplicates += extra;
    lost += Math.max(0, expected - n);
  }
  for (const row of rows) if (row.state === 'sent' && !storedIds.has(row.messageId ?? '')) lost++;
  lost += rows.filter((r) => r.state === 'queued' || r.state === 'sending').length;
  const tally = {
    fault,
    intended: rows.length,
    sent: rows.filter((r) => r.state === 'sent').length,
    duplicated,
    unflaggedDuplicates,
    flaggedDuplicates: rows.filter((r) => r.possibleDuplicate).length,
    lost,
    failedWithReason: rows.filter((r) => r.state === 'failed' && r.lastError).length,
  };
  suite.perFault.push(tally);
  suite.rowsStored.ledgerRows += rows.length;
  return { ...tally, copies };
}

export type SqsFn = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

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
    const records: SQSRecord[] = messages.map((m) => ({
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
    let failed: Set<string>;
    try {
      const response = await fn({ Records: records });
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failed = new Set(records.map((r) => r.messageId));
    }
    const done = records.filter((r) => !failed.has(r.messageId));
    const again = records.filter((r) => failed.has(r.messageId));
    if (done.length > 0) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queue.url, Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })) }));
    }
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
