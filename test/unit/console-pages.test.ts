/**
 * The operator console's pages (functions/http/console-pages.ts): the chart's figures and
 * proportions, the drill-down, that list pages never carry a narrative, that the narrative
 * is shown only when the access decision allowed it, and escaping of everything stored.
 */
import { describe, expect, it } from 'vitest';
import type { CaseRecord } from '../../functions/domain/cases.ts';
import { buildComplianceReport, type ComplianceReport } from '../../functions/domain/compliance-report.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import { testPerson, testRequest } from '../support/fixtures.ts';
import { caseBody, casesBody, complianceChart, complianceSection, type ConsoleFrame, consolePage, ledgerBody, outstandingBody, queuesBody } from '../../functions/http/console-pages.ts';

const XSS = '<script>alert(1)</script>';

const person = (staffId: string, schoolId: string, givenName = staffId) => testPerson(staffId, schoolId, { givenName, familyName: 'Test' });
const request = (staffId: string, status: AckRequest['status'], dueOn = '2026-12-01') =>
  testRequest('use-of-social-media', staffId, 2, status, dueOn, { requestedAt: '2026-11-01T09:00:00Z', ...(status === 'acknowledged' ? { acknowledgedAt: '2026-11-10T10:00:00Z' } : {}) });

function report(): ComplianceReport {
  // School a: 4 people, 3 acknowledged, 1 overdue. School b: 2 people, none acknowledged, one overdue.
  const people = [person('a1', 'st-marys'), person('a2', 'st-marys'), person('a3', 'st-marys'), person('a4', 'st-marys', XSS), person('b1', 'holy-trinity'), person('b2', 'holy-trinity')];
  const requests = [
    request('a1', 'acknowledged'),
    request('a2', 'acknowledged'),
    request('a3', 'acknowledged'),
    request('a4', 'pending', '2026-11-20'),
    request('b1', 'pending', '2026-11-20'),
    request('b2', 'pending', '2026-12-20'),
  ];
  return buildComplianceReport({
    policy: { policyId: 'use-of-social-media', title: 'Use of Social Media Policy', version: 2, change: 'substantive' },
    versions: [{ version: 1, change: 'substantive' }, { version: 2, change: 'substantive' }],
    requests,
    people: new Map(people.map((p) => [p.staffId, p])),
    schools: [
      { id: 'st-marys', name: "St Mary's Primary" },
      { id: 'holy-trinity', name: 'Holy Trinity Primary' },
      { id: 'trust', name: 'Central team' },
    ],
    today: '2026-11-26',
  });
}

const frame: ConsoleFrame = { trustName: 'Example Trust', viewer: null, loopback: true, path: '/' };

describe('compliance chart (§1f, §4a.ii: the Trust Board sees which schools are behind)', () => {
  it('draws one bar group per school with people, with its figures and widths on one scale', () => {
    const svg = complianceChart(report());
    const groups = [...svg.matchAll(/<g data-school="([^"]+)" data-people="(\d+)" data-acknowledged="(\d+)" data-outstanding="(\d+)" data-overdue="(\d+)">/g)];
    expect(groups.map((g) => g.slice(1).join(','))).toEqual(['st-marys,4,3,1,1', 'holy-trinity,2,0,2,1']);
    const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
    // st-marys: 3 acknowledged of the largest school (4) → 3/4 of 640; holy-trinity: 1 not due, 1 overdue → 160 each.
    expect(widths).toEqual([480, 0, 160, 0, 160, 160]);
    expect(svg).toContain('role="img"');
    expect(svg).toContain('aria-label="Acknowledgements per school for Use of Social Media Policy version 2: St Mary&#39;s Primary 3 of 4; Holy Trinity Primary 0 of 2"');
    expect(svg).not.toContain('Central team');
  });

  it('shows trust-wide totals and a table with the same figures, linking schools with someone outstanding', () => {
    const html = complianceSection(report(), [1, 2], 'h2');
    expect(html).toContain('data-figure="people">6<');
    expect(html).toContain('data-figure="acknowledged">3<');
    expect(html).toContain('data-figure="outstanding">3<');
    expect(html).toContain('data-figure="overdue">2<');
    expect(html).toContain('data-figure="percent">50.0%<');
    expect(html).toContain('<a href="/compliance/use-of-social-media/v2/holy-trinity">Holy Trinity Primary</a>');
    expect(html).toContain('<a href="/compliance/use-of-social-media/v1">v1</a>');
  });

  it('says so when nobody has been asked', () => {
    const empty = { ...report(), schools: report().schools.map((s) => ({ ...s, people: 0 })) };
    expect(complianceChart(empty)).toContain('Nobody has been asked');
  });
});

