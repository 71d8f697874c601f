/**
 * No personal data or case narrative in the logs (issue 6 §5 "Logs"; DESIGN.md and the
 * repo rule: log ids, hashes and counts only). Every handler in functions/handlers/ is
 * loaded with its template environment and driven, at Powertools DEBUG level, with valid
 * events AND invalid ones (ContractError paths, bad queue bodies, hostile tokens, broken
 * reports) whose personal fields hold distinctive marker values. Every line written to
 * stdout/stderr is captured; none may contain a marker.
 *
 * What counts as personal here: names (given, family, a renamed one), email addresses
 * (old and new), the case narrative (§9d: the account of a breach stays in the narrative
 * table), the subject's name inside the narrative, and free-text notes.
 *
 * Staff ids: an HR staff id is a pseudonymous identifier. DESIGN.md lets logs carry ids
 * (an operator needs them to investigate), and the ledger keys that embed them are
 * hashed in logs. This file takes the stricter line the handlers already meet: the marker
 * person's raw staff id appears in no log line either (no handler logs one today), so a
 * change that starts logging staff ids has to revisit this decision here.
 *
 * The file gets its own data and ledger tables (copies of the template's, seeded with the
 * demo trust), its own email and fan-out queues and a local event bus, so its scheduled
 * scans cannot touch other files' people.
 */
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, EventBridgeEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { CaseRepository } from '../../functions/adapters/case-repository.ts';
import { PeopleRepository } from '../../functions/adapters/people-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { CATALOGUE, type DetailType } from '../../functions/contracts/events.ts';
import type { BusEvent, LocalEventBus } from '../../local/event-bus.ts';
import { toHttpApiEvent } from '../../local/http-api.ts';
import { seedDemoTrust } from '../../local/seed.ts';
import { examples } from '../support/examples.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { createTableLike,
  drainThroughSender,
  type EventBridgeHandler,
  eventBridgeEvent,
  localClients,
  one,
  sequentialEventIds,
  type SqsHandler, httpApiEvent as httpEvent, startCapturingBus } from '../support/integration.ts';
import { emailsTo } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { dynamodb: dynamo, db, sqs } = localClients(ctx, { removeUndefinedValues: true });
const run = Date.now().toString(36);
const dataTable = `log-privacy-data-${run}`;
const ledgerTable = `log-privacy-ledger-${run}`;
let emailQueue: { url: string; arn: string };
let fanoutQueue: { url: string; arn: string };
/** The console's one dead-letter queue (DLQ_URLS), deleted under it at the end to make it fail. */
let consoleDlq: { url: string; arn: string };

type Http = (event: APIGatewayProxyEventV2, c: ReturnType<typeof lambdaContext>) => Promise<APIGatewayProxyStructuredResultV2>;

// ---------------------------------------------------------------------------------
// The markers: personal values no log line may hold.

const GIVEN = 'Zzmarkergiven';
const FAMILY = 'Zzmarkerfamily';
const RENAMED = 'Zzmarkerrenamed';
const EMAIL = 'zz.marker.person@example.org';
const NEW_EMAIL = 'zz.marker.renamed@example.org';
const SUBJECT_NAME = 'Zzmarkersubject';
const NARRATIVE_TAG = 'ZZ-NARRATIVE-MARKER';
const NARRATIVE =
  `${NARRATIVE_TAG}: a parent posted in the Year 4 class group that ${GIVEN} ${FAMILY} (${EMAIL}) should be sacked, ` +
  `and named ${SUBJECT_NAME}'s home street; screenshots were taken before the messages were deleted.`;
const NOTE = `${NARRATIVE_TAG} review note: ${GIVEN} ${FAMILY} asked for section 8 to be reread.`;
/** The marker person's staff id: see the header for why it is checked too. */
const STAFF_ID = 'ZZMARKER-STAFF-77';
const MARKERS = [GIVEN, FAMILY, RENAMED, EMAIL, NEW_EMAIL, SUBJECT_NAME, NARRATIVE_TAG, 'zz.marker', STAFF_ID];

// ---------------------------------------------------------------------------------
// Log capture: every write to stdout and stderr while this file runs.

const logLines: string[] = [];
const savedLogLevel = process.env.TEST_LOG_LEVEL;

