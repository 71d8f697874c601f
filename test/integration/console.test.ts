/**
 * The operator console (issue #7; functions/handlers/console-http.ts) through the real AWS
 * SDK v3 clients against DynamoDB Local and fauxqs, driven with API Gateway payload-v2
 * events built by the local runtime's own code (local/http-api.ts `toHttpApiEvent`, which
 * moves the `cookie` header into `event.cookies` as API Gateway does):
 *
 *   Staff Onboarded handler, RequestRepository ──▶ the dashboard's figures = a direct count of the table
 *   POST /reports (intake) ──▶ Breach Reported handler (routing) ──▶ /cases, /cases/<id> (§5e, §9d:
 *      the narrative only for a person with a role on the case, every view on its timeline)
 *   the email sender and LedgerRepository ──▶ /ledger counts = a direct count of the ledger table
 *   messages sent to dead-letter queues ──▶ /queues and the dashboard total
 *
 * Loopback mode ("view as" cookie) for all of that; the Cognito mode is loaded fresh and must
 * redirect to the hosted UI before reading anything. Log privacy of the console is checked
 * with every other handler in log-privacy.test.ts.
 *
 * The file has its own data, ledger and narrative tables (copies of the template's, the data
 * table seeded with the demo trust; so its case ids start at 1 as a new deployment's do), its
 * own email queue, dead-letter queues and a local event bus.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { paginateScan, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { CaseRepository } from '../../functions/adapters/case-repository.ts';
import { LedgerRepository } from '../../functions/adapters/ledger-repository.ts';
import { PeopleRepository } from '../../functions/adapters/people-repository.ts';
import { PolicyRepository } from '../../functions/adapters/policy-repository.ts';
import { RequestRepository } from '../../functions/adapters/request-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { schoolName } from '../../functions/config/trust-config.ts';
import type { BreachCategory } from '../../functions/contracts/roles.ts';
import { type CaseRecord, openCase } from '../../functions/domain/cases.ts';
import { addDays, daysBetween, londonDate } from '../../functions/domain/dates.ts';
import type { LedgerState } from '../../functions/domain/emails.ts';
import { rejectedEventNotice } from '../../functions/domain/rejected-event.ts';
import { escapeHtml, SECURITY_HEADERS } from '../../functions/http/pages.ts';
import type { BusEvent, LocalEventBus } from '../../local/event-bus.ts';
import { toHttpApiEvent } from '../../local/http-api.ts';
import { seedDemoTrust } from '../../local/seed.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import {
  createTableLike,
  drainThroughSender,
  type EventBridgeHandler,
  eventBridgeEvent,
  httpApiEvent,
  localClients,
  one,
  type SqsHandler, startCapturingBus } from '../support/integration.ts';
import { eventually } from '../support/poll.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { dynamodb, db, sqs } = localClients(ctx, { removeUndefinedValues: true });
const run = Date.now().toString(36);
const dataTable = `console-data-${run}`;
const ledgerTable = `console-ledger-${run}`;
const narrativeTable = `console-narratives-${run}`;
const SEED = 'use-of-social-media';
/** A policy stored without asking anyone (its section must say so). */
const QUIET = `console-quiet-${run}`;
const today = londonDate(new Date());

type Http = (event: APIGatewayProxyEventV2, c: ReturnType<typeof lambdaContext>) => Promise<APIGatewayProxyStructuredResultV2>;
let consoleHandler: Http;
let onboard: EventBridgeHandler;
let intake: Http;
let routeHandler: EventBridgeHandler;
let sender: SqsHandler;
let bus: LocalEventBus;
const published: BusEvent[] = [];
let emailQueue: { url: string; arn: string };
/** DLQ display name → URL, as DLQ_URLS gives them to the function. */
const dlqs: Record<string, string> = {};

const cases = new CaseRepository(db, dataTable, narrativeTable);
const requests = new RequestRepository(db, dataTable);
const ledger = new LedgerRepository(db, ledgerTable);

/** In every stored narrative of this file; no list page may carry it. */
const NARRATIVE_TAG = 'CONSOLE-NARRATIVE-QX7731';
const NARRATIVE = `${NARRATIVE_TAG}: a parent posted abuse about a teacher in the Year 3 class group and named the school`;
const XSS_NAME = '<script>alert("console")</script>';

// ---------------------------------------------------------------------------------
// Requests, as API Gateway (payload v2) delivers them to the console's routes.

interface Sent {
  status: number;
  headers: Record<string, string>;
  cookies: string[];
  body: string;
}

async function request(
  path: string,
  options: { method?: 'GET' | 'POST'; viewAs?: string; cookie?: string; handler?: Http } = {},
): Promise<Sent> {
  const method = options.method ?? 'GET';
  const [rawPath = '/', query = ''] = path.split(/\?(.*)/s);
  const cookie = options.cookie ?? (options.viewAs === undefined ? undefined : `tpn_view_as=${encodeURIComponent(options.viewAs)}`);
  const root = rawPath === '/';
  const event = toHttpApiEvent(
    {
      method,
      path: rawPath,
      query,
      headers: { host: '127.0.0.1:3000', 'user-agent': 'test', accept: 'text/html', ...(cookie ? { cookie } : {}) },
      body: '',
      sourceIp: '127.0.0.1',
    },
    { routeKey: root ? `${method} /` : `${method} /{proxy+}`, method, pattern: /.*/, params: root ? [] : ['proxy'], functionArn: '' },
    root ? {} : { proxy: rawPath.slice(1) },
  );
  const res = await (options.handler ?? consoleHandler)(event, lambdaContext('Console'));
  return {
    status: res.statusCode ?? 0,
    headers: Object.fromEntries(Object.entries(res.headers ?? {}).map(([k, v]) => [k, String(v)])),
    cookies: res.cookies ?? [],
    body: res.body ?? '',
  };
}

