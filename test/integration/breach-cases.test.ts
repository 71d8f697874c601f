/**
 * Breach and concern cases end to end through the real handlers and the real AWS SDK v3
 * clients against DynamoDB Local, aws-ses-v2-local, fauxqs and a local event bus:
 *
 *   POST /reports (intake function) ──▶ narrative table, case + timeline, Breach Reported (no narrative)
 *   Breach Reported ──▶ routing handler ──▶ timeline, ledger, email queue ──▶ email sender ──▶ SES
 *   hourly triage job (simulated clock) ──▶ escalations, once each
 *   trust-notify case (the CLI's code) ──▶ narrative reads and status moves, each on the timeline
 *
 * The cases get their own data, ledger table and email queue (copies of the template's), so
 * other test files' people cannot change who is told; the directory is the demo trust
 * (fixtures/demo-directory.csv, where Holy Trinity has no deputy DSL). Logs are captured at
 * DEBUG level: no line, and no email anywhere in the SES store, may hold the narrative or
 * the subject's name.
 */
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { londonDate } from '../../functions/domain/dates.ts';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  EventBridgeEvent,
} from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { CaseRepository } from '../../functions/adapters/case-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { BusEvent, LocalEventBus } from '../../local/event-bus.ts';
import { caseMove, caseView } from '../../local/case-commands.ts';
import { seedDemoTrust } from '../../local/seed.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { createTableLike, drainThroughSender, type EventBridgeHandler, eventBridgeEvent, localClients, one, type SqsHandler, httpApiEvent, startCapturingBus } from '../support/integration.ts';
import { eventually } from '../support/poll.ts';
import { sesStore, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { dynamodb: dynamo, db, sqs } = localClients(ctx, { removeUndefinedValues: true });

const tableOf = (part: string): string => one(ctx.tables, part);
const run = Date.now().toString(36);
const dataTable = `breach-cases-data-${run}`;
const ledgerTable = `breach-cases-ledger-${run}`;
const narrativeTable = tableOf('NarrativeTable');
let emailQueue: { url: string; arn: string };

type Http = (event: APIGatewayProxyEventV2, c: ReturnType<typeof lambdaContext>) => Promise<APIGatewayProxyStructuredResultV2>;
type Eb = EventBridgeHandler;
type Sqs = SqsHandler;
let intake: Http;
let routeHandler: Eb;
let triage: Eb;
let sender: Sqs;
let bus: LocalEventBus;
const published: BusEvent[] = [];
const cases = new CaseRepository(db, dataTable, narrativeTable);

/** Everything the functions write to stdout and stderr (Powertools writes structured JSON there). */
const logLines: string[] = [];
const NARRATIVE =
  'On Tuesday a parent shared screenshots in the Year 5 WhatsApp group showing Mr Oliver Hughes being insulted; ' +
  'the messages named his home street. Code word for this test: PELICAN-7741.';
/** Oliver Hughes (SM-T1 in the demo directory) is the subject of the reports below. */
const SUBJECT_NAMES = ['Oliver Hughes', 'Hughes', 'oliver.hughes'];

const cloneTable = (from: string, to: string) => createTableLike(dynamo, from, to);

const httpEvent = (body: string) => httpApiEvent('POST', '/reports', { body });

const scheduledEvent = (time: string) => eventBridgeEvent('Scheduled Event', 'aws.events', {}, { time });

async function report(fields: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await intake(httpEvent(JSON.stringify(fields)), lambdaContext('ReportIntake'));
  return { status: res.statusCode ?? 0, body: JSON.parse(res.body ?? '{}') as Record<string, unknown> };
}

/** Opens a case through the intake and waits for its event to reach the local bus. */
async function openCase(fields: Record<string, unknown>): Promise<string> {
  const res = await report(fields);
  expect(res.status).toBe(201);
  const caseId = String(res.body.caseId);
  await eventually(async () => (published.some((e) => e.detail.caseId === caseId) ? true : undefined), { what: `Breach Reported for ${caseId}` });
  return caseId;
}

/** Hands what the intake published to the Breach Reported handler, as the rule would. */
async function deliverPublished(): Promise<BusEvent[]> {
  const batch = published.splice(0);
  for (const e of batch) await routeHandler(e as unknown as EventBridgeEvent<string, unknown>, lambdaContext('BreachReported'));
  return batch;
}

const drain = () => drainThroughSender(sqs, emailQueue, sender);

async function caseEmails(caseId: string): Promise<StoredEmail[]> {
  return (await sesStore(ctx.endpoints.ses)).filter((e) => e.subject.includes(caseId));
}

const addressOf = (staffId: string) => {
  const emails: Record<string, string> = {
    'SM-HEAD': 'grace.okafor@stmarys.example.org',
    'SM-DSL': 'thomas.reid@stmarys.example.org',
    'SM-DDSL': 'fatima.hussain@stmarys.example.org',
    'HT-DSL': 'emma.wright@holytrinity.example.org',
    'T-DSL': 'michael.oneill@allsaints-mat.example.org',
    'T-EXEC': 'catherine.ashworth@allsaints-mat.example.org',
  };
  const address = emails[staffId];
  if (!address) throw new Error(`no address for ${staffId}`);
  return address;
};

const baseReport = {
  schoolId: 'st-marys',
  category: 'online-conduct-concern',
  reportedByStaffId: 'SM-T2',
  subject: { kind: 'staff', staffId: 'SM-T1' },
  occurredOn: '2026-11-17',
  narrative: NARRATIVE,
};

const savedLogLevel = process.env.TEST_LOG_LEVEL;

beforeAll(async () => {
  await Promise.all([cloneTable(tableOf('DataTable'), dataTable), cloneTable(tableOf('LedgerTable'), ledgerTable)]);
  const created = await sqs.send(new CreateQueueCommand({ QueueName: `breach-cases-email-${run}`, Attributes: { VisibilityTimeout: '30' } }));
  const url = created.QueueUrl ?? '';
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  emailQueue = { url, arn: attrs.Attributes?.QueueArn ?? '' };
  await seedDemoTrust(db, dataTable, config);
  // Case ids come from a counter in the data table; this copy starts at 100000 so that its
  // ids (and the subjects of their emails in the shared SES store) differ from other files'.
  await db.send(
    new PutCommand({
      TableName: dataTable,
      Item: { pk: 'COUNTER#CASE', sk: londonDate(new Date()).slice(0, 4), last: 100_000, entity: 'counter' },
    }),
  );

  bus = await startCapturingBus(ctx, published);

  // Every log line the functions write, at DEBUG level.
  process.env.TEST_LOG_LEVEL = 'DEBUG';
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logLines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write);
  }
  const ours = () => {
    process.env.DATA_TABLE_NAME = dataTable;
    process.env.LEDGER_TABLE_NAME = ledgerTable;
    process.env.EMAIL_QUEUE_URL = emailQueue.url;
  };
  intake = (
    await loadFunction(ctx, 'CaseIntakeReportIntakeFunction', () => {
      ours();
      return import('../../functions/handlers/report-intake.ts');
    })
  ).handler as unknown as Http;
  routeHandler = (
    await loadFunction(ctx, 'BreachReportedFunction', () => {
      ours();
      return import('../../functions/handlers/breach-reported.ts');
    })
  ).handler as unknown as Eb;
  triage = (
    await loadFunction(ctx, 'TriageEscalationFunction', () => {
      ours();
      return import('../../functions/handlers/triage-escalation.ts');
    })
  ).handler as unknown as Eb;
  sender = (
    await loadFunction(ctx, 'EmailSenderFunction', () => {
      ours();
      return import('../../functions/handlers/email-sender.ts');
    })
  ).handler as unknown as Sqs;
});