function startCapture(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logLines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write);
  }
}

// ---------------------------------------------------------------------------------
// Every handler, loaded as its function.

/** Handler module → the logical id prefix of its function in the synthesized template. */
const MODULES = {
  'staff-onboarded': 'StaffOnboardedFunction',
  'staff-updated': 'StaffUpdatedFunction',
  'staff-left': 'StaffLeftFunction',
  'policy-updated': 'PolicyUpdatedFunction',
  'policy-fanout': 'PolicyFanoutWorkerFunction',
  'email-sender': 'EmailSenderFunction',
  'policy-acknowledged': 'PolicyAcknowledgedFunction',
  'ack-http': 'AckFunction',
  'report-intake': 'CaseIntakeReportIntakeFunction',
  'breach-reported': 'BreachReportedFunction',
  'review-scanner': 'ReviewScannerFunction',
  'policy-review-due': 'PolicyReviewDueFunction',
  'policy-reviewed': 'PolicyReviewedFunction',
  'reminder-scanner': 'ReminderScannerFunction',
  'triage-escalation': 'TriageEscalationFunction',
  'ses-feedback': 'SesFeedbackHandlerFunction',
  'console-http': 'OperatorConsoleConsoleFunction',
} as const;
type ModuleName = keyof typeof MODULES;

const IMPORTS: Record<ModuleName, () => Promise<{ handler: unknown }>> = {
  'staff-onboarded': () => import('../../functions/handlers/staff-onboarded.ts'),
  'staff-updated': () => import('../../functions/handlers/staff-updated.ts'),
  'staff-left': () => import('../../functions/handlers/staff-left.ts'),
  'policy-updated': () => import('../../functions/handlers/policy-updated.ts'),
  'policy-fanout': () => import('../../functions/handlers/policy-fanout.ts'),
  'email-sender': () => import('../../functions/handlers/email-sender.ts'),
  'policy-acknowledged': () => import('../../functions/handlers/policy-acknowledged.ts'),
  'ack-http': () => import('../../functions/handlers/ack-http.ts'),
  'report-intake': () => import('../../functions/handlers/report-intake.ts'),
  'breach-reported': () => import('../../functions/handlers/breach-reported.ts'),
  'review-scanner': () => import('../../functions/handlers/review-scanner.ts'),
  'policy-review-due': () => import('../../functions/handlers/policy-review-due.ts'),
  'policy-reviewed': () => import('../../functions/handlers/policy-reviewed.ts'),
  'reminder-scanner': () => import('../../functions/handlers/reminder-scanner.ts'),
  'triage-escalation': () => import('../../functions/handlers/triage-escalation.ts'),
  'ses-feedback': () => import('../../functions/handlers/ses-feedback.ts'),
  'console-http': () => import('../../functions/handlers/console-http.ts'),
};

const loaded = new Map<ModuleName, unknown>();
const eb = (name: ModuleName) => loaded.get(name) as EventBridgeHandler;
const sqsHandler = (name: ModuleName) => loaded.get(name) as SqsHandler;
const http = (name: ModuleName) => loaded.get(name) as Http;
/** The function name each handler is invoked as: Powertools puts it on every line it writes. */
const fnName = (name: ModuleName) => `LogPrivacy-${name}`;

/** The bindings a template may give; cleared before each load so no function inherits another's. */
const BINDINGS = ['DATA_TABLE_NAME', 'LEDGER_TABLE_NAME', 'EMAIL_QUEUE_URL', 'FANOUT_QUEUE_URL', 'EVENT_BUS_NAME', 'NARRATIVE_TABLE_NAME', 'ACK_TOKEN_SECRET_ARN', 'DLQ_URLS'];

