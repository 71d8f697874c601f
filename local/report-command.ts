/**
 * The work behind `trust-notify report [--policy ID] [--version N] [--school ID]
 * [--format table|csv|json] [--today YYYY-MM-DD]` (DESIGN.md "Command line"): the
 * compliance report (functions/domain/compliance-report.ts), read with query patterns only
 * (functions/services/compliance-report.ts) from the local platform's DynamoDB by default,
 * or from AWS with `--region` / `--stack` (the stack's DataTableName output, the standard
 * credential chain).
 *
 * - `table` (default): aligned columns for a terminal; control and bidirectional-override
 *   characters in names are replaced, so a name cannot rewrite the operator's screen.
 * - `csv`: one rectangular table (a row per school, one trust-wide, one per outstanding
 *   person), RFC 4180 with formulas neutralised (functions/domain/safe-csv.ts), CRLF, BOM.
 * - `json`: the report object as is, for scripts.
 * An unknown policy, version or school is a one-line error (exit 1).
 */
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadTrustConfig } from '../functions/config/load-trust-config.ts';
import type { ComplianceReport, Figures } from '../functions/domain/compliance-report.ts';
import { formatLongDate } from '../functions/domain/dates.ts';
import { type CsvValue, toCsv } from '../functions/domain/safe-csv.ts';
import { loadComplianceReport, ReportQueryError } from '../functions/services/compliance-report.ts';
import { CliError, localTarget, stackOutputs, type Target } from './cli-commands.ts';

export const REPORT_FORMATS = ['table', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportOptions {
  policyId?: string | undefined;
  version?: number | undefined;
  schoolId?: string | undefined;
  today?: string | undefined;
  format: ReportFormat;
  target: Target;
}

/** Parses the command's arguments (errors name the option, as one line). */
export function parseReportArgs(args: string[]): ReportOptions {
  const { values } = parseArgs({
    args,
    options: {
      policy: { type: 'string' },
      version: { type: 'string' },
      school: { type: 'string' },
      format: { type: 'string', default: 'table' },
      today: { type: 'string' },
      region: { type: 'string' },
      stack: { type: 'string' },
    },
    allowPositionals: false,
  });
  const format = values.format as ReportFormat;
  if (!REPORT_FORMATS.includes(format)) throw new CliError(`--format must be one of ${REPORT_FORMATS.join(', ')}`);
  if (values.version !== undefined && !/^[1-9]\d{0,8}$/.test(values.version)) throw new CliError('--version must be a positive whole number');
  if (values.today !== undefined && !(/^\d{4}-\d{2}-\d{2}$/.test(values.today) && !Number.isNaN(Date.parse(`${values.today}T00:00:00Z`)))) {
    throw new CliError('--today must be a date in the form YYYY-MM-DD');
  }
  if (values.policy !== undefined && values.policy === '') throw new CliError('--policy needs a policy id');
  if (values.school !== undefined && values.school === '') throw new CliError('--school needs a school id');
  const target: Target =
    values.region || values.stack
      ? { kind: 'aws', region: values.region ?? loadTrustConfig().region, stack: values.stack ?? 'trust-policy-notify' }
      : localTarget();
  return {
    policyId: values.policy,
    version: values.version === undefined ? undefined : Number(values.version),
    schoolId: values.school,
    today: values.today,
    format,
    target,
  };
}

function refused(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string }; message?: string };
  return e.code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(e.message));
}

/** Loads the report from the target's data table. */
export async function fetchReport(options: ReportOptions): Promise<ComplianceReport> {
  const config = loadTrustConfig();
  const { target } = options;
  const outputs = await stackOutputs(target);
  const table = outputs.DataTableName;
  if (!table) throw new CliError('the stack has no DataTableName output (is it up to date?)');
  const client =
    target.kind === 'aws'
      ? new DynamoDBClient({ region: target.region })
      : new DynamoDBClient({
          endpoint: target.dynamodb,
          region: config.region,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          maxAttempts: 2,
        });
  try {
    return await loadComplianceReport(
      { db: DynamoDBDocumentClient.from(client), table, config },
      { policyId: options.policyId, version: options.version, schoolId: options.schoolId, today: options.today },
    );
  } catch (error) {
    if (error instanceof ReportQueryError) throw new CliError(`--${error.field}: ${error.message}`);
    if (target.kind === 'local' && refused(error)) {
      throw new CliError(`the local platform is not running (nothing answers at ${target.dynamodb}; start it with npm start)`);
    }
    throw error;
  } finally {
    client.destroy();
  }
}

