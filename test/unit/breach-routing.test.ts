/**
 * The routing table (functions/domain/breach-routing.ts, DESIGN.md "Breach and concern
 * intake and routing"): one scenario per row, then conflict of interest and gaps, each
 * asserting the exact set of people told, by role, school and why.
 *
 * The directory is small and written out here: a trust centre, St Mary's (every school
 * role, and a head of year who line-manages a teacher), Holy Trinity (no deputy DSL, as in
 * fixtures/demo-directory.csv) and St John's (nobody on record).
 */
import { describe, expect, it } from 'vitest';
import { BREACH_CATEGORIES, type Role } from '../../functions/contracts/roles.ts';
import {
  type CaseFacts,
  type CaseRecipient,
  describeRouting,
  type Directory,
  directoryOf,
  escalationRouting,
  lookupsFor,
  ROUTING_TABLE,
  routeCase,
  routingRow,
} from '../../functions/domain/breach-routing.ts';

interface Row {
  staffId: string;
  schoolId: string;
  roles: Role[];
  lineManagerStaffId?: string;
  status?: 'active' | 'left';
  emailDeliverable?: boolean;
}

const PEOPLE: Row[] = [
  { staffId: 'T-EXEC', schoolId: 'trust', roles: ['executive-headteacher', 'leadership-team'] },
  { staffId: 'T-DFR', schoolId: 'trust', roles: ['director-of-finance-and-resources', 'leadership-team'], lineManagerStaffId: 'T-EXEC' },
  { staffId: 'T-DSL', schoolId: 'trust', roles: ['dsl', 'leadership-team'], lineManagerStaffId: 'T-EXEC' },
  { staffId: 'T-HR', schoolId: 'trust', roles: ['hr-advisor'], lineManagerStaffId: 'T-DFR' },
  { staffId: 'T-CHAIR', schoolId: 'trust', roles: ['chair-of-trustees', 'trustee'] },
  { staffId: 'T-TRUSTEE1', schoolId: 'trust', roles: ['trustee'] },
  { staffId: 'T-OLDTRUSTEE', schoolId: 'trust', roles: ['trustee'], status: 'left' },
  { staffId: 'SM-HEAD', schoolId: 'st-marys', roles: ['head-of-school', 'leadership-team'], lineManagerStaffId: 'T-EXEC' },
  { staffId: 'SM-DSL', schoolId: 'st-marys', roles: ['dsl', 'teacher'], lineManagerStaffId: 'SM-HEAD' },
  { staffId: 'SM-DDSL', schoolId: 'st-marys', roles: ['deputy-dsl', 'teacher'], lineManagerStaffId: 'SM-HEAD' },
  { staffId: 'SM-HOY', schoolId: 'st-marys', roles: ['teacher'], lineManagerStaffId: 'SM-HEAD' },
  { staffId: 'SM-T1', schoolId: 'st-marys', roles: ['teacher'], lineManagerStaffId: 'SM-HOY' },
  { staffId: 'SM-GOV1', schoolId: 'st-marys', roles: ['chair-of-governors', 'governor'] },
  { staffId: 'HT-HEAD', schoolId: 'holy-trinity', roles: ['head-of-school', 'leadership-team'], lineManagerStaffId: 'T-EXEC' },
  { staffId: 'HT-DSL', schoolId: 'holy-trinity', roles: ['dsl', 'teacher'], lineManagerStaffId: 'HT-HEAD' },
  { staffId: 'HT-T1', schoolId: 'holy-trinity', roles: ['teacher'], lineManagerStaffId: 'HT-HEAD' },
];

function directory(changes: Record<string, Partial<Row>> = {}, without: string[] = []): Directory {
  return directoryOf(
    PEOPLE.filter((p) => !without.includes(p.staffId)).map((p) => ({
      ...p,
      ...changes[p.staffId],
      status: changes[p.staffId]?.status ?? p.status ?? 'active',
      emailDeliverable: changes[p.staffId]?.emailDeliverable ?? p.emailDeliverable ?? true,
    })),
  );
}