async function loadAll(): Promise<void> {
  for (const [name, prefix] of Object.entries(MODULES) as [ModuleName, string][]) {
    for (const key of BINDINGS) delete process.env[key];
    const module = await loadFunction(ctx, prefix, () => {
      // This file's own tables and queues, for the bindings the template gives the function.
      if (process.env.DATA_TABLE_NAME) process.env.DATA_TABLE_NAME = dataTable;
      if (process.env.LEDGER_TABLE_NAME) process.env.LEDGER_TABLE_NAME = ledgerTable;
      if (process.env.EMAIL_QUEUE_URL) process.env.EMAIL_QUEUE_URL = emailQueue.url;
      if (process.env.FANOUT_QUEUE_URL) process.env.FANOUT_QUEUE_URL = fanoutQueue.url;
      // The operator console as it runs locally: "view as" instead of Cognito.
      if (process.env.CONSOLE_AUTH) Object.assign(process.env, { CONSOLE_AUTH: 'loopback', DLQ_URLS: JSON.stringify({ LogPrivacyDlq: consoleDlq.url }) });
      return IMPORTS[name]();
    });
    loaded.set(name, module.handler);
  }
}

// ---------------------------------------------------------------------------------
// Events.

const nextEventId = sequentialEventIds('a10c');
const ebEvent = (type: string, source: string, detail: unknown, time?: string) =>
  eventBridgeEvent(type, source, detail, { id: nextEventId(), ...(time ? { time } : {}) });
const catalogued = (type: DetailType, detail: unknown) => ebEvent(type, CATALOGUE[type].source, detail);
const scheduled = (time: string, rule: string) =>
  eventBridgeEvent('Scheduled Event', 'aws.events', {}, { id: nextEventId(), time, resources: [`arn:aws:events:eu-west-2:000000000000:rule/${rule}`] });

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
const at = (offsetHours: number) => new Date(Date.now() + offsetHours * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');

function sqsRecord(body: string, queueArn: string): SQSRecord {
  return {
    messageId: `log-privacy-${crypto.randomUUID()}`,
    receiptHandle: 'rh',
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'local', ApproximateFirstReceiveTimestamp: String(Date.now()) },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: ctx.region,
  };
}

function sesEvent(kind: 'bounce' | 'complaint', to: string, extra: Record<string, unknown> = {}) {
  const mail = {
    timestamp: new Date().toISOString(),
    source: `"${config.sender.displayName}" <${config.sender.address}>`,
    messageId: `ses-log-privacy-${run}`,
    destination: [to],
    headersTruncated: false,
    headers: [{ name: 'To', value: `${GIVEN} ${FAMILY} <${to}>` }],
    commonHeaders: { to: [`${GIVEN} ${FAMILY} <${to}>`], subject: `Welcome, ${GIVEN}` },
    tags: { 'ses:configuration-set': [config.ses.configurationSetName], 'tpn-staff-id': [STAFF_ID], 'tpn-template': ['welcome'] },
  };
  if (kind === 'complaint') {
    return ebEvent('Email Complaint Received', 'aws.ses', {
      eventType: 'Complaint',
      complaint: { complainedRecipients: [{ emailAddress: to }], complaintFeedbackType: 'abuse', timestamp: new Date().toISOString() },
      mail,
      ...extra,
    });
  }
  return ebEvent('Email Bounced', 'aws.ses', {
    eventType: 'Bounce',
    bounce: {
      bounceType: 'Permanent',
      bounceSubType: 'General',
      bouncedRecipients: [{ emailAddress: to, action: 'failed', status: '5.1.1', diagnosticCode: `smtp; 550 5.1.1 <${to}> ${GIVEN} ${FAMILY}: user unknown` }],
      timestamp: new Date().toISOString(),
      feedbackId: '0100019-log-privacy-000000',
      reportingMTA: 'dsn; mta.example.org',
    },
    mail,
    ...extra,
  });
}

/** Runs a handler and keeps going whatever it throws: the invalid inputs are meant to fail. */
async function settle(work: Promise<unknown>): Promise<'ok' | 'threw'> {
  return work.then(
    () => 'ok' as const,
    () => 'threw' as const,
  );
}

const person = {
  staffId: STAFF_ID,
  givenName: GIVEN,
  familyName: FAMILY,
  email: EMAIL,
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: day(-1),
  lineManagerStaffId: 'SM-HEAD',
  managesOfficialChannels: true,
};

// ---------------------------------------------------------------------------------
// The local bus: what the ack endpoint, the intake and the scanners publish.

