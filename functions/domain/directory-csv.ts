/**
 * The Directory CSV read by `trust-notify import` (DESIGN.md "Directory CSV"). Pure: no AWS
 * imports, no file system; the caller reads the file and hands over its bytes.
 *
 * - UTF-8, with or without a BOM; RFC 4180 quoting (quoted commas, doubled quotes, line
 *   breaks inside quotes); CRLF or LF (csv-parse does the tokenising).
 * - The header must be exactly {@link DIRECTORY_HEADER}, in that order. Anything else, bytes
 *   that are not UTF-8, or broken quoting is a whole-file {@link DirectoryCsvError}: nothing
 *   after a broken quote can be trusted.
 * - Each data row becomes a `Staff Onboarded` detail checked by the strict publisher contract.
 *   A bad row is reported (line and column, never the value: rows carry personal data) and
 *   skipped; good rows are returned. A repeated staffId is an error for the later row.
 * - Line numbers are the physical line on which a record starts (header = line 1), counted
 *   here rather than taken from csv-parse, whose `info.lines` counts a CRLF inside a quoted
 *   cell as two lines.
 */
import { CsvError, parse } from 'csv-parse/sync';
import { ContractError, parseForPublish, type StaffOnboarded } from '../contracts/events.ts';
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';

export const DIRECTORY_HEADER = [
  'staffId',
  'givenName',
  'familyName',
  'email',
  'schoolId',
  'roles',
  'employmentType',
  'startDate',
  'lineManagerStaffId',
  'managesOfficialChannels',
] as const;
export type DirectoryColumn = (typeof DIRECTORY_HEADER)[number];

/** One problem with one row. `problem` never includes the cell's value. */
export interface RowProblem {
  /** Physical line where the row starts (header = 1). */
  line: number;
  /** The CSV column, or `(row)` for a problem with the row as a whole. */
  field: string;
  problem: string;
}

export interface DirectoryRow {
  line: number;
  detail: StaffOnboarded;
}

export interface DirectoryParseResult {
  rows: DirectoryRow[];
  /** Every problem found, in file order; a row may have several. */
  rejected: RowProblem[];
  /** Data rows in the file (blank lines and the header not counted). */
  totalRows: number;
}

export interface DirectoryParseOptions {
  /**
   * Whether a schoolId names a school of the trust. `trust` (central staff) is always
   * accepted and never passed here.
   */
  isSchool: (schoolId: string) => boolean;
}

/** The file as a whole cannot be read: bad header, not UTF-8, broken quoting, empty. */
export class DirectoryCsvError extends Error {
  override name = 'DirectoryCsvError';
  /** The physical line at fault, when there is one. */
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.line = line;
  }
}

const ROW_FIELD = '(row)';
/** Record delimiters csv-parse accepts; the same two count physical lines here. */
const LINE_BREAK = /\r\n|\n/g;

const QUOTING_PROBLEMS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted cell starting here is never closed',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by more characters in the same cell',
  INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted cell (quote the whole cell and double the quote)',
};

export function parseDirectoryCsv(input: string | Uint8Array, options: DirectoryParseOptions): DirectoryParseResult {
  const text = decode(input);
  const records = tokenise(text);
  const lines = new LineCounter(text);

  const header = records[0];
  if (header === undefined) throw new DirectoryCsvError(`the file is empty; expected the header ${DIRECTORY_HEADER.join(',')}`);
  checkHeader(header, lines.startOf(header));

  const rows: DirectoryRow[] = [];
  const rejected: RowProblem[] = [];
  const firstLineOf = new Map<string, number>();
  let totalRows = 0;

  for (const record of records.slice(1)) {
    const line = lines.startOf(record);
    const cells = record.map((cell) => cell.trim());
    if (cells.every((cell) => cell === '')) continue; // a blank line, or one of only commas
    totalRows += 1;

    if (cells.length !== DIRECTORY_HEADER.length) {
      rejected.push({ line, field: ROW_FIELD, problem: cellCountProblem(cells.length) });
      continue;
    }
    const row = toRow(cells);
    const problems = checkRow(row, options);
    const earlier = row.staffId === '' ? undefined : firstLineOf.get(row.staffId);
    if (earlier !== undefined) problems.unshift({ field: 'staffId', problem: `repeats the staffId on line ${earlier}` });
    else if (row.staffId !== '') firstLineOf.set(row.staffId, line);

    if (problems.length > 0 || row.detail === undefined) {
      rejected.push(...sortByColumn(problems).map((p) => ({ line, ...p })));
    } else {
      rows.push({ line, detail: row.detail });
    }
  }
  return { rows, rejected, totalRows };
}

