/**
 * The compliance report against DynamoDB Local (issue 4: "Report figures equal a direct
 * count of the table for a seeded scenario, editorial carry-forward included"): people are
 * onboarded through the real `Staff Onboarded` handler, some acknowledge through
 * RequestRepository.acknowledge, one leaves through the real `Staff Left` handler, an
 * editorial version 2 is stored through PolicyRepository.storeNewVersion and more people
 * are onboarded after it (asked for version 2). The report's figures are then compared with
 * a count this test makes itself by scanning the table; the report itself only queries
 * (every DynamoDB operation it sends is recorded and checked).
 *
 * The handlers use a data table of their own (same keys and indexes as the template's), so
 * that the editorial version 2 stored here cannot change what other test files' onboarding
 * asks for. The ledger and the email queue are the shared ones (the queue is drained after).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PolicyRepository } from '../../functions/adapters/policy-repository.ts';
import { RequestRepository } from '../../functions/adapters/request-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { ComplianceReport } from '../../functions/domain/compliance-report.ts';
import { addDays, londonDate } from '../../functions/domain/dates.ts';
import type { PolicyVersion } from '../../functions/domain/policy-update.ts';
import { loadComplianceReport, ReportQueryError } from '../../functions/services/compliance-report.ts';
import { startWebServer, type WebServer } from '../../local/web.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { createTableLike, drainThroughSender, eventBridgeEvent, type EventBridgeHandler, loadEmailSender, LOCAL_CREDENTIALS, localClients, one, type SqsHandler } from '../support/integration.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { dynamodb, db, sqs } = localClients(ctx, { removeUndefinedValues: true });
const sharedDataTable = one(ctx.tables, 'DataTable');
const emailQueue = one(ctx.queues, 'EmailQueue');
const dataTable = `${sharedDataTable}-compliance-report`;
const SEED = 'use-of-social-media';

// The report's own client: every operation it sends is recorded, to show it never scans.
const reportOperations: string[] = [];
const reportClient = new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: ctx.region, credentials: LOCAL_CREDENTIALS });
reportClient.middlewareStack.add(
  (next, context) => async (args) => {
    reportOperations.push(context.commandName ?? 'unknown');
    return next(args);
  },
  { step: 'initialize', name: 'recordReportOperations' },
);
const report = (query: Parameters<typeof loadComplianceReport>[1]) =>
  loadComplianceReport({ db: DynamoDBDocumentClient.from(reportClient), table: dataTable, config }, query);

type Eb = EventBridgeHandler;
type Sqs = SqsHandler;
let onboard: Eb;
let leave: Eb;
let sender: Sqs | undefined;

const hrEvent = (detailType: string, detail: Record<string, unknown>) => eventBridgeEvent(detailType, 'trust.hr', detail);

const hr = (staffId: string, schoolId: string, employmentType = 'permanent', roles = ['teacher']) => ({
  staffId,
  givenName: staffId.replace(/^RPT-/, ''),
  familyName: 'Reporter',
  email: `${staffId.toLowerCase()}@report.example.org`,
  schoolId,
  roles,
  employmentType,
  startDate: '2026-09-01',
});

const createPrivateDataTable = () => createTableLike(dynamodb, sharedDataTable, dataTable);

const useOwnTable = <M>(load: () => Promise<M>) => () => {
  process.env.DATA_TABLE_NAME = dataTable;
  return load();
};

const drainEmailQueue = (send: Sqs) => drainThroughSender(sqs, emailQueue, send, { mustDrain: false });

type Counts = { people: number; acknowledged: number; outstanding: number; overdue: number; outstandingIds: string[] };

/**
 * The test's own count, straight from a Scan of the whole table: per school (where the
 * person is now), active people (not left, no leaving date on or before today) with a
 * request for one of `versions` that is not superseded or cancelled; the latest such
 * request decides acknowledged or outstanding; outstanding and due before today is overdue.
 */
async function directCount(versions: number[], today: string): Promise<{ bySchool: Record<string, Counts>; trust: Counts }> {
  const items: Record<string, unknown>[] = [];
  for await (const page of paginateScan({ client: db }, { TableName: dataTable, ConsistentRead: true })) items.push(...(page.Items ?? []));
  const people = new Map(items.filter((i) => i.sk === 'PROFILE').map((i) => [String(i.staffId), i]));
  const requests = items.filter(
    (i) => i.entity === 'ack-request' && i.policyId === SEED && versions.includes(Number(i.version)) && ['pending', 'acknowledged'].includes(String(i.status)),
  );
  const latest = new Map<string, Record<string, unknown>>();
  for (const r of requests) {
    const seen = latest.get(String(r.staffId));
    if (!seen || Number(r.version) > Number(seen.version)) latest.set(String(r.staffId), r);
  }
  const empty = (): Counts => ({ people: 0, acknowledged: 0, outstanding: 0, overdue: 0, outstandingIds: [] });
  const bySchool: Record<string, Counts> = {};
  const trust = empty();
  for (const [staffId, r] of latest) {
    const p = people.get(staffId);
    if (p?.status !== 'active' || (typeof p.leftOn === 'string' && p.leftOn <= today)) continue;
    const school = String(p.schoolId);
    bySchool[school] ??= empty();
    for (const c of [bySchool[school], trust]) {
      c.people++;
      if (r.status === 'acknowledged') c.acknowledged++;
      else {
        c.outstanding++;
        c.outstandingIds.push(staffId);
        if (String(r.dueOn) < today) c.overdue++;
      }
    }
  }
  return { bySchool, trust };
}