/** `trust-notify report …`: the report in the chosen format, ready to print. */
export async function reportCommand(args: string[]): Promise<string> {
  const options = parseReportArgs(args);
  return formatReport(await fetchReport(options), options.format);
}

export function formatReport(report: ComplianceReport, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'csv') return reportCsv(report);
  return reportTable(report);
}

// ---------------------------------------------------------------------------------
// CSV

export const CSV_HEADER = [
  'policyId',
  'version',
  'asOf',
  'kind',
  'schoolId',
  'school',
  'people',
  'acknowledged',
  'outstanding',
  'overdue',
  'percentAcknowledged',
  'staffId',
  'name',
  'dueOn',
  'status',
  'daysOverdue',
] as const;

/** One rectangular table: `kind` is `school`, `trust-wide` or `outstanding`. */
export function reportCsv(report: ComplianceReport): string {
  const context = [report.policyId, report.version, report.today];
  const figures = (f: Figures): CsvValue[] => [f.people, f.acknowledged, f.outstanding, f.overdue, f.percentAcknowledged];
  const rows: CsvValue[][] = [[...CSV_HEADER]];
  for (const s of report.schools) rows.push([...context, 'school', s.schoolId, s.schoolName, ...figures(s), null, null, null, null, null]);
  rows.push([...context, 'trust-wide', null, 'Trust-wide', ...figures(report.trustWide), null, null, null, null, null]);
  for (const s of report.schools) {
    for (const p of s.outstandingPeople) {
      rows.push([
        ...context,
        'outstanding',
        s.schoolId,
        s.schoolName,
        null,
        null,
        null,
        null,
        null,
        p.staffId,
        p.name,
        p.dueOn,
        p.overdue ? 'overdue' : 'outstanding',
        p.daysOverdue,
      ]);
    }
  }
  return toCsv(rows, { bom: true });
}

// ---------------------------------------------------------------------------------
// Table

/** Replaces C0/C1 control characters and bidirectional overrides, which could rewrite a terminal. */
export function terminalSafe(text: string): string {
  return text.replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '\uFFFD');
}

const width = (text: string) => [...text].length;

/** Columns padded to their widest cell; `right` columns (numbers) aligned right. */
export function alignColumns(header: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number>): string[] {
  const all = [header, ...rows].map((row) => row.map(terminalSafe));
  const widths = header.map((_, i) => Math.max(...all.map((row) => width(row[i] ?? ''))));
  return all.map((row) =>
    row
      .map((cell, i) => {
        const pad = ' '.repeat((widths[i] ?? 0) - width(cell));
        return right.has(i) ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd(),
  );
}

const pct = (value: number | null) => (value === null ? '-' : `${value.toFixed(1)}%`);

export function reportTable(report: ComplianceReport): string {
  const lines = [`${report.title} (${report.policyId}), version ${report.version}, as of ${formatLongDate(report.today)}`];
  if (report.carriedForwardFrom !== null) {
    lines.push(
      `Version ${report.version} is an editorial change: acknowledgements of version ${report.carriedForwardFrom} carry forward (versions counted: ${report.countedVersions.join(', ')}).`,
    );
  }
  const figures = (f: Figures) => [String(f.people), String(f.acknowledged), String(f.outstanding), String(f.overdue), pct(f.percentAcknowledged)];
  lines.push(
    '',
    ...alignColumns(
      ['School', 'Asked', 'Acknowledged', 'Outstanding', 'Overdue', 'Acknowledged %'],
      [...report.schools.map((s) => [s.schoolName, ...figures(s)]), ['Trust-wide', ...figures(report.trustWide)]],
      new Set([1, 2, 3, 4, 5]),
    ),
  );
  if (report.schoolFilter !== null) lines.push('(Trust-wide counts every school, not only the one shown.)');
  const outstanding = report.schools.flatMap((s) =>
    s.outstandingPeople.map((p) => [s.schoolName, p.name, p.staffId, p.dueOn, p.overdue ? `overdue by ${p.daysOverdue} day${p.daysOverdue === 1 ? '' : 's'}` : 'not yet due']),
  );
  lines.push('');
  if (outstanding.length === 0) lines.push('Outstanding: nobody.');
  else lines.push(`Outstanding (${outstanding.length}):`, ...alignColumns(['School', 'Name', 'Staff id', 'Due', 'Status'], outstanding, new Set()));
  const { leavers, notOnRecord, supersededOrCancelled } = report.excluded;
  if (leavers + notOnRecord + supersededOrCancelled > 0) {
    lines.push('', `Not counted: ${leavers} leaver(s), ${supersededOrCancelled} superseded or cancelled, ${notOnRecord} no longer on record.`);
  }
  return `${lines.join('\n')}\n`;
}