let bus: LocalEventBus;
const published: BusEvent[] = [];
const handlerFor: Partial<Record<string, ModuleName>> = {
  'Policy Acknowledged': 'policy-acknowledged',
  'Breach Reported': 'breach-reported',
  'Policy Review Due': 'policy-review-due',
};
async function deliverPublished(): Promise<void> {
  for (const e of published.splice(0)) {
    const name = handlerFor[e['detail-type']];
    if (name) await settle(eb(name)(e as unknown as EventBridgeEvent<string, unknown>, lambdaContext(fnName(name))));
  }
}

/** A console page as API Gateway delivers it, viewed as `viewAs` (the loopback "view as" cookie). */
const consolePage = (path: string, viewAs?: string) =>
  http('console-http')(
    toHttpApiEvent(
      {
        method: 'GET',
        path,
        query: '',
        headers: { host: '127.0.0.1:3000', ...(viewAs ? { cookie: `tpn_view_as=${encodeURIComponent(viewAs)}` } : {}) },
        body: '',
        sourceIp: '127.0.0.1',
      },
      { routeKey: 'GET /{proxy+}', method: 'GET', pattern: /.*/, params: ['proxy'], functionArn: '' },
      { proxy: path.slice(1) },
    ),
    lambdaContext(fnName('console-http')),
  );

const drainEmails = () =>
  drainThroughSender(sqs, emailQueue, (event, _c) => sqsHandler('email-sender')(event, lambdaContext(fnName('email-sender'))), { mustDrain: false });

async function drainFanout(): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const { ReceiveMessageCommand, DeleteMessageCommand } = await import('@aws-sdk/client-sqs');
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: fanoutQueue.url, MaxNumberOfMessages: 1, WaitTimeSeconds: 0 }));
    const [message] = out.Messages ?? [];
    if (!message) return;
    await sqsHandler('policy-fanout')({ Records: [sqsRecord(message.Body ?? '', fanoutQueue.arn)] }, lambdaContext(fnName('policy-fanout')));
    await sqs.send(new DeleteMessageCommand({ QueueUrl: fanoutQueue.url, ReceiptHandle: message.ReceiptHandle }));
  }
}

async function createQueue(name: string): Promise<{ url: string; arn: string }> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '30' } }));
  const url = created.QueueUrl ?? '';
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, arn: attrs.Attributes?.QueueArn ?? '' };
}

beforeAll(async () => {
  await Promise.all([
    createTableLike(dynamo, one(ctx.tables, 'DataTable'), dataTable),
    createTableLike(dynamo, one(ctx.tables, 'LedgerTable'), ledgerTable),
  ]);
  emailQueue = await createQueue(`log-privacy-email-${run}`);
  fanoutQueue = await createQueue(`log-privacy-fanout-${run}`);
  consoleDlq = await createQueue(`log-privacy-console-dlq-${run}`);
  await seedDemoTrust(db, dataTable, config);
  bus = await startCapturingBus(ctx, published);
  // DEBUG for every function of this file (loadFunction reads TEST_LOG_LEVEL), captured from the first load.
  process.env.TEST_LOG_LEVEL = 'DEBUG';
  startCapture();
  await loadAll();
});

afterAll(async () => {
  vi.restoreAllMocks();
  if (savedLogLevel === undefined) delete process.env.TEST_LOG_LEVEL;
  else process.env.TEST_LOG_LEVEL = savedLogLevel;
  await bus?.close();
});

// ---------------------------------------------------------------------------------