function reportCounts(r: ComplianceReport): { bySchool: Record<string, Counts>; trust: Counts } {
  const bySchool: Record<string, Counts> = {};
  for (const s of r.schools) {
    if (s.people === 0) continue;
    bySchool[s.schoolId] = {
      people: s.people,
      acknowledged: s.acknowledged,
      outstanding: s.outstanding,
      overdue: s.overdue,
      outstandingIds: s.outstandingPeople.map((p) => p.staffId),
    };
  }
  const { people, acknowledged, outstanding, overdue } = r.trustWide;
  return { bySchool, trust: { people, acknowledged, outstanding, overdue, outstandingIds: r.schools.flatMap((s) => s.outstandingPeople.map((p) => p.staffId)) } };
}

const sorted = (c: { bySchool: Record<string, Counts>; trust: Counts }) => {
  const fix = (x: Counts): Counts => ({ ...x, outstandingIds: [...x.outstandingIds].sort() });
  return { bySchool: Object.fromEntries(Object.entries(c.bySchool).map(([k, v]) => [k, fix(v)])), trust: fix(c.trust) };
};

const today = londonDate(new Date());
const later = addDays(today, config.acknowledgement.dueDays + 10);

beforeAll(async () => {
  await createPrivateDataTable();
  onboard = (await loadFunction(ctx, 'StaffOnboardedFunction', useOwnTable(() => import('../../functions/handlers/staff-onboarded.ts'))))
    .handler as unknown as Eb;
  leave = (await loadFunction(ctx, 'StaffLeftFunction', useOwnTable(() => import('../../functions/handlers/staff-left.ts')))).handler as unknown as Eb;
  sender = await loadEmailSender(ctx);
  const requests = new RequestRepository(db, dataTable);
  const policies = new PolicyRepository(db, dataTable);

  // Version 1: seven people onboarded at three schools and the trust centre.
  const before = [
    hr('RPT-SM-1', 'st-marys'),
    hr('RPT-SM-2', 'st-marys', 'volunteer', ['volunteer']),
    hr('RPT-SM-3', 'st-marys'),
    hr('RPT-SM-4', 'st-marys'),
    hr('RPT-SJ-1', 'st-johns'),
    hr('RPT-SJ-2', 'st-johns', 'governor', ['governor']),
    hr('RPT-T-1', 'trust', 'permanent', ['hr-advisor']),
  ];
  for (const p of before) await onboard(hrEvent('Staff Onboarded', p), lambdaContext('StaffOnboarded'));
  const at = new Date();
  for (const staffId of ['RPT-SM-1', 'RPT-SJ-1', 'RPT-T-1']) {
    expect((await requests.acknowledge(staffId, SEED, 1, `token-${staffId}`, at)).recorded).toBe(true);
  }
  // A leaver (their pending request is cancelled by the Staff Left handler).
  await leave(hrEvent('Staff Left', { staffId: 'RPT-SM-4', leftOn: today, occurredAt: new Date().toISOString() }), lambdaContext('StaffLeft'));

  // Editorial version 2: nobody is asked again; version 1's acknowledgements carry forward.
  const v1 = await policies.getCurrent(SEED);
  if (!v1) throw new Error('the seed policy was not registered by onboarding');
  const v2: PolicyVersion = { ...v1, version: 2, change: 'editorial', changeSummary: 'Typos corrected.', sourceEventId: 'report-test-v2' };
  expect(await policies.storeNewVersion(v2, new Date())).toBe(true);

  // New starters after version 2 are asked for version 2; one acknowledges.
  for (const p of [hr('RPT-SJ-3', 'st-johns'), hr('RPT-SJ-4', 'st-johns')]) await onboard(hrEvent('Staff Onboarded', p), lambdaContext('StaffOnboarded'));
  expect((await requests.acknowledge('RPT-SJ-4', SEED, 2, 'token-RPT-SJ-4', new Date())).recorded).toBe(true);
});

afterAll(async () => {
  if (sender) await drainEmailQueue(sender);
});