/** `<staffId> <role>@<school> <why>`, for each capacity a person is told in. */
function told(recipients: readonly CaseRecipient[]): string[] {
  return recipients
    .flatMap((r) => [r, ...(r.alsoAs ?? [])].map((c) => `${r.staffId} ${c.role}@${c.schoolId} ${c.why}`))
    .sort();
}

const report = (facts: Partial<CaseFacts> & Pick<CaseFacts, 'category'>): CaseFacts => ({
  schoolId: 'st-marys',
  subject: { kind: 'other' },
  ...facts,
});

describe('the routing table (DESIGN.md), one row per category', () => {
  it('has exactly one row per category, each citing the policy sections it implements', () => {
    expect(ROUTING_TABLE.map((r) => r.category).sort()).toEqual([...BREACH_CATEGORIES].sort());
    for (const row of ROUTING_TABLE) {
      expect(row.policy.length, row.category).toBeGreaterThan(0);
      for (const section of row.policy) expect(section).toMatch(/^§\d+[a-z](\.[ivx]+(-[ivx]+)?)?$/);
      expect(row.label).toMatch(/^[^<>{}]+$/);
    }
    expect(Object.fromEntries(ROUTING_TABLE.map((r) => [r.category, r.policy.join(' ')]))).toEqual({
      'online-conduct-concern': '§5e',
      'personal-account-contact': '§6k §6l §5e',
      'staff-abused-online': '§9d §4a.iv',
      'staff-misconduct': '§4b.iii-iv §6d §9b §5e',
      'bullying-harassment': '§9a',
      'possibly-illegal': '§9c §4a.iv',
      'student-social-media': '§7c §7c.i',
      'official-channel-concern': '§8h.ix',
      'self-report': '§6i',
    });
  });

  const scenarios: { name: string; facts: CaseFacts; told: string[]; flags: string[]; gaps?: unknown[] }[] = [
    {
      name: 'online-conduct-concern (§5e): the school DSL and deputy DSL',
      facts: report({ category: 'online-conduct-concern', subject: { kind: 'parent' } }),
      told: ['SM-DSL dsl@st-marys primary', 'SM-DDSL deputy-dsl@st-marys primary'],
      flags: [],
    },
    {
      name: 'personal-account-contact (§6k, §6l, §5e) with a student: DSL and deputy, LADO consideration flagged',
      facts: report({ category: 'personal-account-contact', subject: { kind: 'student' }, reportedByStaffId: 'SM-T1' }),
      told: ['SM-DSL dsl@st-marys primary', 'SM-DDSL deputy-dsl@st-marys primary'],
      flags: ['lado-consideration'],
    },
    {
      name: 'personal-account-contact from a parent: no LADO flag (no student involved)',
      facts: report({ category: 'personal-account-contact', subject: { kind: 'parent' } }),
      told: ['SM-DSL dsl@st-marys primary', 'SM-DDSL deputy-dsl@st-marys primary'],
      flags: [],
    },
    {
      name: 'staff-abused-online (§9d, §4a.iv): Head of School, chair of governors, trustees; police referral decision',
      facts: report({ category: 'staff-abused-online', subject: { kind: 'other' }, reportedByStaffId: 'SM-T1' }),
      told: [
        'SM-HEAD head-of-school@st-marys primary',
        'SM-GOV1 chair-of-governors@st-marys primary',
        'T-CHAIR trustee@trust primary',
        'T-TRUSTEE1 trustee@trust primary',
      ],
      flags: ['police-referral-decision'],
    },
    {
      name: 'staff-misconduct (§4b.iii-iv, §6d, §9b, §5e): Head, leadership team (school and trust), HR advisor',
      facts: report({ category: 'staff-misconduct', subject: { kind: 'staff', staffId: 'SM-T1' } }),
      told: [
        'SM-HEAD head-of-school@st-marys primary',
        'SM-HEAD leadership-team@st-marys primary',
        'T-DFR leadership-team@trust primary',
        'T-DSL leadership-team@trust primary',
        'T-EXEC leadership-team@trust primary',
        // St Mary's has no HR advisor of its own: the trust's, with the gap recorded.
        'T-HR hr-advisor@trust trust-level: gap at school',
      ],
      flags: [],
      gaps: [{ role: 'hr-advisor', schoolId: 'st-marys', resolvedAt: 'trust', reason: 'no-holder' }],
    },
    {
      name: 'staff-misconduct concerning a child: LADO consideration flagged',
      facts: report({ category: 'staff-misconduct', subject: { kind: 'student' } }),
      told: [
        'SM-HEAD head-of-school@st-marys primary',
        'SM-HEAD leadership-team@st-marys primary',
        'T-DFR leadership-team@trust primary',
        'T-DSL leadership-team@trust primary',
        'T-EXEC leadership-team@trust primary',
        'T-HR hr-advisor@trust trust-level: gap at school',
      ],
      flags: ['lado-consideration'],
    },
    {
      name: 'bullying-harassment (§9a): Head of School and the school DSL (with the deputy)',
      facts: report({ category: 'bullying-harassment', subject: { kind: 'student' } }),
      told: ['SM-HEAD head-of-school@st-marys primary', 'SM-DSL dsl@st-marys primary', 'SM-DDSL deputy-dsl@st-marys primary'],
      flags: [],
    },
    {
      name: 'possibly-illegal (§9c, §4a.iv): trust leadership team and trustees; police referral decision',
      facts: report({ category: 'possibly-illegal', subject: { kind: 'other' } }),
      told: [
        'T-DFR leadership-team@trust primary',
        'T-DSL leadership-team@trust primary',
        'T-EXEC leadership-team@trust primary',
        'T-CHAIR trustee@trust primary',
        'T-TRUSTEE1 trustee@trust primary',
      ],
      flags: ['police-referral-decision'],
    },
    {
      name: 'student-social-media (§7c, §7c.i): DSL and deputy; parents/carers may need telling',
      facts: report({ category: 'student-social-media', subject: { kind: 'student' } }),
      told: ['SM-DSL dsl@st-marys primary', 'SM-DDSL deputy-dsl@st-marys primary'],
      flags: ['parents-may-need-telling'],
    },
    {
      name: "official-channel-concern (§8h.ix): the reporter's line manager, the DSL (and deputy), the Head of School",
      facts: report({ category: 'official-channel-concern', subject: { kind: 'student' }, reportedByStaffId: 'SM-T1' }),
      told: [
        'SM-HOY line-manager@st-marys primary',
        'SM-DSL dsl@st-marys primary',
        'SM-DDSL deputy-dsl@st-marys primary',
        'SM-HEAD head-of-school@st-marys primary',
      ],
      flags: [],
    },
    {
      name: 'self-report (§6i): the leadership team, school and trust (never the person reporting themselves)',
      facts: report({ category: 'self-report', subject: { kind: 'staff', staffId: 'SM-T1' }, reportedByStaffId: 'SM-T1' }),
      told: [
        'SM-HEAD leadership-team@st-marys primary',
        'T-DFR leadership-team@trust primary',
        'T-DSL leadership-team@trust primary',
        'T-EXEC leadership-team@trust primary',
      ],
      flags: [],
    },
  ];

  it.each(scenarios)('$name', ({ facts, told: expected, flags, gaps }) => {
    // Act
    const routing = routeCase(facts, directory());

    // Assess
    expect(told(routing.recipients)).toEqual([...expected].sort());
    expect(routing.flags).toEqual(flags);
    expect(routing.conflicts).toEqual([]);
    if (gaps) expect(routing.gaps).toEqual(gaps);
    // Nobody who left is ever told.
    expect(routing.recipients.map((r) => r.staffId)).not.toContain('T-OLDTRUSTEE');
  });

  it('covers every category with a scenario above', () => {
    expect(new Set(scenarios.map((s) => s.facts.category))).toEqual(new Set(BREACH_CATEGORIES));
  });
});

