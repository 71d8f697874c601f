/**
 * The operator console's pages (issue #7; README "Operator console"): server-rendered
 * HTML with the shared layout and security headers (functions/http/pages.ts), no script.
 * Charts are inline SVG (attributes, not style, so the `default-src 'none'` policy holds),
 * each with a text alternative and the same figures in a table beside it.
 *
 * Who looks at what:
 * - the Trust Board: which schools are behind on a policy version (§1f, §4a.ii);
 * - a Head of School: who at their school still has to confirm it (§4b.i);
 * - a DSL or case owner: a case, its timeline and, only for a person with a role on the
 *   case, its narrative (§5e, §9); list pages never show narratives;
 * - the operator: the email ledger's delivery states and the dead-letter queues.
 * Pure: no AWS imports; the handler (functions/handlers/console-http.ts) loads the data.
 */
import type { LedgerRow } from '../adapters/ledger-repository.ts';
import { categoryLabel, FLAG_LABELS } from '../domain/breach-routing.ts';
import { type CaseRecord, describeEntry, type TimelineEntry } from '../domain/cases.ts';
import type { ComplianceReport, Figures, SchoolReport } from '../domain/compliance-report.ts';
import { daysBetween, formatLondonDateTime } from '../domain/dates.ts';
import { LEDGER_STATES, type LedgerState } from '../domain/emails.ts';
import { escapeHtml as e, page } from './pages.ts';

export type ConsoleSection = 'compliance' | 'cases' | 'ledger' | 'queues';

export interface ConsoleFrame {
  trustName: string;
  /** The signed-in person (Cognito), the person viewed as (loopback), or null. */
  viewer: string | null;
  /** Locally on loopback without sign-in: the header offers "view as". */
  loopback: boolean;
  /** The page's own path and query, for "view as" to come back to. */
  path: string;
}

const SECTIONS: { id: ConsoleSection; href: string; label: string }[] = [
  { id: 'compliance', href: '/', label: 'Compliance' },
  { id: 'cases', href: '/cases', label: 'Cases' },
  { id: 'ledger', href: '/ledger', label: 'Email ledger' },
  { id: 'queues', href: '/queues', label: 'Dead-letter queues' },
];

function header(frame: ConsoleFrame, current: ConsoleSection | null): string {
  const links = SECTIONS.map(
    (s) => `<li><a href="${s.href}"${s.id === current ? ' aria-current="page"' : ''}>${e(s.label)}</a></li>`,
  ).join('');
  const who = frame.loopback
    ? `<form class="inline" method="get" action="/auth/view-as"><input type="hidden" name="next" value="${e(frame.path)}"><div><label for="view-as">View as (email of a member of staff)</label><input id="view-as" name="email" type="email" autocomplete="off" value="${e(frame.viewer ?? '')}"></div><button type="submit">View as</button></form><p>Local console on 127.0.0.1 without sign-in: ${frame.viewer ? `viewing as <strong>${e(frame.viewer)}</strong>` : 'viewing as nobody in particular (no narratives)'}.</p>`
    : `<p>Signed in as <strong>${e(frame.viewer ?? '')}</strong> · <a href="/auth/sign-out">Sign out</a></p>`;
  return `<nav aria-label="Console">${'<ul>'}${links}</ul></nav>${who}`;
}

export function consolePage(frame: ConsoleFrame, current: ConsoleSection | null, title: string, body: string): string {
  return page(`${title} · Operator console`, body, frame.trustName, { bodyClass: 'console', header: header(frame, current) });
}

const pct = (f: Figures) => (f.percentAcknowledged === null ? '–' : `${f.percentAcknowledged.toFixed(1)}%`);

function tiles(f: Figures): string {
  return `<div class="tiles" aria-label="Trust-wide totals">
<div class="tile"><span>Asked</span><strong data-figure="people">${f.people}</strong></div>
<div class="tile ok"><span>Acknowledged</span><strong data-figure="acknowledged">${f.acknowledged}</strong></div>
<div class="tile warn"><span>Outstanding</span><strong data-figure="outstanding">${f.outstanding}</strong></div>
<div class="tile bad"><span>Of which overdue</span><strong data-figure="overdue">${f.overdue}</strong></div>
<div class="tile"><span>Acknowledged</span><strong data-figure="percent">${pct(f)}</strong></div></div>`;
}