/** `line 7: email must be a valid email address`, one line per problem. */
export function formatRejections(rejected: readonly RowProblem[]): string[] {
  return rejected.map((p) =>
    p.field === ROW_FIELD ? `line ${p.line}: row ${p.problem}` : `line ${p.line}: ${p.field} ${p.problem}`,
  );
}

// ---------------------------------------------------------------------------------

function decode(input: string | Uint8Array): string {
  if (typeof input === 'string') return input.startsWith('\uFEFF') ? input.slice(1) : input;
  try {
    // Strips a UTF-8 BOM; `fatal` refuses Windows-1252 and other non-UTF-8 bytes.
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw new DirectoryCsvError('the file is not UTF-8 text; save it as "CSV UTF-8 (Comma delimited)"');
  }
}

function tokenise(text: string): string[][] {
  // Collected as they are made, so a quoting error can be placed after the last good record.
  const records: string[][] = [];
  try {
    parse(text, {
      record_delimiter: ['\r\n', '\n'],
      relax_column_count: true, // a short or long row is a row problem, not a file error
      skip_empty_lines: true,
      on_record: (record: string[]) => {
        records.push(record);
        return record;
      },
    });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    // csv-parse's message quotes the cell; only its code is used.
    const problem = QUOTING_PROBLEMS[error.code] ?? `the file is not valid CSV (${error.code})`;
    const lines = new LineCounter(text);
    for (const record of records) lines.startOf(record);
    throw new DirectoryCsvError(`${problem}; nothing was loaded`, lines.nextStart());
  }
  return records;
}

/**
 * Physical line numbers for the records csv-parse returns, in order. A record starts on
 * the first non-empty line after the previous one (csv-parse skips empty lines) and spans
 * one line more than the line breaks inside its quoted cells, which csv-parse keeps verbatim.
 */