// ---------------------------------------------------------------------------------
// Reading the pages (server-rendered, fixed markup: no DOM needed).

function attributesOf(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([a-z-]+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** The policy's section of the dashboard (sections do not nest). */
function section(html: string, policyId: string): string {
  const at = html.indexOf(`data-policy="${policyId}"`);
  if (at < 0) throw new Error(`no section for ${policyId}`);
  return html.slice(at, html.indexOf('</section>', at));
}

type Figures = { people: number; acknowledged: number; outstanding: number; overdue: number };

/** The chart's bars: school → the figures in its `data-*` attributes. */
function chartFigures(html: string): Record<string, Figures> {
  return Object.fromEntries(
    [...html.matchAll(/<g data-school="[^"]*"[^>]*>/g)].map((m) => {
      const a = attributesOf(m[0]);
      return [
        a['data-school'] ?? '',
        { people: Number(a['data-people']), acknowledged: Number(a['data-acknowledged']), outstanding: Number(a['data-outstanding']), overdue: Number(a['data-overdue']) },
      ];
    }),
  );
}

const tile = (html: string, name: string) => /data-figure="([^"]+)">([^<]*)</.exec(html.slice(html.indexOf(`data-figure="${name}"`)))?.[2];

/** The case list's rows, in page order: id and the cells after it. */
function caseRows(html: string): { caseId: string; cells: string[] }[] {
  return [...html.matchAll(/<tr data-case="([^"]+)">([\s\S]*?)<\/tr>/g)].map((m) => ({
    caseId: m[1] ?? '',
    cells: [...(m[2] ?? '').matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => (c[1] ?? '').replace(/<[^>]+>/g, '')),
  }));
}

const olderLink = (html: string) => /href="\/cases\?before=([^"&]+)(?:&amp;status=[^"]*)?">Older cases/.exec(html)?.[1] ?? null;

// ---------------------------------------------------------------------------------
// Direct counts: what the pages must agree with, read straight from the tables.

async function scan(table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of paginateScan({ client: db }, { TableName: table, ConsistentRead: true })) items.push(...(page.Items ?? []));
  return items;
}

type Counts = Figures & { outstandingIds: string[] };

/**
 * Per school (where the person is now): active people with a pending or acknowledged request
 * for the version; acknowledged or outstanding; outstanding and due before today is overdue.
 */
async function directCount(policyId: string, version: number): Promise<{ bySchool: Record<string, Counts>; trust: Counts }> {
  const items = await scan(dataTable);
  const people = new Map(items.filter((i) => i.sk === 'PROFILE').map((i) => [String(i.staffId), i]));
  const empty = (): Counts => ({ people: 0, acknowledged: 0, outstanding: 0, overdue: 0, outstandingIds: [] });
  const bySchool: Record<string, Counts> = {};
  const trust = empty();
  for (const r of items) {
    if (r.entity !== 'ack-request' || r.policyId !== policyId || Number(r.version) !== version) continue;
    if (!['pending', 'acknowledged'].includes(String(r.status))) continue;
    const person = people.get(String(r.staffId));
    if (person?.status !== 'active') continue;
    const school = String(person.schoolId);
    bySchool[school] ??= empty();
    for (const c of [bySchool[school], trust]) {
      c.people++;
      if (r.status === 'acknowledged') c.acknowledged++;
      else {
        c.outstanding++;
        c.outstandingIds.push(String(r.staffId));
        if (String(r.dueOn) < today) c.overdue++;
      }
    }
  }
  return { bySchool, trust };
}

/** The case's timeline items, straight from the data table. */
async function timelineItems(caseId: string): Promise<Record<string, unknown>[]> {
  const out = await db.send(
    new QueryCommand({
      TableName: dataTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :t)',
      ExpressionAttributeValues: { ':pk': `CASE#${caseId}`, ':t': 'TIMELINE#' },
      ConsistentRead: true,
    }),
  );
  return (out.Items ?? []).sort((a, b) => Number(a.seq) - Number(b.seq));
}

// ---------------------------------------------------------------------------------
// Setup.

async function createQueue(name: string): Promise<{ url: string; arn: string }> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '30' } }));
  const url = created.QueueUrl ?? '';
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, arn: attrs.Attributes?.QueueArn ?? '' };
}

/** This file's tables and queues, for the bindings every function here is given. */
function bindOwn(): void {
  process.env.DATA_TABLE_NAME = dataTable;
  process.env.LEDGER_TABLE_NAME = ledgerTable;
  process.env.NARRATIVE_TABLE_NAME = narrativeTable;
  process.env.EMAIL_QUEUE_URL = emailQueue.url;
}