describe('GET /reports/compliance on the local web server (the same report, as a page)', () => {
  let web: WebServer;
  beforeAll(async () => {
    web = await startWebServer({
      port: 0,
      config,
      health: async () => ({}),
      tick: async () => 0,
      functionStats: () => ({}),
      report,
      log: () => {},
    });
  });
  afterAll(async () => {
    await web?.close();
  });

  it('serves the figures as an accessible table, with the security headers', async () => {
    const response = await fetch(`${web.url}/reports/compliance`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    const body = await response.text();
    expect(body).toContain('<h1>Compliance report: Use of Social Media Policy, version 2</h1>');
    expect(body).toContain('<tfoot><tr><th scope="row">Trust-wide</th><td>8</td><td>4</td><td>4</td><td>0</td><td>50.0%</td></tr></tfoot>');
    expect(body).toContain('<th scope="row">SM-2 Reporter</th>');
    expect(body).toContain('acknowledgements of version 1 carry forward');
    expect(body).not.toMatch(/<script/i);
  });

  it('filters by version and school from the query string', async () => {
    const body = await (await fetch(`${web.url}/reports/compliance?policy=${SEED}&version=1&school=st-johns`)).text();
    expect(body).toContain('version 1</h1>');
    expect(body).toContain('<option value="st-johns" selected>');
    expect(body).toContain('<th scope="row">St John&#39;s Church of England Primary School</th><td>2</td><td>1</td><td>1</td>');
    expect(body).not.toContain('SM-2 Reporter');
  });

  it('escapes what the query string reflects (an XSS payload), and refuses unknown policies, schools and bad versions', async () => {
    const xss = '"><script>alert(1)</script><img src=x onerror=alert(1)>';
    // Not an id at all: refused before any read (400), and not reflected.
    const policy = await fetch(`${web.url}/reports/compliance?policy=${encodeURIComponent(xss)}`);
    expect(policy.status).toBe(400);
    expect(policy.headers.get('content-security-policy')).toContain("default-src 'none'");
    const policyBody = await policy.text();
    expect(policyBody).not.toMatch(/<script|<img|alert\(1\)/i);
    expect(policyBody).toContain('policy must be an id');
    expect(policyBody).toContain('role="alert"');

    const school = await fetch(`${web.url}/reports/compliance?school=${encodeURIComponent(xss)}`);
    expect(school.status).toBe(400);
    expect(await school.text()).not.toMatch(/<script|<img/i);
    // An id of no policy of ours: 404.
    expect((await fetch(`${web.url}/reports/compliance?policy=no-such-policy`)).status).toBe(404);

    const version = await fetch(`${web.url}/reports/compliance?version=${encodeURIComponent(xss)}`);
    expect(version.status).toBe(400);
    const versionBody = await version.text();
    expect(versionBody).toContain('version must be a positive whole number');
    expect(versionBody).not.toMatch(/<script|<img/i);
  });
});

describe('the compliance report (issue 4 item 5)', () => {
  it('figures for the current (editorial) version equal a direct count of the table, version 1 carried forward', async () => {
    reportOperations.length = 0;
    const r = await report({});
    expect(r).toMatchObject({ policyId: SEED, version: 2, change: 'editorial', countedVersions: [1, 2], carriedForwardFrom: 1, today });
    expect(sorted(reportCounts(r))).toEqual(sorted(await directCount([1, 2], today)));
    // And what the scenario makes it, so the comparison cannot pass on two empty counts.
    expect(r.trustWide).toEqual({ people: 8, acknowledged: 4, outstanding: 4, overdue: 0, percentAcknowledged: 50 });
    expect(reportCounts(r).bySchool['st-johns']).toEqual({ people: 4, acknowledged: 2, outstanding: 2, overdue: 0, outstandingIds: ['RPT-SJ-2', 'RPT-SJ-3'] });
    expect(r.excluded).toEqual({ leavers: 1, notOnRecord: 0, supersededOrCancelled: 0 });
    expect(r.schools.find((s) => s.schoolId === 'st-marys')?.outstandingPeople.map((p) => p.name)).toEqual(['SM-2 Reporter', 'SM-3 Reporter']);
    // Query patterns only: the policy's versions and current pointer, a version's requests, a school's people.
    expect(new Set(reportOperations)).toEqual(new Set(['QueryCommand', 'GetItemCommand']));
  });

  it('after the due date every outstanding request is overdue, still equal to the direct count', async () => {
    reportOperations.length = 0;
    const r = await report({ today: later });
    expect(sorted(reportCounts(r))).toEqual(sorted(await directCount([1, 2], later)));
    expect(r.trustWide.overdue).toBe(4);
    expect(reportOperations).not.toContain('ScanCommand');
  });

  it('version 1 on its own counts only version 1 requests, equal to the direct count', async () => {
    const r = await report({ version: 1 });
    expect(r).toMatchObject({ version: 1, countedVersions: [1], carriedForwardFrom: null });
    expect(sorted(reportCounts(r))).toEqual(sorted(await directCount([1], today)));
    expect(r.trustWide).toMatchObject({ people: 6, acknowledged: 3, outstanding: 3 });
  });

  it('one school: that school only, with the trust-wide figures of the whole trust', async () => {
    const r = await report({ schoolId: 'st-marys' });
    expect(r.schools.map((s) => s.schoolId)).toEqual(['st-marys']);
    expect(r.trustWide.people).toBe(8);
  });

  it('an unknown policy, version or school is refused, naming the option', async () => {
    await expect(report({ policyId: 'no-such-policy' })).rejects.toMatchObject({ name: 'ReportQueryError', field: 'policy' });
    await expect(report({ version: 9 })).rejects.toMatchObject({ field: 'version' });
    await expect(report({ schoolId: 'nowhere' })).rejects.toBeInstanceOf(ReportQueryError);
  });
});
