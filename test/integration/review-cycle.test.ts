/**
 * The review cycle end to end through the real handlers against the local servers: the
 * review scanner (a scheduled event, "today" from its time) publishes `Policy Review Due`
 * to a local event bus; the `Policy Review Due` handler queues the notices, the email
 * sender sends them; `Policy Reviewed` closes the cycle and sets the next review date.
 *
 * "A fresh install" is taken literally: the handlers here use a data table of their own
 * (same keys and indexes as the template's), so other test files' policy versions and
 * people cannot change what the first scan finds. The ledger, the email queue and SES are
 * the shared ones; every recipient here has an address of their own.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PeopleRepository } from '../../functions/adapters/people-repository.ts';
import type { StaffOnboarded } from '../../functions/contracts/events.ts';
import { personFromHr } from '../../functions/domain/people.ts';
import { type BusEvent, type LocalEventBus, startLocalEventBus } from '../../local/event-bus.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { createTableLike, drainThroughSender, eventBridgeEvent, type EventBridgeHandler, loadEmailSender, LOCAL_CREDENTIALS, localClients, one, type SqsHandler } from '../support/integration.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo, sesStore, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('integration');
const { dynamodb, db, sqs } = localClients(ctx);
const sharedDataTable = one(ctx.tables, 'DataTable');
const emailQueue = one(ctx.queues, 'EmailQueue');
const dataTable = `${sharedDataTable}-review-cycle`;

type Eb = EventBridgeHandler;
type Sqs = SqsHandler;
let scanner: Eb;
let reviewDue: Eb;
let reviewed: Eb;
let sender: Sqs;
let bus: LocalEventBus;
const published: BusEvent[] = [];
const MARKER_SOURCE = 'test.barrier';

const SEED = 'use-of-social-media';
const AGREEMENT = 'social-media-acceptable-use';

// The people a review notice is for (the demo directory is not seeded in integration tests).
const hr = (staffId: string, schoolId: string, roles: string[], employmentType: string): StaffOnboarded =>
  ({
    staffId,
    givenName: staffId.replace(/^REV-/, '').toLowerCase(),
    familyName: 'Reviewer',
    email: `${staffId.toLowerCase()}@review.example.org`,
    schoolId,
    roles,
    employmentType,
    startDate: '2020-09-01',
  }) as StaffOnboarded;
const tnm = hr('REV-TNM', 'trust', ['trust-network-manager'], 'permanent');
const chair = hr('REV-CHAIR', 'trust', ['chair-of-trustees', 'trustee'], 'trustee');
const trustee = hr('REV-TRUSTEE', 'trust', ['trustee'], 'trustee');
const leftTrustee = hr('REV-LEFT', 'trust', ['trustee'], 'trustee');
const governor = hr('REV-GOV', 'st-marys', ['chair-of-governors', 'governor'], 'governor');
const told = [tnm, chair, trustee];
const notTold = [leftTrustee, governor];

const scheduledEvent = (time: string) =>
  eventBridgeEvent('Scheduled Event', 'aws.events', {}, { time, resources: ['arn:aws:events:eu-west-2:000000000000:rule/ReviewScannerSchedule'] });

const policyEvent = (detailType: string, detail: Record<string, unknown>) => eventBridgeEvent(detailType, 'trust.policies', detail);

async function startBus(busNames: string[], port?: number): Promise<LocalEventBus> {
  return startLocalEventBus({
    region: ctx.region,
    account: '000000000000',
    busNames,
    ...(port ? { port } : {}),
    deliver: (_bus, event) => {
      published.push(event);
    },
    log: () => {},
  });
}

/**
 * Waits until everything the bus accepted so far has been delivered: it delivers in the
 * order it answered, so once a marker sent now has arrived, so has every earlier event.
 */
async function busSettled(): Promise<void> {
  const client = new EventBridgeClient({ endpoint: bus.url, region: ctx.region, credentials: LOCAL_CREDENTIALS });
  const marker = crypto.randomUUID();
  await client.send(new PutEventsCommand({ Entries: [{ EventBusName: 'trust-events', Source: MARKER_SOURCE, DetailType: 'Barrier', Detail: JSON.stringify({ marker }) }] }));
  await eventually(async () => (published.some((e) => e.detail.marker === marker) ? true : undefined), { what: 'the bus to settle' });
}

