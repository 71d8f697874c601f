import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DIRECTORY_HEADER,
  DirectoryCsvError,
  formatRejections,
  parseDirectoryCsv,
} from '../../functions/domain/directory-csv.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const SCHOOLS = new Set(['st-marys', 'st-johns', 'holy-trinity', 'all-saints-high']);
const options = { isSchool: (id: string) => SCHOOLS.has(id) };
const HEADER = DIRECTORY_HEADER.join(',');

function csvError(run: () => unknown): DirectoryCsvError {
  try {
    run();
  } catch (error) {
    if (error instanceof DirectoryCsvError) return error;
    throw error;
  }
  throw new Error('expected a DirectoryCsvError');
}

// test/fixtures/directory-mixed.csv: BOM, CRLF, a quoted CRLF in row S004 (lines 5-6), a
// blank line (7), a row of only commas (18) and one bad row per rule (8-17).
const GOOD_ROWS = [
  {
    line: 2,
    detail: {
      staffId: 'S001',
      givenName: 'Siân',
      familyName: 'Evans',
      email: 'sian.evans@st-marys.example.org',
      schoolId: 'st-marys',
      roles: ['teacher', 'dsl'],
      employmentType: 'permanent',
      startDate: '2026-09-01',
      managesOfficialChannels: true,
    },
  },
  {
    line: 3,
    detail: {
      staffId: 'S002',
      givenName: 'Patrick "Paddy"',
      familyName: "O'Brien, Jr.",
      email: 'patrick.obrien@st-johns.example.org',
      schoolId: 'st-johns',
      roles: ['support-staff'],
      employmentType: 'fixed-term',
      startDate: '2026-09-01',
      lineManagerStaffId: 'S001',
      managesOfficialChannels: false,
    },
  },
  {
    line: 4,
    detail: {
      staffId: 'S003',
      givenName: 'Zoë',
      familyName: 'Müller-Lüdenscheidt',
      email: 'zoe.muller@holy-trinity.example.org',
      schoolId: 'holy-trinity',
      roles: ['teacher', 'leadership-team'],
      employmentType: 'permanent',
      startDate: '2026-01-05',
      managesOfficialChannels: false,
    },
  },
  {
    line: 5,
    detail: {
      staffId: 'S004',
      givenName: 'José',
      familyName: 'García\r\nLópez',
      email: 'jose.garcia@all-saints-high.example.org',
      schoolId: 'all-saints-high',
      roles: ['teacher'],
      employmentType: 'temporary',
      startDate: '2026-04-20',
      lineManagerStaffId: 'S003',
      managesOfficialChannels: false,
    },
  },
  {
    line: 19,
    detail: {
      staffId: 'S014',
      givenName: 'Kemi',
      familyName: 'Adeyemi',
      email: 'kemi.adeyemi@allsaints-mat.example.org',
      schoolId: 'trust',
      roles: ['trust-network-manager'],
      employmentType: 'permanent',
      startDate: '2025-11-03',
      managesOfficialChannels: true,
    },
  },
];

const REJECTED = [
  { line: 8, field: 'email', problem: 'must be a valid email address' },
  { line: 9, field: 'startDate', problem: 'must be a real calendar date in the form YYYY-MM-DD' },
  { line: 10, field: 'roles', problem: expect.stringMatching(/^item 2 must be one of the roles: teacher, /) },
  { line: 11, field: 'roles', problem: 'is required' },
  { line: 12, field: 'roles', problem: 'must name at least one role' },
  { line: 13, field: 'schoolId', problem: 'is not a school of the trust' },
  { line: 14, field: 'staffId', problem: 'repeats the staffId on line 2' },
  {
    line: 15,
    field: '(row)',
    problem: 'has 11 cells; expected 10; a value containing a comma must be in double quotes',
  },
  { line: 16, field: '(row)', problem: 'has 9 cells; expected 10' },
  { line: 17, field: 'managesOfficialChannels', problem: 'must be true, false or empty' },
];

/** The cell values of the bad rows, none of which may appear in a problem. */
const BAD_VALUES = ['not-an-email', '2026-02-30', 'wizard', 'st-nowhere', 'S001', 'Sr.', 'Isla', 'yes', 'Amara'];

describe('parseDirectoryCsv: the mixed fixture (BOM, CRLF, quoting, accents, bad rows)', () => {
  const bytes = fixture('directory-mixed.csv');
  const result = parseDirectoryCsv(bytes, options);

  it('really is a BOM + CRLF file with a line break inside a quoted cell', () => {
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.toString('utf8');
    expect(text.split('\r\n')).toHaveLength(20);
    expect(text.replaceAll('\r\n', '')).not.toContain('\n');
    expect(text).toContain('"García\r\nLópez"');
  });

  it('loads the good rows with exact values and the line each starts on', () => {
    expect(result.rows).toEqual(GOOD_ROWS);
  });

  it('reports each bad row by line and column, in file order', () => {
    expect(result.rejected).toEqual(REJECTED);
    expect(result.totalRows).toBe(15);
  });

  it('never puts a cell value in a problem', () => {
    const text = [...result.rejected.map((p) => p.problem), ...formatRejections(result.rejected)].join('\n');
    for (const value of BAD_VALUES) expect(text).not.toContain(value);
  });

  it('reads the same from an LF string without a BOM', () => {
    const lf = bytes.toString('utf8').replace(/^\uFEFF/, '').replaceAll('\r\n', '\n');
    const fromLf = parseDirectoryCsv(lf, options);
    expect(fromLf.rows).toEqual(
      GOOD_ROWS.map((row) => ({ ...row, detail: { ...row.detail, familyName: row.detail.familyName.replace('\r\n', '\n') } })),
    );
    expect(fromLf.rejected).toEqual(REJECTED);
  });

  it('formats rejections as one line each', () => {
    expect(formatRejections(result.rejected).slice(0, 2)).toEqual([
      'line 8: email must be a valid email address',
      'line 9: startDate must be a real calendar date in the form YYYY-MM-DD',
    ]);
    expect(formatRejections(result.rejected)).toContain('line 16: row has 9 cells; expected 10');
  });
});

