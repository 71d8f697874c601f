/**
 * Cases (functions/domain/cases.ts), their notices (functions/domain/case-notices.ts) and
 * the report contract (functions/contracts/breach-report.ts): status moves, who may read a
 * narrative, when triage escalates, what an email may carry.
 */
import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { parseBreachReport } from '../../functions/contracts/breach-report.ts';
import { ContractError } from '../../functions/contracts/events.ts';
import type { Routing } from '../../functions/domain/breach-routing.ts';
import { caseNotices } from '../../functions/domain/case-notices.ts';
import {
  accessDecision,
  type CaseRecord,
  caseIdFor,
  decideMove,
  escalationStep,
  needsReannouncing,
  openCase,
} from '../../functions/domain/cases.ts';
import type { Person } from '../../functions/domain/people.ts';

const config = loadTrustConfig();
const NOW = new Date('2026-11-20T09:30:00Z');

function record(overrides: Partial<CaseRecord> = {}): CaseRecord {
  return {
    ...openCase(
      { schoolId: 'st-marys', category: 'online-conduct-concern', subject: { kind: 'staff', staffId: 'SM-T1' }, occurredOn: '2026-11-19' },
      'CASE-2026-000001',
      NOW,
      24,
    ),
    participants: ['SM-DSL', 'SM-DDSL'],
    ...overrides,
  };
}

describe('case ids', () => {
  it('are CASE-<year>-<six digits>, within the event contract', () => {
    expect(caseIdFor(2026, 123)).toBe('CASE-2026-000123');
    expect(caseIdFor(2026, 1_234_567)).toBe('CASE-2026-1234567');
    expect(caseIdFor(2026, 1)).toMatch(/^[A-Z0-9-]{4,40}$/);
    expect(() => caseIdFor(2026, 0)).toThrow(RangeError);
  });

  it('a new case is reported, due for triage after the configured hours, and waits in the triage index', () => {
    expect(record()).toMatchObject({
      status: 'reported',
      reportedAt: '2026-11-20T09:30:00.000Z',
      triageDueAt: '2026-11-21T09:30:00.000Z',
      nextEscalationAt: '2026-11-21T09:30:00.000Z',
      escalationLevel: 0,
    });
  });
});

describe('status moves: reported → triaged → investigating → closed', () => {
  const valid: [string, string][] = [
    ['reported', 'triaged'],
    ['triaged', 'investigating'],
    ['triaged', 'closed'],
    ['investigating', 'closed'],
  ];
  it.each(valid)('%s → %s is allowed for someone with a role on the case', (from, to) => {
    expect(decideMove(record({ status: from as CaseRecord['status'] }), to, 'SM-DSL')).toEqual({ ok: true, from, to });
  });

  const invalid: [string, string, string][] = [
    ['reported', 'investigating', 'CASE-2026-000001 is reported and cannot move to investigating: from reported it can move to triaged'],
    ['reported', 'closed', 'CASE-2026-000001 is reported and cannot move to closed: from reported it can move to triaged'],
    ['triaged', 'triaged', 'CASE-2026-000001 is triaged and cannot move to triaged: from triaged it can move to investigating or closed'],
    ['investigating', 'triaged', 'CASE-2026-000001 is investigating and cannot move to triaged: from investigating it can move to closed'],
    ['closed', 'investigating', 'CASE-2026-000001 is closed and cannot move to investigating: a closed case stays closed'],
  ];
  it.each(invalid)('%s → %s is refused with a clear reason', (from, to, message) => {
    expect(decideMove(record({ status: from as CaseRecord['status'] }), to, 'SM-DSL')).toEqual({ ok: false, reason: 'invalid-move', message });
  });

  it('an unknown status, or "reported", is refused', () => {
    expect(decideMove(record(), 'reported', 'SM-DSL')).toMatchObject({ ok: false, reason: 'unknown-status' });
    expect(decideMove(record(), 'done', 'SM-DSL')).toMatchObject({ ok: false, reason: 'unknown-status' });
  });

  it('only a person with a role on the case may move it, never its subject', () => {
    expect(decideMove(record(), 'triaged', 'SM-HEAD')).toMatchObject({ ok: false, reason: 'no-role-on-case', message: 'SM-HEAD has no role on CASE-2026-000001' });
    expect(decideMove(record({ participants: ['SM-T1'] }), 'triaged', 'SM-T1')).toMatchObject({ ok: false, reason: 'subject-of-case' });
    expect(decideMove(record({ status: 'triaged', ownerStaffId: 'T-DSL' }), 'closed', 'T-DSL')).toMatchObject({ ok: true });
  });
});

