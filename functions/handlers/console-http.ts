/**
 * The operator console (API Gateway HTTP API `GET /` and `GET /{proxy+}`; the local web
 * server in `npm start`): server-rendered pages, GET only, no script.
 *
 *   /                                          compliance of every policy's current version
 *   /compliance/<policyId>/v<version>          one version: chart, per-school table
 *   /compliance/<policyId>/v<version>/<school> who at that school is outstanding
 *   /cases[?status=&before=]                   the case list (no narratives)
 *   /cases/<caseId>                            a case; its narrative only for a person with a role on it
 *   /ledger[?state=]                           the email ledger by delivery state
 *   /queues                                    dead-letter queue counts
 *   /auth/...                                  sign-in (functions/http/console-auth.ts)
 *
 * In AWS the viewer is the person signed in through Cognito (or the trust's own OIDC
 * provider federated into it); on the local runtime, on 127.0.0.1, there is no sign-in and
 * "view as" picks whose case roles apply.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { awsClients, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { schoolName } from '../config/trust-config.ts';
import { CASE_STATUSES, type CaseStatus } from '../domain/cases.ts';
import { londonDate } from '../domain/dates.ts';
import { LEDGER_STATES, type LedgerState } from '../domain/emails.ts';
import { authenticate, consoleAuthSettings } from '../http/console-auth.ts';
import {
  caseBody,
  casesBody,
  complianceSection,
  type ConsoleFrame,
  type ConsoleSection,
  consolePage,
  dashboardBody,
  ledgerBody,
  notFoundBody,
  outstandingBody,
  queuesBody,
} from '../http/console-pages.ts';
import { htmlResponse, SECURITY_HEADERS } from '../http/pages.ts';
import { ReportQueryError } from '../services/compliance-report.ts';
import {
  awaitingTriage,
  caseForViewer,
  complianceReport,
  currentPolicies,
  type ConsoleSource,
  dlqCounts,
  ledgerOverview,
  parseDlqUrls,
  recentCases,
} from '../services/console.ts';
import { httpHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const auth = consoleAuthSettings();
const source: ConsoleSource = {
  db: dynamo,
  dataTable: requireEnv('DATA_TABLE_NAME'),
  ledgerTable: requireEnv('LEDGER_TABLE_NAME'),
  narrativeTable: requireEnv('NARRATIVE_TABLE_NAME'),
  config,
  sqs,
  dlqUrls: parseDlqUrls(process.env.DLQ_URLS),
};

const CASE_ID = /^CASE-\d{4}-\d{6}$/;
const POLICY_ID = /^[a-z0-9-]{1,64}$/;
const SCHOOL_ID = /^[a-z0-9-]{1,64}$/;
const CASES_PER_PAGE = 50;


export const handler = httpHandler(async (event: APIGatewayProxyEventV2) => {
  const signedIn = await authenticate(event, auth, { trustName: config.trust.name });
  if ('response' in signedIn) return signedIn.response;
  const path = event.rawPath;
  const query = new URLSearchParams(event.rawQueryString ?? '');
  const frame: ConsoleFrame = {
    trustName: config.trust.name,
    viewer: signedIn.viewer?.email ?? null,
    loopback: auth.mode === 'loopback',
    path: `${path}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`,
  };
  const show = (status: number, section: ConsoleSection | null, title: string, body: string) => htmlResponse(status, consolePage(frame, section, title, body));
  const notFound = (what: string, section: ConsoleSection | null = null) => show(404, section, 'Not found', notFoundBody(what));

  // Browsers ask for an icon on every first visit; there is none (and no 404 in their console).
  if (path === '/favicon.ico') return { statusCode: 204, headers: { ...SECURITY_HEADERS } };
  if (event.requestContext.http.method !== 'GET') return htmlResponse(405, consolePage(frame, null, 'Not allowed', notFoundBody('The console only shows; it changes nothing.')), { Allow: 'GET' });
  const now = new Date();
  const today = londonDate(now);

  if (path === '/' || path === '') {
    const [policies, queues, triage] = await Promise.all([currentPolicies(source), dlqCounts(source), awaitingTriage(source)]);
    const sections = await Promise.all(
      policies.map(async (p) => {
        const { report, versions } = await complianceReport(source, { policyId: p.policyId, version: p.version, today });
        return complianceSection(report, versions, 'h2');
      }),
    );
    const dlqTotal = Object.keys(source.dlqUrls).length ? queues.reduce((n, q) => n + q.visible + q.inFlight, 0) : null;
    return show(200, 'compliance', 'Policy compliance', dashboardBody(sections, dlqTotal, triage));
  }

  const compliance = /^\/compliance\/([^/]+)\/v(\d{1,9})(?:\/([^/]+))?$/.exec(path);
  if (compliance) {
    const [, policyId = '', version = '', schoolId] = compliance;
    if (!POLICY_ID.test(policyId) || (schoolId !== undefined && !SCHOOL_ID.test(schoolId))) return notFound('No such policy or school.', 'compliance');
    try {
      const { report, versions } = await complianceReport(source, { policyId, version: Number(version), today });
      if (schoolId === undefined) {
        return show(200, 'compliance', `${report.title} v${report.version}`, complianceSection(report, versions, 'h1'));
      }
      const school = report.schools.find((s) => s.schoolId === schoolId);
      if (!school) return notFound(`No school "${schoolId}" in this trust.`, 'compliance');
      return show(200, 'compliance', `${school.schoolName}: outstanding`, outstandingBody(report, school));
    } catch (error) {
      if (error instanceof ReportQueryError) return notFound(error.message, 'compliance');
      throw error;
    }
  }

  if (path === '/cases') {
    const statusParam = query.get('status') || null;
    const status = statusParam && (CASE_STATUSES as readonly string[]).includes(statusParam) ? (statusParam as CaseStatus) : undefined;
    const beforeParam = query.get('before') ?? undefined;
    const before = beforeParam && CASE_ID.test(beforeParam) ? beforeParam : undefined;
    const list = await recentCases(source, CASES_PER_PAGE, before, status);
    return show(200, 'cases', 'Cases', casesBody(list.cases, (id) => schoolName(config, id), today, list.next, status ?? null));
  }

  const caseMatch = /^\/cases\/([^/]+)$/.exec(path);
  if (caseMatch) {
    let caseId = '';
    try {
      caseId = decodeURIComponent(caseMatch[1] ?? '');
    } catch {
      // Malformed percent-encoding (`/cases/%E0%A4%A`): not a case id, so the 404 below (it was a 500).
    }
    if (!CASE_ID.test(caseId)) return notFound('Case ids look like CASE-2026-000001.', 'cases');
    const view = await caseForViewer(source, caseId, frame.viewer, now);
    if (!view) return notFound(`No case ${caseId} on record.`, 'cases');
    return show(200, 'cases', caseId, caseBody(view.record, view.timeline, view.narrative, schoolName(config, view.record.schoolId), today));
  }

  if (path === '/ledger') {
    const stateParam = query.get('state') || null;
    const state = stateParam && (LEDGER_STATES as readonly string[]).includes(stateParam) ? (stateParam as LedgerState) : null;
    return show(200, 'ledger', 'Email ledger', ledgerBody(await ledgerOverview(source, state), state));
  }

  if (path === '/queues') return show(200, 'queues', 'Dead-letter queues', queuesBody(await dlqCounts(source)));

  return notFound('There is no such page in the console.');
});