describe('conflict of interest (DESIGN.md): the subject is never told; the next in line is', () => {
  it('the DSL is the subject: left out; the deputy DSL is told as next in line', () => {
    const routing = routeCase(report({ category: 'online-conduct-concern', subject: { kind: 'staff', staffId: 'SM-DSL' } }), directory());
    expect(told(routing.recipients)).toEqual(['SM-DDSL deputy-dsl@st-marys primary', 'SM-DDSL dsl@st-marys next-in-line: conflict']);
    expect(routing.conflicts).toEqual([{ role: 'dsl', schoolId: 'st-marys', toldInstead: 'deputy-dsl' }]);
    expect(routing.flags).toEqual([]);
  });

  it('the deputy DSL is the subject: left out; the DSL (told anyway) stands in', () => {
    const routing = routeCase(report({ category: 'student-social-media', subject: { kind: 'staff', staffId: 'SM-DDSL' } }), directory());
    expect(told(routing.recipients)).toEqual(['SM-DSL deputy-dsl@st-marys next-in-line: conflict', 'SM-DSL dsl@st-marys primary']);
    expect(routing.conflicts).toEqual([{ role: 'deputy-dsl', schoolId: 'st-marys', toldInstead: 'dsl' }]);
  });

  it('the Head of School is the subject: left out; the Executive Headteacher is told', () => {
    const routing = routeCase(report({ category: 'bullying-harassment', subject: { kind: 'staff', staffId: 'SM-HEAD' } }), directory());
    expect(told(routing.recipients)).toEqual([
      'SM-DDSL deputy-dsl@st-marys primary',
      'SM-DSL dsl@st-marys primary',
      'T-EXEC head-of-school@trust next-in-line: conflict',
    ]);
    expect(routing.recipients.find((r) => r.staffId === 'T-EXEC')?.asRole).toBe('executive-headteacher');
    expect(routing.conflicts).toEqual([{ role: 'head-of-school', schoolId: 'st-marys', toldInstead: 'executive-headteacher' }]);
  });

  it('the Head of School is the subject of a misconduct case: left out of every capacity; the leadership team is told at trust level', () => {
    const routing = routeCase(report({ category: 'staff-misconduct', subject: { kind: 'staff', staffId: 'SM-HEAD' } }), directory());
    expect(routing.recipients.map((r) => r.staffId)).not.toContain('SM-HEAD');
    expect(told(routing.recipients)).toEqual([
      'T-DFR leadership-team@trust primary',
      'T-DSL leadership-team@trust primary',
      'T-EXEC head-of-school@trust next-in-line: conflict',
      'T-EXEC leadership-team@trust primary',
      'T-HR hr-advisor@trust trust-level: gap at school',
    ]);
    expect(routing.conflicts).toEqual([
      { role: 'head-of-school', schoolId: 'st-marys', toldInstead: 'executive-headteacher' },
      { role: 'leadership-team', schoolId: 'st-marys', toldInstead: 'trust-level' },
    ]);
  });

  it('the Executive Headteacher is the subject of a central case: left out; the chair of trustees is told', () => {
    const routing = routeCase(
      report({ category: 'bullying-harassment', schoolId: 'trust', subject: { kind: 'staff', staffId: 'T-EXEC' } }),
      directory(),
    );
    expect(told(routing.recipients)).toEqual([
      'T-CHAIR head-of-school@trust next-in-line: conflict',
      // The trust has no deputy DSL: flagged, and the trust-level DSL (told already) stands in.
      'T-DSL deputy-dsl@trust no holder anywhere',
      'T-DSL dsl@trust primary',
    ]);
    expect(routing.conflicts).toEqual([{ role: 'head-of-school', schoolId: 'trust', toldInstead: 'chair-of-trustees' }]);
    expect(routing.flags).toEqual(['no-holder-anywhere']);
  });

  it('a trustee is the subject: the other trustees are told and the conflict recorded', () => {
    const routing = routeCase(report({ category: 'possibly-illegal', subject: { kind: 'governor', staffId: 'T-TRUSTEE1' } }), directory());
    expect(routing.recipients.map((r) => r.staffId).sort()).toEqual(['T-CHAIR', 'T-DFR', 'T-DSL', 'T-EXEC']);
    expect(routing.conflicts).toEqual([{ role: 'trustee', schoolId: 'trust', toldInstead: 'others' }]);
  });

  it("the reporter's line manager is the subject: left out; the Head of School stands in", () => {
    const routing = routeCase(
      report({ category: 'official-channel-concern', subject: { kind: 'staff', staffId: 'SM-HOY' }, reportedByStaffId: 'SM-T1' }),
      directory(),
    );
    expect(told(routing.recipients)).toEqual([
      'SM-DDSL deputy-dsl@st-marys primary',
      'SM-DSL dsl@st-marys primary',
      'SM-HEAD head-of-school@st-marys primary',
      'SM-HEAD line-manager@st-marys next-in-line: conflict',
    ]);
    expect(routing.conflicts).toEqual([{ role: 'line-manager', schoolId: 'st-marys', toldInstead: 'head-of-school' }]);
  });

  it('escalation: the Executive Headteacher as subject is passed over for the chair of trustees', () => {
    const facts = report({ category: 'staff-misconduct', subject: { kind: 'staff', staffId: 'T-EXEC' } });
    expect(told(escalationRouting(facts, directory(), 2).recipients)).toEqual(['T-CHAIR executive-headteacher@trust next-in-line: conflict']);
    expect(told(escalationRouting(facts, directory(), 1).recipients)).toEqual(['SM-HEAD head-of-school@st-marys primary']);
  });

  it('a staff subject without a staffId is recorded: conflicts of interest could not be checked', () => {
    const routing = routeCase(report({ category: 'staff-misconduct', subject: { kind: 'staff' } }), directory());
    expect(routing.subjectUnidentified).toBe(true);
    expect(describeRouting(routing)).toContain('the subject is staff but no staffId was given: conflicts of interest could not be checked');
  });
});