/** Runs the scanner as the schedule would, and returns the Policy Review Due events it published. */
async function scan(time: string): Promise<BusEvent[]> {
  await scanner(scheduledEvent(time), lambdaContext('ReviewScanner'));
  await busSettled();
  return published.splice(0).filter((e) => e.source !== MARKER_SOURCE);
}

async function deliverToHandler(events: BusEvent[]): Promise<void> {
  for (const e of events) await reviewDue(e as unknown as EventBridgeEvent<string, unknown>, lambdaContext('PolicyReviewDue'));
}

const drain = () => drainThroughSender(sqs, emailQueue, sender, { mustDrain: false });

const reviewEmailsTo = async (address: string): Promise<StoredEmail[]> =>
  (await emailsTo(ctx.endpoints.ses, address)).filter((e) => e.subject.startsWith('Policy review'));

async function current(policyId: string) {
  const out = await db.send(new GetCommand({ TableName: dataTable, Key: { pk: `POLICY#${policyId}`, sk: 'CURRENT' }, ConsistentRead: true }));
  return out.Item;
}

const createPrivateDataTable = () => createTableLike(dynamodb, sharedDataTable, dataTable);

const useOwnTable = <M>(load: () => Promise<M>) => () => {
  process.env.DATA_TABLE_NAME = dataTable;
  return load();
};

beforeAll(async () => {
  await createPrivateDataTable();
  bus = await startBus(['trust-events']);
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.url;
  scanner = (await loadFunction(ctx, 'ReviewScannerFunction', useOwnTable(() => import('../../functions/handlers/review-scanner.ts'))))
    .handler as unknown as Eb;
  reviewDue = (await loadFunction(ctx, 'PolicyReviewDueFunction', useOwnTable(() => import('../../functions/handlers/policy-review-due.ts'))))
    .handler as unknown as Eb;
  reviewed = (await loadFunction(ctx, 'PolicyReviewedFunction', useOwnTable(() => import('../../functions/handlers/policy-reviewed.ts'))))
    .handler as unknown as Eb;
  sender = await loadEmailSender(ctx);

  const people = new PeopleRepository(db, dataTable);
  for (const p of [...told, ...notTold]) await people.putIfNotOlder(personFromHr(p, '2020-09-01T00:00:00Z', null));
  await people.putIfNotOlder({ ...personFromHr(leftTrustee, '2026-01-01T00:00:00Z', null), status: 'left' });
});

afterAll(async () => {
  await bus?.close();
});