describe('narrative access', () => {
  it('is for people told about the case and its owner, never its subject', () => {
    expect(accessDecision(record(), 'SM-DSL')).toEqual({ allowed: true });
    expect(accessDecision(record({ ownerStaffId: 'T-DSL' }), 'T-DSL')).toEqual({ allowed: true });
    expect(accessDecision(record(), 'SM-HEAD')).toEqual({ allowed: false, reason: 'no-role-on-case' });
    expect(accessDecision(record({ participants: ['SM-T1'] }), 'SM-T1')).toEqual({ allowed: false, reason: 'subject-of-case' });
  });
});

describe('triage escalation (simulated clock)', () => {
  const at = (iso: string) => new Date(iso);
  it('nothing before the deadline; the Head of School when it passes; the Executive Headteacher a window later; then nothing', () => {
    const r = record();
    expect(escalationStep(r, at('2026-11-21T09:29:59Z'), 24)).toEqual({ kind: 'none' });
    expect(escalationStep(r, at('2026-11-21T09:30:00Z'), 24)).toEqual({
      kind: 'escalate',
      level: 1,
      role: 'head-of-school',
      nextEscalationAt: '2026-11-22T09:30:00.000Z',
    });
    const once = record({ escalationLevel: 1 });
    expect(escalationStep(once, at('2026-11-22T09:29:00Z'), 24)).toEqual({ kind: 'none' });
    expect(escalationStep(once, at('2026-11-22T10:00:00Z'), 24)).toEqual({ kind: 'escalate', level: 2, role: 'executive-headteacher' });
    expect(escalationStep(record({ escalationLevel: 2 }), at('2026-12-30T00:00:00Z'), 24)).toEqual({ kind: 'none' });
  });

  it('a triaged case is never escalated', () => {
    expect(escalationStep(record({ status: 'triaged' }), at('2026-12-01T00:00:00Z'), 24)).toEqual({ kind: 'none' });
  });

  it('a case never routed ten minutes on is announced again', () => {
    expect(needsReannouncing(record(), at('2026-11-20T09:39:59Z'))).toBe(false);
    expect(needsReannouncing(record(), at('2026-11-20T09:40:00Z'))).toBe(true);
    expect(needsReannouncing(record({ routedAt: '2026-11-20T09:30:01Z' }), at('2026-11-21T00:00:00Z'))).toBe(false);
  });
});

