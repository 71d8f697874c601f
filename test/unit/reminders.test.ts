/**
 * Chasing overdue acknowledgements (functions/domain/reminders.ts) with simulated dates:
 * reminders on the configured cadence (§1f, §4a.ii), then one digest per Head of School
 * (§4b.i) and a trust-wide roll-up (§4a.i), undeliverable addresses reported to HR and the
 * line manager instead of chased (DESIGN.md "Audience"). The trust configuration is the
 * repository's: due in 14 days, a reminder every 7, at most 3.
 */
import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { addDays } from '../../functions/domain/dates.ts';
import type { IntendedEmail, TemplateData } from '../../functions/domain/emails.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import type { Person } from '../../functions/domain/people.ts';
import { type CurrentPolicy, registeredPolicy } from '../../functions/domain/policies.ts';
import {
  addTally,
  type ChaseContext,
  type ChaseItem,
  decideChase,
  type DigestContext,
  type OutstandingEntry,
  planChasePage,
  planEscalations,
  type Tally,
} from '../../functions/domain/reminders.ts';

const config = loadTrustConfig();
const [seed] = config.policies.map((p) => registeredPolicy(p, config.publicBaseUrl)) as [CurrentPolicy, ...CurrentPolicy[]];
const cadence = config.reminders;

function person(staffId: string, overrides: Partial<Person> = {}): Person {
  return {
    staffId,
    givenName: staffId.toLowerCase(),
    familyName: 'Tester',
    email: `${staffId.toLowerCase()}@example.org`,
    schoolId: 'st-marys',
    roles: ['teacher'],
    employmentType: 'permanent',
    startDate: '2026-09-01',
    managesOfficialChannels: false,
    status: 'active',
    emailDeliverable: true,
    lastChangeAt: '2026-09-01T00:00:00Z',
    ...overrides,
  };
}

const head = person('HEAD-SM', { roles: ['head-of-school'], givenName: 'Grace' });
const headStJohns = person('HEAD-SJ', { roles: ['head-of-school'], schoolId: 'st-johns', givenName: 'Tom' });
const exec = person('EXEC', { roles: ['executive-headteacher'], schoolId: 'trust', givenName: 'Sam' });
const hr = person('HR', { roles: ['hr-advisor'], schoolId: 'trust', givenName: 'Hana' });
const manager = person('MGR', { roles: ['teacher'], givenName: 'Mo' });

/** Asked on 2 November 2026, due 16 November (14 days). */
function request(staffId: string, overrides: Partial<AckRequest> = {}): AckRequest {
  return {
    staffId,
    schoolId: 'st-marys',
    policyId: seed.policyId,
    version: seed.version,
    status: 'pending',
    requestedAt: '2026-11-02T09:00:00.000Z',
    dueOn: '2026-11-16',
    reminderCount: 0,
    ...overrides,
  };
}

function chaseCtx(today: string, overrides: Partial<ChaseContext> = {}): ChaseContext {
  return {
    config,
    today,
    now: new Date(`${today}T07:00:00Z`),
    ackLink: (staffId, policyId, version, expiresAt) => `${config.publicBaseUrl}/ack/${staffId}.${policyId}.${version}.${expiresAt.toISOString()}`,
    hrAdvisors: [hr],
    lineManagers: new Map([[manager.staffId, manager]]),
    ...overrides,
  };
}

function digestCtx(today: string, overrides: Partial<DigestContext> = {}): DigestContext {
  return {
    config,
    today,
    headsOfSchool: new Map([
      ['st-marys', [head]],
      ['st-johns', [headStJohns]],
    ]),
    executiveHeadteachers: [exec],
    hrAdvisors: [hr],
    ...overrides,
  };
}

const item = (r: AckRequest, p: Person | null = person(r.staffId, { schoolId: r.schoolId }), policy: CurrentPolicy | null = seed): ChaseItem => ({
  request: r,
  person: p,
  policy,
});

const dataOf = <T extends IntendedEmail['templateId']>(email: IntendedEmail | undefined, templateId: T): TemplateData[T] => {
  if (!email || email.templateId !== templateId) throw new Error(`expected a ${templateId} email`);
  return email.data as TemplateData[T];
};

/**
 * Runs the daily scan for one person from `from` to `to`, applying what the handler
 * records (reminder and escalation counts), and returns what happened on which day.
 */