afterAll(async () => {
  vi.restoreAllMocks();
  if (savedLogLevel === undefined) delete process.env.TEST_LOG_LEVEL;
  else process.env.TEST_LOG_LEVEL = savedLogLevel;
  await bus?.close();
});

describe('intake (POST /reports, trust-notify report-breach)', () => {
  it('stores the narrative in the narrative table, opens the case, and publishes Breach Reported without the narrative', async () => {
    // Act
    const caseId = await openCase(baseReport);

    // Assess: the narrative, in its own table
    expect(caseId).toMatch(/^CASE-\d{4}-\d{6}$/);
    const stored = await db.send(new GetCommand({ TableName: narrativeTable, Key: { pk: `CASE#${caseId}`, sk: 'NARRATIVE' }, ConsistentRead: true }));
    expect(stored.Item?.narrative).toBe(NARRATIVE);
    // The case, waiting for triage, and its first timeline entry; no narrative in the data table.
    const record = await cases.get(caseId);
    expect(record).toMatchObject({ caseId, status: 'reported', schoolId: 'st-marys', category: 'online-conduct-concern', escalationLevel: 0 });
    const item = (await db.send(new GetCommand({ TableName: dataTable, Key: { pk: `CASE#${caseId}`, sk: 'CASE' }, ConsistentRead: true }))).Item;
    expect(item?.gsi2pk).toBe('TRIAGE');
    expect(JSON.stringify(item)).not.toContain('PELICAN-7741');
    expect((await cases.timeline(caseId)).map((e) => [e.seq, e.kind])).toEqual([[1, 'reported']]);
    // The event: the routing facts, never the narrative.
    expect(published).toHaveLength(1);
    const [event] = published;
    expect(event?.source).toBe('trust.safeguarding');
    expect(event?.['detail-type']).toBe('Breach Reported');
    expect(event?.detail).toEqual({
      eventId: `breach-reported-${caseId}`,
      caseId,
      schoolId: 'st-marys',
      category: 'online-conduct-concern',
      reportedByStaffId: 'SM-T2',
      subject: { kind: 'staff', staffId: 'SM-T1' },
      occurredOn: '2026-11-17',
      occurredAt: record?.reportedAt,
    });
    expect(JSON.stringify(event)).not.toContain('PELICAN-7741');
  });

  it('refuses a bad report with the fields named and never their values, storing nothing', async () => {
    published.length = 0;
    const { narrative: _n, ...withoutNarrative } = baseReport;
    const missing = await report(withoutNarrative);
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('Breach report rejected: report.narrative is required');

    const bad = await report({ ...baseReport, category: 'gossip', extra: 'secret-value-XYZ', narrative: 'x'.repeat(20_001) });
    expect(bad.status).toBe(400);
    expect([...(bad.body.fields as string[])].sort()).toEqual(['report.category', 'report.extra', 'report.narrative']);
    expect(JSON.stringify(bad.body)).not.toContain('secret-value-XYZ');
    expect(JSON.stringify(bad.body)).not.toContain('gossip');

    const school = await report({ ...baseReport, schoolId: 'st-elsewhere' });
    expect(school).toEqual({ status: 400, body: { error: 'Breach report rejected: report.schoolId is not a school of the trust', fields: ['report.schoolId'] } });

    const notJson = await intake({ ...httpEvent('{'), body: '{' }, lambdaContext('ReportIntake'));
    expect(notJson.statusCode).toBe(400);
    expect(published).toHaveLength(0);
  });

  it('takes a report sent twice with the same eventId once', async () => {
    published.length = 0;
    const first = await report({ ...baseReport, eventId: `report-${run}-1` });
    await eventually(async () => (published.length > 0 ? true : undefined), { what: 'the first report’s event' });
    const second = await report({ ...baseReport, eventId: `report-${run}-1` });
    expect(first.status).toBe(201);
    expect(second).toEqual({ status: 200, body: { caseId: first.body.caseId, duplicate: true } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(published.map((e) => e.detail.caseId)).toEqual([first.body.caseId]);
    published.length = 0;
  });
});

describe('Breach Reported: routing and notices', () => {
  let caseId: string;

  beforeAll(async () => {
    published.length = 0;
    caseId = await openCase(baseReport);
    await deliverPublished();
    await drain();
  });

  it('tells the school DSL and deputy DSL (online-conduct-concern, §5e), once each, and records why on the timeline', async () => {
    const emails = await caseEmails(caseId);
    expect(emails.flatMap((e) => e.destination.to).sort()).toEqual([addressOf('SM-DDSL'), addressOf('SM-DSL')].sort());
    const timeline = await cases.timeline(caseId);
    expect(timeline.map((e) => e.kind)).toEqual(['reported', 'routed']);
    const routed = timeline[1];
    if (routed?.kind !== 'routed') throw new Error('no routing on the timeline');
    expect(routed.routing.recipients.map((r) => [r.staffId, r.role, r.schoolId, r.why])).toEqual([
      ['SM-DSL', 'dsl', 'st-marys', 'primary'],
      ['SM-DDSL', 'deputy-dsl', 'st-marys', 'primary'],
    ]);
    expect((await cases.get(caseId))?.participants.sort()).toEqual(['SM-DDSL', 'SM-DSL']);
  });

  it('the notice carries the case reference, category, school and link, and nothing else of the case', async () => {
    const [email] = await caseEmails(caseId);
    if (!email) throw new Error('no notice');
    expect(email.subject).toBe(`Safeguarding case ${caseId} (Concern about a community member's online conduct, St Mary's Church of England Primary School)`);
    expect(email.body.text).toContain(`Case reference: ${caseId}`);
    expect(email.body.text).toContain(`${config.publicBaseUrl}/cases/${caseId}`);
    for (const part of [email.subject, email.body.text ?? '', email.body.html ?? '']) {
      expect(part).not.toContain('PELICAN');
      expect(part).not.toContain('WhatsApp');
      expect(part).not.toContain('SM-T1');
      expect(part).not.toContain('SM-T2');
    }
  });

  it('a redelivered event tells nobody twice and records nothing new', async () => {
    const before = (await sesStore(ctx.endpoints.ses)).length;
    const event = {
      version: '0',
      id: crypto.randomUUID(),
      'detail-type': 'Breach Reported',
      source: 'trust.safeguarding',
      account: '000000000000',
      time: new Date().toISOString(),
      region: ctx.region,
      resources: [],
      detail: { caseId, schoolId: 'st-marys', category: 'online-conduct-concern', subject: { kind: 'staff', staffId: 'SM-T1' }, occurredOn: '2026-11-17' },
    } satisfies EventBridgeEvent<string, unknown>;
    await routeHandler(event, lambdaContext('BreachReported'));
    await drain();
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(before);
    expect((await cases.timeline(caseId)).map((e) => e.kind)).toEqual(['reported', 'routed']);
  });

  it('Holy Trinity (no deputy DSL anywhere): its DSL and the trust-level DSL are told, and the notice says there is a routing gap', async () => {
    const htCase = await openCase({ ...baseReport, schoolId: 'holy-trinity', subject: { kind: 'student' }, reportedByStaffId: 'HT-T1' });
    await deliverPublished();
    await drain();
    const emails = await caseEmails(htCase);
    expect(emails.flatMap((e) => e.destination.to).sort()).toEqual([addressOf('HT-DSL'), addressOf('T-DSL')].sort());
    for (const email of emails) expect(email.body.text).toContain('Routing gap: a role this case needs has no holder anywhere in the trust');
    const record = await cases.get(htCase);
    expect(record?.routing?.flags).toEqual(['no-holder-anywhere']);
    expect(record?.routing?.gaps).toEqual([{ role: 'deputy-dsl', schoolId: 'holy-trinity', resolvedAt: 'fallback', reason: 'no-holder' }]);
  });

  it('the DSL as subject is never told: the deputy DSL is, and the conflict is on the case', async () => {
    const conflictCase = await openCase({ ...baseReport, category: 'student-social-media', subject: { kind: 'staff', staffId: 'SM-DSL' } });
    await deliverPublished();
    await drain();
    const emails = await caseEmails(conflictCase);
    expect(emails.flatMap((e) => e.destination.to)).toEqual([addressOf('SM-DDSL')]);
    expect((await cases.get(conflictCase))?.routing?.conflicts).toEqual([{ role: 'dsl', schoolId: 'st-marys', toldInstead: 'deputy-dsl' }]);
  });
});

describe('narrative access (trust-notify case <caseId> --show --as <staffId>)', () => {
  let caseId: string;

  beforeAll(async () => {
    published.length = 0;
    caseId = await openCase(baseReport);
    await deliverPublished();
    await drain();
  });

  it('is refused to someone without a role on the case, and the refusal is on the timeline', async () => {
    await expect(caseView(cases, caseId, 'SM-HEAD', new Date())).rejects.toThrow(
      `SM-HEAD has no role on ${caseId}: the narrative is not shown (this refusal is recorded on the case)`,
    );
    await expect(caseView(cases, caseId, 'SM-T1', new Date())).rejects.toThrow(`SM-T1 is the subject of ${caseId}`);
    const timeline = await cases.timeline(caseId);
    expect(timeline.slice(-2).map((e) => (e.kind === 'narrative-refused' ? [e.by, e.reason] : e.kind))).toEqual([
      ['SM-HEAD', 'no-role-on-case'],
      ['SM-T1', 'subject-of-case'],
    ]);
  });

  it('is shown to a person told about the case, and each read is on the timeline with who and when', async () => {
    const at = new Date();
    const view = await caseView(cases, caseId, 'SM-DSL', at);
    expect(view).toContain(NARRATIVE);
    expect(view).toContain(`Case ${caseId} (reported)`);
    await caseView(cases, caseId, 'SM-DDSL', new Date());
    const reads = (await cases.timeline(caseId)).filter((e) => e.kind === 'narrative-read');
    expect(reads.map((e) => e.by)).toEqual(['SM-DSL', 'SM-DDSL']);
    expect(reads[0]?.at).toBe(at.toISOString());
  });
});

describe('status moves (trust-notify case <caseId> <status> --by <staffId>)', () => {
  let caseId: string;

  beforeAll(async () => {
    published.length = 0;
    caseId = await openCase(baseReport);
    await deliverPublished();
  });

  it('refuses invalid moves with a clear one-line reason, changing nothing but recording the attempt', async () => {
    await expect(caseMove(cases, caseId, 'closed', 'SM-DSL', undefined, new Date())).rejects.toThrow(
      `${caseId} is reported and cannot move to closed: from reported it can move to triaged`,
    );
    await expect(caseMove(cases, caseId, 'investigating', 'SM-DSL', undefined, new Date())).rejects.toThrow(/cannot move to investigating/);
    await expect(caseMove(cases, caseId, 'reopened', 'SM-DSL', undefined, new Date())).rejects.toThrow(
      '"reopened" is not a status a case can be moved to (use triaged, investigating or closed)',
    );
    await expect(caseMove(cases, caseId, 'triaged', 'SM-HEAD', undefined, new Date())).rejects.toThrow(`SM-HEAD has no role on ${caseId}`);
    await expect(caseMove(cases, caseId, 'triaged', 'SM-T1', undefined, new Date())).rejects.toThrow(`SM-T1 is the subject of ${caseId}`);
    expect((await cases.get(caseId))?.status).toBe('reported');
    const refused = (await cases.timeline(caseId)).filter((e) => e.kind === 'move-refused');
    expect(refused.map((e) => (e.kind === 'move-refused' ? [e.by, e.to, e.reason] : []))).toEqual([
      ['SM-DSL', 'closed', 'invalid-move'],
      ['SM-DSL', 'investigating', 'invalid-move'],
      ['SM-DSL', 'reopened', 'unknown-status'],
      ['SM-HEAD', 'triaged', 'no-role-on-case'],
      ['SM-T1', 'triaged', 'subject-of-case'],
    ]);
  });

  it('moves reported → triaged → investigating → closed, each with who and when; triage leaves the TRIAGE index', async () => {
    const t1 = new Date();
    expect(await caseMove(cases, caseId, 'triaged', 'SM-DSL', 'Spoke to the reporter; screenshots kept.', t1)).toMatch(
      new RegExp(`^${caseId}: reported → triaged by SM-DSL at .+ \\(note kept with the narrative\\)\\n$`),
    );
    const triageIndex = await db.send(
      new QueryCommand({ TableName: dataTable, IndexName: 'gsi2', KeyConditionExpression: 'gsi2pk = :t', ExpressionAttributeValues: { ':t': 'TRIAGE' } }),
    );
    expect((triageIndex.Items ?? []).map((i) => i.caseId)).not.toContain(caseId);
    expect(await cases.get(caseId)).toMatchObject({ status: 'triaged', ownerStaffId: 'SM-DSL' });

    await caseMove(cases, caseId, 'investigating', 'SM-DDSL', undefined, new Date());
    await caseMove(cases, caseId, 'closed', 'SM-DSL', undefined, new Date());
    await expect(caseMove(cases, caseId, 'triaged', 'SM-DSL', undefined, new Date())).rejects.toThrow(
      `${caseId} is closed and cannot move to triaged: a closed case stays closed`,
    );
    const moves = (await cases.timeline(caseId)).filter((e) => e.kind === 'status');
    expect(moves.map((e) => (e.kind === 'status' ? [e.from, e.to, e.by, e.noteAdded] : []))).toEqual([
      ['reported', 'triaged', 'SM-DSL', true],
      ['triaged', 'investigating', 'SM-DDSL', false],
      ['investigating', 'closed', 'SM-DSL', false],
    ]);
    expect(moves[0]?.at).toBe(t1.toISOString());
    // The note is kept with the narrative (its own key), not on the timeline.
    expect(JSON.stringify(await cases.timeline(caseId))).not.toContain('screenshots kept');
    expect((await cases.readNarrative(caseId))?.notes.map((n) => [n.by, n.note])).toEqual([['SM-DSL', 'Spoke to the reporter; screenshots kept.']]);
  });
});

describe('triage escalation (hourly; simulated clock)', () => {
  let caseId: string;
  let reportedAt: number;
  const hours = config.escalation.triageHours;
  const at = (h: number) => new Date(reportedAt + h * 3_600_000).toISOString();
  const tick = async (h: number) => {
    await triage(scheduledEvent(at(h)), lambdaContext('TriageEscalation'));
    await drain();
  };

  beforeAll(async () => {
    published.length = 0;
    // Every earlier case still waiting for triage is triaged, so only this one is in play.
    for (const waiting of await cases.awaitingTriage()) {
      await cases.move(waiting.caseId, { from: 'reported', to: 'triaged', by: 'SM-DSL' }, new Date());
    }
    caseId = await openCase({ ...baseReport, category: 'bullying-harassment' });
    reportedAt = Date.parse((await cases.get(caseId))?.reportedAt ?? '');
    await deliverPublished();
    await drain();
  });

  it('does nothing before the triage deadline', async () => {
    await tick(hours - 1);
    expect((await cases.get(caseId))?.escalationLevel).toBe(0);
  });

  it('escalates to the Head of School once the deadline passes, once however often the job runs', async () => {
    const before = await caseEmails(caseId);
    await tick(hours + 0.5);
    await tick(hours + 0.75);
    const escalations = (await caseEmails(caseId)).filter((e) => e.subject.startsWith('Not yet triaged'));
    expect(escalations.flatMap((e) => e.destination.to)).toEqual([addressOf('SM-HEAD')]);
    expect(escalations[0]?.body.text).toContain(`not been triaged within ${hours} hours`);
    expect((await caseEmails(caseId)).length).toBe(before.length + 1);
    const timeline = await cases.timeline(caseId);
    expect(timeline.filter((e) => e.kind === 'escalated').map((e) => (e.kind === 'escalated' ? e.level : 0))).toEqual([1]);
    expect(await cases.get(caseId)).toMatchObject({ escalationLevel: 1, nextEscalationAt: at(2 * hours) });
  });

  it('then to the Executive Headteacher a triage window later, once; the case then leaves the TRIAGE index', async () => {
    await tick(2 * hours + 0.1);
    await tick(2 * hours + 5);
    const escalations = (await caseEmails(caseId)).filter((e) => e.subject.startsWith('Not yet triaged'));
    expect(escalations.flatMap((e) => e.destination.to).sort()).toEqual([addressOf('SM-HEAD'), addressOf('T-EXEC')].sort());
    const levels = (await cases.timeline(caseId)).filter((e) => e.kind === 'escalated').map((e) => (e.kind === 'escalated' ? e.level : 0));
    expect(levels).toEqual([1, 2]);
    expect((await cases.awaitingTriage()).map((c) => c.caseId)).not.toContain(caseId);
    // The escalated people now have a role on the case.
    expect((await cases.get(caseId))?.participants).toEqual(expect.arrayContaining(['SM-HEAD', 'T-EXEC']));
  });

  it('a job that could not run for two windows makes both escalations at once, and nothing more after', async () => {
    const late = await openCase({ ...baseReport, category: 'bullying-harassment' });
    const lateAt = Date.parse((await cases.get(late))?.reportedAt ?? '');
    await deliverPublished();
    const run = async () => {
      await triage(scheduledEvent(new Date(lateAt + (3 * hours + 0.2) * 3_600_000).toISOString()), lambdaContext('TriageEscalation'));
      await drain();
    };
    await run();
    await run();
    const escalations = (await caseEmails(late)).filter((e) => e.subject.startsWith('Not yet triaged'));
    expect(escalations.flatMap((e) => e.destination.to).sort()).toEqual([addressOf('SM-HEAD'), addressOf('T-EXEC')].sort());
    expect((await cases.timeline(late)).filter((e) => e.kind === 'escalated').map((e) => (e.kind === 'escalated' ? e.level : 0))).toEqual([1, 2]);
  });

  it('a triaged case is not escalated', async () => {
    const quiet = await openCase(baseReport);
    await deliverPublished();
    await caseMove(cases, quiet, 'triaged', 'SM-DSL', undefined, new Date());
    await triage(scheduledEvent(new Date(Date.now() + 5 * hours * 3_600_000).toISOString()), lambdaContext('TriageEscalation'));
    expect((await cases.get(quiet))?.escalationLevel).toBe(0);
  });

  it('announces again a case whose Breach Reported was lost (never routed, 10 minutes on)', async () => {
    const lost = await openCase(baseReport);
    published.length = 0; // the event is "lost"
    await triage(scheduledEvent(new Date(Date.now() + 11 * 60_000).toISOString()), lambdaContext('TriageEscalation'));
    await eventually(async () => (published.some((e) => e.detail.caseId === lost) ? true : undefined), { what: 'the re-announced case' });
    await deliverPublished();
    expect((await cases.get(lost))?.routing?.recipients.map((r) => r.staffId)).toEqual(['SM-DSL', 'SM-DDSL']);
  });
});

describe('privacy: nothing of the narrative or the subject in any email or log line', () => {
  it('no email in the SES store holds the narrative or the subject’s name', async () => {
    const all = await sesStore(ctx.endpoints.ses);
    const ours = all.filter((e) => /Safeguarding case|Not yet triaged/.test(e.subject));
    expect(ours.length).toBeGreaterThan(5);
    for (const email of all) {
      const text = `${email.subject}\n${email.body.text ?? ''}\n${email.body.html ?? ''}`;
      expect(text).not.toContain('PELICAN-7741');
      expect(text).not.toContain('WhatsApp');
    }
    for (const email of ours) {
      const text = `${email.subject}\n${email.body.text ?? ''}\n${email.body.html ?? ''}`;
      for (const name of SUBJECT_NAMES) expect(text).not.toContain(name);
    }
  });

  it('no captured log line holds the narrative or the subject’s name (logs were on at DEBUG)', () => {
    const functionLines = logLines.filter((line) => line.includes('"service"') || line.includes('"level"'));
    expect(functionLines.length).toBeGreaterThan(10);
    for (const line of logLines) {
      expect(line).not.toContain('PELICAN-7741');
      expect(line).not.toContain('WhatsApp');
      for (const name of SUBJECT_NAMES) expect(line).not.toContain(name);
    }
  });
});
