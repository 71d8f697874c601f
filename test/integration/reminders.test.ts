/**
 * Chasing and refreshers end to end through the real handlers against the local servers
 * (issue 4: "Reminder scan with a simulated today: reminders, then one digest per Head of
 * School, then nothing more after acknowledgement; a refresher cycle re-asks after its
 * period"). People are onboarded through the `Staff Onboarded` handler; the reminder
 * scanner runs with scheduled events whose `time` is the simulated day; people confirm
 * through the acknowledgement endpoint with the links the reminders carry; the email
 * sender delivers to the local SES server.
 *
 * The handlers here use a data table of their own (same keys and indexes as the
 * template's): a scan with a simulated date months ahead must not chase other test files'
 * people. The ledger, the email queue and SES are the shared ones; every address here is
 * our own.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  EventBridgeEvent,
} from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PeopleRepository } from '../../functions/adapters/people-repository.ts';
import { RequestRepository } from '../../functions/adapters/request-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { schoolName } from '../../functions/config/trust-config.ts';
import type { StaffOnboarded } from '../../functions/contracts/events.ts';
import { addDays, addMonths, londonDate } from '../../functions/domain/dates.ts';
import { type Person, personFromHr } from '../../functions/domain/people.ts';
import { type BusEvent, type LocalEventBus, startLocalEventBus } from '../../local/event-bus.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { createTableLike, drainThroughSender, eventBridgeEvent, type EventBridgeHandler, loadEmailSender, localClients, one, type SqsHandler } from '../support/integration.ts';
import { emailsTo, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { dynamodb, db, sqs } = localClients(ctx, { removeUndefinedValues: true });
const sharedDataTable = one(ctx.tables, 'DataTable');
const ledgerTable = one(ctx.tables, 'LedgerTable');
const emailQueue = one(ctx.queues, 'EmailQueue');
const dataTable = `${sharedDataTable}-reminders`;
const SEED = 'use-of-social-media';

type Eb = EventBridgeHandler;
type Sqs = SqsHandler;
type Http = (event: APIGatewayProxyEventV2, c: ReturnType<typeof lambdaContext>) => Promise<APIGatewayProxyStructuredResultV2>;
let scanner: Eb;
let onboard: Eb;
let receipt: Eb;
let ack: Http;
let sender: Sqs;
let bus: LocalEventBus;
const published: BusEvent[] = [];

const address = (staffId: string) => `${staffId.toLowerCase()}@reminders.example.org`;
const hr = (staffId: string, schoolId: string, roles: string[], extra: Partial<StaffOnboarded> = {}): StaffOnboarded =>
  ({
    staffId,
    givenName: staffId.replace(/^REM-/, ''),
    familyName: 'Reminded',
    email: address(staffId),
    schoolId,
    roles,
    employmentType: 'permanent',
    startDate: '2026-09-01',
    ...extra,
  }) as StaffOnboarded;

// Leadership, on record without requests of their own (the demo directory is not seeded here).
const headStMarys = hr('REM-HEADSM', 'st-marys', ['head-of-school']);
const headStJohns = hr('REM-HEADSJ', 'st-johns', ['head-of-school']);
const exec = hr('REM-EXEC', 'trust', ['executive-headteacher']);
const hrAdvisor = hr('REM-HR', 'trust', ['hr-advisor']);
const manager = hr('REM-MGR', 'st-marys', ['teacher']);
// Onboarded through the handler: asked to confirm the seed policy, due in 14 days.
const a1 = hr('REM-A1', 'st-marys', ['teacher']);
const a2 = hr('REM-A2', 'st-marys', ['support-staff']);
const b1 = hr('REM-B1', 'st-johns', ['teacher']);
// Their address bounces: written through the repositories, due a week later than the others.
const u1 = hr('REM-U1', 'st-marys', ['teacher'], { lineManagerStaffId: 'REM-MGR' });

const scheduledEvent = (day: string) =>
  eventBridgeEvent('Scheduled Event', 'aws.events', {}, {
    time: `${day}T07:00:00Z`,
    resources: ['arn:aws:events:eu-west-2:000000000000:rule/ReminderScannerSchedule'],
  });

const hrEvent = (detail: StaffOnboarded) => eventBridgeEvent('Staff Onboarded', 'trust.hr', detail);

function post(link: string): APIGatewayProxyEventV2 {
  const token = link.slice(`${config.publicBaseUrl}/ack/`.length);
  const path = `/ack/${token}`;
  return {
    version: '2.0',
    routeKey: 'POST /ack/{token}',
    rawPath: path,
    rawQueryString: '',
    headers: { host: '127.0.0.1:3000' },
    pathParameters: { token },
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: '127.0.0.1',
      domainPrefix: 'local',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: crypto.randomUUID(),
      routeKey: 'POST /ack/{token}',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}

const drain = () => drainThroughSender(sqs, emailQueue, sender, { rounds: 100, mustDrain: false });

/** Runs the scanner as the schedule would on `day`, then sends what it queued. */
async function scan(day: string): Promise<void> {
  await scanner(scheduledEvent(day), lambdaContext('ReminderScanner'));
  await drain();
}