describe('personal data and narratives never reach the logs (every handler, valid and invalid input, DEBUG level)', () => {
  it('drives every handler with the marker person, the marker narrative and broken inputs', async () => {
    // People: onboarded (valid), then refused variants, each full of personal values.
    const onboard = eb('staff-onboarded');
    expect(await settle(onboard(catalogued('Staff Onboarded', person), lambdaContext(fnName('staff-onboarded'))))).toBe('ok');
    for (const broken of [
      { ...person, schoolId: 'not-a-school' },
      { ...person, email: `${GIVEN} ${FAMILY} <${EMAIL}>` },
      { ...person, givenName: `<b>${GIVEN}</b>`, familyName: { first: FAMILY }, email: `${EMAIL}@@` },
      { ...person, staffId: `${GIVEN} ${FAMILY}`, startDate: `${FAMILY}-day` },
      { ...person, personalNote: NARRATIVE, roles: [GIVEN] },
    ]) {
      expect(await settle(onboard(catalogued('Staff Onboarded', broken), lambdaContext(fnName('staff-onboarded'))))).toBe('threw');
    }
    await drainEmails();

    // The acknowledgement links of the welcome (valid tokens), then hostile ones.
    const welcome = (await emailsTo(ctx.endpoints.ses, EMAIL))[0];
    expect(welcome, 'the welcome email').toBeDefined();
    const tokens = [...(welcome?.body.text ?? '').matchAll(/\/ack\/([A-Za-z0-9._~-]+)/g)].map((m) => m[1] ?? '');
    expect(tokens.length).toBeGreaterThan(0);
    const ack = http('ack-http');
    for (const token of tokens.slice(0, 2)) {
      await ack(httpEvent('GET', `/ack/${token}`, { token }), lambdaContext(fnName('ack-http')));
      await ack(httpEvent('POST', `/ack/${token}`, { token }), lambdaContext(fnName('ack-http')));
    }
    for (const token of [`${GIVEN}.${FAMILY}`, `<script>${EMAIL}</script>`, `${tokens[0]?.slice(0, -4)}${GIVEN.slice(0, 4)}`]) {
      await ack(httpEvent('GET', `/ack/${token}`, { token }), lambdaContext(fnName('ack-http')));
      await ack(httpEvent('POST', `/ack/${token}`, { token }), lambdaContext(fnName('ack-http')));
    }
    await deliverPublished();
    const receipt = eb('policy-acknowledged');
    for (const broken of [
      { ...(examples['Policy Acknowledged'] as object), staffId: STAFF_ID, acknowledgedAt: `${GIVEN} ${FAMILY}`, email: EMAIL },
      { ...(examples['Policy Acknowledged'] as object), staffId: `${GIVEN}@${FAMILY}`, givenName: GIVEN },
    ]) {
      expect(await settle(receipt(catalogued('Policy Acknowledged', broken), lambdaContext(fnName('policy-acknowledged'))))).toBe('threw');
    }
    await drainEmails();

    // Changes: a new name and address (valid), then refused ones.
    const updated = eb('staff-updated');
    expect(
      await settle(
        updated(catalogued('Staff Updated', { staffId: STAFF_ID, givenName: RENAMED, email: NEW_EMAIL }), lambdaContext(fnName('staff-updated'))),
      ),
    ).toBe('ok');
    for (const broken of [
      { staffId: STAFF_ID, email: `${RENAMED} at ${NEW_EMAIL}` },
      { staffId: STAFF_ID, givenName: `{{${RENAMED}}}` },
      { staffId: STAFF_ID, familyName: '', personalNote: NARRATIVE },
    ]) {
      expect(await settle(updated(catalogued('Staff Updated', broken), lambdaContext(fnName('staff-updated'))))).toBe('threw');
    }
    await drainEmails();

    // SES feedback: a bounce and a complaint for the marker addresses, and a malformed one.
    const feedback = eb('ses-feedback');
    await settle(feedback(sesEvent('bounce', NEW_EMAIL), lambdaContext(fnName('ses-feedback'))));
    await settle(feedback(sesEvent('complaint', EMAIL), lambdaContext(fnName('ses-feedback'))));
    expect(await settle(feedback(sesEvent('bounce', `${GIVEN} ${FAMILY}`, { mail: { destination: [EMAIL] } }), lambdaContext(fnName('ses-feedback'))))).toBe(
      'threw',
    );
    await drainEmails();

    // A breach report about the marker person, with the marker narrative (valid), then refused reports.
    const intake = http('report-intake');
    const report = {
      schoolId: 'st-marys',
      category: 'staff-abused-online',
      reportedByStaffId: 'SM-T2',
      subject: { kind: 'staff', staffId: STAFF_ID },
      occurredOn: day(-1),
      narrative: NARRATIVE,
    };
    const opened = await intake(httpEvent('POST', '/reports', { body: JSON.stringify(report) }), lambdaContext(fnName('report-intake')));
    expect(opened.statusCode).toBe(201);
    for (const body of [
      JSON.stringify({ ...report, category: `${SUBJECT_NAME} abuse` }),
      JSON.stringify({ ...report, subject: { kind: SUBJECT_NAME, name: `${GIVEN} ${FAMILY}`, email: EMAIL } }),
      JSON.stringify({ ...report, narrative: `${NARRATIVE} `.repeat(200) }),
      JSON.stringify({ ...report, occurredOn: NARRATIVE }),
      `${NARRATIVE} {not json`,
    ]) {
      const res = await intake(httpEvent('POST', '/reports', { body }), lambdaContext(fnName('report-intake')));
      expect(res.statusCode).toBe(400);
    }
    await deliverPublished();
    const routed = eb('breach-reported');
    for (const broken of [
      { ...(examples['Breach Reported'] as object), caseId: `CASE-${GIVEN}`, narrative: NARRATIVE },
      { ...(examples['Breach Reported'] as object), subject: { kind: 'staff', staffId: STAFF_ID, name: SUBJECT_NAME }, occurredOn: SUBJECT_NAME },
    ]) {
      expect(await settle(routed(catalogued('Breach Reported', broken), lambdaContext(fnName('breach-reported'))))).toBe('threw');
    }
    const triage = eb('triage-escalation');
    for (const hours of [1, 5, 25]) await settle(triage(scheduled(at(hours), 'TriageEscalationSchedule'), lambdaContext(fnName('triage-escalation'))));
    await deliverPublished();
    await drainEmails();

    // Policies: a new version (valid) fanned out to the schools, then refused updates.
    const policyUpdated = eb('policy-updated');
    const newVersion = {
      ...(examples['Policy Updated'] as object),
      policyId: `log-privacy-${run}`,
      version: 1,
      approvedOn: day(-1),
      changeSummary: `${NARRATIVE_TAG} change summary`,
    };
    await settle(policyUpdated(catalogued('Policy Updated', newVersion), lambdaContext(fnName('policy-updated'))));
    for (const broken of [
      { ...newVersion, version: `${GIVEN}`, changeSummary: NARRATIVE },
      { ...newVersion, documentUrl: `mailto:${EMAIL}`, ownerRole: FAMILY },
    ]) {
      expect(await settle(policyUpdated(catalogued('Policy Updated', broken), lambdaContext(fnName('policy-updated'))))).toBe('threw');
    }
    await drainFanout();
    const fanout = sqsHandler('policy-fanout');
    await fanout(
      { Records: [sqsRecord(`${NARRATIVE} ${EMAIL}`, fanoutQueue.arn), sqsRecord(JSON.stringify({ policyId: GIVEN, version: 1, schoolId: EMAIL, eventId: FAMILY }), fanoutQueue.arn)] },
      lambdaContext(fnName('policy-fanout')),
    );
    await drainEmails();

    // The review cycle: scans far enough ahead to publish notices, the notices, a review with a personal note.
    const review = eb('review-scanner');
    for (const year of [2027, 2028]) await settle(review(scheduled(`${year}-12-01T06:00:00Z`, 'ReviewScannerSchedule'), lambdaContext(fnName('review-scanner'))));
    await deliverPublished();
    const reviewDue = eb('policy-review-due');
    await settle(reviewDue(catalogued('Policy Review Due', examples['Policy Review Due']), lambdaContext(fnName('policy-review-due'))));
    expect(
      await settle(
        reviewDue(catalogued('Policy Review Due', { ...(examples['Policy Review Due'] as object), stage: `${GIVEN} ${FAMILY}`, owner: EMAIL }), lambdaContext(fnName('policy-review-due'))),
      ),
    ).toBe('threw');
    const reviewed = eb('policy-reviewed');
    await settle(reviewed(catalogued('Policy Reviewed', { ...(examples['Policy Reviewed'] as object), note: NOTE }), lambdaContext(fnName('policy-reviewed'))));
    expect(
      await settle(
        reviewed(catalogued('Policy Reviewed', { ...(examples['Policy Reviewed'] as object), note: `${NOTE} `.repeat(40), reviewedOn: GIVEN }), lambdaContext(fnName('policy-reviewed'))),
      ),
    ).toBe('threw');

    // Reminders over the weeks after onboarding.
    const reminders = eb('reminder-scanner');
    for (const offset of [8, 15, 22, 29]) {
      await settle(reminders(scheduled(`${day(offset)}T06:00:00Z`, 'ReminderScannerSchedule'), lambdaContext(fnName('reminder-scanner'))));
    }
    await drainEmails();

    // The operator console: the case as one of its participants (the narrative shown), as its
    // subject and as nobody; the list pages; the drill-down that lists the marker person by name.
    // The pages hold the markers (they are the console's job); the logs must not.
    const caseId = String((JSON.parse(opened.body ?? '{}') as { caseId?: unknown }).caseId);
    const participant = (await new CaseRepository(db, dataTable).get(caseId))?.participants[0] ?? '';
    const participantEmail = (await new PeopleRepository(db, dataTable).get(participant))?.email ?? '';
    const asParticipant = await consolePage(`/cases/${caseId}`, participantEmail);
    expect(asParticipant.statusCode).toBe(200);
    expect(asParticipant.body).toContain(NARRATIVE_TAG);
    expect((await consolePage(`/cases/${caseId}`, NEW_EMAIL)).body).toContain('data-narrative-refused="subject-of-case"');
    expect((await consolePage(`/cases/${caseId}`)).body).toContain('data-narrative-refused="not-identified"');
    for (const path of ['/', '/cases', '/ledger', '/queues', `/cases/CASE-${GIVEN}`, `/compliance/${FAMILY}/v1/${EMAIL}`]) await consolePage(path, EMAIL);
    const outstanding = await consolePage(`/compliance/log-privacy-${run}/v1/st-marys`, participantEmail);
    expect(outstanding.body).toContain(`${RENAMED} ${FAMILY}`);
    // A dead-letter queue deleted under the console: the page fails (500) and the failure is logged.
    await sqs.send(new DeleteQueueCommand({ QueueUrl: consoleDlq.url }));
    expect((await consolePage('/queues', participantEmail)).statusCode).toBe(500);

    // The email sender: bodies that are not its messages, full of personal values.
    const sender = sqsHandler('email-sender');
    await sender(
      {
        Records: [
          sqsRecord(`${GIVEN} ${FAMILY} <${EMAIL}>`, emailQueue.arn),
          sqsRecord(JSON.stringify({ ledgerKeys: [EMAIL, `person#${STAFF_ID}#${GIVEN}`] }), emailQueue.arn),
          sqsRecord(JSON.stringify({ to: EMAIL, name: GIVEN, narrative: NARRATIVE }), emailQueue.arn),
        ],
      },
      lambdaContext(fnName('email-sender')),
    );

    // The leaver (valid), then refused ones.
    const left = eb('staff-left');
    expect(await settle(left(catalogued('Staff Left', { staffId: STAFF_ID, leftOn: day(30) }), lambdaContext(fnName('staff-left'))))).toBe('ok');
    for (const broken of [
      { staffId: STAFF_ID, leftOn: `${GIVEN} ${FAMILY}`, email: EMAIL },
      { staffId: `${GIVEN} ${FAMILY}`, leftOn: day(30) },
    ]) {
      expect(await settle(left(catalogued('Staff Left', broken), lambdaContext(fnName('staff-left'))))).toBe('threw');
    }
    await drainEmails();
  });

  it('captured the structured JSON lines of every handler (the capture works)', () => {
    const json = logLines.flatMap((line) => line.split('\n')).filter((line) => line.trim().startsWith('{'));
    expect(json.length).toBeGreaterThan(0);
    const functions = new Set(
      json.flatMap((line) => {
        try {
          const value = JSON.parse(line) as { function_name?: unknown };
          return typeof value.function_name === 'string' ? [value.function_name] : [];
        } catch {
          return [];
        }
      }),
    );
    for (const name of Object.keys(MODULES) as ModuleName[]) expect(functions.has(fnName(name)), name).toBe(true);
    // DEBUG level was on: the refusals are there, by field.
    expect(json.some((line) => line.includes('Event rejected: it breaks its contract'))).toBe(true);
  });

  it('no captured line holds a name, an address, the narrative, the subject or the marker staff id', () => {
    const leaks = logLines.flatMap((line) =>
      MARKERS.filter((marker) => line.toLowerCase().includes(marker.toLowerCase())).map((marker) => `${marker} in: ${line.slice(0, 400)}`),
    );
    expect(leaks).toEqual([]);
  });
});