describe('case notices: the reference, category, school, flags and link, and nothing else', () => {
  const person = (staffId: string, overrides: Partial<Person> = {}): Person => ({
    staffId,
    givenName: 'Given',
    familyName: 'Family',
    email: `${staffId.toLowerCase()}@example.org`,
    schoolId: 'st-marys',
    roles: ['dsl'],
    employmentType: 'permanent',
    startDate: '2020-01-01',
    managesOfficialChannels: false,
    status: 'active',
    emailDeliverable: true,
    lastChangeAt: '2020-01-01T00:00:00Z',
    ...overrides,
  });
  const routing: Routing = {
    recipients: [
      { staffId: 'SM-DSL', role: 'dsl', schoolId: 'st-marys', why: 'primary' },
      { staffId: 'T-DSL', role: 'deputy-dsl', schoolId: 'trust', why: 'no holder anywhere', asRole: 'dsl' },
    ],
    flags: ['lado-consideration', 'no-holder-anywhere'],
    gaps: [{ role: 'deputy-dsl', schoolId: 'st-marys', resolvedAt: 'fallback', reason: 'no-holder' }],
    conflicts: [{ role: 'dsl', schoolId: 'st-marys', toldInstead: 'deputy-dsl' }],
  };
  const people = new Map([
    ['SM-DSL', person('SM-DSL')],
    ['T-DSL', person('T-DSL', { schoolId: 'trust' })],
  ]);

  it('one email per recipient, keyed case#<caseId>#<staffId>#notice, with exactly the allowed data', () => {
    const { emails, notEmailed, toIntegrationContact } = caseNotices(record(), routing, people, config, { kind: 'notice' });
    expect(emails.map((e) => [e.key, e.to.email])).toEqual([
      ['case#CASE-2026-000001#SM-DSL#notice', 'sm-dsl@example.org'],
      ['case#CASE-2026-000001#T-DSL#notice', 't-dsl@example.org'],
    ]);
    expect(notEmailed).toEqual([]);
    expect(toIntegrationContact).toBe(false);
    expect(emails[0]?.data).toEqual({
      trustName: 'All Saints Multi Academy Trust',
      caseId: 'CASE-2026-000001',
      categoryLabel: "Concern about a community member's online conduct",
      schoolName: "St Mary's Church of England Primary School",
      flags: [
        { label: 'Allegation against staff? Consider a referral to the LADO (Local Authority Designated Officer)' },
        { label: 'Routing gap: a role this case needs has no holder anywhere in the trust (see the case timeline)' },
      ],
      caseUrl: 'http://127.0.0.1:3000/cases/CASE-2026-000001',
    });
    // Not who the subject is, not why this person was chosen (a conflict could point at the subject).
    expect(JSON.stringify(emails)).not.toMatch(/SM-T1|conflict|next-in-line|deputy-dsl/);
  });

  it('escalations have their own keys and say why the email came, without naming a role', () => {
    const { emails } = caseNotices(record(), routing, people, config, { kind: 'escalation', level: 2, hoursWaiting: 48 });
    expect(emails.map((e) => e.key)).toEqual(['case#CASE-2026-000001#SM-DSL#escalation-2', 'case#CASE-2026-000001#T-DSL#escalation-2']);
    expect(emails[0]?.data).toMatchObject({
      escalation: 'This case has still not been triaged, 48 hours after it was reported, so it has been escalated to you.',
    });
  });

  it('recipients who left or bounced are not emailed; if nobody can be, the integration contact is told', () => {
    const gone = new Map([['SM-DSL', person('SM-DSL', { status: 'left' })]]);
    const out = caseNotices(record(), routing, gone, config, { kind: 'notice' });
    expect(out.notEmailed).toEqual(['SM-DSL', 'T-DSL']);
    expect(out.toIntegrationContact).toBe(true);
    expect(out.emails.map((e) => [e.key, e.to.email])).toEqual([['case#CASE-2026-000001#integration-contact#notice', config.integrationContact]]);
  });
});

describe('the breach report contract (report-breach, POST /reports)', () => {
  const valid = {
    schoolId: 'st-marys',
    category: 'staff-misconduct',
    subject: { kind: 'staff', staffId: 'SM-T1' },
    occurredOn: '2026-11-19',
    narrative: 'What happened.',
  };

  it('is Breach Reported without caseId, plus a narrative', () => {
    expect(parseBreachReport(valid)).toEqual(valid);
  });

  const fieldsOf = (value: unknown): string[] => {
    try {
      parseBreachReport(value);
    } catch (error) {
      if (error instanceof ContractError) {
        expect(error.message).not.toContain('secret');
        return error.fields;
      }
      throw error;
    }
    return [];
  };

  it('names each bad field, never its value', () => {
    expect(fieldsOf({ ...valid, narrative: undefined })).toEqual(['report.narrative']);
    expect(fieldsOf({ ...valid, narrative: '   ' })).toEqual(['report.narrative']);
    expect(fieldsOf({ ...valid, narrative: 'x'.repeat(20_001) })).toEqual(['report.narrative']);
    expect(fieldsOf({ ...valid, narrative: 'x'.repeat(20_000) })).toEqual([]);
    expect(fieldsOf({ ...valid, caseId: 'CASE-1', extra: 'secret value' }).sort()).toEqual(['report.caseId', 'report.extra']);
    expect(fieldsOf({ ...valid, subject: { kind: 'secret' } })).toEqual(['report.subject.kind']);
    expect(fieldsOf('secret')).toEqual(['report']);
  });

  it('the message reads as one line naming the fields', () => {
    expect(() => parseBreachReport({ ...valid, narrative: undefined })).toThrow('Breach report rejected: report.narrative is required');
  });
});