describe('the review cycle (DESIGN.md "Events": Policy Review Due, Policy Reviewed)', () => {
  let firstScan: BusEvent[] = [];

  it('the first scan on a fresh install finds the seed policy (review due 2023) overdue, by querying the review index', async () => {
    expect(await current(SEED)).toBeUndefined();

    firstScan = await scan('2026-11-25T06:00:00Z');

    // Both configured policies state "review 2023": due by 31 December 2023, in overdue week 152.
    expect(firstScan.map((e) => [e.source, e['detail-type'], e.detail.policyId]).sort()).toEqual([
      ['trust.policies', 'Policy Review Due', AGREEMENT],
      ['trust.policies', 'Policy Review Due', SEED],
    ]);
    const seedEvent = firstScan.find((e) => e.detail.policyId === SEED);
    expect(seedEvent?.detail).toEqual({
      policyId: SEED,
      version: 1,
      reviewDate: '2023-12-31',
      stage: 'overdue',
      occurrence: 152,
      eventId: 'review:use-of-social-media:v1:2023-12-31:overdue:152',
      occurredAt: '2026-11-25T06:00:00.000Z',
    });
    // The scanner registered the configured policies, on the review index by their due date.
    expect(await current(SEED)).toMatchObject({ version: 1, reviewDue: '2023', reviewDueBy: '2023-12-31', gsi2pk: 'REVIEW', gsi2sk: `2023-12-31#${SEED}` });
  });

  it('the notice reaches the Trust Network Manager, the chair of trustees and the trustees, saying how overdue and what to do', async () => {
    await deliverToHandler(firstScan);
    await drain();
    for (const p of told) {
      const mails = await eventually(async () => {
        const got = await reviewEmailsTo(p.email);
        return got.length === 2 ? got : undefined;
      }, { what: `two review notices to ${p.staffId}` });
      expect(mails.map((m) => m.subject).sort()).toEqual([
        'Policy review overdue: Social Media Acceptable Use Agreement (version 1)',
        'Policy review overdue: Use of Social Media Policy (version 1)',
      ]);
      const seedMail = mails.find((m) => m.subject.includes('Use of Social Media Policy'));
      const text = seedMail?.body.text ?? '';
      expect(text).toContain('is due for review by 2023 (by 31 December 2023): its review is overdue by 151 weeks and 3 days.');
      expect(text).toContain('trust-notify publish policy-reviewed <file>, where the file gives policyId "use-of-social-media", version 1');
      expect(text).toContain('trust-notify publish policy-updated <file>');
      expect(text).toContain('http://127.0.0.1:3000/policies/use-of-social-media/v1');
    }
    const tnmMail = (await reviewEmailsTo(tnm.email)).find((m) => m.subject.includes('Use of Social Media Policy'));
    expect(tnmMail?.body.text).toContain('You are receiving this as the person responsible for this policy (Trust Network Manager).');
    const trusteeMail = (await reviewEmailsTo(trustee.email)).find((m) => m.subject.includes('Use of Social Media Policy'));
    expect(trusteeMail?.body.text).toContain('You are receiving this as a member of its governing committee, the Trust Board.');
    // Not a trustee who has left, nor a school governor.
    for (const p of notTold) expect(await reviewEmailsTo(p.email)).toEqual([]);
  });

  it('running the scanner again (same run, later that week) publishes nothing more; a redelivered notice sends nothing more', async () => {
    expect(await scan('2026-11-25T06:00:00Z')).toEqual([]);
    expect(await scan('2026-11-29T06:00:00Z')).toEqual([]);
    const before = (await sesStore(ctx.endpoints.ses)).length;
    await deliverToHandler(firstScan);
    await drain();
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
  });

  it('a publish that fails is published by the retry, once (claim, publish, mark)', async () => {
    // The bus refuses the events (it knows no trust-events bus): the run fails after claiming.
    const port = bus.port;
    await bus.close();
    bus = await startBus([], port);
    await expect(scanner(scheduledEvent('2026-11-30T06:00:00Z'), lambdaContext('ReviewScanner'))).rejects.toThrow(
      /2 review notices were not published/,
    );
    const claims = await db.send(
      new QueryCommand({
        TableName: dataTable,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :notice)',
        ExpressionAttributeValues: { ':pk': `POLICY#${SEED}`, ':notice': 'REVIEWNOTICE#000001#2023-12-31#overdue#153' },
        ConsistentRead: true,
      }),
    );
    expect(claims.Items?.map((i) => i.state)).toEqual(['claimed']);
    published.splice(0);

    // The bus is back; the retry (the same scheduled event time) publishes both, and only once.
    await bus.close();
    bus = await startBus(['trust-events'], port);
    const retried = await scan('2026-11-30T06:00:00Z');
    expect(retried.map((e) => [e.detail.policyId, e.detail.stage, e.detail.occurrence]).sort()).toEqual([
      [AGREEMENT, 'overdue', 153],
      [SEED, 'overdue', 153],
    ]);
    expect(await scan('2026-11-30T06:00:00Z')).toEqual([]);
    await deliverToHandler(retried);
    await drain();
    await eventually(async () => ((await reviewEmailsTo(tnm.email)).length === 4 ? true : undefined), { what: 'week 153 notices' });
  });

  it('a notice for a version that is no longer current is dropped', async () => {
    // A new version of the agreement (as the Policy Updated handler stores it): due a year after approval.
    const old = await current(AGREEMENT);
    await db.send(
      new PutCommand({
        TableName: dataTable,
        Item: { ...old, version: 2, approved: '2026-11-25', reviewDue: '2027-11-25', reviewDueBy: '2027-11-25', gsi2sk: `2027-11-25#${AGREEMENT}` },
      }),
    );
    const before = (await sesStore(ctx.endpoints.ses)).length;
    await deliverToHandler([
      policyEvent('Policy Review Due', { policyId: AGREEMENT, version: 1, reviewDate: '2023-12-31', stage: 'overdue', occurrence: 154 }) as unknown as BusEvent,
    ]);
    await drain();
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
  });

  it('Policy Reviewed for a version that is not current is refused and changes nothing', async () => {
    const before = await current(SEED);
    await expect(
      reviewed(policyEvent('Policy Reviewed', { policyId: SEED, version: 2, reviewedOn: '2026-12-01' }), lambdaContext('PolicyReviewed')),
    ).rejects.toThrow('Policy Reviewed refused: detail.version 2 is not the current version (1) of use-of-social-media');
    expect(await current(SEED)).toEqual(before);
  });

  it('Policy Reviewed (no change) sets the next review date, moves the index key, and the old cycle stops', async () => {
    const event = policyEvent('Policy Reviewed', { policyId: SEED, version: 1, reviewedOn: '2026-12-01', note: 'No change needed.' });
    await reviewed(event, lambdaContext('PolicyReviewed'));
    const after = await current(SEED);
    expect(after).toMatchObject({
      version: 1,
      reviewDue: '2027-12-01',
      reviewDueBy: '2027-12-01',
      lastReviewedOn: '2026-12-01',
      gsi2pk: 'REVIEW',
      gsi2sk: `2027-12-01#${SEED}`,
    });
    const record = await db.send(
      new GetCommand({ TableName: dataTable, Key: { pk: `POLICY#${SEED}`, sk: 'REVIEWED#000001#2026-12-01' }, ConsistentRead: true }),
    );
    expect(record.Item).toMatchObject({ closedCycleDueBy: '2023-12-31', nextReviewDueBy: '2027-12-01', note: 'No change needed.' });

    // Redelivered: nothing changes and nothing fails.
    await reviewed(event, lambdaContext('PolicyReviewed'));
    expect(await current(SEED)).toEqual(after);

    // A late notice of the closed cycle is dropped.
    const before = (await sesStore(ctx.endpoints.ses)).length;
    await deliverToHandler([
      policyEvent('Policy Review Due', { policyId: SEED, version: 1, reviewDate: '2023-12-31', stage: 'overdue', occurrence: 154 }) as unknown as BusEvent,
    ]);
    await drain();
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);

    // Week 154 of the old cycle would start on 7 December: nothing is due (the agreement's v2 is due in 2027 too).
    expect(await scan('2026-12-07T06:00:00Z')).toEqual([]);
    // The day before the agreement's version 2 (due 25 November 2027) reaches its 30-day stage.
    expect(await scan('2027-10-25T06:00:00Z')).toEqual([]);
  });

  it('the next cycle fires again: 30 days before 1 December 2027, a due-in-30-days notice', async () => {
    const events = await scan('2027-11-01T06:00:00Z');
    const seedNotice = events.find((e) => e.detail.policyId === SEED);
    expect(seedNotice?.detail).toMatchObject({ version: 1, reviewDate: '2027-12-01', stage: 'due-in-30-days', occurrence: 1 });
    // The agreement's version 2 is due 25 November 2027: 24 days ahead, still its 30-day stage, first seen now.
    expect(events.find((e) => e.detail.policyId === AGREEMENT)?.detail).toMatchObject({ version: 2, stage: 'due-in-30-days' });
    await deliverToHandler(events.filter((e) => e.detail.policyId === SEED));
    await drain();
    const mail = await eventually(async () => {
      const got = (await reviewEmailsTo(chair.email)).filter((m) => m.subject.startsWith('Policy review due in 30 days'));
      return got.length === 1 ? got[0] : undefined;
    }, { what: 'the next cycle notice' });
    expect(mail.subject).toBe('Policy review due in 30 days: Use of Social Media Policy (version 1)');
    expect(mail.body.text).toContain('is due for review by 1 December 2027: its review is due in 30 days.');
  });
});