function simulate(start: AckRequest, p: Person, from: string, to: string) {
  let state = start;
  const days: { day: string; emails: IntendedEmail[]; kind: string }[] = [];
  for (let day = from; day <= to; day = addDays(day, 1)) {
    const page = planChasePage([item(state, p)], chaseCtx(day));
    const digests = planEscalations(page.outstanding, page.tally, digestCtx(day));
    const decision = decideChase(item(state, p), day, cadence);
    for (const r of page.reminders) state = { ...state, reminderCount: r.n, lastRemindedOn: day };
    for (const e of digests.escalations) state = { ...state, escalationCount: e.n, lastEscalatedOn: day };
    const emails = [...page.emails, ...digests.emails];
    if (emails.length > 0) days.push({ day, emails, kind: decision.kind });
  }
  return { days, state };
}

describe('the reminder cadence (§1f, §4a.ii; reminders every 7 days, at most 3)', () => {
  it('nothing before or on the due date; reminders 7, 14 and 21 days after it; then the Head of School every 7 days', () => {
    const { days } = simulate(request('S1'), person('S1'), '2026-11-10', '2026-12-31');
    expect(days.map((d) => [d.day, d.kind, d.emails.map((e) => e.templateId)])).toEqual([
      ['2026-11-23', 'remind', ['reminder']],
      ['2026-11-30', 'remind', ['reminder']],
      ['2026-12-07', 'remind', ['reminder']],
      ['2026-12-14', 'escalate', ['head-digest', 'trust-rollup', 'trust-rollup']],
      ['2026-12-21', 'escalate', ['head-digest', 'trust-rollup', 'trust-rollup']],
      ['2026-12-28', 'escalate', ['head-digest', 'trust-rollup', 'trust-rollup']],
    ]);
  });

  it('each reminder has its own ledger key (by number, not by date) and a fresh signed link; the third says it is the last', () => {
    const { days } = simulate(request('S1'), person('S1'), '2026-11-17', '2026-12-10');
    const reminders = days.flatMap((d) => d.emails);
    expect(reminders.map((e) => e.key)).toEqual([
      'reminder#use-of-social-media#v1#S1#1',
      'reminder#use-of-social-media#v1#S1#2',
      'reminder#use-of-social-media#v1#S1#3',
    ]);
    const data = reminders.map((e) => dataOf(e, 'reminder'));
    expect(new Set(data.map((d) => d.ackUrl)).size).toBe(3);
    // Each link expires linkValidDays (30) after the day it was sent.
    expect(data[0]?.ackUrl).toBe(`${config.publicBaseUrl}/ack/S1.use-of-social-media.1.2026-12-23T07:00:00.000Z`);
    expect(data.map((d) => [d.reminderNumber, d.maxReminders, d.finalReminder, d.overdueBy])).toEqual([
      [1, 3, false, '7 days'],
      [2, 3, false, '14 days'],
      [3, 3, true, '21 days'],
    ]);
    expect(data[0]).toMatchObject({
      givenName: 's1',
      schoolName: "St Mary's Church of England Primary School",
      policyTitle: seed.title,
      dueDate: '16 November 2026',
      refresher: false,
      documentUrl: seed.documentUrl,
    });
    expect(reminders[0]?.to).toEqual({ email: 's1@example.org', staffId: 'S1' });
  });

  it('a scan retried after it queued a reminder but before it recorded it intends the very same email (same key), even on a later day', () => {
    const r = request('S1');
    const first = planChasePage([item(r)], chaseCtx('2026-11-23'));
    const retried = planChasePage([item(r)], chaseCtx('2026-11-25'));
    expect(first.emails.map((e) => e.key)).toEqual(['reminder#use-of-social-media#v1#S1#1']);
    expect(retried.emails.map((e) => e.key)).toEqual(first.emails.map((e) => e.key));
    expect(retried.reminders.map((u) => u.n)).toEqual([1]);
  });

  it('a missed day catches up: the next step is due on or after its date, never skipped', () => {
    expect(decideChase(item(request('S1')), '2026-11-26', cadence)).toEqual({ kind: 'remind', reminder: 1 });
    const reminded = request('S1', { reminderCount: 1, lastRemindedOn: '2026-11-26' });
    expect(decideChase(item(reminded), '2026-12-02', cadence)).toEqual({ kind: 'wait', escalated: false, undeliverable: false });
    expect(decideChase(item(reminded), '2026-12-03', cadence)).toEqual({ kind: 'remind', reminder: 2 });
  });

  it('in a refresher cycle the keys name the cycle and the reminder says it is a refresher (§6a)', () => {
    const plan = planChasePage([item(request('S1', { refreshCycle: 2 }))], chaseCtx('2026-11-23'));
    expect(plan.emails.map((e) => e.key)).toEqual(['reminder#use-of-social-media#v1#S1#r2#1']);
    expect(dataOf(plan.emails[0], 'reminder').refresher).toBe(true);
  });

  it('is not chased: someone who has left (leftOn reached), is unknown, was asked for a superseded version, or is no longer in the audience', () => {
    const day = '2026-11-23';
    const r = request('S1');
    expect(decideChase(item(r, person('S1', { leftOn: '2026-11-23' })), day, cadence)).toEqual({ kind: 'skip', reason: 'left' });
    expect(decideChase(item(r, person('S1', { status: 'left' })), day, cadence)).toEqual({ kind: 'skip', reason: 'left' });
    expect(decideChase(item(r, person('S1', { leftOn: '2026-11-24' })), day, cadence)).toEqual({ kind: 'remind', reminder: 1 });
    expect(decideChase(item(r, null), day, cadence)).toEqual({ kind: 'skip', reason: 'person-unknown' });
    expect(decideChase(item(r, person('S1'), { ...seed, version: 2 }), day, cadence)).toEqual({ kind: 'skip', reason: 'not-current-version' });
    expect(decideChase(item(r, person('S1', { employmentType: 'trustee', roles: ['trustee'] })), day, cadence)).toEqual({
      kind: 'skip',
      reason: 'not-in-audience',
    });
    expect(decideChase(item(request('S1', { status: 'acknowledged' })), day, cadence)).toEqual({ kind: 'skip', reason: 'not-overdue' });
    const plan = planChasePage([item(r, null)], chaseCtx(day));
    expect(plan.emails).toEqual([]);
    expect(plan.skipped['person-unknown']).toBe(1);
  });
});