class LineCounter {
  readonly #lines: string[];
  #next = 0;
  constructor(text: string) {
    this.#lines = text.split(LINE_BREAK);
  }
  nextStart(): number {
    while (this.#next < this.#lines.length && this.#lines[this.#next] === '') this.#next += 1;
    return this.#next + 1;
  }
  startOf(record: readonly string[]): number {
    const start = this.nextStart();
    const breaks = record.reduce((sum, cell) => sum + (cell.match(LINE_BREAK)?.length ?? 0), 0);
    this.#next = start + breaks;
    return start;
  }
}

function checkHeader(record: readonly string[], line: number): void {
  const found = record.map((cell) => cell.trim());
  const expected: readonly string[] = DIRECTORY_HEADER;
  if (found.length === 1 && found[0]?.includes(';')) {
    throw new DirectoryCsvError('the header is separated by ";"; save the file with commas between columns', line);
  }
  const problems: string[] = [];
  const missing = expected.filter((column) => !found.includes(column));
  const unexpected = found.filter((column) => !expected.includes(column));
  const repeated = expected.filter((column) => found.filter((f) => f === column).length > 1);
  if (missing.length > 0) problems.push(`missing ${columnList(missing)}`);
  if (unexpected.length > 0) problems.push(`unexpected ${columnList(unexpected)}`);
  if (repeated.length > 0) problems.push(`repeated ${columnList(repeated)}`);
  if (problems.length === 0 && found.some((column, i) => column !== expected[i])) problems.push('columns out of order');
  if (problems.length > 0) {
    throw new DirectoryCsvError(
      `the header has ${problems.join('; ')}; expected exactly ${DIRECTORY_HEADER.join(',')}`,
      line,
    );
  }
}

function columnList(columns: readonly string[]): string {
  const names = columns.map((c) => (c === '' ? '(empty)' : `"${c}"`)).join(', ');
  return `${columns.length === 1 ? 'column' : 'columns'} ${names}`;
}

function cellCountProblem(count: number): string {
  const hint = count > DIRECTORY_HEADER.length ? '; a value containing a comma must be in double quotes' : '';
  return `has ${count} ${count === 1 ? 'cell' : 'cells'}; expected ${DIRECTORY_HEADER.length}${hint}`;
}

type Problem = Omit<RowProblem, 'line'>;

interface ParsedRow {
  staffId: string;
  schoolId: string;
  problems: Problem[];
  detail: StaffOnboarded | undefined;
}

/** Cells (trimmed, exactly one per column) to a checked `Staff Onboarded` detail. */
function toRow(cells: readonly string[]): ParsedRow {
  const cell = (column: DirectoryColumn): string => cells[DIRECTORY_HEADER.indexOf(column)] ?? '';
  const problems: Problem[] = [];
  const detail: Record<string, unknown> = {};
  // Empty cells are left out, so the contract reports a required one as "is required".
  for (const column of ['staffId', 'givenName', 'familyName', 'email', 'schoolId', 'employmentType', 'startDate'] as const) {
    if (cell(column) !== '') detail[column] = cell(column);
  }
  if (cell('roles') !== '') {
    detail.roles = cell('roles')
      .split(';')
      .map((role) => role.trim())
      .filter((role) => role !== '');
  }
  if (cell('lineManagerStaffId') !== '') detail.lineManagerStaffId = cell('lineManagerStaffId');
  const manages = cell('managesOfficialChannels').toLowerCase(); // Excel writes TRUE / FALSE
  if (manages === 'true' || manages === 'false' || manages === '') detail.managesOfficialChannels = manages === 'true';
  else problems.push({ field: 'managesOfficialChannels', problem: 'must be true, false or empty' });

  let parsed: StaffOnboarded | undefined;
  try {
    parsed = parseForPublish('Staff Onboarded', detail);
  } catch (error) {
    if (!(error instanceof ContractError)) throw error;
    problems.push(...error.problems.map(toColumnProblem));
  }
  return { staffId: cell('staffId'), schoolId: cell('schoolId'), problems, detail: parsed };
}

function checkRow(row: ParsedRow, options: DirectoryParseOptions): Problem[] {
  const problems = [...row.problems];
  const schoolIdOk = row.schoolId !== '' && !problems.some((p) => p.field === 'schoolId');
  if (schoolIdOk && row.schoolId !== TRUST_SCHOOL_ID && !options.isSchool(row.schoolId)) {
    problems.push({ field: 'schoolId', problem: 'is not a school of the trust' });
  }
  return problems;
}

/** `detail.roles.1` → column `roles`, "item 2 …". */
function toColumnProblem(problem: { field: string; problem: string }): Problem {
  const [, column = '', ...rest] = problem.field.split('.');
  const index = rest[0] === undefined ? Number.NaN : Number(rest[0]);
  return {
    field: column,
    problem: Number.isInteger(index) ? `item ${index + 1} ${problem.problem}` : problem.problem,
  };
}

function sortByColumn(problems: readonly Problem[]): Problem[] {
  const rank = (field: string) => {
    const i = (DIRECTORY_HEADER as readonly string[]).indexOf(field);
    return i === -1 ? DIRECTORY_HEADER.length : i;
  };
  return [...problems].sort((a, b) => rank(a.field) - rank(b.field));
}
