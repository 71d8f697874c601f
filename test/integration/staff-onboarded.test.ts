/**
 * `Staff Onboarded` end to end through the real handlers and the real AWS SDK v3 clients,
 * against DynamoDB Local, aws-ses-v2-local and fauxqs (started by the global setup):
 * EventBridge-shaped event → onboarding handler → email queue → email sender → SES.
 */
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { parseKeyRing, verifyToken } from '../../functions/domain/ack-token.ts';
import { addDays, londonDate } from '../../functions/domain/dates.ts';
import { lambdaContext, loadFunction, TEST_ACK_KEYS } from '../support/functions.ts';
import { drainThroughSender, eventBridgeEvent, type EventBridgeHandler, loadEmailSender, localClients, one, sequentialEventIds, type SqsHandler } from '../support/integration.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo, sesStore, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { db, sqs } = localClients(ctx);
const dataTable = one(ctx.tables, 'DataTable');
const ledgerTable = one(ctx.tables, 'LedgerTable');
const emailQueue = one(ctx.queues, 'EmailQueue');

let onboard: EventBridgeHandler;
let sendEmails: SqsHandler;

beforeAll(async () => {
  onboard = (await loadFunction(ctx, 'StaffOnboardedFunction', () => import('../../functions/handlers/staff-onboarded.ts')))
    .handler as unknown as EventBridgeHandler;
  sendEmails = await loadEmailSender(ctx);
});

const nextEventId = sequentialEventIds('8000');
const staffOnboarded = (detail: Record<string, unknown>) => eventBridgeEvent('Staff Onboarded', 'trust.hr', detail, { id: nextEventId() });
/** Runs the email sender over the queue until it is empty, as the event source mapping would. */
const drainEmailQueue = () => drainThroughSender(sqs, emailQueue, sendEmails);