describe('undeliverable addresses (DESIGN.md "Audience": HR and the line manager instead)', () => {
  const bounced = person('S2', { emailDeliverable: false, lineManagerStaffId: 'MGR', givenName: 'Bea', familyName: 'Bounce' });

  it('is never sent a reminder: at the first step the line manager and the trust HR advisor are told, and the person goes to the digest', () => {
    const { days } = simulate(request('S2'), bounced, '2026-11-10', '2026-12-31');
    expect(days[0]?.day).toBe('2026-11-23');
    expect(days.flatMap((d) => d.emails).filter((e) => e.templateId === 'reminder')).toEqual([]);
    const notices = days.flatMap((d) => d.emails).filter((e) => e.templateId === 'undeliverable-notice');
    expect(notices.slice(0, 2).map((e) => [e.key, e.to.email])).toEqual([
      ['undeliverable#use-of-social-media#v1#S2#MGR', 'mgr@example.org'],
      ['undeliverable#use-of-social-media#v1#S2#HR', 'hr@example.org'],
    ]);
    // Later steps intend them again under the same two keys: the ledger sends each once.
    expect(new Set(notices.map((e) => e.key)).size).toBe(2);
    expect(dataOf(notices[0], 'undeliverable-notice')).toMatchObject({
      recipientGivenName: 'Mo',
      personName: 'Bea Bounce',
      schoolName: "St Mary's Church of England Primary School",
      reason: 'their line manager',
      dueDate: '16 November 2026',
    });
    expect(dataOf(notices[1], 'undeliverable-notice').reason).toBe("the trust's HR advisor");
    const digest = days[0]?.emails.find((e) => e.templateId === 'head-digest');
    expect(digest?.to.email).toBe(head.email);
    expect(dataOf(digest, 'head-digest').people[0]?.note).toMatch(/undeliverable/);
  });

  it('no line manager on record: HR only, saying so; nobody at all: the integration contact', () => {
    const noManager = person('S3', { emailDeliverable: false });
    const plan = planChasePage([item(request('S3'), noManager)], chaseCtx('2026-11-23'));
    expect(plan.emails.map((e) => e.to.email)).toEqual(['hr@example.org']);
    expect(dataOf(plan.emails[0], 'undeliverable-notice').routingNote).toMatch(/no line manager/);

    const nobody = planChasePage([item(request('S3'), noManager)], chaseCtx('2026-11-23', { hrAdvisors: [] }));
    expect(nobody.emails.map((e) => [e.key, e.to])).toEqual([
      ['undeliverable#use-of-social-media#v1#S3#integration-contact', { email: config.integrationContact }],
    ]);
  });

  it('a line manager who left or cannot be emailed is not told', () => {
    const ctx = chaseCtx('2026-11-23', { lineManagers: new Map([['MGR', { ...manager, leftOn: '2026-11-01' }]]) });
    const plan = planChasePage([item(request('S2'), bounced)], ctx);
    expect(plan.emails.map((e) => e.to.email)).toEqual(['hr@example.org']);
  });
});