/**
 * A horizontal stacked bar per school: acknowledged, outstanding (not yet due), overdue.
 * Bars share one scale (the largest school), so a small school's bar is short. Each bar
 * has a <title> and the chart a text summary; the table under it has the same figures.
 */
export function complianceChart(report: ComplianceReport): string {
  const schools = report.schools.filter((s) => s.people > 0);
  if (schools.length === 0) return '<p>Nobody has been asked to acknowledge this version yet.</p>';
  // Each school's name on its own line above its bar, so long names are never cut.
  const barW = 640;
  const rowH = 46;
  const max = Math.max(...schools.map((s) => s.people));
  const scale = (n: number) => Math.round((n / max) * barW * 10) / 10;
  const rows = schools
    .map((s, i) => {
      const y = 4 + i * rowH;
      const ack = scale(s.acknowledged);
      const notDue = scale(s.outstanding - s.overdue);
      const over = scale(s.overdue);
      const summary = `${s.schoolName}: ${s.acknowledged} of ${s.people} acknowledged, ${s.outstanding} outstanding, ${s.overdue} overdue`;
      return `<g data-school="${e(s.schoolId)}" data-people="${s.people}" data-acknowledged="${s.acknowledged}" data-outstanding="${s.outstanding}" data-overdue="${s.overdue}"><title>${e(summary)}</title>
<text x="0" y="${y + 13}" font-size="14" fill="#1b1b1b">${e(s.schoolName)}</text>
<rect x="0" y="${y + 19}" width="${ack}" height="20" fill="#1a7f37"/>
<rect x="${ack}" y="${y + 19}" width="${notDue}" height="20" fill="#f79009"/>
<rect x="${ack + notDue}" y="${y + 19}" width="${over}" height="20" fill="#b42318"/>
<text x="${ack + notDue + over + 6}" y="${y + 34}" font-size="13" fill="#1b1b1b">${s.acknowledged}/${s.people}</text></g>`;
    })
    .join('');
  const height = 8 + schools.length * rowH;
  const width = barW + 70;
  const alt = `Acknowledgements per school for ${report.title} version ${report.version}: ${schools.map((s) => `${s.schoolName} ${s.acknowledged} of ${s.people}`).join('; ')}`;
  return `<figure><svg class="chart" role="img" aria-label="${e(alt)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${rows}</svg>
<figcaption><ul class="legend"><li><span class="key k-ack"></span>Acknowledged</li><li><span class="key k-out"></span>Outstanding, not yet due</li><li><span class="key k-over"></span>Overdue</li></ul></figcaption></figure>`;
}

function schoolTable(report: ComplianceReport): string {
  const base = `/compliance/${encodeURIComponent(report.policyId)}/v${report.version}`;
  const row = (s: SchoolReport) =>
    `<tr data-school="${e(s.schoolId)}"><th scope="row">${s.outstanding > 0 ? `<a href="${base}/${encodeURIComponent(s.schoolId)}">${e(s.schoolName)}</a>` : e(s.schoolName)}</th><td class="num">${s.people}</td><td class="num">${s.acknowledged}</td><td class="num">${s.outstanding}</td><td class="num">${s.overdue}</td><td class="num">${pct(s)}</td></tr>`;
  const t = report.trustWide;
  return `<table><caption>Per school (select a school to see who is outstanding)</caption><thead><tr><th scope="col">School</th><th scope="col" class="num">Asked</th><th scope="col" class="num">Acknowledged</th><th scope="col" class="num">Outstanding</th><th scope="col" class="num">Overdue</th><th scope="col" class="num">%</th></tr></thead><tbody>${report.schools.map(row).join('')}</tbody><tfoot><tr><th scope="row">Trust-wide</th><td class="num">${t.people}</td><td class="num">${t.acknowledged}</td><td class="num">${t.outstanding}</td><td class="num">${t.overdue}</td><td class="num">${pct(t)}</td></tr></tfoot></table>`;
}

function versionLinks(report: ComplianceReport, versions: readonly number[]): string {
  if (versions.length < 2) return '';
  const links = versions
    .map((v) => (v === report.version ? `<li><a aria-current="page" href="#">v${v}</a></li>` : `<li><a href="/compliance/${encodeURIComponent(report.policyId)}/v${v}">v${v}</a></li>`))
    .join('');
  return `<nav aria-label="Versions of ${e(report.title)}"><ul>${links}</ul></nav>`;
}