describe('drill-down (§4b.i: a Head of School sees who still has to confirm)', () => {
  it('lists the outstanding people, overdue first, names escaped', () => {
    const r = report();
    const school = r.schools.find((s) => s.schoolId === 'st-marys');
    if (!school) throw new Error('no school');
    const html = outstandingBody(r, school);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62; Test');
    expect(html).not.toContain(XSS);
    expect(html).toContain('6 day(s)');
  });
});

const record: CaseRecord = {
  caseId: 'CASE-2026-000001',
  schoolId: 'st-marys',
  category: 'staff-misconduct',
  subject: { kind: 'staff', staffId: 'a4' },
  occurredOn: '2026-11-20',
  status: 'reported',
  reportedAt: '2026-11-21T10:00:00.000Z',
  triageDueAt: '2026-11-22T10:00:00.000Z',
  escalationLevel: 1,
  participants: ['dsl-1'],
} as CaseRecord;

describe('cases (§5e, §9: narratives only for a person with a role)', () => {
  it('the list shows status, age and escalation, and nothing of a narrative', () => {
    const html = casesBody([record], () => "St Mary's Primary", '2026-11-26', null, null);
    expect(html).toContain('Reported, awaiting triage');
    expect(html).toContain('5 day(s)');
    expect(html).toContain('level 1');
    expect(html).not.toContain('narrative"');
    expect(html).not.toMatch(/data-narrative/);
  });

  it('the case page shows the narrative, escaped, only when shown; a refusal says why', () => {
    const shown = caseBody(record, [], { kind: 'shown', narrative: `He posted ${XSS}`, notes: [] }, "St Mary's", '2026-11-26');
    expect(shown).toContain('data-narrative>He posted &#60;script&#62;');
    expect(shown).not.toContain(XSS);
    const refused = caseBody(record, [], { kind: 'refused', reason: 'no-role-on-case' }, "St Mary's", '2026-11-26');
    expect(refused).toContain('data-narrative-refused="no-role-on-case"');
    expect(refused).not.toContain('data-narrative>');
    expect(caseBody(record, [], { kind: 'refused', reason: 'subject-of-case' }, 'x', '2026-11-26')).toContain('You are the subject of this case');
  });
});

describe('ledger and queues', () => {
  it('counts emails by state and escapes what rows hold', () => {
    const html = ledgerBody(
      {
        counts: { queued: 1, sending: 0, sent: 5, failed: 2, abandoned: 0 },
        possibleDuplicates: 1,
        rows: [{ pk: 'k', templateId: 'welcome', recipient: `${XSS}@x.org`, templateData: '{}', state: 'failed', attempts: 3, createdAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T10:00:00Z', lastError: 'MESSAGE_REJECTED', origin: { detailType: 'Staff Onboarded', eventId: 'e' } }],
        scanned: 8,
        ms: 3,
      },
      null,
    );
    expect(html).toContain('data-figure="failed">2<');
    expect(html).toContain('data-figure="possibleDuplicate">1<');
    expect(html).toContain('MESSAGE_REJECTED');
    expect(html).not.toContain(XSS);
  });

  it('totals the dead-letter queues', () => {
    expect(queuesBody([{ name: 'EmailDlq', visible: 2, inFlight: 1 }, { name: 'FanoutDlq', visible: 0, inFlight: 0 }])).toContain('3 message(s)</strong> waiting');
    expect(queuesBody([{ name: 'EmailDlq', visible: 0, inFlight: 0 }])).toContain('All empty.');
  });
});

describe('layout', () => {
  it('has a skip link, labelled navigation marking the current page, and no script', () => {
    const html = consolePage(frame, 'cases', 'Cases', '<h1>Cases</h1>');
    expect(html).toContain('<a class="skip" href="#main">');
    expect(html).toContain('<nav aria-label="Console">');
    expect(html).toContain('<a href="/cases" aria-current="page">Cases</a>');
    expect(html).toContain('<label for="view-as">');
    expect(html).not.toMatch(/<script/i);
  });
});