/** Confirms with a link (POST), then delivers Policy Acknowledged to the receipt handler and sends the receipt. */
async function confirm(link: string): Promise<number> {
  const res = await ack(post(link), lambdaContext('Ack'));
  for (const e of published.splice(0)) await receipt(e as unknown as EventBridgeEvent<string, unknown>, lambdaContext('PolicyAcknowledged'));
  await drain();
  return res.statusCode ?? 0;
}

const inbox = async (staffId: string, subjectStart: string): Promise<StoredEmail[]> =>
  (await emailsTo(ctx.endpoints.ses, address(staffId))).filter((e) => e.subject.startsWith(subjectStart));
const reminders = (staffId: string) => inbox(staffId, 'Reminder: please confirm');
const digests = (staffId: string) => inbox(staffId, 'Policy confirmations outstanding');
const rollups = (staffId: string) => inbox(staffId, 'Trust-wide policy confirmations');
const confirmLink = (email: StoredEmail | undefined): string => {
  const link = /Confirm: (\S+)/.exec(email?.body.text ?? '')?.[1];
  if (!link) throw new Error('no confirmation link in the email');
  return link;
};

async function requestRow(staffId: string) {
  const out = await db.send(
    new GetCommand({ TableName: dataTable, Key: { pk: `PERSON#${staffId}`, sk: `REQUEST#${SEED}#000001` }, ConsistentRead: true }),
  );
  return out.Item ?? {};
}

async function ledgerRow(key: string) {
  return (await db.send(new GetCommand({ TableName: ledgerTable, Key: { pk: key }, ConsistentRead: true }))).Item;
}

const createPrivateDataTable = () => createTableLike(dynamodb, sharedDataTable, dataTable);

const useOwnTable = <M>(load: () => Promise<M>) => () => {
  process.env.DATA_TABLE_NAME = dataTable;
  return load();
};

/** Real today (Europe/London): onboarding and confirming use the real clock; scans use simulated days after it. */
const today = londonDate(new Date());
/** The onboarded people's due date. */
let due = '';

beforeAll(async () => {
  await createPrivateDataTable();
  bus = await startLocalEventBus({
    region: ctx.region,
    account: '000000000000',
    busNames: ['trust-events'],
    deliver: (_bus, event) => {
      published.push(event);
    },
    log: () => {},
  });
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.url;
  scanner = (await loadFunction(ctx, 'ReminderScannerFunction', useOwnTable(() => import('../../functions/handlers/reminder-scanner.ts'))))
    .handler as unknown as Eb;
  onboard = (await loadFunction(ctx, 'StaffOnboardedFunction', useOwnTable(() => import('../../functions/handlers/staff-onboarded.ts'))))
    .handler as unknown as Eb;
  ack = (await loadFunction(ctx, 'AckFunction', useOwnTable(() => import('../../functions/handlers/ack-http.ts')))).handler as unknown as Http;
  receipt = (await loadFunction(ctx, 'PolicyAcknowledgedFunction', useOwnTable(() => import('../../functions/handlers/policy-acknowledged.ts'))))
    .handler as unknown as Eb;
  sender = await loadEmailSender(ctx);

  const people = new PeopleRepository(db, dataTable);
  for (const p of [headStMarys, headStJohns, exec, hrAdvisor, manager]) await people.putIfNotOlder(personFromHr(p, '2026-09-01T00:00:00Z', null));
  for (const p of [a1, a2, b1]) await onboard(hrEvent(p), lambdaContext('StaffOnboarded'));
  due = String((await requestRow(a1.staffId)).dueOn);

  const bounced: Person = { ...personFromHr(u1, '2026-09-01T00:00:00Z', null), emailDeliverable: false };
  await people.putIfNotOlder(bounced);
  await new RequestRepository(db, dataTable).createIfAbsent([
    {
      staffId: u1.staffId,
      schoolId: 'st-marys',
      policyId: SEED,
      version: 1,
      status: 'pending',
      requestedAt: new Date().toISOString(),
      dueOn: addDays(due, 21),
      reminderCount: 0,
    },
  ]);
  await drain();
});

afterAll(async () => {
  await bus?.close();
});