function versionNote(report: ComplianceReport): string {
  const carried = report.carriedForwardFrom !== null ? ` Editorial change: acknowledgements of version ${report.carriedForwardFrom} carry forward.` : '';
  const x = report.excluded;
  return `<p>As of ${e(report.today)} (Europe/London). ${report.change === 'substantive' ? 'Substantive version.' : 'Editorial version.'}${carried} Not counted: ${x.leavers} leaver(s), ${x.notOnRecord} not on record, ${x.supersededOrCancelled} superseded or cancelled request(s).</p>`;
}

/** One policy version: totals, chart, table. `heading` is h2 on the dashboard, h1 on its own page. */
export function complianceSection(report: ComplianceReport, versions: readonly number[], heading: 'h1' | 'h2'): string {
  const link = heading === 'h2' ? `<a href="/compliance/${encodeURIComponent(report.policyId)}/v${report.version}">${e(report.title)}, version ${report.version}</a>` : `${e(report.title)}, version ${report.version}`;
  return `<section aria-labelledby="p-${e(report.policyId)}" data-policy="${e(report.policyId)}" data-version="${report.version}"><${heading} id="p-${e(report.policyId)}">${link}</${heading}>${versionLinks(report, versions)}${versionNote(report)}${tiles(report.trustWide)}${complianceChart(report)}${report.trustWide.people > 0 ? schoolTable(report) : ''}</section>`;
}

export function dashboardBody(sections: string[], dlqTotal: number | null, awaitingTriage: number): string {
  const dlq =
    dlqTotal === null ? '' : dlqTotal === 0 ? 'No messages in any dead-letter queue. ' : `<strong class="bad">${dlqTotal} message(s) in dead-letter queues</strong>: <a href="/queues">see which</a>. `;
  const status = `<p>${dlq}Cases awaiting triage: <a href="/cases?status=reported">${awaitingTriage}</a>.</p>`;
  return `<h1>Policy compliance</h1>${status}${sections.length ? sections.join('') : '<p>No policy is on record yet.</p>'}`;
}

export function outstandingBody(report: ComplianceReport, school: SchoolReport): string {
  const rows = school.outstandingPeople
    .map(
      (p) =>
        `<tr><td>${e(p.name)}</td><td>${e(p.staffId)}</td><td>v${p.version}</td><td>${e(p.dueOn)}</td><td class="num${p.overdue ? ' bad' : ''}">${p.overdue ? `${p.daysOverdue} day(s)` : 'not yet due'}</td></tr>`,
    )
    .join('');
  return `<p><a href="/compliance/${encodeURIComponent(report.policyId)}/v${report.version}">← ${e(report.title)}, version ${report.version}</a></p>
<h1>${e(school.schoolName)}: outstanding</h1>
<p>${school.acknowledged} of ${school.people} acknowledged; <strong>${school.outstanding}</strong> outstanding, ${school.overdue} overdue. As of ${e(report.today)}.</p>
${school.outstandingPeople.length ? `<table><caption>Still to confirm (overdue first)</caption><thead><tr><th scope="col">Name</th><th scope="col">Staff id</th><th scope="col">Asked for</th><th scope="col">Due</th><th scope="col" class="num">Overdue by</th></tr></thead><tbody>${rows}</tbody></table>` : '<p>Everyone here has confirmed.</p>'}`;
}

const STATUS_LABEL: Record<CaseRecord['status'], string> = {
  reported: 'Reported, awaiting triage',
  triaged: 'Triaged',
  investigating: 'Investigating',
  closed: 'Closed',
};

function ageDays(record: CaseRecord, today: string): number {
  return Math.max(0, daysBetween(record.reportedAt.slice(0, 10), today));
}