async function ledgerRows(prefix: string) {
  const out = await db.send(
    new ScanCommand({ TableName: ledgerTable, FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': prefix }, ConsistentRead: true }),
  );
  return out.Items ?? [];
}

const head = {
  staffId: 'IT-HEAD-1',
  givenName: 'Grace',
  familyName: 'Okafor',
  email: 'grace.okafor@stjohns.example.org',
  schoolId: 'st-johns',
  roles: ['head-of-school', 'teacher'],
  employmentType: 'permanent',
  startDate: '2019-09-01',
};
const newTeacher = {
  staffId: 'IT-NEW-1',
  givenName: 'Amira',
  familyName: 'Khan',
  email: 'amira.khan@stjohns.example.org',
  schoolId: 'st-johns',
  roles: ['teacher'],
  employmentType: 'fixed-term',
  startDate: '2027-01-04',
  managesOfficialChannels: true,
  occurredAt: '2026-11-20T09:00:00Z',
};

function ackLinks(email: StoredEmail): string[] {
  return [...(email.body.text ?? '').matchAll(/Confirm: (\S+)/g)].map((m) => m[1] ?? '');
}

describe('Staff Onboarded, end to end against the local servers', () => {
  let welcome: StoredEmail;
  let notice: StoredEmail;
  const queueBodies: string[] = [];

  beforeAll(async () => {
    // The Head of School is on record first (onboarded the same way).
    await onboard(staffOnboarded({ ...head, occurredAt: '2019-08-01T00:00:00Z' }), lambdaContext('StaffOnboarded'));
    await drainEmailQueue();

    await onboard(staffOnboarded(newTeacher), lambdaContext('StaffOnboarded'));
    // Keep a copy of what went on the queue, to deliver it a second time later.
    const peek = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emailQueue.url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    for (const m of peek.Messages ?? []) if (m.Body) queueBodies.push(m.Body);
    await drainEmailQueue();

    welcome = await eventually(async () => (await emailsTo(ctx.endpoints.ses, newTeacher.email))[0], { what: 'the welcome email' });
    notice = await eventually(
      async () => (await emailsTo(ctx.endpoints.ses, head.email)).find((e) => e.subject.includes('induction')),
      { what: 'the induction notice' },
    );
  });

  it('sends the welcome to the new member of staff, from the trust, with a valid link per policy (§1f, §2a, §8h.i)', () => {
    expect(welcome.subject).toBe("Welcome to St John's Church of England Primary School: please read and confirm our policies");
    expect(welcome.from).toContain(config.sender.address);
    expect(welcome.body.html).toContain('Use of Social Media Policy');
    expect(welcome.body.html).toContain('Social Media Acceptable Use Agreement');
    const links = ackLinks(welcome);
    expect(links).toHaveLength(2);
    const keys = parseKeyRing(TEST_ACK_KEYS, 'test keys');
    const claims = links.map((link) => {
      expect(link.startsWith(`${config.publicBaseUrl}/ack/`)).toBe(true);
      return verifyToken(link.slice(`${config.publicBaseUrl}/ack/`.length), keys, 'ack', new Date());
    });
    expect(claims.map((c) => [c.staffId, c.policyId, c.version])).toEqual([
      ['IT-NEW-1', 'use-of-social-media', 1],
      ['IT-NEW-1', 'social-media-acceptable-use', 1],
    ]);
    // Each link is in the HTML part too, as the button's target.
    for (const link of links) expect(welcome.body.html).toContain(link);
  });

  it("tells the school's Head of School to cover the policy at induction (§1f, §6a)", () => {
    expect(notice.subject).toBe("New at St John's Church of England Primary School: please cover the Use of Social Media Policy at induction");
    expect(notice.body.text).toContain('Amira Khan (teacher) joins');
    expect(notice.body.text).toContain('4 January 2027');
    expect(notice.body.text).not.toContain('/ack/'); // the head gets no acknowledgement links
  });

  it('records the person and a pending request per applicable policy, due in the configured days', async () => {
    const person = await db.send(new GetCommand({ TableName: dataTable, Key: { pk: 'PERSON#IT-NEW-1', sk: 'PROFILE' } }));
    expect(person.Item).toMatchObject({
      staffId: 'IT-NEW-1',
      schoolId: 'st-johns',
      status: 'active',
      managesOfficialChannels: true,
      lastChangeAt: '2026-11-20T09:00:00.000Z',
      gsi1pk: 'SCHOOL#st-johns',
    });
    const requests = await db.send(
      new QueryCommand({
        TableName: dataTable,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :r)',
        ExpressionAttributeValues: { ':pk': 'PERSON#IT-NEW-1', ':r': 'REQUEST#' },
      }),
    );
    expect(requests.Items?.map((r) => [r.policyId, r.version, r.status, r.reminderCount])).toEqual([
      ['social-media-acceptable-use', 1, 'pending', 0],
      ['use-of-social-media', 1, 'pending', 0],
    ]);
    const due = addDays(londonDate(new Date()), config.acknowledgement.dueDays);
    for (const r of requests.Items ?? []) expect(r.dueOn).toBe(due);
  });

  it('records each email once in the ledger as sent, with the SES message id', async () => {
    const rows = await ledgerRows('person#IT-NEW-1#');
    expect(rows.map((r) => [r.pk, r.state, r.attempts]).sort()).toEqual([
      ['person#IT-NEW-1#induction-notice#IT-HEAD-1', 'sent', 1],
      ['person#IT-NEW-1#welcome', 'sent', 1],
    ]);
    const ids = (await sesStore(ctx.endpoints.ses)).map((e) => e.messageId);
    for (const row of rows) expect(ids).toContain(row.messageId);
  });

  it('redelivering the same EventBridge event sends nothing and writes no new row', async () => {
    const before = (await sesStore(ctx.endpoints.ses)).length;
    const rowsBefore = await ledgerRows('person#IT-NEW-1#');
    const event = staffOnboarded(newTeacher);
    await onboard(event, lambdaContext('StaffOnboarded'));
    await onboard(event, lambdaContext('StaffOnboarded'));
    expect(await drainEmailQueue()).toBe(0);
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
    expect(await ledgerRows('person#IT-NEW-1#')).toEqual(rowsBefore);
  });

  it('redelivering the same queue messages sends no second email', async () => {
    // One message naming both ledger rows (the welcome and the notice).
    expect(queueBodies.map((b) => JSON.parse(b).ledgerKeys.length)).toEqual([2]);
    const before = (await sesStore(ctx.endpoints.ses)).length;
    for (const body of [...queueBodies, ...queueBodies]) {
      await sqs.send(new SendMessageCommand({ QueueUrl: emailQueue.url, MessageBody: body }));
    }
    expect(await drainEmailQueue()).toBe(2); // both copies consumed and deleted, not retried
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
    const rows = await ledgerRows('person#IT-NEW-1#');
    expect(rows.every((r) => r.state === 'sent' && r.attempts === 1)).toBe(true);
  });

  it('a malformed event fails with a field-named error, writes nothing and sends nothing', async () => {
    const before = (await sesStore(ctx.endpoints.ses)).length;
    const bad = { ...newTeacher, staffId: 'IT-BAD-1', email: 'not-an-address', startDate: '2027-02-30' };
    const failure = onboard(staffOnboarded(bad), lambdaContext('StaffOnboarded'));
    await expect(failure).rejects.toThrow(/detail\.email must be a valid email address; detail\.startDate/);
    await expect(failure).rejects.not.toThrow(/not-an-address/);
    const person = await db.send(new GetCommand({ TableName: dataTable, Key: { pk: 'PERSON#IT-BAD-1', sk: 'PROFILE' } }));
    expect(person.Item).toBeUndefined();
    expect(await ledgerRows('person#IT-BAD-1#')).toEqual([]);
    // The one email is the integration contact's notice of the refused event (issue 6; test/integration/bad-input.test.ts).
    expect(await drainEmailQueue()).toBe(1);
    const sent = (await sesStore(ctx.endpoints.ses)).slice(before);
    expect(sent.map((e) => e.destination.to)).toEqual([[config.integrationContact]]);
    expect(JSON.stringify(sent)).not.toContain('not-an-address');
  });

  it('a school the trust does not have is refused by name, with nothing written', async () => {
    const failure = onboard(staffOnboarded({ ...newTeacher, staffId: 'IT-BAD-2', schoolId: 'nowhere' }), lambdaContext('StaffOnboarded'));
    await expect(failure).rejects.toThrow('detail.schoolId is not a school of the trust');
    const person = await db.send(new GetCommand({ TableName: dataTable, Key: { pk: 'PERSON#IT-BAD-2', sk: 'PROFILE' } }));
    expect(person.Item).toBeUndefined();
    expect(await drainEmailQueue()).toBe(1); // the integration contact's notice of the refused event (issue 6)
  });

  it('an event older than the last applied change is ignored (DESIGN.md "Order")', async () => {
    const before = (await sesStore(ctx.endpoints.ses)).length;
    await onboard(
      staffOnboarded({ ...newTeacher, email: 'old.address@stjohns.example.org', occurredAt: '2026-01-01T00:00:00Z' }),
      lambdaContext('StaffOnboarded'),
    );
    const person = await db.send(new GetCommand({ TableName: dataTable, Key: { pk: 'PERSON#IT-NEW-1', sk: 'PROFILE' } }));
    expect(person.Item?.email).toBe(newTeacher.email);
    expect(await drainEmailQueue()).toBe(0);
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
  });
});
