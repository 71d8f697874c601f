/**
 * The compliance report (DESIGN.md "Command line": `report`; §1f, §4a.ii, §4b.i) from
 * fixtures: figures per school and trust-wide, the editorial carry-forward, leavers and
 * closed requests left out, overdue against a Europe/London "today", and its three
 * renderings (terminal table, formula-safe CSV, HTML page) escaping what they show.
 */
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { buildComplianceReport, type ComplianceReportInput, countedVersions } from '../../functions/domain/compliance-report.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import { complianceReportBody, reportErrorBody } from '../../functions/http/report-page.ts';
import { CSV_HEADER, reportCsv, reportTable, terminalSafe } from '../../local/report-command.ts';
import { testPerson, testRequest } from '../support/fixtures.ts';

const POLICY = 'use-of-social-media';
const TODAY = '2026-12-20';

const person = testPerson;
const request = (staffId: string, version: number, status: AckRequest['status'], dueOn = '2026-12-09', over: Partial<AckRequest> = {}) =>
  testRequest(POLICY, staffId, version, status, dueOn, over);

// Version 1 as registered (no `change`), 2 editorial, 3 substantive, 4 editorial.
const versions = [{ version: 1 }, { version: 2, change: 'editorial' }, { version: 3, change: 'substantive' }, { version: 4, change: 'editorial' }] as const;

const schools = [
  { id: 'st-marys', name: "St Mary's" },
  { id: 'st-johns', name: "St John's" },
  { id: 'holy-trinity', name: 'Holy Trinity' },
  { id: 'all-saints-high', name: 'All Saints High' },
  { id: 'trust', name: 'All Saints MAT' },
];

const people = new Map(
  [
    person('P1', 'st-marys'),
    person('P2', 'st-marys', { givenName: '=HYPERLINK("http://evil.example","x")' }),
    person('P3', 'st-marys', { givenName: 'Ann\u001b[2J', familyName: 'Able' }),
    person('P4', 'st-marys', { status: 'left', leftOn: '2026-11-30' }),
    person('P5', 'st-marys', { leftOn: '2026-12-15' }), // leaving date has come: left, without a write
    person('P6', 'st-marys', { leftOn: '2027-01-31' }), // leaving date still ahead: counted
    person('J1', 'st-johns'),
    person('J2', 'st-johns'),
    person('J3', 'st-johns'),
    person('J4', 'st-johns'), // moved from St Mary's since being asked
    person('K1', 'holy-trinity'),
    person('T1', 'trust'),
    person('Z1', 'closed-school'),
  ].map((p) => [p.staffId, p]),
);

const requests: AckRequest[] = [
  request('P1', 1, 'acknowledged'),
  request('P2', 1, 'pending', '2026-12-09'), // 11 days overdue
  request('P3', 1, 'pending', '2026-12-20'), // due today: not overdue yet
  request('P4', 1, 'pending'),
  request('P5', 1, 'pending'),
  request('P6', 1, 'acknowledged'),
  request('J1', 2, 'pending', '2026-12-30', { schoolId: 'st-johns' }), // a new starter, asked for the editorial version
  request('J2', 1, 'acknowledged', undefined, { schoolId: 'st-johns' }),
  request('J3', 1, 'superseded', undefined, { schoolId: 'st-johns' }),
  request('J4', 1, 'acknowledged'),
  request('K1', 1, 'acknowledged', undefined, { schoolId: 'holy-trinity' }),
  request('K1', 2, 'pending', '2027-01-03', { schoolId: 'holy-trinity' }), // asked again later: the latest ask decides
  request('T1', 2, 'acknowledged', undefined, { schoolId: 'trust' }),
  request('Z1', 1, 'acknowledged', undefined, { schoolId: 'closed-school' }),
  request('X1', 1, 'pending'), // no longer on record
  request('P2', 3, 'pending'), // another version: not counted for 2
  { ...request('P1', 1, 'pending'), policyId: 'social-media-acceptable-use' }, // another policy
];

const input = (over: Partial<ComplianceReportInput> = {}): ComplianceReportInput => ({
  policy: { policyId: POLICY, title: 'Use of Social Media Policy', version: 2, change: 'editorial' },
  versions,
  requests,
  people,
  schools,
  today: TODAY,
  ...over,
});

const figuresOf = (report: ReturnType<typeof buildComplianceReport>) =>
  Object.fromEntries(report.schools.map((s) => [s.schoolId, [s.people, s.acknowledged, s.outstanding, s.overdue, s.percentAcknowledged]]));