/** The case list: status, age, escalations, flags; never a narrative or a subject's name. */
export function casesBody(cases: readonly CaseRecord[], schoolName: (id: string) => string, today: string, next: string | null, status: string | null): string {
  const options = ['', 'reported', 'triaged', 'investigating', 'closed']
    .map((s) => `<option value="${s}"${s === (status ?? '') ? ' selected' : ''}>${s ? e(STATUS_LABEL[s as CaseRecord['status']]) : 'Any status'}</option>`)
    .join('');
  const rows = cases
    .map((c) => {
      const flags = c.routing?.flags.map((f) => e(FLAG_LABELS[f])).join('; ') ?? '';
      const escalated = c.escalationLevel > 0 ? `<span class="bad">level ${c.escalationLevel}</span>` : 'none';
      return `<tr data-case="${e(c.caseId)}"><th scope="row"><a href="/cases/${encodeURIComponent(c.caseId)}">${e(c.caseId)}</a></th><td>${e(STATUS_LABEL[c.status])}</td><td>${e(categoryLabel(c.category))}</td><td>${e(schoolName(c.schoolId))}</td><td class="num">${ageDays(c, today)} day(s)</td><td>${escalated}</td><td>${flags || '–'}</td></tr>`;
    })
    .join('');
  const more = next ? `<p><a href="/cases?before=${encodeURIComponent(next)}${status ? `&amp;status=${encodeURIComponent(status)}` : ''}">Older cases →</a></p>` : '';
  return `<h1>Cases</h1><p>Breach reports and concerns, newest first. Narratives are shown only on a case's own page, to a person with a role on the case.</p>
<form class="inline" method="get" action="/cases"><div><label for="status">Status</label><select id="status" name="status">${options}</select></div><button type="submit">Show</button></form>
${cases.length ? `<table><caption>${cases.length} case(s) on this page</caption><thead><tr><th scope="col">Case</th><th scope="col">Status</th><th scope="col">Category</th><th scope="col">School</th><th scope="col" class="num">Age</th><th scope="col">Escalations</th><th scope="col">Flags</th></tr></thead><tbody>${rows}</tbody></table>` : '<p>No cases.</p>'}${more}`;
}

export type NarrativeView =
  | { kind: 'shown'; narrative: string; notes: { at: string; by: string; note: string }[] }
  | { kind: 'refused'; reason: 'subject-of-case' | 'no-role-on-case' | 'not-identified' }
  | { kind: 'missing' };

const REFUSAL: Record<Extract<NarrativeView, { kind: 'refused' }>['reason'], string> = {
  'subject-of-case': 'You are the subject of this case, so its narrative is not shown to you.',
  'no-role-on-case': 'You have no role on this case, so its narrative is not shown. The refusal is recorded on the timeline.',
  'not-identified': 'The narrative is shown only to a person with a role on the case. Choose "View as" with your email to identify yourself.',
};

export function caseBody(record: CaseRecord, timeline: readonly (TimelineEntry & { seq: number })[], narrative: NarrativeView, schoolName: string, today: string): string {
  const flags = record.routing?.flags.length ? `<ul>${record.routing.flags.map((f) => `<li>${e(FLAG_LABELS[f])}</li>`).join('')}</ul>` : '<p>None.</p>';
  const narrativeHtml =
    narrative.kind === 'shown'
      ? `<div class="narrative" data-narrative>${e(narrative.narrative)}</div>${narrative.notes.length ? `<h3>Notes</h3><ul>${narrative.notes.map((n) => `<li>${e(formatLondonDateTime(n.at))}, ${e(n.by)}: ${e(n.note)}</li>`).join('')}</ul>` : ''}<p>This view is recorded on the case's timeline.</p>`
      : narrative.kind === 'missing'
        ? '<p>No narrative on record.</p>'
        : `<p class="notice" data-narrative-refused="${narrative.reason}">${e(REFUSAL[narrative.reason])}</p>`;
  const entries = timeline
    .map((t) => {
      const [first = '', ...rest] = describeEntry(t);
      return `<li><time datetime="${e(t.at)}">${e(formatLondonDateTime(t.at))}</time>: ${e(first)}${rest.length ? `<ul>${rest.map((l) => `<li>${e(l.trim())}</li>`).join('')}</ul>` : ''}</li>`;
    })
    .join('');
  return `<p><a href="/cases">← Cases</a></p><h1>${e(record.caseId)}</h1>
<dl><dt>Status</dt><dd>${e(STATUS_LABEL[record.status])}</dd><dt>Category</dt><dd>${e(categoryLabel(record.category))}</dd><dt>School</dt><dd>${e(schoolName)}</dd><dt>Occurred on</dt><dd>${e(record.occurredOn)}</dd><dt>Reported</dt><dd>${e(formatLondonDateTime(record.reportedAt))} (${ageDays(record, today)} day(s) ago)</dd><dt>Escalations</dt><dd>${record.escalationLevel}</dd>${record.ownerStaffId ? `<dt>Owner</dt><dd>${e(record.ownerStaffId)}</dd>` : ''}</dl>
<h2>Flags</h2>${flags}<h2>Narrative</h2>${narrativeHtml}<h2>Timeline</h2><ol>${entries}</ol>`;
}