const hr = (staffId: string, schoolId: string, employmentType = 'permanent', roles = ['teacher'], managesOfficialChannels = false) => ({
  staffId,
  givenName: `Given${staffId.replace(/[^A-Z0-9]/g, '')}`,
  familyName: 'Console',
  email: `${staffId.toLowerCase()}@console.example.org`,
  schoolId,
  roles,
  employmentType,
  startDate: addDays(today, -7),
  managesOfficialChannels,
});

beforeAll(async () => {
  await Promise.all([
    createTableLike(dynamodb, one(ctx.tables, 'DataTable'), dataTable),
    createTableLike(dynamodb, one(ctx.tables, 'LedgerTable'), ledgerTable),
    createTableLike(dynamodb, one(ctx.tables, 'NarrativeTable'), narrativeTable),
  ]);
  emailQueue = await createQueue(`console-email-${run}`);
  for (const name of ['EmailSenderDlq', 'FanoutDlq', 'HandlersDlq']) dlqs[name] = (await createQueue(`console-${name.toLowerCase()}-${run}`)).url;
  await seedDemoTrust(db, dataTable, config);

  bus = await startCapturingBus(ctx, published);

  const load = async <T>(prefix: string, importer: () => Promise<{ handler: unknown }>) =>
    (
      await loadFunction(ctx, prefix, () => {
        bindOwn();
        return importer();
      })
    ).handler as T;
  onboard = await load<EventBridgeHandler>('StaffOnboardedFunction', () => import('../../functions/handlers/staff-onboarded.ts'));
  intake = await load<Http>('CaseIntakeReportIntakeFunction', () => import('../../functions/handlers/report-intake.ts'));
  routeHandler = await load<EventBridgeHandler>('BreachReportedFunction', () => import('../../functions/handlers/breach-reported.ts'));
  sender = await load<SqsHandler>('EmailSenderFunction', () => import('../../functions/handlers/email-sender.ts'));
  consoleHandler = await load<Http>('OperatorConsoleConsoleFunction', () => {
    process.env.CONSOLE_AUTH = 'loopback';
    process.env.DLQ_URLS = JSON.stringify(dlqs);
    return import('../../functions/handlers/console-http.ts');
  });

  // Compliance: nine people asked through onboarding at three schools and the trust centre;
  // three acknowledge; one seeded person is asked directly with a date already past (overdue).
  const joiners = [
    hr('CON-SM-1', 'st-marys'),
    hr('CON-SM-2', 'st-marys', 'volunteer', ['volunteer']),
    hr('CON-SM-3', 'st-marys'),
    hr('CON-SM-4', 'st-marys', 'permanent', ['teacher'], true), // also asked for the acceptable use agreement
    hr('CON-SJ-1', 'st-johns'),
    hr('CON-SJ-2', 'st-johns', 'governor', ['governor']),
    hr('CON-HT-1', 'holy-trinity'),
    hr('CON-HT-XSS', 'holy-trinity'),
    hr('CON-T-1', 'trust', 'permanent', ['hr-advisor']),
  ];
  for (const p of joiners) await onboard(eventBridgeEvent('Staff Onboarded', 'trust.hr', p), lambdaContext('StaffOnboarded'));
  for (const staffId of ['CON-SM-1', 'CON-SJ-1', 'CON-T-1']) {
    expect((await requests.acknowledge(staffId, SEED, 1, `token-${staffId}`, new Date())).recorded).toBe(true);
  }
  const asked = await requests.get('CON-SM-3', SEED, 1);
  if (!asked) throw new Error('onboarding asked nobody for the seed policy');
  await requests.createIfAbsent([{ ...asked, staffId: 'HT-T1', schoolId: 'holy-trinity', dueOn: addDays(today, -3), requestedAt: `${addDays(today, -20)}T09:00:00.000Z` }]);
  // A stored name the HR contract would refuse (written straight to the table): the drill-down must escape it.
  await db.send(
    new UpdateCommand({
      TableName: dataTable,
      Key: { pk: 'PERSON#CON-HT-XSS', sk: 'PROFILE' },
      UpdateExpression: 'SET givenName = :n',
      ExpressionAttributeValues: { ':n': XSS_NAME },
    }),
  );
  // A policy nobody has been asked to acknowledge.
  const seed = await new PolicyRepository(db, dataTable).getCurrent(SEED);
  if (!seed) throw new Error('the seed policy is not registered');
  const { policyId: _p, title: _t, version: _v, ...rest } = seed;
  expect(await new PolicyRepository(db, dataTable).registerIfAbsent({ ...rest, policyId: QUIET, title: 'Console Quiet Policy', version: 1 }, new Date())).toBe(true);
});

afterAll(async () => {
  await bus?.close();
});

// ---------------------------------------------------------------------------------

