/**
 * Fault injection suite (issue 6 item 1; DESIGN.md "Reliability rules"): the real
 * handlers and the real delivery code against the real local servers (DynamoDB Local,
 * aws-ses-v2-local, fauxqs, started by the integration global setup), with one fault
 * injected per test, each named "fault: …". After recovery every intended email was sent
 * exactly once (the ledger rows `sent` and the SES store agree, one copy per email), except
 * in the crash window SES leaves open (at most one duplicate per email, flagged
 * `possibleDuplicate` on its row); acknowledgement requests and receipts are stored once;
 * whatever could not be processed is `failed` with its reason or in a dead-letter queue.
 * The summary (faults per kind, emails intended / sent / duplicated / lost, rows stored,
 * messages dead-lettered) goes to stderr and test-artifacts/faults-summary.json.
 */
import { fileURLToPath } from 'node:url';
import { InternalServerError, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { type BulkEmailEntry, SendBulkEmailCommand, SESv2Client, SESv2ServiceException } from '@aws-sdk/client-sesv2';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { londonDate } from '../../functions/domain/dates.ts';

import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, EventBridgeEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LedgerRepository } from '../../functions/adapters/ledger-repository.ts';
import { type BulkEntry, Mailer, type SendOutcome } from '../../functions/adapters/mailer.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { schoolName } from '../../functions/config/trust-config.ts';
import type { IntendedEmail } from '../../functions/domain/emails.ts';
import { type DeliveryDeps, deliverEmails } from '../../functions/services/deliver-emails.ts';
import { EMAIL_MAX_RECEIVE_COUNT } from '../../lib/trust-email.ts';
import type { BusEvent } from '../../local/event-bus.ts';
import { LocalLambda } from '../../local/lambda-runner.ts';
import { seedDemoTrust } from '../../local/seed.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { createTableLike,
  type EventBridgeHandler,
  eventBridgeEvent,
  loadEmailSender,
  localClients,
  one,
  sequentialEventIds,
  type SqsHandler, httpApiEvent, startCapturingBus } from '../support/integration.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo, sesStore } from '../support/ses-store.ts';
import {
  consumeWithRedelivery,
  deadLettered,
  injected,
  ledgerRowsWhere,
  receiveAll,
  reconcile,
  seededRandom,
  sleep,
  suite,
  writeSummary,
} from './support.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { db, sqs } = localClients(ctx);
const ledgerTable = one(ctx.tables, 'LedgerTable');
const dataTable = one(ctx.tables, 'DataTable');
const emailQueue = one(ctx.queues, 'EmailQueue');
const emailDlq = one(ctx.queues, 'EmailDlq');
const ledger = new LedgerRepository(db, ledgerTable);
const policy = (() => {
  const first = config.policies[0];
  if (!first) throw new Error('the trust configuration has no policy');
  return first;
})();

let onboard: EventBridgeHandler;
let acknowledged: EventBridgeHandler;
let sender: SqsHandler;

/** Faults on the handlers' own DynamoDB client (the one `awsClients()` builds per container). */
const dynamoFaults = {
  phase: 'off' as 'off' | 'handlers' | 'delivery',
  random: seededRandom(20261125),
  share: 0.25,
};

beforeAll(async () => {
  onboard = (await loadFunction(ctx, 'StaffOnboardedFunction', () => import('../../functions/handlers/staff-onboarded.ts'))).handler as unknown as EventBridgeHandler;
  acknowledged = (await loadFunction(ctx, 'PolicyAcknowledgedFunction', () => import('../../functions/handlers/policy-acknowledged.ts')))
    .handler as unknown as EventBridgeHandler;
  sender = await loadEmailSender(ctx);
  // Imported after loadFunction, so that its logger sees the functions' (silent) log level.
  const { awsClients } = await import('../../functions/adapters/runtime.ts');
  // Inside the SDK's retry loop (finalizeRequest, after the retry middleware): an injected
  // error is retried by the SDK as a real one would be, and never reaches DynamoDB Local.
  awsClients().dynamo.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const operation = request.headers?.['x-amz-target']?.split('.')[1] ?? '';
      const attempt = Number(/attempt=(\d+)/.exec(request.headers?.['amz-sdk-request'] ?? '')?.[1] ?? '1');
      const isWrite = ['PutItem', 'UpdateItem', 'TransactWriteItems', 'BatchWriteItem'].includes(operation);
      if (dynamoFaults.phase === 'off' || !isWrite) return next(args);
      // While delivering, a write after SES accepted (markSent, ':to') that failed for good
      // would be the crash window itself (tested on its own below): there only first
      // attempts fail, and the SDK's retry absorbs them. Claims (before SES) fail freely.
      const body = typeof request.body === 'string' ? request.body : request.body instanceof Uint8Array ? Buffer.from(request.body).toString() : '';
      const isClaim = body.includes('":expected"');
      const eligible = dynamoFaults.phase === 'handlers' || isClaim || attempt === 1;
      // A retried attempt fails more often than a first one (a throttled table stays throttled
      // for a while), so some writes outlast the SDK's retries and the event is redelivered.
      const share = attempt > 1 && (dynamoFaults.phase === 'handlers' || isClaim) ? 0.6 : dynamoFaults.share;
      if (eligible && dynamoFaults.random() < share) {
        const throttle = dynamoFaults.random() < 0.5;
        injected(throttle ? 'dynamodb.ProvisionedThroughputExceededException' : 'dynamodb.InternalServerError');
        throw throttle
          ? new ProvisionedThroughputExceededException({ message: 'injected', $metadata: { httpStatusCode: 400 } })
          : new InternalServerError({ message: 'injected', $metadata: { httpStatusCode: 500 } });
      }
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'faultInjection' },
  );
});