describe('which versions count (editorial changes carry acknowledgements forward)', () => {
  it('counts back to the last substantive version; version 1 as registered counts as substantive', () => {
    expect(countedVersions(versions, 1)).toEqual([1]);
    expect(countedVersions(versions, 2)).toEqual([1, 2]);
    expect(countedVersions(versions, 3)).toEqual([3]);
    expect(countedVersions(versions, 4)).toEqual([3, 4]);
  });
});

describe('the compliance report figures', () => {
  const report = buildComplianceReport(input());

  it('counts per school at the school people are at now, carrying version 1 forward into editorial version 2', () => {
    expect(report).toMatchObject({ policyId: POLICY, version: 2, change: 'editorial', countedVersions: [1, 2], carriedForwardFrom: 1, today: TODAY });
    expect(figuresOf(report)).toEqual({
      'st-marys': [4, 2, 2, 1, 50],
      'st-johns': [3, 2, 1, 0, 66.7],
      'holy-trinity': [1, 0, 1, 0, 0],
      'all-saints-high': [0, 0, 0, 0, null],
      trust: [1, 1, 0, 0, 100],
      'closed-school': [1, 1, 0, 0, 100],
    });
    expect(report.schools.map((s) => s.schoolName)).toEqual(["St Mary's", "St John's", 'Holy Trinity', 'All Saints High', 'All Saints MAT', 'closed-school']);
  });

  it('totals trust-wide and says who was left out and why', () => {
    expect(report.trustWide).toEqual({ people: 10, acknowledged: 6, outstanding: 4, overdue: 1, percentAcknowledged: 60 });
    expect(report.excluded).toEqual({ leavers: 2, notOnRecord: 1, supersededOrCancelled: 1 });
  });

  it('lists the outstanding people by name, overdue first, with due dates and days overdue', () => {
    const stMarys = report.schools.find((s) => s.schoolId === 'st-marys');
    expect(stMarys?.outstandingPeople).toEqual([
      { staffId: 'P2', name: '=HYPERLINK("http://evil.example","x") Lee', dueOn: '2026-12-09', overdue: true, daysOverdue: 11, version: 1 },
      { staffId: 'P3', name: 'Ann\u001b[2J Able', dueOn: '2026-12-20', overdue: false, daysOverdue: 0, version: 1 },
    ]);
    expect(report.schools.find((s) => s.schoolId === 'st-johns')?.outstandingPeople.map((p) => [p.staffId, p.version])).toEqual([['J1', 2]]);
  });

  it('reports version 1 on its own requests only', () => {
    const v1 = buildComplianceReport(input({ policy: { policyId: POLICY, title: 'Use of Social Media Policy', version: 1 } }));
    expect(v1).toMatchObject({ change: 'substantive', countedVersions: [1], carriedForwardFrom: null });
    expect(figuresOf(v1)['st-johns']).toEqual([2, 2, 0, 0, 100]); // J1 was asked for version 2 only
    expect(figuresOf(v1)['holy-trinity']).toEqual([1, 1, 0, 0, 100]);
    expect(figuresOf(v1).trust).toEqual([0, 0, 0, 0, null]);
  });

  it('a substantive version does not carry older acknowledgements forward', () => {
    const v3 = buildComplianceReport(input({ policy: { policyId: POLICY, title: 'Use of Social Media Policy', version: 3, change: 'substantive' } }));
    expect(v3.trustWide).toEqual({ people: 1, acknowledged: 0, outstanding: 1, overdue: 1, percentAcknowledged: 0 });
  });

  it('overdue moves with today (Europe/London date): nothing is overdue before the due dates', () => {
    const early = buildComplianceReport(input({ today: '2026-12-01' }));
    expect(early.trustWide.overdue).toBe(0);
    expect(early.excluded.leavers).toBe(1); // P5's leaving date had not come yet
    expect(buildComplianceReport(input({ today: '2027-02-01' })).trustWide.overdue).toBe(4);
  });

  it('a school filter shows that school only; the trust-wide figures stay the whole trust', () => {
    const one = buildComplianceReport(input({ schoolFilter: 'st-johns' }));
    expect(one.schools.map((s) => s.schoolId)).toEqual(['st-johns']);
    expect(one.schoolFilter).toBe('st-johns');
    expect(one.trustWide).toEqual(report.trustWide);
  });
});