describe('the daily reminder scan with a simulated today (§1f, §4a.ii, §4b.i)', () => {
  it('onboarding asked everyone, due in 14 days', () => {
    expect(due).toBe(addDays(today, 14));
  });

  it('on the due date and the days after, before the cadence comes round: nothing', async () => {
    for (const day of [due, addDays(due, 6)]) await scan(day);
    for (const p of [a1, a2, b1]) expect(await reminders(p.staffId)).toEqual([]);
    expect(await requestRow(a1.staffId)).toMatchObject({ reminderCount: 0 });
  });

  it('7 days after: one reminder each, with its own working link, recorded on the request; a retried scan sends none again', async () => {
    const day = addDays(due, 7);
    await scan(day);
    await scan(day); // the schedule's retry of the same run
    for (const p of [a1, a2, b1]) {
      const sent = await reminders(p.staffId);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.body.text).toContain('This is reminder 1 of 3.');
      expect(sent[0]?.body.text).toContain(`${config.trust.name}, ${schoolName(config, p.schoolId)}`);
      expect(await requestRow(p.staffId)).toMatchObject({ status: 'pending', reminderCount: 1, lastRemindedOn: day, gsi2pk: expect.stringMatching(/^PENDING#/) });
    }
    expect(await ledgerRow(`reminder#${SEED}#v1#REM-A1#1`)).toMatchObject({ state: 'sent', templateId: 'reminder' });
    // Nobody is past their reminders yet, and the bounced address is not yet overdue: no digest, no notice.
    for (const p of [headStMarys, headStJohns, exec, hrAdvisor, manager]) expect(await digests(p.staffId)).toEqual([]);
  });

  it('A2 confirms with the reminder link: a receipt, and nothing more for them', async () => {
    expect(await confirm(confirmLink((await reminders(a2.staffId))[0]))).toBe(200);
    expect(await inbox(a2.staffId, 'Receipt')).toHaveLength(1);
    const row = await requestRow(a2.staffId);
    expect(row).toMatchObject({ status: 'acknowledged', gsi2pk: expect.stringMatching(/^ACKED#[0-7]$/), gsi2sk: `${today}#REM-A2#${SEED}#000001` });
  });

  it('14 and 21 days after: reminders 2 and 3 for the others (the last says the Head of School will be told)', async () => {
    await scan(addDays(due, 14));
    await scan(addDays(due, 21));
    for (const p of [a1, b1]) {
      const sent = await reminders(p.staffId);
      expect(sent.map((e) => /This is reminder (\d) of 3/.exec(e.body.text ?? '')?.[1])).toEqual(['1', '2', '3']);
      expect(sent[2]?.body.text).toContain('your Head of School will be told');
    }
    expect(await reminders(a2.staffId)).toHaveLength(1);
  });

  it('28 days after: ONE digest per Head of School listing their outstanding people, a roll-up to leadership, HR and the line manager told of the bounced address', async () => {
    const day = addDays(due, 28);
    await scan(day);
    await scan(day); // retried: still one of each
    for (const p of [a1, b1]) expect(await reminders(p.staffId)).toHaveLength(3);
    expect(await reminders(u1.staffId)).toEqual([]);

    const stMarys = await digests(headStMarys.staffId);
    expect(stMarys).toHaveLength(1);
    expect(stMarys[0]?.subject).toMatch(/^Policy confirmations outstanding: 2 to follow up/);
    expect(stMarys[0]?.body.text).toContain('A1 Reminded');
    expect(stMarys[0]?.body.text).toContain('U1 Reminded');
    expect(stMarys[0]?.body.text).toMatch(/U1 Reminded[\s\S]*Note: their email address is undeliverable/);
    expect(stMarys[0]?.body.text).not.toContain('A2 Reminded');
    expect(stMarys[0]?.body.text).not.toContain('B1 Reminded');
    const stJohns = await digests(headStJohns.staffId);
    expect(stJohns).toHaveLength(1);
    expect(stJohns[0]?.body.text).toContain('B1 Reminded');
    expect(stJohns[0]?.body.text).not.toContain('A1 Reminded');
    expect(await digests(exec.staffId)).toEqual([]);

    for (const p of [exec, hrAdvisor]) {
      const [rollup, ...more] = await rollups(p.staffId);
      expect(more).toEqual([]);
      expect(rollup?.body.text).toContain("St Mary's Church of England Primary School: 2 overdue; 0 still being reminded; 2 with the Head of School (2 new today); 1 with an undeliverable email address");
      expect(rollup?.body.text).toContain("St John's Church of England Primary School: 1 overdue");
    }

    const notices = [...(await inbox(manager.staffId, 'Email undeliverable')), ...(await inbox(hrAdvisor.staffId, 'Email undeliverable'))];
    expect(notices.map((e) => e.subject)).toEqual([
      'Email undeliverable: U1 Reminded has not confirmed the Use of Social Media Policy',
      'Email undeliverable: U1 Reminded has not confirmed the Use of Social Media Policy',
    ]);
    expect(notices[0]?.body.text).toContain('You are told as their line manager.');
    expect(await requestRow(a1.staffId)).toMatchObject({ reminderCount: 3, escalationCount: 1, lastEscalatedOn: day });
  });

  it('after everyone confirms: the next scans send nothing more', async () => {
    for (const p of [a1, b1]) expect(await confirm(confirmLink((await reminders(p.staffId))[2]))).toBe(200);
    const before = { digests: (await digests(headStMarys.staffId)).length, all: await everythingSentTo([a1, a2, b1, headStMarys, headStJohns, exec, hrAdvisor, manager]) };
    // The person with the bounced address confirmed on paper; HR records it.
    await new RequestRepository(db, dataTable).acknowledge(u1.staffId, SEED, 1, 'recorded-by-hr', new Date());
    for (const day of [addDays(due, 35), addDays(due, 42), addDays(due, 60)]) await scan(day);
    expect(await everythingSentTo([a1, a2, b1, headStMarys, headStJohns, exec, hrAdvisor, manager])).toEqual(before.all);
    expect((await digests(headStMarys.staffId)).length).toBe(before.digests);
  });
});

async function everythingSentTo(people: StaffOnboarded[]): Promise<number> {
  let count = 0;
  for (const p of people) count += (await emailsTo(ctx.endpoints.ses, address(p.staffId))).length;
  return count;
}

describe('refreshers (§6a: revisited via regular staff training, every 12 months)', () => {
  const anniversary = addMonths(today, 12);

  it('the day before the period is over: nothing', async () => {
    await scan(addDays(anniversary, -1));
    for (const p of [a1, a2, b1]) expect(await inbox(p.staffId, 'Time to re-read')).toEqual([]);
  });

  it('a year after they confirmed, each person is asked again for the same version; the earlier confirmation is kept', async () => {
    await scan(anniversary);
    await scan(anniversary); // retried: one email each
    for (const p of [a1, a2, b1]) {
      const asked = await inbox(p.staffId, 'Time to re-read');
      expect(asked).toHaveLength(1);
      expect(asked[0]?.body.text).toContain('Every 12 months we ask everyone to read the current version (version 1) again');
      expect(asked[0]?.body.text).toContain(`${config.trust.name}, ${schoolName(config, p.schoolId)}`);
      const row = await requestRow(p.staffId);
      expect(row).toMatchObject({ status: 'pending', refreshCycle: 1, reminderCount: 0, dueOn: addDays(anniversary, 14), gsi2pk: expect.stringMatching(/^PENDING#/) });
      expect(row.acknowledgements).toEqual([expect.objectContaining({ refreshCycle: 0, acknowledgedAt: expect.any(String) })]);
      expect(row.acknowledgedAt).toBeUndefined();
    }
    // The bounced address gets no email: its cycle opens all the same, and the reminder scan reports it.
    expect(await requestRow(u1.staffId)).toMatchObject({ status: 'pending', refreshCycle: 1 });
  });

  it('the link used last year stays used; the new link records cycle 1 with a receipt of its own', async () => {
    expect(await confirm(confirmLink((await reminders(a1.staffId))[2]))).toBe(409);
    expect(await requestRow(a1.staffId)).toMatchObject({ status: 'pending', refreshCycle: 1 });
    expect(await confirm(confirmLink((await inbox(a1.staffId, 'Time to re-read'))[0]))).toBe(200);
    expect(await requestRow(a1.staffId)).toMatchObject({ status: 'acknowledged', refreshCycle: 1 });
    expect(await inbox(a1.staffId, 'Receipt')).toHaveLength(2);
    expect(await ledgerRow(`person#REM-A1#receipt#${SEED}#v1#r1`)).toMatchObject({ state: 'sent' });
  });

  it('the refresher is chased like any request: reminder 1 of cycle 1 for those who have not confirmed again', async () => {
    await scan(addDays(anniversary, 21));
    for (const p of [a2, b1]) {
      const sent = await reminders(p.staffId);
      expect(sent.at(-1)?.body.text).toContain('This is your regular refresher');
      expect(await ledgerRow(`reminder#${SEED}#v1#${p.staffId}#r1#1`)).toMatchObject({ state: 'sent' });
    }
    expect(await reminders(a1.staffId)).toHaveLength(3);
    expect(await inbox(hrAdvisor.staffId, 'Email undeliverable')).toHaveLength(2);
  });
});