describe('gaps (DESIGN.md): the trust-level holder; nobody anywhere: flagged and the trust DSL told', () => {
  it('Holy Trinity has no deputy DSL, and nor has the trust: flagged, the trust-level DSL told, the gap recorded', () => {
    const routing = routeCase(report({ category: 'online-conduct-concern', schoolId: 'holy-trinity' }), directory());
    expect(told(routing.recipients)).toEqual(['HT-DSL dsl@holy-trinity primary', 'T-DSL deputy-dsl@trust no holder anywhere']);
    expect(routing.flags).toEqual(['no-holder-anywhere']);
    expect(routing.gaps).toEqual([{ role: 'deputy-dsl', schoolId: 'holy-trinity', resolvedAt: 'fallback', reason: 'no-holder' }]);
  });

  it("Holy Trinity's DSL is the subject: the trust-level DSL is told, nobody at the school", () => {
    const routing = routeCase(
      report({ category: 'student-social-media', schoolId: 'holy-trinity', subject: { kind: 'staff', staffId: 'HT-DSL' } }),
      directory(),
    );
    expect(told(routing.recipients)).toEqual(['T-DSL deputy-dsl@trust no holder anywhere', 'T-DSL dsl@trust next-in-line: conflict']);
    expect(routing.conflicts).toEqual([{ role: 'dsl', schoolId: 'holy-trinity', toldInstead: 'deputy-dsl' }]);
    expect(routing.flags).toEqual(['parents-may-need-telling', 'no-holder-anywhere']);
  });

  it('a school with nobody on record: every role from trust level, gaps recorded (St John’s)', () => {
    const routing = routeCase(report({ category: 'staff-abused-online', schoolId: 'st-johns' }), directory());
    expect(told(routing.recipients)).toEqual([
      // The trust-level holder of the Head of School's office is the Executive Headteacher; of the chair of governors', the chair of trustees.
      'T-CHAIR chair-of-governors@trust trust-level: gap at school',
      'T-CHAIR trustee@trust primary',
      'T-EXEC head-of-school@trust trust-level: gap at school',
      'T-TRUSTEE1 trustee@trust primary',
    ]);
    expect(routing.gaps).toEqual([
      { role: 'head-of-school', schoolId: 'st-johns', resolvedAt: 'trust', reason: 'no-holder' },
      { role: 'chair-of-governors', schoolId: 'st-johns', resolvedAt: 'trust', reason: 'no-holder' },
    ]);
    expect(routing.flags).toEqual(['police-referral-decision']);
  });

  it('a DSL whose address bounced counts as absent: the trust-level DSL is told, the gap recorded as unreachable', () => {
    const routing = routeCase(report({ category: 'online-conduct-concern' }), directory({ 'SM-DSL': { emailDeliverable: false } }));
    expect(told(routing.recipients)).toEqual(['SM-DDSL deputy-dsl@st-marys primary', 'T-DSL dsl@trust trust-level: gap at school']);
    expect(routing.gaps).toEqual([{ role: 'dsl', schoolId: 'st-marys', resolvedAt: 'trust', reason: 'holders-unreachable' }]);
  });

  it('a DSL who has left is not told', () => {
    const routing = routeCase(report({ category: 'online-conduct-concern' }), directory({ 'SM-DSL': { status: 'left' } }));
    expect(routing.recipients.map((r) => r.staffId).sort()).toEqual(['SM-DDSL', 'T-DSL']);
  });

  it('no trust-level DSL either: the next who can be told at trust level stands in', () => {
    const routing = routeCase(report({ category: 'online-conduct-concern', schoolId: 'holy-trinity' }), directory({}, ['T-DSL']));
    expect(told(routing.recipients)).toEqual(['HT-DSL dsl@holy-trinity primary', 'T-EXEC deputy-dsl@trust no holder anywhere']);
    expect(routing.flags).toEqual(['no-holder-anywhere']);
  });

  it('nobody on record at all: the case is flagged unroutable (the caller tells the integration contact), never dropped silently', () => {
    const routing = routeCase(report({ category: 'online-conduct-concern' }), directoryOf([]));
    expect(routing.recipients).toEqual([]);
    expect(routing.flags).toEqual(['no-holder-anywhere', 'unroutable']);
    expect(routing.gaps.map((g) => [g.role, g.resolvedAt])).toEqual([
      ['dsl', 'none'],
      ['deputy-dsl', 'none'],
    ]);
  });

  it('official-channel-concern without a reporter: the gap is recorded and the Head of School (told by the same row) stands in', () => {
    const routing = routeCase(report({ category: 'official-channel-concern' }), directory());
    expect(routing.recipients.map((r) => r.staffId).sort()).toEqual(['SM-DDSL', 'SM-DSL', 'SM-HEAD']);
    expect(routing.gaps).toEqual([{ role: 'line-manager', schoolId: 'st-marys', resolvedAt: 'head-of-school', reason: 'no-reporter' }]);
  });
});