describe('the dashboard (/)', () => {
  it("shows each school's figures, in the chart's data attributes, equal to a direct count of the table", async () => {
    const page = await request('/');
    expect(page.status).toBe(200);
    for (const policyId of [SEED, 'social-media-acceptable-use']) {
      const expected = await directCount(policyId, 1);
      const shown = chartFigures(section(page.body, policyId));
      const counted = Object.fromEntries(
        Object.entries(expected.bySchool).map(([school, { outstandingIds: _ids, ...figures }]) => [school, figures]),
      );
      expect(shown, policyId).toEqual(counted);
    }
    // The scenario is not trivial: four places, acknowledgements, something overdue.
    const seed = await directCount(SEED, 1);
    expect(Object.keys(seed.bySchool).sort()).toEqual(['holy-trinity', 'st-johns', 'st-marys', 'trust']);
    expect(seed.trust).toMatchObject({ people: 10, acknowledged: 3, outstanding: 7, overdue: 1 });
  });

  it('shows the trust-wide tiles of each policy', async () => {
    const page = await request('/');
    for (const policyId of [SEED, 'social-media-acceptable-use']) {
      const { trust } = await directCount(policyId, 1);
      const s = section(page.body, policyId);
      expect({ people: tile(s, 'people'), acknowledged: tile(s, 'acknowledged'), outstanding: tile(s, 'outstanding'), overdue: tile(s, 'overdue') }, policyId).toEqual({
        people: String(trust.people),
        acknowledged: String(trust.acknowledged),
        outstanding: String(trust.outstanding),
        overdue: String(trust.overdue),
      });
      expect(tile(s, 'percent')).toBe(`${((trust.acknowledged / trust.people) * 100).toFixed(1)}%`);
    }
  });

  it('says so for a policy nobody has been asked to acknowledge', async () => {
    const page = await request('/');
    const quiet = section(page.body, QUIET);
    expect(quiet).toContain('Nobody has been asked to acknowledge this version yet.');
    expect(quiet).not.toContain('<g data-school');
    expect(tile(quiet, 'people')).toBe('0');
    expect(tile(quiet, 'percent')).toBe('–');
  });
});

