/**
 * The ledger sweeper against the real local servers (DynamoDB Local, fauxqs, aws-ses-v2-local):
 * rows a crashed sender or a lost message left owed are found through the sparse `owed`
 * index, put back on the email queue and sent by the real email sender; an abandoned row is
 * never sent again by a redelivery, a redrive or a sweep, until an operator resolves it.
 * Everyone a policy applies to is asked, once (§1f, §4a.ii).
 *
 * The oracle is the test's own list of keys and addresses and what the SES server stored,
 * never the ledger's own counts.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { EmailQueue } from '../../functions/adapters/email-queue.ts';
import { FanoutQueue } from '../../functions/adapters/fanout-queue.ts';
import { FanoutRepository } from '../../functions/adapters/fanout-repository.ts';
import { LedgerRepository, OWED_INDEX, OWED_SHARDS } from '../../functions/adapters/ledger-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { deliveryTimings, type IntendedEmail } from '../../functions/domain/emails.ts';
import { sweepOwed } from '../../functions/services/sweep-owed.ts';
import { testReceiptEmails } from '../support/fixtures.ts';
import { sesStore } from '../support/ses-store.ts';
import { drainThroughSender, loadEmailSender, localClients, one, type SqsHandler } from '../support/integration.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { db, sqs } = localClients(ctx);
const ledgerTable = one(ctx.tables, 'LedgerTable');
const dataTable = one(ctx.tables, 'DataTable');
const emailQueue = one(ctx.queues, 'EmailQueue');
const fanoutQueueRef = Object.entries(ctx.queues).find(([id]) => id.includes('PolicyFanoutQueue'))?.[1];
const ledger = new LedgerRepository(db, ledgerTable);
const fanouts = new FanoutRepository(db, dataTable);
const run = `sweep-${Date.now().toString(36)}`;
const timings = deliveryTimings(config);
const MIN = 60_000;

function receipt(i: number, group: string): IntendedEmail {
  const [email] = testReceiptEmails(`${run}.${group}`, i + 1, config).slice(i);
  if (!email) throw new Error('no email');
  return { ...email, key: `${run}#${group}#${i}` };
}

/** Ledger keys in the messages on the email queue (received, then left to reappear). */
async function queuedKeys(): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < 20; i++) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emailQueue.url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) break;
    for (const m of messages) keys.push(...(JSON.parse(m.Body ?? '{}') as { ledgerKeys: string[] }).ledgerKeys);
    if (keys.length > 0 && messages.length < 10) break;
  }
  return [...new Set(keys)];
}

async function owedKeys(): Promise<Set<string>> {
  const keys = new Set<string>();
  for (let shard = 0; shard < OWED_SHARDS; shard++) {
    const out = await db.send(
      new QueryCommand({ TableName: ledgerTable, IndexName: OWED_INDEX, KeyConditionExpression: 'owedShard = :s', ExpressionAttributeValues: { ':s': `OWED#${shard}` } }),
    );
    for (const item of out.Items ?? []) if (String(item.pk).startsWith(run)) keys.add(String(item.pk));
  }
  return keys;
}

async function delivered(group: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const email of await sesStore(ctx.endpoints.ses)) {
    for (const to of email.destination.to) if (to.startsWith(`${run}.${group}.`)) counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}

const sweep = (now: Date) =>
  sweepOwed({
    ledger,
    fanouts,
    emailQueue: new EmailQueue(sqs, emailQueue.url),
    fanoutQueue: new FanoutQueue(sqs, fanoutQueueRef?.url ?? ''),
    timings,
    now: () => now,
    limit: 10_000,
  });

let sender: SqsHandler;
beforeAll(async () => {
  sender = await loadEmailSender(ctx);
  // Whatever other files left on the queue goes first, so this file counts its own messages.
  await drainThroughSender(sqs, emailQueue, sender, { mustDrain: false });
});