describe('parseDirectoryCsv: rows', () => {
  const row = (cells: Record<string, string>) =>
    DIRECTORY_HEADER.map((column) => cells[column] ?? '').join(',');
  const base = {
    staffId: 'T1',
    givenName: 'Ann',
    familyName: 'Lee',
    email: 'ann.lee@st-marys.example.org',
    schoolId: 'st-marys',
    roles: 'teacher',
    employmentType: 'permanent',
    startDate: '2026-09-01',
  };

  it('reports every problem of a row, each by its column', () => {
    const text = [HEADER, row({ ...base, email: '', startDate: '2026-13-01', lineManagerStaffId: 'no spaces!' })].join('\n');
    const { rows, rejected } = parseDirectoryCsv(text, options);
    expect(rows).toEqual([]);
    expect(rejected).toEqual([
      { line: 2, field: 'email', problem: 'is required' },
      { line: 2, field: 'startDate', problem: 'must be a real calendar date in the form YYYY-MM-DD' },
      { line: 2, field: 'lineManagerStaffId', problem: 'must be 1-64 letters, digits, "_" or "-"' },
    ]);
  });

  it('does not ask isSchool about central staff or a malformed schoolId', () => {
    const asked: string[] = [];
    const isSchool = (id: string) => {
      asked.push(id);
      return true;
    };
    const text = [HEADER, row({ ...base, schoolId: 'trust' }), row({ ...base, staffId: 'T2', schoolId: 'Not A Slug' })].join(
      '\n',
    );
    const { rows, rejected } = parseDirectoryCsv(text, { isSchool });
    expect(asked).toEqual([]);
    expect(rows.map((r) => r.line)).toEqual([2]);
    expect(rejected).toEqual([{ line: 3, field: 'schoolId', problem: 'must be a lower-case slug of 1-64 characters' }]);
  });

  it('counts lines through quoted line breaks and skips leading and trailing blank lines', () => {
    const text = `\n${HEADER}\n\n${row({ ...base, familyName: '"Lee\n\nJones"' })}\n\n${row({ ...base, staffId: 'T2', email: 'bad' })}\n\n`;
    const { rows, rejected, totalRows } = parseDirectoryCsv(text, options);
    expect(rows).toEqual([expect.objectContaining({ line: 4, detail: expect.objectContaining({ familyName: 'Lee\n\nJones' }) })]);
    expect(rejected).toEqual([{ line: 8, field: 'email', problem: 'must be a valid email address' }]);
    expect(totalRows).toBe(2);
  });

  it('returns no rows for a header-only file', () => {
    expect(parseDirectoryCsv(`${HEADER}\r\n`, options)).toEqual({ rows: [], rejected: [], totalRows: 0 });
  });
});

describe('parseDirectoryCsv: whole-file errors', () => {
  it('names the missing and unexpected columns of a wrong header', () => {
    const error = csvError(() => parseDirectoryCsv(fixture('directory-bad-header.csv'), options));
    expect(error.line).toBe(1);
    expect(error.message).toBe(
      `line 1: the header has missing column "email"; unexpected column "e-mail"; expected exactly ${HEADER}`,
    );
  });

  it('refuses columns in the wrong order, a missing column and a repeated one', () => {
    const swapped = ['givenName', 'staffId', ...DIRECTORY_HEADER.slice(2)].join(',');
    expect(csvError(() => parseDirectoryCsv(swapped, options)).message).toContain('the header has columns out of order');
    const short = DIRECTORY_HEADER.slice(0, -1).join(',');
    expect(csvError(() => parseDirectoryCsv(short, options)).message).toContain(
      'missing column "managesOfficialChannels";',
    );
    expect(csvError(() => parseDirectoryCsv(`${HEADER},email`, options)).message).toContain('repeated column "email"');
  });

  it('explains a semicolon-separated file, an empty file and non-UTF-8 bytes', () => {
    expect(csvError(() => parseDirectoryCsv(DIRECTORY_HEADER.join(';'), options)).message).toContain('separated by ";"');
    expect(csvError(() => parseDirectoryCsv('\uFEFF\r\n', options)).message).toContain('the file is empty');
    const windows1252 = Buffer.concat([Buffer.from(`${HEADER}\r\nS1,Zo`), Buffer.from([0xeb]), Buffer.from(',x\r\n')]);
    expect(csvError(() => parseDirectoryCsv(windows1252, options)).message).toContain('not UTF-8');
  });

  it('places broken quoting on its line without quoting the cell', () => {
    const text = [HEADER, 'T1,Ann,"Lee\r\nJones",a@b.example,st-marys,teacher,permanent,2026-09-01,,', '', 'T2,"Secret"Name,x'].join(
      '\r\n',
    );
    const error = csvError(() => parseDirectoryCsv(text, options));
    expect(error.line).toBe(5);
    expect(error.message).toBe(
      'line 5: a closing quote is followed by more characters in the same cell; nothing was loaded',
    );
    const unclosed = csvError(() => parseDirectoryCsv(`${HEADER}\n\n"T3,Secret\n`, options));
    expect(unclosed.message).toBe('line 3: a quoted cell starting here is never closed; nothing was loaded');
  });
});
