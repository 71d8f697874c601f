/**
 * People changes end to end through the real handlers and the real AWS SDK v3 clients,
 * against DynamoDB Local, aws-ses-v2-local and fauxqs (started by the global setup):
 * Staff Onboarded → Staff Updated (only newly applicable policies, no second welcome) →
 * Staff Left (requests cancelled and out of the pending index, credential rotation notices
 * naming the channels, §8a.ii) → late HR events that must not revive the leaver
 * (DESIGN.md "Order").
 *
 * SM-T1 and T-TNM are the staff the official-channel register (config/trust.json) names.
 */
import { GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { EventBridgeEvent } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { pendingIndexKeys } from '../../functions/adapters/index-keys.ts';
import { PeopleRepository } from '../../functions/adapters/people-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { parseKeyRing, verifyToken } from '../../functions/domain/ack-token.ts';
import { addDays, londonDate } from '../../functions/domain/dates.ts';
import { lambdaContext, loadFunction, TEST_ACK_KEYS } from '../support/functions.ts';
import { drainThroughSender, eventBridgeEvent, type EventBridgeHandler, loadEmailSender, localClients, one, sequentialEventIds, type SqsHandler } from '../support/integration.ts';
import { emailsTo, sesStore, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { db, sqs } = localClients(ctx);
const dataTable = one(ctx.tables, 'DataTable');
const ledgerTable = one(ctx.tables, 'LedgerTable');
const emailQueue = one(ctx.queues, 'EmailQueue');

type EbHandler = EventBridgeHandler;
let onboard: EbHandler;
let updated: EbHandler;
let left: EbHandler;
let sendEmails: SqsHandler;

beforeAll(async () => {
  const load = async (prefix: string, importer: () => Promise<{ handler: unknown }>) =>
    (await loadFunction(ctx, prefix, importer)).handler as EbHandler;
  onboard = await load('StaffOnboardedFunction', () => import('../../functions/handlers/staff-onboarded.ts'));
  updated = await load('StaffUpdatedFunction', () => import('../../functions/handlers/staff-updated.ts'));
  left = await load('StaffLeftFunction', () => import('../../functions/handlers/staff-left.ts'));
  sendEmails = await loadEmailSender(ctx);
});

const nextEventId = sequentialEventIds('9000');
const hrEvent = (detailType: string, detail: Record<string, unknown>) => eventBridgeEvent(detailType, 'trust.hr', detail, { id: nextEventId() });
const run = (handler: EbHandler, event: EventBridgeEvent<string, unknown>) => handler(event, lambdaContext(event['detail-type']));

/** Runs the email sender over the queue until it is empty, as the event source mapping would. */
const drainEmailQueue = () => drainThroughSender(sqs, emailQueue, sendEmails);

async function ledgerKeys(prefix: string): Promise<string[]> {
  const out = await db.send(
    new ScanCommand({ TableName: ledgerTable, FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': prefix }, ConsistentRead: true }),
  );
  return (out.Items ?? []).map((item) => String(item.pk)).sort();
}

async function storedPerson(staffId: string) {
  return (await db.send(new GetCommand({ TableName: dataTable, Key: { pk: `PERSON#${staffId}`, sk: 'PROFILE' }, ConsistentRead: true }))).Item;
}

async function storedRequests(staffId: string) {
  const out = await db.send(
    new QueryCommand({
      TableName: dataTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :r)',
      ExpressionAttributeValues: { ':pk': `PERSON#${staffId}`, ':r': 'REQUEST#' },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

/** The person's entries in the pending index (gsi2), which the reminder scan reads. */
async function pendingIndexEntries(staffId: string) {
  const { gsi2pk } = pendingIndexKeys({ staffId, policyId: 'x', version: 1, dueOn: '2000-01-01' });
  const out = await db.send(
    new QueryCommand({
      TableName: dataTable,
      IndexName: 'gsi2',
      KeyConditionExpression: 'gsi2pk = :shard',
      FilterExpression: 'staffId = :id',
      ExpressionAttributeValues: { ':shard': gsi2pk, ':id': staffId },
    }),
  );
  return out.Items ?? [];
}

function ackLinks(email: StoredEmail): string[] {
  return [...(email.body.text ?? '').matchAll(/Confirm: (\S+)/g)].map((m) => m[1] ?? '');
}

const stMarysHead = {
  staffId: 'PC-SM-HEAD',
  givenName: 'Grace',
  familyName: 'Okafor',
  email: 'grace.okafor.pc@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['head-of-school', 'leadership-team'],
  employmentType: 'permanent',
  startDate: '2019-09-01',
  occurredAt: '2019-08-01T00:00:00Z',
};
const trustLeader = {
  staffId: 'PC-T-LEAD',
  givenName: 'Helen',
  familyName: 'Baxter',
  email: 'helen.baxter.pc@allsaints-mat.example.org',
  schoolId: 'trust',
  roles: ['director-of-finance-and-resources', 'leadership-team'],
  employmentType: 'permanent',
  startDate: '2017-04-03',
  occurredAt: '2017-03-01T00:00:00Z',
};
// The register names SM-T1 as a manager of St Mary's Facebook page.
const channelManager = {
  staffId: 'SM-T1',
  givenName: 'Oliver',
  familyName: 'Hughes',
  email: 'oliver.hughes.pc@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2021-09-01',
  lineManagerStaffId: 'PC-SM-HEAD',
  occurredAt: '2026-11-20T09:00:00Z',
};
const today = londonDate(new Date());

beforeAll(async () => {
  await run(onboard, hrEvent('Staff Onboarded', stMarysHead));
  await run(onboard, hrEvent('Staff Onboarded', trustLeader));
  await run(onboard, hrEvent('Staff Onboarded', channelManager));
  await drainEmailQueue();
});

describe('Staff Updated, end to end against the local servers', () => {
  const update = hrEvent('Staff Updated', { staffId: 'SM-T1', managesOfficialChannels: true, occurredAt: '2026-11-21T09:00:00Z' });
  let mails: StoredEmail[];

  beforeAll(async () => {
    await run(updated, update);
    await drainEmailQueue();
    mails = await emailsTo(ctx.endpoints.ses, channelManager.email);
  });

  it('§8h.i: now managing an official channel, only the acceptable use agreement is requested', async () => {
    const requests = await storedRequests('SM-T1');
    expect(requests.map((r) => [r.policyId, r.version, r.status, r.requestedBy])).toEqual([
      ['social-media-acceptable-use', 1, 'pending', `Staff Updated#${update.id}`],
      ['use-of-social-media', 1, 'pending', undefined], // from onboarding
    ]);
    expect(await pendingIndexEntries('SM-T1')).toHaveLength(2);
    expect(await storedPerson('SM-T1')).toMatchObject({ managesOfficialChannels: true, lastChangeAt: '2026-11-21T09:00:00Z', status: 'active' });
  });

  it('sends one policies-to-confirm email with one valid signed link, and no second welcome', () => {
    expect(mails.map((m) => m.subject)).toEqual([
      "Welcome to St Mary's Church of England Primary School: please read and confirm our policies",
      "Policies that now apply to you at St Mary's Church of England Primary School: please read and confirm",
    ]);
    const [, confirm] = mails as [StoredEmail, StoredEmail];
    const links = ackLinks(confirm);
    expect(links).toHaveLength(1);
    const keys = parseKeyRing(TEST_ACK_KEYS, 'test keys');
    const claims = verifyToken((links[0] ?? '').slice(`${config.publicBaseUrl}/ack/`.length), keys, 'ack', new Date());
    expect([claims.staffId, claims.policyId, claims.version]).toEqual(['SM-T1', 'social-media-acceptable-use', 1]);
    expect(confirm.body.html).toContain('Social Media Acceptable Use Agreement');
    expect(confirm.body.html).not.toContain('Use of Social Media Policy');
  });

  it('a redelivery sends nothing and writes no new ledger row', async () => {
    const before = (await sesStore(ctx.endpoints.ses)).length;
    const rowsBefore = await ledgerKeys('person#SM-T1#');
    await run(updated, update);
    await run(updated, update);
    expect(await drainEmailQueue()).toBe(0);
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
    expect(await ledgerKeys('person#SM-T1#')).toEqual(rowsBefore);
    expect(rowsBefore).toEqual([
      'person#SM-T1#induction-notice#PC-SM-HEAD',
      `person#SM-T1#policies-to-confirm#${update.id}`,
      'person#SM-T1#welcome',
    ]);
  });

  it('a person not on record is refused by field, with nothing written', async () => {
    const failure = run(updated, hrEvent('Staff Updated', { staffId: 'PC-NOBODY', familyName: 'Nobody' }));
    await expect(failure).rejects.toThrow('detail.staffId is not on record');
    expect(await storedPerson('PC-NOBODY')).toBeUndefined();
  });
});

describe('Staff Left, end to end against the local servers', () => {
  const leave = hrEvent('Staff Left', { staffId: 'SM-T1', leftOn: today, occurredAt: '2026-11-22T09:00:00Z' });
  let rotation: StoredEmail[];

  beforeAll(async () => {
    await run(left, leave);
    await drainEmailQueue();
    const store = await sesStore(ctx.endpoints.ses);
    rotation = store.filter((m) => m.subject.startsWith('Please change the login details of'));
  });

  it('marks the person left on leftOn', async () => {
    expect(await storedPerson('SM-T1')).toMatchObject({ status: 'left', leftOn: today, lastChangeAt: '2026-11-22T09:00:00Z' });
  });

  it('cancels their pending requests, which leave the pending index: no reminders', async () => {
    const requests = await storedRequests('SM-T1');
    expect(requests.map((r) => [r.policyId, r.status])).toEqual([
      ['social-media-acceptable-use', 'cancelled'],
      ['use-of-social-media', 'cancelled'],
    ]);
    for (const r of requests) expect(r.gsi2pk).toBeUndefined();
    expect(await pendingIndexEntries('SM-T1')).toEqual([]);
  });

  it('§8a.ii: the channel school Head and the trust leadership are told to rotate the credentials, naming the channel', async () => {
    const to = (address: string) => rotation.filter((m) => m.destination.to.includes(address));
    for (const address of [stMarysHead.email, trustLeader.email]) {
      const [mail, ...more] = to(address);
      expect(more).toHaveLength(0);
      expect(mail?.subject).toBe("Please change the login details of St Mary's Facebook page (facebook)");
      expect(mail?.body.text).toContain(
        "Oliver Hughes managed St Mary's Facebook page (facebook), an official social media channel of St Mary's Church of England Primary School. They left on",
      );
      expect(mail?.body.text).toContain('section 8a.ii');
    }
    // Only the channel they managed is named, and the leaver is not told about themselves.
    expect(rotation.every((m) => m.subject.includes("St Mary's Facebook page"))).toBe(true);
    expect(to(channelManager.email)).toEqual([]);
    const keys = await ledgerKeys('channel#st-marys-facebook#credential-rotation#SM-T1#');
    expect(keys).toEqual(expect.arrayContaining([
      'channel#st-marys-facebook#credential-rotation#SM-T1#PC-SM-HEAD',
      'channel#st-marys-facebook#credential-rotation#SM-T1#PC-T-LEAD',
    ]));
    expect(keys).not.toContain('channel#st-marys-facebook#credential-rotation#SM-T1#SM-T1');
  });

  it('a redelivery sends nothing more', async () => {
    const before = (await sesStore(ctx.endpoints.ses)).length;
    await run(left, leave);
    expect(await drainEmailQueue()).toBe(0);
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
  });

  it('out-of-order HR events do not revive the leaver (DESIGN.md "Order")', async () => {
    const before = (await sesStore(ctx.endpoints.ses)).length;

    // A Staff Updated from before the leave, delivered late: ignored.
    await run(updated, hrEvent('Staff Updated', { staffId: 'SM-T1', email: 'oliver.late@stmarys.example.org', occurredAt: '2026-11-21T12:00:00Z' }));
    expect(await storedPerson('SM-T1')).toMatchObject({ status: 'left', email: channelManager.email, lastChangeAt: '2026-11-22T09:00:00Z' });

    // A Staff Onboarded from before the leave, delivered late: ignored too.
    await run(onboard, hrEvent('Staff Onboarded', { ...channelManager, occurredAt: '2026-11-21T13:00:00Z' }));
    expect(await storedPerson('SM-T1')).toMatchObject({ status: 'left' });

    // A genuinely newer Staff Updated changes the record, never the status; nothing is asked.
    await run(updated, hrEvent('Staff Updated', { staffId: 'SM-T1', roles: ['teacher', 'support-staff'], occurredAt: '2026-11-23T09:00:00Z' }));
    expect(await storedPerson('SM-T1')).toMatchObject({ status: 'left', roles: ['teacher', 'support-staff'], lastChangeAt: '2026-11-23T09:00:00Z' });

    expect((await storedRequests('SM-T1')).map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    expect(await pendingIndexEntries('SM-T1')).toEqual([]);
    expect(await drainEmailQueue()).toBe(0);
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
  });
});

describe('Staff Left with a leaving date still ahead', () => {
  const tnm = {
    staffId: 'T-TNM',
    givenName: 'Daniel',
    familyName: 'Mensah',
    email: 'daniel.mensah.pc@allsaints-mat.example.org',
    schoolId: 'trust',
    roles: ['trust-network-manager'],
    employmentType: 'permanent',
    startDate: '2019-01-07',
    managesOfficialChannels: true,
    occurredAt: '2026-11-20T09:00:00Z',
  };
  const leftOn = addDays(today, 30);

  beforeAll(async () => {
    await run(onboard, hrEvent('Staff Onboarded', tnm));
    await run(left, hrEvent('Staff Left', { staffId: 'T-TNM', leftOn, occurredAt: '2026-11-22T09:00:00Z' }));
    await drainEmailQueue();
  });

  it('stores the date and keeps the person active until then; from that day they are not active', async () => {
    expect(await storedPerson('T-TNM')).toMatchObject({ status: 'active', leftOn });
    const people = new PeopleRepository(db, dataTable);
    const holders = async (on: string) => (await people.activeWithRole('trust', 'trust-network-manager', on)).map((p) => p.staffId);
    expect(await holders(today)).toContain('T-TNM');
    expect(await holders(leftOn)).not.toContain('T-TNM');
  });

  it('cancels their requests now and tells the trust leadership now, naming the channel and the date', async () => {
    expect((await storedRequests('T-TNM')).map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    expect(await pendingIndexEntries('T-TNM')).toEqual([]);
    const [mail, ...more] = (await emailsTo(ctx.endpoints.ses, trustLeader.email)).filter((m) => m.subject.includes('All Saints MAT on X'));
    expect(more).toHaveLength(0);
    expect(mail?.subject).toBe('Please change the login details of All Saints MAT on X (x)');
    expect(mail?.body.text).toContain('Daniel Mensah managed All Saints MAT on X (x), an official social media channel of All Saints Multi Academy Trust. They leave on');
    expect(mail?.body.text).toContain('on or before that day');
    // A trust channel: St Mary's Head of School is not asked.
    expect((await emailsTo(ctx.endpoints.ses, stMarysHead.email)).filter((m) => m.subject.includes('All Saints MAT on X'))).toEqual([]);
  });
});