afterAll(() => {
  writeSummary();
});

const nextEventId = sequentialEventIds('fa01');
const sendEmails = (event: SQSEvent) => sender(event, lambdaContext('EmailSender'));
const drainEmailQueue = () => consumeWithRedelivery(sqs, emailQueue, sendEmails);

/** A Mailer's options, as the email sender builds them. */
const mailerOptions = { from: config.sender.address, configurationSetName: config.ses.configurationSetName };
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const plainSes = () => new SESv2Client({ endpoint: ctx.endpoints.ses, region: ctx.region, credentials, maxAttempts: 1 });

function receiptEmails(prefix: string, count: number): IntendedEmail[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `${prefix}#${i}`,
    templateId: 'receipt' as const,
    to: { email: `${prefix}.${i}@example.org`, staffId: `${prefix.toUpperCase()}-${i}` },
    data: {
      givenName: `Person ${i}`,
      trustName: config.trust.name,
      schoolName: schoolName(config, 'st-marys'),
      policyTitle: policy.title,
      version: 1,
      acknowledgedOn: '25 November 2026 at 10:00',
      documentUrl: 'http://127.0.0.1:3000/policies/use-of-social-media/v1',
    },
  }));
}

function deliveryDeps(mailer: Mailer, overrides: Partial<DeliveryDeps> = {}): DeliveryDeps {
  return {
    ledger,
    mailer,
    templatePrefix: config.ses.templatePrefix,
    leaseMs: 60_000,
    now: () => new Date(),
    log: () => {},
    pace: { take: async () => {}, waitFor: () => 0 },
    remainingMs: () => 30_000,
    ...overrides,
  };
}

const allLedgerRows = () => ledgerRowsWhere(db, ledgerTable, () => true);
const rowsWithPrefix = (prefix: string) => ledgerRowsWhere(db, ledgerTable, (r) => r.pk.startsWith(`${prefix}#`));
const serverError = (name: string, status: number) =>
  new SESv2ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', message: 'injected', $metadata: { httpStatusCode: status } });

/** An SQS event with the ledger keys in messages of `perMessage` keys, as EmailQueue.enqueue writes them. */
function emailQueueEvent(keys: readonly string[], perMessage: number): SQSEvent {
  const records = [];
  for (let i = 0; i < keys.length; i += perMessage) {
    records.push({
      messageId: `dup-${i}`,
      receiptHandle: `dup-${i}`,
      body: JSON.stringify({ ledgerKeys: keys.slice(i, i + perMessage) }),
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'local', ApproximateFirstReceiveTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: emailQueue.arn,
      awsRegion: ctx.region,
    });
  }
  return { Records: records };
}