describe('lookupsFor: what a caller loads to build the directory', () => {
  it('every role a row, its next in line, counterparts and the fallback may need, at the school and at trust', () => {
    const { holders, needsReporterLineManager } = lookupsFor({ schoolId: 'st-marys', category: 'staff-abused-online' });
    const at = (school: string) => holders.filter((h) => h.schoolId === school).map((h) => h.role).sort();
    expect(at('st-marys')).toEqual(at('trust'));
    expect(at('trust')).toEqual(
      ['chair-of-governors', 'chair-of-trustees', 'deputy-dsl', 'dsl', 'executive-headteacher', 'head-of-school', 'trustee'].sort(),
    );
    expect(needsReporterLineManager).toBe(false);
    expect(lookupsFor({ schoolId: 'trust', category: 'official-channel-concern' }).needsReporterLineManager).toBe(true);
  });

  it('routing with only what lookupsFor names gives the same answer as with everyone', () => {
    for (const row of ROUTING_TABLE) {
      const facts = report({ category: row.category, reportedByStaffId: 'SM-T1', subject: { kind: 'staff', staffId: 'SM-DSL' } });
      const { holders } = lookupsFor(facts);
      const full = directory();
      const needed = new Set(holders.flatMap((h) => full.holders(h.schoolId, h.role).map((p) => p.staffId)));
      const partial = directory({}, PEOPLE.map((p) => p.staffId).filter((id) => !needed.has(id) && !['SM-T1', 'SM-HOY'].includes(id)));
      expect(routeCase(facts, partial), row.category).toEqual(routeCase(facts, full));
    }
  });

  it('routingRow refuses an unknown category', () => {
    expect(() => routingRow('nope' as never)).toThrow(RangeError);
  });
});