export interface LedgerOverview {
  counts: Record<LedgerState, number>;
  possibleDuplicates: number;
  /** Rows shown: those needing attention first, then the most recently changed. */
  rows: LedgerRow[];
  scanned: number;
  ms: number;
}

export function ledgerBody(overview: LedgerOverview, state: LedgerState | null): string {
  const c = overview.counts;
  const options = ['', ...LEDGER_STATES]
    .map((s) => `<option value="${s}"${s === (state ?? '') ? ' selected' : ''}>${s || 'Any state'}</option>`)
    .join('');
  const rows = overview.rows
    .map(
      (r) =>
        `<tr data-state="${e(r.state)}"><td>${e(formatLondonDateTime(r.updatedAt))}</td><td>${e(r.templateId)}</td><td>${e(r.recipient)}</td><td class="${r.state === 'failed' || r.state === 'abandoned' ? 'bad' : r.state === 'sent' ? 'ok' : 'warn'}">${e(r.state)}${r.possibleDuplicate ? ' (possible duplicate)' : ''}</td><td class="num">${r.attempts}</td><td>${e(r.lastError ?? '')}</td><td>${e(r.origin?.detailType ?? '')}</td></tr>`,
    )
    .join('');
  return `<h1>Email ledger</h1><p>Every intended email and where it is: queued → sending → sent, or failed with the reason SES gave, or abandoned (its outcome was unknown twice: an operator checks whether it arrived and runs <code>trust-notify ledger resolve</code>).</p>
<div class="tiles" aria-label="Emails by delivery state"><div class="tile"><span>Queued</span><strong data-figure="queued">${c.queued}</strong></div><div class="tile warn"><span>Sending</span><strong data-figure="sending">${c.sending}</strong></div><div class="tile ok"><span>Sent</span><strong data-figure="sent">${c.sent}</strong></div><div class="tile bad"><span>Failed</span><strong data-figure="failed">${c.failed}</strong></div><div class="tile bad"><span>Abandoned</span><strong data-figure="abandoned">${c.abandoned}</strong></div><div class="tile"><span>Possible duplicates</span><strong data-figure="possibleDuplicate">${overview.possibleDuplicates}</strong></div></div>
<form class="inline" method="get" action="/ledger"><div><label for="state">State</label><select id="state" name="state">${options}</select></div><button type="submit">Show</button></form>
<table><caption>${overview.rows.length} row(s) shown: not yet sent first, then the most recently changed (read ${overview.scanned} row(s) in ${overview.ms} ms)</caption><thead><tr><th scope="col">Changed</th><th scope="col">Template</th><th scope="col">Recipient</th><th scope="col">State</th><th scope="col" class="num">Attempts</th><th scope="col">Last error</th><th scope="col">Event</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export interface DlqCount {
  name: string;
  visible: number;
  inFlight: number;
}

export function queuesBody(queues: readonly DlqCount[]): string {
  const total = queues.reduce((n, q) => n + q.visible + q.inFlight, 0);
  const rows = queues
    .map((q) => `<tr data-queue="${e(q.name)}"><th scope="row">${e(q.name)}</th><td class="num${q.visible > 0 ? ' bad' : ''}">${q.visible}</td><td class="num">${q.inFlight}</td></tr>`)
    .join('');
  return `<h1>Dead-letter queues</h1><p>${total === 0 ? 'All empty.' : `<strong class="bad">${total} message(s)</strong> waiting. Look at the cause in the logs, fix it, then move them back with <code>trust-notify redrive</code> (README "Operations").`}</p>
<table><caption>${queues.length} dead-letter queue(s)</caption><thead><tr><th scope="col">Queue</th><th scope="col" class="num">Messages</th><th scope="col" class="num">In flight</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function notFoundBody(what: string): string {
  return `<h1>Not found</h1><p>${e(what)}</p><p><a href="/">Back to the console</a></p>`;
}