describe('renderings', () => {
  const report = buildComplianceReport(input());

  it('table: columns aligned for a terminal, terminal control characters replaced', () => {
    const text = reportTable(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Use of Social Media Policy (use-of-social-media), version 2, as of 20 December 2026');
    expect(lines[1]).toContain('acknowledgements of version 1 carry forward');
    const summary = lines.slice(lines.indexOf('') + 1, lines.indexOf('', 3));
    expect(summary[0]).toMatch(/^School\s+Asked\s+Acknowledged\s+Outstanding\s+Overdue\s+Acknowledged %$/);
    expect(summary.at(-1)).toMatch(/^Trust-wide\s+10\s+6\s+4\s+1\s+60\.0%$/);
    // Numbers are right-aligned: every summary line ends at the same column.
    expect(new Set(summary.map((l) => l.length)).size).toBe(1);
    expect(text).toContain('Outstanding (4):');
    expect(text).toMatch(/St Mary's\s+=HYPERLINK\("http:\/\/evil\.example","x"\) Lee\s+P2\s+2026-12-09\s+overdue by 11 days/);
    expect(text).not.toContain('\u001b');
    expect(text).toContain('Ann\uFFFD[2J Able');
    expect(text).toContain('Not counted: 2 leaver(s), 1 superseded or cancelled, 1 no longer on record.');
    expect(terminalSafe('a\u202Eb\u0007c\u009bd')).toBe('a\uFFFDb\uFFFDc\uFFFDd');
  });

  it('CSV: one rectangular table, formula-safe, that parses back to the figures', () => {
    const text = reportCsv(report);
    expect(text.charCodeAt(0)).toBe(0xfeff);
    const rows = parse(text, { bom: true, columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0] ?? {})).toEqual([...CSV_HEADER]);
    expect(rows.filter((r) => r.kind === 'school')).toHaveLength(6);
    expect(rows.find((r) => r.kind === 'trust-wide')).toMatchObject({ people: '10', acknowledged: '6', outstanding: '4', overdue: '1', percentAcknowledged: '60' });
    expect(rows.find((r) => r.kind === 'school' && r.schoolId === 'all-saints-high')?.percentAcknowledged).toBe('');
    const outstanding = rows.filter((r) => r.kind === 'outstanding');
    expect(outstanding.map((r) => [r.staffId, r.status, r.dueOn, r.daysOverdue])).toEqual([
      ['P2', 'overdue', '2026-12-09', '11'],
      ['P3', 'outstanding', '2026-12-20', '0'],
      ['J1', 'outstanding', '2026-12-30', '0'],
      ['K1', 'outstanding', '2027-01-03', '0'],
    ]);
    // The formula in a name reaches the spreadsheet as text.
    expect(outstanding[0]?.name).toBe(`'=HYPERLINK("http://evil.example","x") Lee`);
    expect(rows.every((r) => r.policyId === POLICY && r.version === '2' && r.asOf === TODAY)).toBe(true);
  });

  it('HTML: captions and header scopes, every value escaped, the query reflected only escaped', () => {
    const xss = '"><script>alert(1)</script>';
    const hostile = buildComplianceReport(
      input({ people: new Map([...people, ['P3', person('P3', 'st-marys', { givenName: '<img src=x onerror=alert(1)>' })]]) }),
    );
    const body = complianceReportBody(hostile, { policy: xss, version: '2', school: xss }, schools);
    expect(body).not.toMatch(/<script|<img/i);
    expect(body).toContain('value="&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"');
    expect(body).toContain('&#60;img src=x onerror=alert(1)&#62; Lee');
    expect(body).toContain('<caption>Acknowledgements by school, as of 20 December 2026</caption>');
    expect(body).toContain('<th scope="col">School</th>');
    expect(body).toContain('<th scope="row">St Mary&#39;s</th><td>4</td><td>2</td><td>2</td><td>1</td><td>50.0%</td>');
    expect(body).toContain('<tfoot><tr><th scope="row">Trust-wide</th><td>10</td><td>6</td><td>4</td><td>1</td><td>60.0%</td></tr></tfoot>');
    expect(body).toContain('<caption>Outstanding at St Mary&#39;s: 2 people</caption>');
    expect(body).toContain('Overdue by 11 days');
    expect(body).toContain('acknowledgements of version 1 carry forward');
    expect(body).toContain('<label for="policy">');

    const error = reportErrorBody(`no policy "${xss}" on record`, { policy: xss }, schools);
    expect(error).not.toMatch(/<script/i);
    expect(error).toContain('role="alert"');
  });
});