describe('escalation: one digest per Head of School per day (§4b.i), one roll-up for the trust (§4a.i)', () => {
  const today = '2026-12-14';
  const pastReminders = (staffId: string, overrides: Partial<AckRequest> = {}) =>
    request(staffId, { reminderCount: 3, lastRemindedOn: '2026-12-07', ...overrides });

  function scan(items: ChaseItem[], ctx: Partial<DigestContext> = {}) {
    const page = planChasePage(items, chaseCtx(today));
    return { page, ...planEscalations(page.outstanding, page.tally, digestCtx(today, ctx)) };
  }

  it('three people at one school and one at another: one digest for each Head, listing their own people; not one email per person', () => {
    const { emails, escalations } = scan([
      item(pastReminders('A1')),
      item(pastReminders('A2')),
      item(pastReminders('A3', { policyId: 'social-media-acceptable-use' }), person('A3', { managesOfficialChannels: true }), {
        ...seed,
        policyId: 'social-media-acceptable-use',
        title: 'Social Media Acceptable Use Agreement',
      }),
      item(pastReminders('B1', { schoolId: 'st-johns' })),
    ]);
    const digests = emails.filter((e) => e.templateId === 'head-digest');
    expect(digests.map((e) => [e.key, e.to.email])).toEqual([
      ['digest#HEAD-SM#2026-12-14', head.email],
      ['digest#HEAD-SJ#2026-12-14', headStJohns.email],
    ]);
    const stMarys = dataOf(digests[0], 'head-digest');
    expect(stMarys.count).toBe(3);
    expect(stMarys.people.map((p) => [p.name, p.policyTitle, p.isNew, p.remindersSent, p.overdueBy])).toEqual([
      ['a1 Tester', seed.title, true, 3, '28 days'],
      ['a2 Tester', seed.title, true, 3, '28 days'],
      ['a3 Tester', 'Social Media Acceptable Use Agreement', true, 3, '28 days'],
    ]);
    expect(stMarys.routingNote).toBeUndefined();
    expect(dataOf(digests[1], 'head-digest').people.map((p) => p.name)).toEqual(['b1 Tester']);
    expect(escalations.map((e) => [e.request.staffId, e.n])).toEqual([
      ['A1', 1],
      ['A2', 1],
      ['A3', 1],
      ['B1', 1],
    ]);
  });

  it('the digest also lists people escalated before and still outstanding, and counts those still being reminded', () => {
    const { emails } = scan([
      item(pastReminders('A1')),
      item(pastReminders('OLD', { escalationCount: 1, lastEscalatedOn: '2026-12-10' })),
      item(request('NEWER', { dueOn: '2026-12-01' })), // overdue, first reminder today
    ]);
    const digest = dataOf(emails.find((e) => e.templateId === 'head-digest'), 'head-digest');
    expect(digest.people.map((p) => [p.name, p.isNew])).toEqual([
      ['a1 Tester', true],
      ['old Tester', false],
    ]);
    expect(digest.stillBeingReminded).toBe(1);
  });

  it('no digest and no roll-up on a day when nobody is new or due again', () => {
    const { emails, escalations } = scan([item(pastReminders('OLD', { escalationCount: 1, lastEscalatedOn: '2026-12-10' }))]);
    expect(emails).toEqual([]);
    expect(escalations).toEqual([]);
  });

  it('central staff and a Head who is outstanding themselves go to the Executive Headteacher, saying why', () => {
    const { emails } = scan([
      item(pastReminders('T1', { schoolId: 'trust' }), person('T1', { schoolId: 'trust' })),
      item(pastReminders('HEAD-SM'), head),
    ]);
    const digests = emails.filter((e) => e.templateId === 'head-digest');
    expect(digests.map((e) => e.key)).toEqual(['digest#EXEC#2026-12-14']);
    const data = dataOf(digests[0], 'head-digest');
    // By school name: the trust ("All Saints ...") before St Mary's.
    expect(data.people.map((p) => [p.name, p.schoolName])).toEqual([
      ['t1 Tester', 'All Saints Multi Academy Trust'],
      ['Grace Tester', "St Mary's Church of England Primary School"],
    ]);
    expect(data.routingNote).toMatch(/central \(trust\) staff/);
    expect(data.routingNote).toMatch(/no other Head of School/);
  });

  it('nobody holds Head of School or Executive Headteacher: the integration contact gets the digest', () => {
    const { emails } = scan([item(pastReminders('A1'))], { headsOfSchool: new Map(), executiveHeadteachers: [] });
    const digest = emails.find((e) => e.templateId === 'head-digest');
    expect(digest?.key).toBe('digest#integration-contact#2026-12-14');
    expect(digest?.to).toEqual({ email: config.integrationContact });
  });

  it('the roll-up goes once a day to the Executive Headteacher and the trust HR advisor, with counts per school and trust-wide', () => {
    const page1 = planChasePage(
      [item(pastReminders('A1')), item(request('A2', { dueOn: '2026-12-01' })), item(request('A3', { dueOn: '2026-12-13' }))],
      chaseCtx(today),
    );
    const page2 = planChasePage(
      [item(pastReminders('B1', { schoolId: 'st-johns' })), item(request('B2', { schoolId: 'st-johns' }), person('B2', { schoolId: 'st-johns', emailDeliverable: false }))],
      chaseCtx(today),
    );
    const tally: Tally = addTally(addTally({}, page1.tally), page2.tally);
    const { emails } = planEscalations([...page1.outstanding, ...page2.outstanding], tally, digestCtx(today));
    const rollups = emails.filter((e) => e.templateId === 'trust-rollup');
    expect(rollups.map((e) => [e.key, e.to.email])).toEqual([
      ['rollup#2026-12-14#EXEC', exec.email],
      ['rollup#2026-12-14#HR', hr.email],
    ]);
    const data = dataOf(rollups[0], 'trust-rollup');
    expect(data.schools).toEqual([
      { schoolName: "St Mary's Church of England Primary School", overdue: 3, beingReminded: 2, escalated: 1, newlyEscalated: 1, undeliverable: 0 },
      { schoolName: "St John's Church of England Primary School", overdue: 2, beingReminded: 0, escalated: 2, newlyEscalated: 2, undeliverable: 1 },
    ]);
    expect([data.totalOverdue, data.totalBeingReminded, data.totalEscalated, data.totalNewlyEscalated, data.totalUndeliverable]).toEqual([5, 2, 3, 3, 1]);
    expect(data.date).toBe('14 December 2026');
  });

  it('the roll-up reaches the integration contact when the trust has no leadership on record', () => {
    const { emails } = scan([item(pastReminders('A1'))], { executiveHeadteachers: [], hrAdvisors: [] });
    const rollup = emails.find((e) => e.templateId === 'trust-rollup');
    expect(rollup?.key).toBe('rollup#2026-12-14#integration-contact');
    expect(dataOf(rollup, 'trust-rollup').routingNote).toMatch(/integration contact/);
  });

  it('after acknowledgement nothing more: an acknowledged request is not chased', () => {
    const acknowledged = pastReminders('A1', { status: 'acknowledged', acknowledgedAt: '2026-12-13T10:00:00Z' });
    const { emails, page } = scan([item(acknowledged)]);
    expect(emails).toEqual([]);
    expect(page.emails).toEqual([]);
  });
});

describe('what a digest entry holds', () => {
  it('only the person, school, policy, dates and counts: no links and no address', () => {
    const entry: OutstandingEntry = {
      request: request('A1', { reminderCount: 3 }),
      person: person('A1'),
      policyTitle: seed.title,
      escalation: 1,
      undeliverable: false,
    };
    const { emails } = planEscalations([entry], { 'st-marys': { overdue: 1, beingReminded: 0, escalated: 1, newlyEscalated: 1, undeliverable: 0, remindersSent: 0 } }, digestCtx('2026-12-14'));
    const digest = dataOf(emails[0], 'head-digest');
    expect(Object.keys(digest.people[0] ?? {}).sort()).toEqual(['dueDate', 'isNew', 'name', 'overdueBy', 'policyTitle', 'remindersSent', 'schoolName', 'version']);
  });
});