describe('fault injection', () => {
  it('fault: SES throttles, fails entries (FAILED / TRANSIENT_FAILURE / rejected) and answers 500 on a share of sends', async () => {
    /** A real SES client that misbehaves for a seeded share of calls and entries; nothing refused reaches SES. */
    class FaultySesClient extends SESv2Client {
      private readonly random = seededRandom(42);
      /** Addresses that were in a call answered 500: the outcome was unknown to the sender. */
      readonly unknownOutcome = new Set<string>();
      override async send(command: Parameters<SESv2Client['send']>[0]): Promise<never> {
        if (!(command instanceof SendBulkEmailCommand)) return super.send(command as never) as never;
        const entries = command.input.BulkEmailEntries ?? [];
        const to = entries.map((e) => e.Destination?.ToAddresses?.[0] ?? '');
        const roll = this.random();
        if (roll < 0.15) {
          injected('ses.ThrottlingException (call)');
          throw serverError('ThrottlingException', 400);
        }
        // A 500 before anything was sent; at most once per address, since twice unknown is abandoned (tested below).
        if (roll < 0.25 && to.every((a) => !this.unknownOutcome.has(a))) {
          for (const a of to) this.unknownOutcome.add(a);
          injected('ses.InternalFailure 500 (call)');
          throw serverError('InternalFailure', 500);
        }
        const status = to.map((address): string | undefined => {
          if (address.startsWith('fault-ses-rejected')) return 'MESSAGE_REJECTED';
          const r = this.random();
          return r < 0.08 ? 'ACCOUNT_THROTTLED' : r < 0.15 ? 'FAILED' : r < 0.22 ? 'TRANSIENT_FAILURE' : undefined;
        });
        for (const s of status) if (s) injected(`ses.${s} (entry)`);
        const passed: BulkEmailEntry[] = entries.filter((_, i) => status[i] === undefined);
        const real = passed.length
          ? await super.send(new SendBulkEmailCommand({ ...command.input, BulkEmailEntries: passed }))
          : { BulkEmailEntryResults: [], $metadata: {} };
        const results = [...(real.BulkEmailEntryResults ?? [])];
        return { ...real, BulkEmailEntryResults: status.map((s) => (s ? { Status: s, Error: 'injected' } : results.shift())) } as never;
      }
    }
    const ses = new FaultySesClient({ endpoint: ctx.endpoints.ses, region: ctx.region, credentials, maxAttempts: 1 });
    const mailer = new Mailer(ses, mailerOptions);
    const emails = [...receiptEmails('fault-ses', 150), ...receiptEmails('fault-ses-rejected', 1)];
    let pending = await ledger.recordIntended(emails, { detailType: 'test', eventId: 'fault-ses' }, new Date());
    const leaseMs = 300;
    let rounds = 0;
    while (pending.length > 0 && rounds < 60) {
      rounds++;
      const report = await deliverEmails(pending, deliveryDeps(mailer, { leaseMs }));
      const rows = await ledger.getMany([...report.retry]);
      // The queue's redrive policy: after EMAIL_MAX_RECEIVE_COUNT failed attempts the message is dead-lettered.
      pending = [...report.retry].filter((k) => !(rows.get(k)?.state === 'failed' && (rows.get(k)?.attempts ?? 0) >= EMAIL_MAX_RECEIVE_COUNT));
      if (pending.length > 0) await sleep(leaseMs / 2);
    }
    expect(pending).toEqual([]);
    const rows = await ledgerRowsWhere(db, ledgerTable, (r) => r.pk.startsWith('fault-ses'));
    const tally = await reconcile('SES throttles / fails / 500s', ctx.endpoints.ses, rows, await allLedgerRows());
    expect(tally.intended).toBe(151);
    expect(tally.sent).toBe(150);
    expect(tally.duplicated).toBe(0);
    expect(tally.lost).toBe(0);
    expect([...tally.copies.entries()].filter(([a]) => a.startsWith('fault-ses.')).every(([, n]) => n === 1)).toBe(true);
    // The permanently rejected email ends `failed` with SES's reason, never sent.
    const rejected = rows.find((r) => r.recipient.startsWith('fault-ses-rejected'));
    expect(rejected).toMatchObject({ state: 'failed', lastError: 'MESSAGE_REJECTED' });
    expect(tally.copies.get(rejected?.recipient ?? '') ?? 0).toBe(0);
    deadLettered('ledger failed: MESSAGE_REJECTED (its message would dead-letter after maxReceiveCount)', 1);
    // A 500 leaves the outcome unknown: those rows were resent once after the lease and are
    // flagged possibleDuplicate, though here SES had sent nothing (a false alarm, never a silent copy).
    const flagged = rows.filter((r) => r.possibleDuplicate).map((r) => r.recipient);
    expect(ses.unknownOutcome.size).toBeGreaterThan(0);
    expect(new Set(flagged)).toEqual(ses.unknownOutcome);
    expect(suite.faultsInjected['ses.ThrottlingException (call)']).toBeGreaterThan(0);
    expect(suite.faultsInjected['ses.FAILED (entry)']).toBeGreaterThan(0);
    expect(suite.faultsInjected['ses.TRANSIENT_FAILURE (entry)']).toBeGreaterThan(0);
  });

  it('fault: DynamoDB ProvisionedThroughputExceededException / InternalServerError on a share of writes (onboarding, then delivery)', async () => {
    const events = Array.from({ length: 12 }, (_, i) =>
      eventBridgeEvent(
        'Staff Onboarded',
        'trust.hr',
        {
          staffId: `FLT-DB-${i}`,
          givenName: 'Test',
          familyName: `Person${i}`,
          email: `fault.db.${i}@stjohns.example.org`,
          schoolId: 'st-johns',
          roles: ['teacher'],
          employmentType: 'permanent',
          startDate: '2027-01-04',
          occurredAt: '2026-11-20T09:00:00Z',
        },
        { id: nextEventId() },
      ),
    );
    const eventIds = new Set(events.map((e) => e.id));
    dynamoFaults.phase = 'handlers';
    let redeliveries = 0;
    try {
      for (const event of events) {
        // The event bus / Lambda async retries: the same event again until the handler succeeds.
        for (let attempt = 1; ; attempt++) {
          try {
            await onboard(event, lambdaContext('StaffOnboarded'));
            break;
          } catch (error) {
            expect((error as Error).name).toMatch(/ProvisionedThroughputExceeded|InternalServerError/);
            if (attempt >= 8) throw error;
            redeliveries++;
          }
        }
      }
      dynamoFaults.phase = 'delivery';
      const drained = await drainEmailQueue();
      process.stderr.write(`[faults] dynamodb: ${redeliveries} handler redeliveries, ${drained.redelivered} email messages redelivered\n`);
    } finally {
      dynamoFaults.phase = 'off';
    }
    expect(redeliveries).toBeGreaterThan(0);
    const rows = await ledgerRowsWhere(db, ledgerTable, (r) => eventIds.has(r.origin.eventId));
    expect(rows.length).toBeGreaterThanOrEqual(events.length);
    const tally = await reconcile('DynamoDB throttles / 500s on writes', ctx.endpoints.ses, rows, await allLedgerRows());
    expect(tally).toMatchObject({ sent: rows.length, duplicated: 0, lost: 0 });
    expect(rows.every((r) => r.state === 'sent' && !r.possibleDuplicate)).toBe(true);
    // Each person's acknowledgement requests stored once: the same set for everyone, however often their event was retried.
    const perPerson: number[] = [];
    for (const event of events) {
      const staffId = (event.detail as { staffId: string }).staffId;
      const out = await db.send(
        new QueryCommand({
          TableName: dataTable,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :req)',
          ExpressionAttributeValues: { ':pk': `PERSON#${staffId}`, ':req': 'REQUEST#' },
          ConsistentRead: true,
        }),
      );
      perPerson.push(out.Items?.length ?? 0);
    }
    expect(perPerson.every((n) => n > 0 && n === perPerson[0])).toBe(true);
    suite.rowsStored.ackRequests += perPerson.reduce((a, b) => a + b, 0);
    expect((suite.faultsInjected['dynamodb.ProvisionedThroughputExceededException'] ?? 0) + (suite.faultsInjected['dynamodb.InternalServerError'] ?? 0)).toBeGreaterThan(0);
  });

  it('fault: a queue message delivered twice (concurrently, then sequentially)', async () => {
    const emails = receiptEmails('fault-dup', 40);
    const keys = await ledger.recordIntended(emails, { detailType: 'test', eventId: 'fault-dup' }, new Date());
    const event = emailQueueEvent(keys, 20);
    injected('sqs.duplicate delivery', event.Records.length * 2);
    // The same two messages to two consumers at once (SQS at-least-once), then once more.
    const failedIds = (results: SQSBatchResponse[]) => results.flatMap((r) => r.batchItemFailures.map((f) => f.itemIdentifier));
    const concurrent = await Promise.all([sendEmails(event), sendEmails(event)]);
    const sequential = await sendEmails(event);
    let again = new Set([...failedIds(concurrent), ...failedIds([sequential])]);
    // Whatever a loser handed back is redelivered until it is done.
    for (let i = 0; again.size > 0 && i < 10; i++) {
      const retry = { Records: event.Records.filter((r) => again.has(r.messageId)) };
      again = new Set((await sendEmails(retry)).batchItemFailures.map((f) => f.itemIdentifier));
    }
    expect(again.size).toBe(0);
    const tally = await reconcile('duplicate queue message', ctx.endpoints.ses, await rowsWithPrefix('fault-dup'), await allLedgerRows());
    expect(tally).toMatchObject({ intended: 40, sent: 40, duplicated: 0, lost: 0, flaggedDuplicates: 0 });
  });

  it('fault: a handler times out (remainingMs runs out mid-batch; the rest is handed back unclaimed)', async () => {
    const emails = receiptEmails('fault-timeout', 120);
    const keys = await ledger.recordIntended(emails, { detailType: 'test', eventId: 'fault-timeout' }, new Date());
    const mailer = new Mailer(plainSes(), mailerOptions);
    let checks = 0;
    // Time for the first chunk of 50, then the invocation is nearly out of time.
    const first = await deliverEmails(keys, deliveryDeps(mailer, { remainingMs: () => (checks++ === 0 ? 30_000 : 1_000) }));
    injected('lambda.timeout (remainingMs ran out)');
    expect(first.sent).toBe(50);
    expect(first.retry.size).toBe(70);
    const handedBack = await ledger.getMany([...first.retry]);
    expect([...handedBack.values()].every((r) => r.state === 'queued')).toBe(true);
    const second = await deliverEmails(keys, deliveryDeps(mailer));
    expect(second).toMatchObject({ sent: 70, skipped: 50 });
    expect(second.retry.size).toBe(0);
    const tally = await reconcile('handler timeout (remainingMs)', ctx.endpoints.ses, await rowsWithPrefix('fault-timeout'), await allLedgerRows());
    expect(tally).toMatchObject({ intended: 120, sent: 120, duplicated: 0, lost: 0 });
  });

  it('fault: a handler times out during the SES call (Lambda kills it after SES accepted, before the ledger records)', async () => {
    const [email] = receiptEmails('fault-killed', 1);
    if (!email) throw new Error('no email');
    const keys = await ledger.recordIntended([email], { detailType: 'test', eventId: 'fault-killed' }, new Date());
    /** SES accepts the send, then the answer never comes back before the function's timeout. */
    class HangingMailer extends Mailer {
      hang = true;
      override async sendBulk(templateName: string, entries: readonly BulkEntry[]): Promise<SendOutcome[]> {
        const outcomes = await super.sendBulk(templateName, entries);
        if (this.hang) return new Promise<SendOutcome[]>(() => {});
        return outcomes;
      }
    }
    const mailer = new HangingMailer(plainSes(), mailerOptions);
    const leaseMs = 600;
    const deps = deliveryDeps(mailer, { leaseMs });
    const timedOut = await Promise.race([deliverEmails(keys, deps).then(() => 'finished'), sleep(300).then(() => 'Task timed out')]);
    injected('lambda.timeout (killed after the SES call)');
    expect(timedOut).toBe('Task timed out');
    expect((await ledger.get(email.key))?.state).toBe('sending');
    mailer.hang = false;
    // The redelivered message within the lease sends nothing.
    const early = await deliverEmails(keys, deps);
    expect(early).toMatchObject({ sent: 0 });
    expect(early.retry.has(email.key)).toBe(true);
    await sleep(leaseMs + 50);
    const late = await deliverEmails(keys, deps);
    expect(late).toMatchObject({ sent: 1, flaggedDuplicates: 1 });
    const tally = await reconcile('handler killed after the SES call (crash window)', ctx.endpoints.ses, await rowsWithPrefix('fault-killed'), await allLedgerRows());
    expect(tally).toMatchObject({ intended: 1, sent: 1, duplicated: 1, unflaggedDuplicates: 0, flaggedDuplicates: 1, lost: 0 });
  });

  it('fault: the event bus retries a target (the same event three times to Staff Onboarded and Policy Acknowledged)', async () => {
    const person = {
      staffId: 'FLT-EB-1',
      givenName: 'Test',
      familyName: 'Retried',
      email: 'fault.eb.1@stjohns.example.org',
      schoolId: 'st-johns',
      roles: ['teacher'],
      employmentType: 'permanent',
      startDate: '2027-01-04',
      occurredAt: '2026-11-21T09:00:00Z',
    };
    const onboarded = eventBridgeEvent('Staff Onboarded', 'trust.hr', person, { id: nextEventId() });
    const requestsOf = async (staffId: string) =>
      (
        await db.send(
          new QueryCommand({
            TableName: dataTable,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :req)',
            ExpressionAttributeValues: { ':pk': `PERSON#${staffId}`, ':req': 'REQUEST#' },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [];
    const rowsOf = () => ledgerRowsWhere(db, ledgerTable, (r) => r.origin.eventId === onboarded.id);
    await onboard(onboarded, lambdaContext('StaffOnboarded'));
    const [requestsOnce, rowsOnce] = [await requestsOf(person.staffId), await rowsOf()];
    expect(requestsOnce.length).toBeGreaterThan(0);
    // The bus retries the target twice more (it saw no success): nothing new is stored.
    await onboard(onboarded, lambdaContext('StaffOnboarded'));
    await onboard(onboarded, lambdaContext('StaffOnboarded'));
    injected('eventbridge.target retry', 2);
    expect(await requestsOf(person.staffId)).toEqual(requestsOnce);
    expect((await rowsOf()).map((r) => r.pk).sort()).toEqual(rowsOnce.map((r) => r.pk).sort());
    const ack = eventBridgeEvent(
      'Policy Acknowledged',
      'trust.policies',
      { staffId: person.staffId, policyId: policy.policyId, version: policy.version, acknowledgedAt: '2026-11-22T10:00:00Z' },
      { id: nextEventId() },
    );
    // Twice at once (two targets' retries overlapping), then once more.
    await Promise.all([acknowledged(ack, lambdaContext('PolicyAcknowledged')), acknowledged(ack, lambdaContext('PolicyAcknowledged'))]);
    await acknowledged(ack, lambdaContext('PolicyAcknowledged'));
    injected('eventbridge.target retry', 2);
    await drainEmailQueue();
    suite.rowsStored.ackRequests += requestsOnce.length;
    const rows = await ledgerRowsWhere(db, ledgerTable, (r) => r.origin.eventId === onboarded.id || r.origin.eventId === ack.id);
    const receipts = rows.filter((r) => r.templateId === 'receipt');
    expect(receipts).toHaveLength(1);
    suite.rowsStored.receipts += receipts.length;
    const tally = await reconcile('event bus retries a target', ctx.endpoints.ses, rows, await allLedgerRows());
    expect(tally).toMatchObject({ sent: rows.length, duplicated: 0, lost: 0 });
    expect((await emailsTo(ctx.endpoints.ses, person.email)).length).toBe(rows.filter((r) => r.recipient === person.email).length);
  });

  it('fault: a function error goes through its async retries to its on-failure queue (LocalLambda, fauxqs)', async () => {
    const created = await sqs.send(new CreateQueueCommand({ QueueName: `faults-on-failure-${Date.now().toString(36)}` }));
    const url = created.QueueUrl ?? '';
    const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    const arn = attributes.Attributes?.QueueArn ?? '';
    // Lambda's default for asynchronous invocation: 2 retries (3 attempts), then the destination.
    const lambda = new LocalLambda(
      {
        logicalId: 'FaultsAlwaysFails',
        name: 'faults-always-fails',
        arn: 'arn:aws:lambda:eu-west-2:000000000000:function:faults-always-fails',
        modulePath: fileURLToPath(new URL('./fixtures/always-fails.ts', import.meta.url)),
        exportName: 'handler',
        env: {},
        timeoutMs: 10_000,
        memoryMb: 128,
        async: { maxRetries: 2, maxEventAgeMs: 60_000, onFailureArn: arn },
      },
      {
        sendToQueue: async (to, body) => {
          expect(to).toBe(arn);
          await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
        },
        log: () => {},
        asyncRetryDelayMs: 10,
        maxSandboxes: 1,
      },
    );
    try {
      lambda.invokeAsync({ id: 'fault-async-1', detail: { staffId: 'FLT-ASYNC-1' } });
      await lambda.settle();
    } finally {
      await lambda.stop();
    }
    injected('lambda.function error (async)', lambda.stats.errors);
    expect(lambda.stats).toMatchObject({ invocations: 3, errors: 3, asyncRetries: 2, sentToDestination: 1 });
    const bodies = await receiveAll(sqs, url);
    expect(bodies).toHaveLength(1);
    const record = JSON.parse(bodies[0] ?? '{}') as Record<string, Record<string, unknown>>;
    expect(record.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 3 });
    expect(record.requestPayload).toMatchObject({ id: 'fault-async-1' });
    // The reason travels with it.
    expect(record.responsePayload).toMatchObject({ errorType: 'InjectedFailure' });
    deadLettered('on-failure destination (async retries exhausted)', bodies.length);
  });

  it('fault: a poison message on the email queue ends in its dead-letter queue after maxReceiveCount', async () => {
    await receiveAll(sqs, emailDlq.url);
    await sqs.send(new SendMessageCommand({ QueueUrl: emailQueue.url, MessageBody: JSON.stringify({ notLedgerKeys: true }) }));
    injected('sqs.poison message');
    const { redelivered } = await drainEmailQueue();
    expect(redelivered).toBe(EMAIL_MAX_RECEIVE_COUNT);
    const dead = await receiveAll(sqs, emailDlq.url);
    expect(dead).toEqual([JSON.stringify({ notLedgerKeys: true })]);
    deadLettered('email DLQ (poison message)', dead.length);
  });

  it('fault: THE CRASH WINDOW: a crash after SES accepted a send and before the ledger recorded it', async () => {
    const [once, twice] = receiptEmails('fault-crash', 2);
    if (!once || !twice) throw new Error('no email');
    /** SES accepts the send; then the process "dies" (a network error, not a 4xx). */
    class CrashingMailer extends Mailer {
      crashes = 0;
      crashFor = new Set<string>();
      override async sendBulk(templateName: string, entries: readonly BulkEntry[]): Promise<SendOutcome[]> {
        const outcomes = await super.sendBulk(templateName, entries);
        if (entries.some((e) => this.crashFor.has(e.to))) {
          this.crashes++;
          injected('crash after SES accepted');
          throw Object.assign(new Error('socket hang up'), { name: 'ECONNRESET', code: 'ECONNRESET' });
        }
        return outcomes;
      }
    }
    const mailer = new CrashingMailer(plainSes(), mailerOptions);
    const leaseMs = 500;
    const deps = deliveryDeps(mailer, { leaseMs });
    const keys = await ledger.recordIntended([once, twice], { detailType: 'test', eventId: 'fault-crash' }, new Date());
    const copies = async (address: string) => (await emailsTo(ctx.endpoints.ses, address)).length;

    // 1. The crash: both accepted by SES, neither recorded. The rows stay `sending`.
    mailer.crashFor = new Set([once.to.email, twice.to.email]);
    const first = await deliverEmails(keys, deps);
    expect(first.sent).toBe(0);
    const afterCrash = await ledger.getMany(keys);
    expect([...afterCrash.values()].map((r) => r.state)).toEqual(['sending', 'sending']);
    expect([await copies(once.to.email), await copies(twice.to.email)]).toEqual([1, 1]);

    // 2. A retry before the lease ends sends nothing (`wait`).
    const early = await deliverEmails(keys, deps);
    expect(early).toMatchObject({ sent: 0, bulkCalls: 0 });
    expect([await copies(once.to.email), await copies(twice.to.email)]).toEqual([1, 1]);

    // 3. After the lease: exactly one resend each, flagged. `twice` crashes again.
    await sleep(leaseMs + 50);
    mailer.crashFor = new Set([twice.to.email]);
    const retryOnce = await deliverEmails([once.key], deps);
    expect(retryOnce).toMatchObject({ sent: 1, flaggedDuplicates: 1 });
    const retryTwice = await deliverEmails([twice.key], deps);
    expect(retryTwice).toMatchObject({ sent: 0, flaggedDuplicates: 1 });
    expect(await ledger.get(once.key)).toMatchObject({ state: 'sent', possibleDuplicate: true });
    expect(await ledger.get(twice.key)).toMatchObject({ state: 'sending', possibleDuplicate: true });

    // 4. A third attempt never resends: abandoned, `failed` with its reason.
    await sleep(leaseMs + 50);
    mailer.crashFor = new Set();
    const third = await deliverEmails(keys, deps);
    expect(third).toMatchObject({ sent: 0, bulkCalls: 0, skipped: 1 });
    expect(await ledger.get(twice.key)).toMatchObject({ state: 'failed', lastError: 'UNKNOWN_OUTCOME_TWICE', possibleDuplicate: true });
    expect([await copies(once.to.email), await copies(twice.to.email)]).toEqual([2, 2]);

    const tally = await reconcile('crash window (SES accepted, ledger not updated)', ctx.endpoints.ses, await rowsWithPrefix('fault-crash'), await allLedgerRows());
    // At most one duplicate per email, each flagged on its row; nothing lost silently.
    expect(tally).toMatchObject({ intended: 2, sent: 1, duplicated: 2, unflaggedDuplicates: 0, flaggedDuplicates: 2, lost: 0, failedWithReason: 1 });
    // One crash in the first bulk call (both emails), one in the resend of the second.
    expect(mailer.crashes).toBe(2);
  });

  // The email sender's SES client makes one attempt only (functions/adapters/runtime.ts,
  // maxAttempts 1): after a 5xx or a dropped connection SES may have sent the emails, so the
  // SDK must not send them again on its own. The rows stay `sending` and the lease decides.
  it('fault: SES accepted a send and answered 500: no blind SDK retry, the row stays sending', async () => {
    const { awsClients } = await import('../../functions/adapters/runtime.ts');
    let armed = true;
    awsClients().ses.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { path?: string; headers?: Record<string, string> };
        const first = /attempt=1;/.test(request.headers?.['amz-sdk-request'] ?? '');
        const result = await next(args);
        if (armed && first && request.path?.includes('outbound-bulk-emails')) {
          armed = false;
          injected('ses.InternalFailure 500 after accepting (SDK retry)');
          throw serverError('InternalFailure', 500);
        }
        return result;
      },
      { step: 'finalizeRequest', priority: 'low', name: 'sesAcceptedThen500' },
    );
    const emails = receiptEmails('fault-sdkretry', 1);
    const keys = await ledger.recordIntended(emails, { detailType: 'test', eventId: 'fault-sdkretry' }, new Date());
    const response = await sendEmails(emailQueueEvent(keys, 1));
    awsClients().ses.middlewareStack.remove('sesAcceptedThen500');
    // The message goes back for a later try; the one email SES took is not sent again.
    expect(response.batchItemFailures).toHaveLength(1);
    const rows = await rowsWithPrefix('fault-sdkretry');
    expect(rows.map((r) => r.state)).toEqual(['sending']);
    // SES holds exactly the one copy it accepted: nothing was sent again behind the ledger's back.
    const copies = (await sesStore(ctx.endpoints.ses)).filter((e) => e.destination.to.includes('fault-sdkretry.0@example.org'));
    expect(copies).toHaveLength(1);
  });

  it('reports: the SES store and the ledger agree overall', async () => {
    const all = await ledgerRowsWhere(db, ledgerTable, () => true);
    const sentIds = new Set(all.filter((r) => r.state === 'sent').map((r) => r.messageId));
    const stored = await sesStore(ctx.endpoints.ses);
    // Every row recorded `sent` is in the SES store under its message id.
    const storedIds = new Set(stored.map((e) => e.messageId));
    expect([...sentIds].every((id) => storedIds.has(id ?? ''))).toBe(true);
    // Every stored copy belongs to a row: the ones without a `sent` row are the flagged crash-window
    // copies, and the copies of rows still `sending` (SES took them; the lease has not run out yet).
    const unmatched = stored.filter((e) => !sentIds.has(e.messageId)).length;
    const flaggedDuplicates = suite.perFault.reduce((n, f) => n + f.duplicated, 0);
    const stillSending = all.filter((r) => r.state === 'sending').length;
    expect(unmatched).toBe(flaggedDuplicates + all.filter((r) => r.lastError === 'UNKNOWN_OUTCOME_TWICE').length + stillSending);
  });
});