describe('the ledger sweeper', () => {
  it('finds rows a lost message or a dead sender left owed, and the real sender delivers each once', async () => {
    const created = new Date(Date.now() - 2 * timings.leaseMs - timings.queuedGraceMs);
    const emails = Array.from({ length: 120 }, (_, i) => receipt(i, 'crash'));
    // Recorded, but their queue messages were "lost" (never sent): as after a kill -9 of a local platform.
    await ledger.recordIntendedBatch(emails, { detailType: 'Policy Updated', eventId: run }, created, true);
    expect((await owedKeys()).size).toBe(120);

    // 40 went out and were recorded: they leave the index in the write that marks them sent.
    const sentFirst = emails.slice(0, 40);
    const rows = await ledger.getMany(sentFirst.map((e) => e.key));
    await ledger.claimMany([...rows.values()].map((row) => ({ row, flag: false })), created);
    await ledger.markSentMany(sentFirst.map((e, i) => ({ key: e.key, messageId: `m-${i}` })), created);
    // 30 were claimed by a sender that died before SES answered (their lease ran out long ago).
    const crashed = emails.slice(40, 70);
    const crashedRows = await ledger.getMany(crashed.map((e) => e.key));
    await ledger.claimMany([...crashedRows.values()].map((row) => ({ row, flag: false })), created);
    const owed = await owedKeys();
    expect(owed.size).toBe(80);
    for (const e of sentFirst) expect(owed.has(e.key)).toBe(false);

    const report = await sweep(new Date());
    expect(report.requeued).toBeGreaterThanOrEqual(80);
    const onQueue = new Set(await queuedKeys());
    for (const e of emails.slice(40)) expect(onQueue.has(e.key)).toBe(true);
    for (const e of sentFirst) expect(onQueue.has(e.key)).toBe(false);

    // A second sweep straight after finds nothing new to do: each row was moved along its index.
    const again = await sweep(new Date());
    expect(again.requeued).toBe(0);

    await drainThroughSender(sqs, emailQueue, sender);
    const got = await delivered('crash');
    // The 40 sent before were "sent" by the test only (no SES call): SES saw the other 80, once each.
    for (const e of emails.slice(40)) expect(got.get(e.to.email)).toBe(1);
    for (const e of sentFirst) expect(got.has(e.to.email)).toBe(false);
    const after = await ledger.getMany(emails.map((e) => e.key));
    for (const e of crashed) expect(after.get(e.key)).toMatchObject({ state: 'sent', possibleDuplicate: true });
    for (const e of emails.slice(70)) expect(after.get(e.key)?.possibleDuplicate).toBeUndefined();
    expect(await owedKeys()).toEqual(new Set());
  });

  it('leaves a row to a live sender until its lease runs out', async () => {
    const [email] = [receipt(0, 'live')];
    if (!email) throw new Error('no email');
    const created = new Date(Date.now() - timings.queuedGraceMs - MIN);
    await ledger.recordIntended([email], { detailType: 'Policy Updated', eventId: run }, created);
    const row = await ledger.get(email.key);
    if (!row) throw new Error('not recorded');
    await ledger.claim(row, new Date(), false);
    const now = new Date();
    expect(await sweep(now)).toMatchObject({ requeued: 0, later: 1 });
    // Still owed, filed for when the lease ends: a sweep just after the lease requeues it.
    expect(await sweep(new Date(now.getTime() + timings.leaseMs + 1_000))).toMatchObject({ requeued: 1 });
    await drainThroughSender(sqs, emailQueue, sender);
  });

  it('never sends an abandoned row again: not by redelivery, redrive or sweep, until an operator resends it', async () => {
    const email = receipt(0, 'abandoned');
    const longAgo = new Date(Date.now() - 3 * timings.leaseMs);
    await ledger.recordIntended([email], { detailType: 'Policy Updated', eventId: run }, longAgo);
    // Sent once (outcome unknown), resent once flagged (outcome unknown again): both leases ran out.
    const row = await ledger.get(email.key);
    if (!row) throw new Error('not recorded');
    const first = await ledger.claim(row, longAgo, false);
    if (!first) throw new Error('not claimed');
    await ledger.claim(first, new Date(longAgo.getTime() + 1_000), true);
    const queue = new EmailQueue(sqs, emailQueue.url);

    // Delivery after the lease: abandoned, nothing sent.
    await queue.enqueue([email.key]);
    await drainThroughSender(sqs, emailQueue, sender);
    expect(await ledger.get(email.key)).toMatchObject({ state: 'abandoned', lastError: 'UNKNOWN_OUTCOME_TWICE' });
    // A redelivered message, a redriven one (the same body back on the queue) and a sweep, in a
    // batch with a row that needs sending (the case that used to send a third copy).
    const other = receipt(1, 'abandoned');
    await ledger.recordIntended([other], { detailType: 'Policy Updated', eventId: run }, new Date());
    await queue.enqueue([email.key, other.key]);
    await queue.enqueue([email.key]);
    expect((await owedKeys()).has(email.key)).toBe(false);
    const swept = await sweep(new Date(Date.now() + 10 * timings.leaseMs));
    expect(swept.requeued).toBeGreaterThanOrEqual(1); // `other`, still queued; the abandoned row is not in the owed index
    await drainThroughSender(sqs, emailQueue, sender);
    expect((await delivered('abandoned')).get(email.to.email)).toBeUndefined();
    expect((await delivered('abandoned')).get(other.to.email)).toBe(1);
    expect(await ledger.get(email.key)).toMatchObject({ state: 'abandoned', attempts: 2 });

    // Only the operator moves it on: resolved as resend, it goes once more (still flagged).
    expect(await ledger.resolve(other.key, 'resend', 'T-OPS', new Date())).toEqual({ ok: false, state: 'sent' });
    expect(await ledger.resolve(email.key, 'resend', 'T-OPS', new Date())).toEqual({ ok: true });
    await queue.enqueue([email.key]);
    await drainThroughSender(sqs, emailQueue, sender);
    expect((await delivered('abandoned')).get(email.to.email)).toBe(1);
    expect(await ledger.get(email.key)).toMatchObject({
      state: 'sent',
      possibleDuplicate: true,
      resolution: { outcome: 'resend', by: 'T-OPS' },
    });
  });

  it('a sender that finishes after its lease cannot record over the claim of the sender that took the row over', async () => {
    const email = receipt(0, 'late');
    const longAgo = new Date(Date.now() - 2 * timings.leaseMs);
    await ledger.recordIntended([email], { detailType: 'Policy Updated', eventId: run }, longAgo);
    const row = await ledger.get(email.key);
    if (!row) throw new Error('not recorded');
    const late = await ledger.claim(row, longAgo, false);
    if (!late) throw new Error('not claimed');
    // Its lease ran out: another sender resent it, flagged, and is still at it.
    const current = await ledger.claim(late, new Date(), true);
    if (!current) throw new Error('not re-claimed');
    // The late sender's answers come back now: none of them is recorded.
    expect(await ledger.release(email.key, 'Throttling', new Date(), late.sendingSince)).toBe(false);
    expect(await ledger.markFailed(email.key, 'MessageRejected', new Date(), late.sendingSince)).toBe(false);
    expect(await ledger.markSentMany([{ key: email.key, messageId: 'late-1', since: late.sendingSince }, { key: `${email.key}#none`, messageId: 'x', since: 'x' }], new Date())).toEqual([]);
    expect(await ledger.get(email.key)).toMatchObject({ state: 'sending', sendingSince: current.sendingSince, possibleDuplicate: true });
    // The current sender's record goes in.
    expect(await ledger.markSent(email.key, 'current-1', new Date(), current.sendingSince)).toBe(true);
    expect(await ledger.get(email.key)).toMatchObject({ state: 'sent', messageId: 'current-1' });
  });

  it('queues again a school fan-out whose message was lost, and leaves one whose worker holds the lease', async () => {
    const policyId = `sweep-${run.slice(-6)}`;
    const created = new Date(Date.now() - timings.queuedGraceMs - MIN);
    const items = ['st-marys', 'st-johns', 'holy-trinity'].map((schoolId) => ({ policyId, version: 2, schoolId, eventId: run }));
    await fanouts.markOwed(items, created, { fresh: true });
    // st-marys finished; st-johns has a live worker; holy-trinity's message was lost.
    await fanouts.complete(policyId, 2, 'st-marys', new Date(), { people: 1 });
    // A resumed Policy Updated marks them owed again: the finished school stays finished.
    await fanouts.markOwed(items, created, { fresh: false });
    expect(await fanouts.acquire(policyId, 2, 'st-johns', new Date(), timings.leaseMs)).toMatchObject({ kind: 'acquired' });
    const report = await sweep(new Date());
    expect(report).toMatchObject({ fanoutsRequeued: 1, fanoutsLater: 1 });
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: fanoutQueueRef?.url ?? '', MaxNumberOfMessages: 10 }));
    const bodies = (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}') as { policyId: string; schoolId: string });
    expect(bodies.filter((b) => b.policyId === policyId).map((b) => b.schoolId)).toEqual(['holy-trinity']);
    // A sweep straight after does nothing more (moved along the index).
    expect(await sweep(new Date())).toMatchObject({ fanoutsRequeued: 0 });
  });
});
