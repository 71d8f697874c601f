/**
 * The compliance report as an HTML page body (`GET /reports/compliance` on the local web
 * server): a small filter form and accessible tables (a caption each, header cells with
 * `scope`), every value escaped, including what the query string asked for. Wrapped by
 * `page()` (functions/http/pages.ts) for the layout and served with its security headers.
 * Pure: no I/O.
 */
import type { ComplianceReport, Figures, ReportSchool } from '../domain/compliance-report.ts';
import { formatLongDate } from '../domain/dates.ts';
import { escapeHtml } from './pages.ts';

/** What the query string asked for, shown back in the form (escaped; cut to a sane length). */
export interface ReportForm {
  policy?: string | undefined;
  version?: string | undefined;
  school?: string | undefined;
}

const cut = (text: string | undefined) => (text ?? '').slice(0, 100);

function filterForm(form: ReportForm, schools: readonly ReportSchool[]): string {
  const selected = cut(form.school);
  const options = [
    `<option value=""${selected === '' ? ' selected' : ''}>All schools</option>`,
    ...schools.map(
      (s) => `<option value="${escapeHtml(s.id)}"${s.id === selected ? ' selected' : ''}>${escapeHtml(s.name)}</option>`,
    ),
  ].join('');
  return (
    '<form method="get" action="/reports/compliance"><p>' +
    `<label for="policy">Policy id</label> <input id="policy" name="policy" value="${escapeHtml(cut(form.policy))}"> ` +
    `<label for="version">Version</label> <input id="version" name="version" inputmode="numeric" value="${escapeHtml(cut(form.version))}"> ` +
    `<label for="school">School</label> <select id="school" name="school">${options}</select> ` +
    '<button type="submit">Show</button></p></form>'
  );
}

const pct = (value: number | null) => (value === null ? 'none asked' : `${value.toFixed(1)}%`);

function figureCells(f: Figures): string {
  return [f.people, f.acknowledged, f.outstanding, f.overdue, pct(f.percentAcknowledged)].map((cell) => `<td>${cell}</td>`).join('');
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function complianceReportBody(report: ComplianceReport, form: ReportForm, schools: readonly ReportSchool[]): string {
  const title = `${escapeHtml(report.title)}, version ${report.version}`;
  const asOf = escapeHtml(formatLongDate(report.today));
  const notes: string[] = [];
  if (report.carriedForwardFrom !== null) {
    notes.push(
      `Version ${report.version} is an editorial change: acknowledgements of version ${report.carriedForwardFrom} carry forward ` +
        `(versions counted: ${report.countedVersions.join(', ')}).`,
    );
  }
  const { leavers, notOnRecord, supersededOrCancelled } = report.excluded;
  if (leavers + notOnRecord + supersededOrCancelled > 0) {
    notes.push(
      `Not counted: ${plural(leavers, 'leaver', 'leavers')}, ${plural(supersededOrCancelled, 'person', 'people')} whose request was superseded or cancelled, ` +
        `${plural(notOnRecord, 'person', 'people')} no longer on record.`,
    );
  }
  if (report.schoolFilter !== null) notes.push('The trust-wide row counts every school, not only the one shown.');

  const rows = report.schools
    .map((s) => `<tr><th scope="row">${escapeHtml(s.schoolName)}</th>${figureCells(s)}</tr>`)
    .join('');
  const summary =
    `<table><caption>Acknowledgements by school, as of ${asOf}</caption>` +
    '<thead><tr><th scope="col">School</th><th scope="col">People asked</th><th scope="col">Acknowledged</th>' +
    '<th scope="col">Outstanding</th><th scope="col">Overdue</th><th scope="col">Acknowledged (%)</th></tr></thead>' +
    `<tbody>${rows}</tbody>` +
    `<tfoot><tr><th scope="row">Trust-wide</th>${figureCells(report.trustWide)}</tr></tfoot></table>`;

  const outstanding = report.schools
    .filter((s) => s.outstandingPeople.length > 0)
    .map((s) => {
      const people = s.outstandingPeople
        .map(
          (p) =>
            `<tr><th scope="row">${escapeHtml(p.name)}</th><td>${escapeHtml(p.staffId)}</td><td>${escapeHtml(formatLongDate(p.dueOn))}</td>` +
            `<td>${p.overdue ? `Overdue by ${plural(p.daysOverdue, 'day', 'days')}` : 'Not yet due'}</td></tr>`,
        )
        .join('');
      return (
        `<table><caption>Outstanding at ${escapeHtml(s.schoolName)}: ${plural(s.outstanding, 'person', 'people')}</caption>` +
        '<thead><tr><th scope="col">Name</th><th scope="col">Staff id</th><th scope="col">Due</th><th scope="col">Status</th></tr></thead>' +
        `<tbody>${people}</tbody></table>`
      );
    })
    .join('');

  return (
    `<h1>Compliance report: ${title}</h1>` +
    filterForm(form, schools) +
    notes.map((n) => `<p class="notice">${escapeHtml(n)}</p>`).join('') +
    summary +
    '<h2>Outstanding</h2>' +
    (outstanding || '<p>Everyone asked has acknowledged this version.</p>')
  );
}

/** The page for a report that cannot be made (unknown policy, version or school). */
export function reportErrorBody(message: string, form: ReportForm, schools: readonly ReportSchool[]): string {
  return `<h1>Compliance report</h1>${filterForm(form, schools)}<p class="notice" role="alert">${escapeHtml(message)}</p>`;
}