// After the overall check above: this test's emails are reconciled on their own.
describe('fault injection: breach cases', () => {
  it('fault: breach intake and Breach Reported under DynamoDB write faults and a retried target: each case stored once, each notice sent once', async () => {
    // The cases get their own data table (a copy of the template's) seeded with the demo trust,
    // so the suite's St John's people are untouched; the ledger and the email queue are the
    // suite's (the email sender loaded above is bound to them). DESIGN.md "Breach and concern intake and routing".
    const seeding = localClients(ctx, { removeUndefinedValues: true });
    const caseTable = `faults-breach-data-${Date.now().toString(36)}`;
    await createTableLike(seeding.dynamodb, dataTable, caseTable);
    await seedDemoTrust(seeding.db, caseTable, config);
    // Case ids come from a counter in the data table (CaseRepository.allocateCaseId); this copy starts at 500000 so that its
    // ids (and the subjects of their emails in the shared SES store) differ from other files'.
    await seeding.db.send(
      new PutCommand({
        TableName: caseTable,
        Item: { pk: 'COUNTER#CASE', sk: londonDate(new Date()).slice(0, 4), last: 500_000, entity: 'counter' },
      }),
    );
    const published: BusEvent[] = [];
    const savedEndpoint = process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
    const bus = await startCapturingBus(ctx, published);
    type Http = (event: APIGatewayProxyEventV2, c: ReturnType<typeof lambdaContext>) => Promise<APIGatewayProxyStructuredResultV2>;
    const ours = () => {
      process.env.DATA_TABLE_NAME = caseTable;
    };
    const intake = (
      await loadFunction(ctx, 'CaseIntakeReportIntakeFunction', () => {
        ours();
        return import('../../functions/handlers/report-intake.ts');
      })
    ).handler as unknown as Http;
    const routeHandler = (
      await loadFunction(ctx, 'BreachReportedFunction', () => {
        ours();
        return import('../../functions/handlers/breach-reported.ts');
      })
    ).handler as unknown as EventBridgeHandler;

    const reports = Array.from({ length: 5 }, (_, i) => ({
      eventId: `fault-breach-${i}`,
      schoolId: 'st-marys',
      category: 'online-conduct-concern',
      reportedByStaffId: 'SM-T2',
      subject: { kind: 'staff', staffId: 'SM-T1' },
      occurredOn: '2026-11-17',
      narrative: `Fault injection report ${i}: a post about a colleague.`,
    }));
    const post = (body: string) => intake(httpApiEvent('POST', '/reports', { body }), lambdaContext('ReportIntake'));

    const caseIds: string[] = [];
    let clientRetries = 0;
    let targetRetries = 0;
    let handlerRetries = 0;
    const faultsBefore = (suite.faultsInjected['dynamodb.ProvisionedThroughputExceededException'] ?? 0) + (suite.faultsInjected['dynamodb.InternalServerError'] ?? 0);
    dynamoFaults.phase = 'handlers';
    try {
      // (1) Each report until it is taken; a 5xx is retried with the same body, as a client would.
      const postUntilAnswered = async (body: string, eventId: string) => {
        for (let attempt = 1; ; attempt++) {
          const res = await post(body);
          const status = res.statusCode ?? 0;
          if (status < 500) return { status, answer: JSON.parse(res.body ?? '{}') as { caseId?: string; duplicate?: boolean; announced?: boolean } };
          if (attempt >= 20) throw new Error(`report ${eventId} still answered ${status} after ${attempt} attempts`);
          clientRetries++;
        }
      };
      for (const fields of reports) {
        const body = JSON.stringify(fields);
        const taken = await postUntilAnswered(body, fields.eventId);
        expect(taken.status).toBe(201);
        expect(taken.answer.announced).toBeUndefined();
        caseIds.push(String(taken.answer.caseId));
        // The client lost the answer and sends the same body again: the same case, nothing new.
        const again = await postUntilAnswered(body, fields.eventId);
        clientRetries++;
        expect(again).toEqual({ status: 200, answer: { caseId: taken.answer.caseId, duplicate: true } });
      }
      expect(new Set(caseIds).size).toBe(5);
      const events = await eventually(async () => (published.length >= caseIds.length ? published.splice(0) : undefined), { what: 'the Breach Reported events' });
      expect(events.map((e) => e.detail.caseId).sort()).toEqual([...caseIds].sort());
      // (2) Each event to the handler three times (the bus retrying its target); a thrown
      // invocation is retried, as Lambda's async retries would.
      for (const event of events) {
        for (let delivery = 1; delivery <= 3; delivery++) {
          if (delivery > 1) targetRetries++;
          for (let attempt = 1; ; attempt++) {
            try {
              await routeHandler(event as unknown as EventBridgeEvent<string, unknown>, lambdaContext('BreachReported'));
              break;
            } catch (error) {
              expect((error as Error).name).toMatch(/ProvisionedThroughputExceeded|InternalServerError/);
              if (attempt >= 20) throw error;
              handlerRetries++;
            }
          }
        }
      }
    } finally {
      dynamoFaults.phase = 'off';
      if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
      else process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = savedEndpoint;
      await bus.close();
    }
    injected('http.client resend of a report (same body, after a 5xx or a lost answer)', clientRetries);
    injected('eventbridge.target retry', targetRetries);
    injected('lambda.async retry (handler threw)', handlerRetries);
    const drained = await drainEmailQueue();
    const faults =
      (suite.faultsInjected['dynamodb.ProvisionedThroughputExceededException'] ?? 0) + (suite.faultsInjected['dynamodb.InternalServerError'] ?? 0) - faultsBefore;
    process.stderr.write(
      `[faults] breach: ${faults} DynamoDB faults, ${clientRetries} client resends, ${targetRetries} target retries, ${handlerRetries} handler retries, ${drained.redelivered} email messages redelivered\n`,
    );
    expect(faults).toBeGreaterThan(0);

    // Exactly five cases: one per eventId, however often each report was posted (the table is this test's own).
    const caseItems: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await db.send(new ScanCommand({ TableName: caseTable, ConsistentRead: true, ExclusiveStartKey: start }));
      for (const item of page.Items ?? []) if (item.sk === 'CASE' && String(item.pk).startsWith('CASE#')) caseItems.push(item);
      start = page.LastEvaluatedKey;
    } while (start);
    expect(caseItems.map((i) => i.caseId).sort()).toEqual([...caseIds].sort());
    suite.rowsStored.cases += caseItems.length;

    // Each case's notices: DSL and deputy DSL of St Mary's, rows `sent`, one copy each in SES.
    const origins = new Set(caseIds.map((id) => `breach-reported-${id}`));
    const rows = await ledgerRowsWhere(db, ledgerTable, (r) => origins.has(r.origin.eventId));
    expect(rows).toHaveLength(caseIds.length * 2);
    expect(rows.every((r) => r.state === 'sent' && !r.possibleDuplicate)).toBe(true);
    const stored = await sesStore(ctx.endpoints.ses);
    const expectedTo = ['fatima.hussain@stmarys.example.org', 'thomas.reid@stmarys.example.org'];
    for (const caseId of caseIds) {
      const copies = stored.filter((e) => e.subject.includes(caseId)).flatMap((e) => e.destination.to);
      expect(copies.sort()).toEqual(expectedTo);
      expect(rows.filter((r) => r.origin.eventId === `breach-reported-${caseId}`).map((r) => r.recipient).sort()).toEqual(expectedTo);
    }
    const tally = await reconcile('breach intake + Breach Reported under DynamoDB faults, target retried', ctx.endpoints.ses, rows, await allLedgerRows());
    expect(tally).toMatchObject({ intended: 10, sent: 10, duplicated: 0, lost: 0, flaggedDuplicates: 0 });
  });
});