describe('the drill-down (/compliance/<policy>/v<n>/<school>)', () => {
  const outstandingIds = (html: string) => [...html.matchAll(/<tr><td>[^<]*<\/td><td>([^<]+)<\/td>/g)].map((m) => m[1] ?? '').sort();

  it('lists exactly the people outstanding at the school', async () => {
    const { bySchool } = await directCount(SEED, 1);
    for (const school of ['st-marys', 'holy-trinity', 'st-johns']) {
      const page = await request(`/compliance/${SEED}/v1/${school}`);
      expect(page.status, school).toBe(200);
      expect(outstandingIds(page.body), school).toEqual([...(bySchool[school]?.outstandingIds ?? [])].sort());
    }
    // Holy Trinity: the overdue person first, by how long.
    const ht = await request(`/compliance/${SEED}/v1/holy-trinity`);
    expect(ht.body).toMatch(/<td>HT-T1<\/td><td>v1<\/td><td>[\d-]+<\/td><td class="num bad">3 day\(s\)<\/td>/);
    expect(ht.body.indexOf('HT-T1')).toBeLessThan(ht.body.indexOf('CON-HT-1'));
    // A school where everyone confirmed (CON-T-1 acknowledged).
    const trust = await request(`/compliance/${SEED}/v1/trust`);
    expect(trust.body).toContain('Everyone here has confirmed.');
  });

  it('answers 404 with a clear message for an unknown policy, version or school', async () => {
    const policy = await request('/compliance/no-such-policy/v1/st-marys');
    expect(policy.status).toBe(404);
    expect(policy.body).toContain('no policy &#34;no-such-policy&#34; on record');
    const version = await request(`/compliance/${SEED}/v99/st-marys`);
    expect(version.status).toBe(404);
    expect(version.body).toContain(`${SEED} has no version 99`);
    const school = await request(`/compliance/${SEED}/v1/st-elsewhere`);
    expect(school.status).toBe(404);
    expect(school.body).toContain('No school &#34;st-elsewhere&#34; in this trust.');
  });

  it('answers 404 to paths with ../ or odd characters, echoing nothing unescaped', async () => {
    for (const path of [
      `/compliance/../v1/st-marys`,
      `/compliance/${SEED}/v1/..`,
      `/compliance/${SEED}/v1/..%2F..%2Fetc%2Fpasswd`,
      `/compliance/${SEED}/v1/<script>alert(1)</script>`,
      `/compliance/%3Cscript%3Ealert(1)%3C%2Fscript%3E/v1`,
      `/compliance/${SEED}/v1/st-marys"><img src=x onerror=alert(1)>`,
      `/compliance/${SEED.toUpperCase()}/v1`,
      '/compliance/../../etc/passwd',
    ]) {
      const res = await request(path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toMatch(/<script|<img|alert\(1\)<\/script>|"><img/i);
      expect(res.body, path).not.toContain('passwd<');
    }
  });
});

describe('cases (/cases, /cases/<id>)', () => {
  /** Case ids, oldest first, as opened below. */
  const opened: string[] = [];
  let routed: CaseRecord;
  let oldCase: string;
  let escalatedCase: string;
  let triagedCases: string[];
  let gap: string;

  const report = {
    schoolId: 'st-marys',
    category: 'online-conduct-concern' as BreachCategory,
    reportedByStaffId: 'SM-T2',
    subject: { kind: 'staff' as const, staffId: 'SM-T1' },
    occurredOn: addDays(today, -2),
    narrative: NARRATIVE,
  };

  beforeAll(async () => {
    // 51 cases straight through the repository (as the intake writes them)...
    const now = new Date();
    for (let i = 0; i < 51; i++) {
      const caseId = await cases.allocateCaseId(now);
      const reportedAt = i === 0 ? new Date(now.getTime() - 10 * 86_400_000) : now;
      const facts = { ...report, category: i % 2 ? ('staff-misconduct' as const) : ('online-conduct-concern' as const), subject: { kind: 'parent' as const } };
      const record = openCase(facts, caseId, reportedAt, config.escalation.triageHours);
      expect((await cases.open(record, `${NARRATIVE} (case ${i})`)).outcome).toBe('opened');
      opened.push(caseId);
    }
    oldCase = opened[0] ?? '';
    escalatedCase = opened[3] ?? '';
    expect(await cases.recordEscalation(escalatedCase, 1, { recipients: [], flags: [], gaps: [], conflicts: [] }, now, new Date(now.getTime() + 86_400_000).toISOString())).not.toBeNull();
    triagedCases = [opened[5] ?? '', opened[49] ?? ''];
    for (const caseId of triagedCases) expect(await cases.move(caseId, { from: 'reported', to: 'triaged', by: 'SM-DSL' }, now)).toBe(true);
    // ...an id allocated by an intake that failed before storing its case...
    gap = await cases.allocateCaseId(now);
    // ...and two reports through the intake, routed by the Breach Reported handler.
    for (const body of [report, { ...report, category: 'staff-abused-online' }]) {
      const res = await intake(httpApiEvent('POST', '/reports', { body: JSON.stringify(body) }), lambdaContext('ReportIntake'));
      expect(res.statusCode).toBe(201);
      opened.push(String((JSON.parse(res.body ?? '{}') as { caseId?: string }).caseId));
    }
    await eventually(async () => (published.length >= 2 ? true : undefined), { what: 'Breach Reported for both reports' });
    for (const e of published.splice(0)) await routeHandler(e as unknown as EventBridgeEvent<string, unknown>, lambdaContext('BreachReported'));
    const record = await cases.get(opened[opened.length - 1] ?? '');
    if (!record?.routing) throw new Error('the last report was not routed');
    routed = record;
  });

  it('lists the newest cases first with status, age and escalations, and never a narrative', async () => {
    const page = await request('/cases');
    expect(page.status).toBe(200);
    const rows = caseRows(page.body);
    const newestFirst = [...opened].reverse();
    expect(rows.map((r) => r.caseId)).toEqual(newestFirst.slice(0, 50));
    expect(page.body).not.toContain(NARRATIVE_TAG);
    expect(page.body).not.toContain('data-narrative');

    const row = (id: string) => rows.find((r) => r.caseId === id)?.cells ?? [];
    // cells: status, category, school, age, escalations, flags
    expect(row(opened[10] ?? '')).toEqual(['Reported, awaiting triage', expect.any(String), escapeHtml(schoolName(config, 'st-marys')), '0 day(s)', 'none', '–']);
    expect(row(triagedCases[0] ?? '')[0]).toBe('Triaged');
    expect(row(escalatedCase)[4]).toBe('level 1');
    expect(routed.routing?.flags).toEqual(['police-referral-decision']); // staff abused online
    expect(row(routed.caseId)[5]).not.toBe('–');
    // The oldest case is on the next page; its age is counted from its report.
    const older = olderLink(page.body);
    expect(older).toBe(newestFirst[49]);
    const next = await request(`/cases?before=${older}`);
    const nextRows = caseRows(next.body);
    expect(nextRows.map((r) => r.caseId)).toEqual(newestFirst.slice(50));
    const reportedAt = (await cases.get(oldCase))?.reportedAt ?? '';
    expect(nextRows.find((r) => r.caseId === oldCase)?.cells[3]).toBe(`${daysBetween(reportedAt.slice(0, 10), today)} day(s)`);
    expect(nextRows.find((r) => r.caseId === oldCase)?.cells[3]).toMatch(/^1[01] day\(s\)$/);
    expect(olderLink(next.body)).toBeNull();
    expect(next.body).not.toContain(NARRATIVE_TAG);
  });

  it('pages on from any case id with before=, and skips an id without a case', async () => {
    const before = opened[10] ?? '';
    const page = await request(`/cases?before=${before}`);
    expect(caseRows(page.body).map((r) => r.caseId)).toEqual(opened.slice(0, 10).reverse());
    expect(page.body).not.toContain(`data-case="${gap}"`);
    // A malformed before= is ignored (the newest page).
    const bad = await request('/cases?before=%3Cscript%3E');
    expect(caseRows(bad.body)[0]?.caseId).toBe(opened[opened.length - 1]);
    expect(bad.body).not.toContain('<script');
  });

  it('filters by status', async () => {
    const triaged = await request('/cases?status=triaged');
    expect(caseRows(triaged.body).map((r) => r.caseId)).toEqual([...triagedCases].reverse());
    expect(caseRows(triaged.body).every((r) => r.cells[0] === 'Triaged')).toBe(true);
    expect(triaged.body).toContain('<option value="triaged" selected>');
    const reported = await request('/cases?status=reported');
    const reportedIds = caseRows(reported.body).map((r) => r.caseId);
    expect(reportedIds).toEqual([...opened].reverse().filter((id) => !triagedCases.includes(id)).slice(0, 50));
    expect(olderLink(reported.body)).toBe(reportedIds[49]);
    const rest = await request(`/cases?before=${reportedIds[49]}&status=reported`);
    expect(caseRows(rest.body).map((r) => r.caseId)).toEqual([...opened].reverse().filter((id) => !triagedCases.includes(id)).slice(50));
    expect(caseRows((await request('/cases?status=closed')).body)).toEqual([]);
  });

  describe('a case page: the narrative only for a person with a role on it, every view on its timeline', () => {
    const view = async (viewAs?: string) => {
      const before = await timelineItems(routed.caseId);
      const page = await request(`/cases/${routed.caseId}`, viewAs === undefined ? {} : { viewAs });
      const after = await timelineItems(routed.caseId);
      return { page, before, after, added: after.slice(before.length) };
    };
    const emailOf = async (staffId: string) => (await new PeopleRepository(db, dataTable).get(staffId))?.email ?? '';

    it('refuses the narrative to a viewer nobody identified, recording nothing', async () => {
      const { page, before, after } = await view();
      expect(page.status).toBe(200);
      expect(page.body).toContain('data-narrative-refused="not-identified"');
      expect(page.body).not.toContain(NARRATIVE_TAG);
      expect(after).toEqual(before);
    });

    it('shows the narrative to a participant and records the read by their staffId', async () => {
      const participant = routed.participants[0] ?? '';
      expect(participant).not.toBe('');
      const { page, added } = await view(await emailOf(participant));
      expect(page.status).toBe(200);
      expect(page.body).toContain(`<div class="narrative" data-narrative>${NARRATIVE}</div>`);
      expect(added).toEqual([expect.objectContaining({ kind: 'narrative-read', by: participant, entity: 'case-timeline' })]);
      // The page's timeline already has the read.
      expect(page.body).toContain(participant);
      // The email as typed in another case still identifies them.
      const shouting = await view((await emailOf(participant)).toUpperCase());
      expect(shouting.added).toEqual([expect.objectContaining({ kind: 'narrative-read', by: participant })]);
    });

    it("refuses the case's subject, recording the refusal", async () => {
      const { page, added } = await view(await emailOf('SM-T1'));
      expect(page.body).toContain('data-narrative-refused="subject-of-case"');
      expect(page.body).not.toContain(NARRATIVE_TAG);
      expect(added).toEqual([expect.objectContaining({ kind: 'narrative-refused', by: 'SM-T1', reason: 'subject-of-case' })]);
    });

    it('refuses someone with no role on the case, recording the refusal', async () => {
      const outsider = await emailOf('HT-T1');
      expect(routed.participants).not.toContain('HT-T1');
      const { page, added } = await view(outsider);
      expect(page.body).toContain('data-narrative-refused="no-role-on-case"');
      expect(page.body).not.toContain(NARRATIVE_TAG);
      expect(added).toEqual([expect.objectContaining({ kind: 'narrative-refused', by: outsider, reason: 'no-role-on-case' })]);
      const stranger = await view('somebody@elsewhere.example.org');
      expect(stranger.page.body).toContain('data-narrative-refused="no-role-on-case"');
      expect(stranger.added).toHaveLength(1);
    });

    it('answers 404 for an unknown case and for a malformed id, recording nothing', async () => {
      const unknown = await request('/cases/CASE-2026-999999', { viewAs: await emailOf(routed.participants[0] ?? '') });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toContain('No case CASE-2026-999999 on record.');
      expect(await timelineItems('CASE-2026-999999')).toEqual([]);
      const empty = await request(`/cases/${gap}`);
      expect(empty.status).toBe(404);
      for (const path of ['/cases/not-a-case', '/cases/CASE-2026-1', `/cases/${routed.caseId}%0A`, '/cases/%3Cscript%3E', '/cases/%E0%A4%A', '/cases/%', `/cases/${routed.caseId}/../x`]) {
        const res = await request(path);
        expect(res.status, path).toBe(404);
        expect(res.body, path).not.toContain('<script');
      }
    });
  });
});

describe('the email ledger (/ledger)', () => {
  const written: Record<LedgerState, string[]> = { queued: [], sending: [], sent: [], failed: [], abandoned: [] };

  beforeAll(async () => {
    // What onboarding and the case notices queued goes out through the real sender...
    await drainThroughSender(sqs, emailQueue, sender);
    // ...and rows in every state are written as the sender would leave them.
    const now = new Date();
    const plan: [LedgerState, number][] = [
      ['queued', 2],
      ['sending', 1],
      ['failed', 3],
      ['sent', 1],
      ['abandoned', 1],
    ];
    for (const [state, n] of plan) {
      for (let i = 0; i < n; i++) {
        const notice = rejectedEventNotice(
          { eventId: `console-${state}-${i}-${run}`, detailType: 'Staff Onboarded', problems: [{ field: 'detail.email', problem: 'must be an email address' }] },
          config.integrationContact,
          config.trust.name,
        );
        const [key] = await ledger.recordIntended([notice], { detailType: 'Staff Onboarded', eventId: `console-${state}-${i}` }, now);
        if (!key) throw new Error('the row was not recorded');
        written[state].push(key);
        if (state === 'queued') continue;
        const row = await ledger.get(key);
        if (!row || !(await ledger.claim(row, now, false))) throw new Error('the row could not be claimed');
        if (state === 'failed') await ledger.markFailed(key, 'MessageRejected', now);
        if (state === 'sent') await ledger.markSent(key, `console-message-${i}`, now);
        if (state === 'abandoned') {
          const held = await ledger.get(key);
          if (!held || !(await ledger.abandon(held, now))) throw new Error('the row could not be abandoned');
        }
      }
    }
  });

  const counted = async () => {
    const counts: Record<LedgerState, number> = { queued: 0, sending: 0, sent: 0, failed: 0, abandoned: 0 };
    for (const row of await scan(ledgerTable)) counts[row.state as LedgerState]++;
    return counts;
  };
  const states = (html: string) => [...html.matchAll(/<tr data-state="([a-z]+)">/g)].map((m) => m[1] ?? '');

  it('counts the rows by state as a direct count of the table does', async () => {
    const counts = await counted();
    // The sender sent everything queued before; the rows written above are the rest.
    expect(counts).toMatchObject({ queued: 2, sending: 1, failed: 3, abandoned: 1 });
    expect(counts.sent).toBeGreaterThan(10);
    const page = await request('/ledger');
    expect(page.status).toBe(200);
    expect({
      queued: tile(page.body, 'queued'),
      sending: tile(page.body, 'sending'),
      sent: tile(page.body, 'sent'),
      failed: tile(page.body, 'failed'),
      abandoned: tile(page.body, 'abandoned'),
    }).toEqual({
      queued: String(counts.queued),
      sending: String(counts.sending),
      sent: String(counts.sent),
      failed: String(counts.failed),
      abandoned: String(counts.abandoned),
    });
    expect(page.body).toContain(`read ${counts.queued + counts.sending + counts.sent + counts.failed + counts.abandoned} row(s)`);
  });

  it('puts the rows not yet sent first (abandoned, failed, then sending, then queued)', async () => {
    const shown = states((await request('/ledger')).body);
    expect(shown.slice(0, 7)).toEqual(['abandoned', 'failed', 'failed', 'failed', 'sending', 'queued', 'queued']);
    expect(shown.slice(7).every((s) => s === 'sent')).toBe(true);
    expect(shown.length).toBe(Object.values(await counted()).reduce((a, b) => a + b, 0));
  });

  it('shows only the failed rows with ?state=failed', async () => {
    const page = await request('/ledger?state=failed');
    expect(states(page.body)).toEqual(['failed', 'failed', 'failed']);
    expect(page.body).toContain('<option value="failed" selected>');
    expect(page.body).toContain('MessageRejected');
    // The tiles still count the whole ledger.
    expect(tile(page.body, 'sending')).toBe('1');
    // An unknown state shows every row.
    expect(states((await request('/ledger?state=%3Cb%3E')).body).length).toBe(Object.values(await counted()).reduce((a, b) => a + b, 0));
  });
});

describe('dead-letter queues (/queues and the dashboard)', () => {
  const queueRow = (html: string, name: string) =>
    new RegExp(`<tr data-queue="${name}"><th scope="row">${name}</th><td class="num[^"]*">(\\d+)</td><td class="num">(\\d+)</td></tr>`).exec(html)?.slice(1, 3).map(Number);

  it('shows each queue empty, then the messages sent to one of them, and their total on the dashboard', async () => {
    const empty = await request('/queues');
    for (const name of Object.keys(dlqs)) expect(queueRow(empty.body, name), name).toEqual([0, 0]);
    expect((await request('/')).body).toContain('No messages in any dead-letter queue.');

    const N = 4;
    for (let i = 0; i < N; i++) await sqs.send(new SendMessageCommand({ QueueUrl: dlqs.FanoutDlq, MessageBody: JSON.stringify({ n: i }) }));

    const page = await eventually(async () => {
      const p = await request('/queues');
      return queueRow(p.body, 'FanoutDlq')?.[0] === N ? p : undefined;
    }, { what: `${N} messages on the FanoutDlq page` });
    expect(queueRow(page.body, 'FanoutDlq')).toEqual([N, 0]);
    expect(queueRow(page.body, 'EmailSenderDlq')).toEqual([0, 0]);
    expect(queueRow(page.body, 'HandlersDlq')).toEqual([0, 0]);
    expect(page.body).toContain(`${N} message(s)</strong> waiting`);
    const dashboard = await request('/');
    expect(dashboard.body).toContain(`${N} message(s) in dead-letter queues`);
  });
});

describe('security', () => {
  it('sends the security headers on every response, and no script', async () => {
    const caseId = (await cases.recent(1)).cases[0]?.caseId ?? '';
    const responses = await Promise.all(
      [
        '/',
        `/compliance/${SEED}/v1`,
        `/compliance/${SEED}/v1/holy-trinity`,
        '/compliance/nope/v1',
        '/cases',
        `/cases/${caseId}`,
        '/cases/CASE-2026-999999',
        '/ledger',
        '/queues',
        '/no/such/page',
        '/favicon.ico',
      ].map(async (path) => [path, await request(path, { viewAs: 'thomas.reid@stmarys.example.org' })] as const),
    );
    responses.push(['POST /', await request('/', { method: 'POST' })]);
    for (const [path, res] of responses) {
      expect(res.headers, path).toMatchObject(SECURITY_HEADERS);
      expect(res.body, path).not.toMatch(/<script/i);
      if (res.body) expect(res.headers['Content-Type'], path).toBe('text/html; charset=utf-8');
    }
    expect(responses.find(([p]) => p === '/no/such/page')?.[1].status).toBe(404);
  });

  it('refuses anything but GET with 405 and Allow: GET', async () => {
    for (const path of ['/', '/cases', `/compliance/${SEED}/v1`]) {
      const res = await request(path, { method: 'POST' });
      expect(res.status, path).toBe(405);
      expect(res.headers.Allow, path).toBe('GET');
    }
  });

  it('answers /favicon.ico with 204 and no body', async () => {
    const res = await request('/favicon.ico');
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
  });

  it("escapes a stored person's name in the drill-down", async () => {
    const page = await request(`/compliance/${SEED}/v1/holy-trinity`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('&#60;script&#62;alert(&#34;console&#34;)&#60;/script&#62; Console');
    expect(page.body).not.toContain('<script');
    expect(page.body).toContain('<td>CON-HT-XSS</td>');
  });
});

describe('Cognito mode (CONSOLE_AUTH=cognito)', () => {
  const DOMAIN = 'https://tpn-console-test.auth.eu-west-2.amazoncognito.com';
  let cognitoHandler: Http;
  const operations: string[] = [];
  let directGet: () => Promise<void>;

  beforeAll(async () => {
    // A fresh module graph: the handler reads its settings, and builds its clients, at cold start.
    vi.resetModules();
    cognitoHandler = (
      await loadFunction(ctx, 'OperatorConsoleConsoleFunction', () => {
        bindOwn();
        Object.assign(process.env, {
          CONSOLE_AUTH: 'cognito',
          CONSOLE_USER_POOL_ID: 'eu-west-2_TestPool01',
          CONSOLE_CLIENT_ID: 'testclient0123456789',
          CONSOLE_AUTH_DOMAIN_URL: DOMAIN,
          CONSOLE_CALLBACK_URL: 'https://console.example.org/auth/callback',
          DLQ_URLS: JSON.stringify(dlqs),
        });
        return import('../../functions/handlers/console-http.ts');
      })
    ).handler as Http;
    // The clients that handler uses (same module graph): every command they send is recorded.
    const runtime = await import('../../functions/adapters/runtime.ts');
    const clients = runtime.awsClients();
    const record = { step: 'initialize', name: 'recordConsoleOperations' } as const;
    clients.dynamo.middlewareStack.add((next, context) => async (args) => {
      operations.push(context.commandName ?? 'unknown');
      return next(args);
    }, record);
    clients.sqs.middlewareStack.add((next, context) => async (args) => {
      operations.push(context.commandName ?? 'unknown');
      return next(args);
    }, record);
    directGet = async () => {
      await clients.dynamo.send(new QueryCommand({ TableName: dataTable, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': 'COUNTER#CASE' } }));
    };
  });

  afterAll(() => {
    process.env.CONSOLE_AUTH = 'loopback';
  });

  it('redirects a request without a session to the hosted UI and reads nothing', async () => {
    const caseId = (await cases.recent(1)).cases[0]?.caseId ?? '';
    for (const [path, cookie] of [
      ['/', undefined],
      ['/cases?status=reported', undefined],
      [`/cases/${caseId}`, 'tpn_view_as=thomas.reid%40stmarys.example.org'],
      ['/ledger', '__Host-tpn_session=not-a-jwt'],
      ['/queues', '__Host-tpn_session=eyJhbGciOiJub25lIn0.eyJlbWFpbCI6InRob21hcy5yZWlkQHN0bWFyeXMuZXhhbXBsZS5vcmcifQ.'],
    ] as const) {
      const res = await request(path, { handler: cognitoHandler, ...(cookie ? { cookie } : {}) });
      expect(res.status, path).toBe(302);
      const location = new URL(res.headers.Location ?? '');
      expect(`${location.origin}${location.pathname}`, path).toBe(`${DOMAIN}/oauth2/authorize`);
      expect(location.searchParams.get('client_id')).toBe('testclient0123456789');
      expect(location.searchParams.get('redirect_uri')).toBe('https://console.example.org/auth/callback');
      expect(location.searchParams.get('code_challenge_method')).toBe('S256');
      expect(res.cookies.some((c) => c.startsWith('__Host-tpn_auth=') && c.includes('Secure') && c.includes('HttpOnly')), path).toBe(true);
      expect(res.headers, path).toMatchObject(SECURITY_HEADERS);
      expect(res.body, path).toBe('');
    }
    expect(operations).toEqual([]);
    // The recorder is on the clients the handler uses: a read through them is seen.
    await directGet();
    expect(operations).toEqual(['QueryCommand']);
  });
});
