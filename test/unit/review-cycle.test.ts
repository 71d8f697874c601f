/**
 * The review cycle's domain (functions/domain/review-cycle.ts): which stage occurrences are
 * current on a London date, simulated daily over a year at two UTC schedule times across
 * the 2026 clock changes (29 March, 25 October); the catch-up rule after a scanner outage;
 * what a notice says and to whom; "reviewed, no change".
 */
import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { ReviewStage } from '../../functions/config/trust-config.ts';
import type { Role } from '../../functions/contracts/roles.ts';
import { addDays, addMonths, daysBetween, londonDate } from '../../functions/domain/dates.ts';
import type { Person } from '../../functions/domain/people.ts';
import type { CurrentPolicy } from '../../functions/domain/policies.ts';
import {
  checkNotice,
  currentStageOccurrences,
  decideReviewed,
  describeReviewDue,
  lookupKey,
  noticesFor,
  planReviewDueEmails,
  recipientLookups,
  ReviewRefusedError,
  reviewNoticeEventId,
  reviewScanHorizon,
  reviewStatus,
  roleName,
} from '../../functions/domain/review-cycle.ts';

const config = loadTrustConfig();
/** The default stages, as in config/trust.json. */
const STAGES: ReviewStage[] = [
  { id: 'due-in-30-days', daysBefore: 30 },
  { id: 'due-in-7-days', daysBefore: 7 },
  { id: 'due-today', daysBefore: 0 },
  { id: 'overdue', everyDaysAfter: 7 },
];

interface Emission {
  /** The London date of the run that emitted it. */
  on: string;
  stage: string;
  occurrence: number;
}

/**
 * Runs the scanner's decision once a day at `utcTime` over `days` UTC days from `from`,
 * skipping the UTC days in `down`, and keeps what it would publish: an occurrence is
 * emitted the first time it is current, and its once-only record (a Set here, a
 * conditional put in DynamoDB) stops every later run.
 */
function simulate(reviewDueBy: string, opts: { from: string; days: number; utcTime: string; down?: (utcDay: string) => boolean }) {
  const published = new Set<string>();
  const emissions: Emission[] = [];
  /** How many runs saw each occurrence as current (more than one is what the record is for). */
  const sightings = new Map<string, number>();
  for (let i = 0; i < opts.days; i++) {
    const utcDay = addDays(opts.from, i);
    if (opts.down?.(utcDay)) continue;
    const today = londonDate(new Date(`${utcDay}T${opts.utcTime}Z`));
    for (const o of currentStageOccurrences(reviewDueBy, STAGES, today)) {
      const key = `${o.stage}#${o.occurrence}`;
      sightings.set(key, (sightings.get(key) ?? 0) + 1);
      if (published.has(key)) continue;
      published.add(key);
      emissions.push({ on: today, ...o });
    }
  }
  return { emissions, sightings };
}

const YEAR = { from: '2026-01-01', days: 365 };
/** Overdue week n of a cycle due on `dueBy` starts the day after it, then every 7 days. */
const overdueWeeks = (dueBy: string, lastDay: string, firstWeek = 1): Emission[] => {
  const out: Emission[] = [];
  for (let n = firstWeek; addDays(dueBy, 1 + 7 * (n - 1)) <= lastDay; n++) {
    out.push({ on: addDays(dueBy, 1 + 7 * (n - 1)), stage: 'overdue', occurrence: n });
  }
  return out;
};

describe('London "today" at the two schedule times (the 2026 clock changes)', () => {
  it('06:00 UTC is the same London date all year; 23:30 UTC is the next London date in summer time', () => {
    expect(londonDate(new Date('2026-03-29T06:00:00Z'))).toBe('2026-03-29');
    expect(londonDate(new Date('2026-10-25T06:00:00Z'))).toBe('2026-10-25');
    // 23:30 UTC: the London date 29 March never occurs, and 25 October occurs twice.
    expect(londonDate(new Date('2026-03-28T23:30:00Z'))).toBe('2026-03-28');
    expect(londonDate(new Date('2026-03-29T23:30:00Z'))).toBe('2026-03-30');
    expect(londonDate(new Date('2026-10-24T23:30:00Z'))).toBe('2026-10-25');
    expect(londonDate(new Date('2026-10-25T23:30:00Z'))).toBe('2026-10-25');
  });
});

describe('stage occurrences over a year of daily scans', () => {
  it('due 5 April 2026 (7-day notice on 29 March), at 06:00 UTC: each stage once, on its day, then every overdue week', () => {
    const { emissions } = simulate('2026-04-05', { ...YEAR, utcTime: '06:00:00' });
    expect(emissions.slice(0, 5)).toEqual([
      { on: '2026-03-06', stage: 'due-in-30-days', occurrence: 1 },
      { on: '2026-03-29', stage: 'due-in-7-days', occurrence: 1 },
      { on: '2026-04-05', stage: 'due-today', occurrence: 1 },
      { on: '2026-04-06', stage: 'overdue', occurrence: 1 },
      { on: '2026-04-13', stage: 'overdue', occurrence: 2 },
    ]);
    expect(emissions.slice(3)).toEqual(overdueWeeks('2026-04-05', '2026-12-31'));
    // 6 April to 31 December: 39 overdue weeks start.
    expect(emissions).toHaveLength(3 + 39);
  });

  it('due 5 April 2026, at 23:30 UTC: the 7-day notice, due on the London date that never occurs, goes the next morning', () => {
    const { emissions } = simulate('2026-04-05', { ...YEAR, utcTime: '23:30:00' });
    expect(emissions.slice(0, 4)).toEqual([
      { on: '2026-03-06', stage: 'due-in-30-days', occurrence: 1 },
      { on: '2026-03-30', stage: 'due-in-7-days', occurrence: 1 },
      { on: '2026-04-05', stage: 'due-today', occurrence: 1 },
      { on: '2026-04-06', stage: 'overdue', occurrence: 1 },
    ]);
    expect(emissions.slice(3)).toEqual(overdueWeeks('2026-04-05', '2026-12-31'));
    expect(emissions).toHaveLength(3 + 39);
  });

  it('due 28 March 2026, at 23:30 UTC: overdue week 1 (from the skipped 29 March) is sent on 30 March, once', () => {
    const { emissions } = simulate('2026-03-28', { ...YEAR, utcTime: '23:30:00' });
    expect(emissions.slice(0, 5)).toEqual([
      { on: '2026-02-26', stage: 'due-in-30-days', occurrence: 1 },
      { on: '2026-03-21', stage: 'due-in-7-days', occurrence: 1 },
      { on: '2026-03-28', stage: 'due-today', occurrence: 1 },
      { on: '2026-03-30', stage: 'overdue', occurrence: 1 },
      { on: '2026-04-05', stage: 'overdue', occurrence: 2 },
    ]);
    expect(emissions.slice(4)).toEqual(overdueWeeks('2026-03-28', '2026-12-31', 2));
  });

  it('due 25 October 2026, the London date seen twice at 23:30 UTC: the due-day notice is current on two runs and sent once', () => {
    for (const utcTime of ['06:00:00', '23:30:00']) {
      const { emissions, sightings } = simulate('2026-10-25', { ...YEAR, utcTime });
      expect(emissions).toEqual([
        { on: '2026-09-25', stage: 'due-in-30-days', occurrence: 1 },
        { on: '2026-10-18', stage: 'due-in-7-days', occurrence: 1 },
        { on: '2026-10-25', stage: 'due-today', occurrence: 1 },
        ...overdueWeeks('2026-10-25', '2026-12-31'),
      ]);
      expect(sightings.get('due-today#1')).toBe(utcTime === '23:30:00' ? 2 : 1);
    }
  });

  it('due 17 October 2026: overdue week 2 starts on the doubled 25 October and is sent once', () => {
    const { emissions, sightings } = simulate('2026-10-17', { ...YEAR, utcTime: '23:30:00' });
    expect(emissions.filter((e) => e.stage === 'overdue').slice(0, 2)).toEqual([
      { on: '2026-10-18', stage: 'overdue', occurrence: 1 },
      { on: '2026-10-25', stage: 'overdue', occurrence: 2 },
    ]);
    // Week 2 is 25-31 October: seven London dates, eight runs (25 October twice).
    expect(sightings.get('overdue#2')).toBe(8);
  });

  it('the seed, due by 31 December 2023: overdue all of 2026, one notice per overdue week, week 152 on 25 November 2026', () => {
    const { emissions } = simulate('2023-12-31', { ...YEAR, utcTime: '06:00:00' });
    // 1 January 2026 is day 732 after the due date: in overdue week 105.
    expect(emissions[0]).toEqual({ on: '2026-01-01', stage: 'overdue', occurrence: 105 });
    expect(emissions.slice(1)).toEqual(overdueWeeks('2023-12-31', '2026-12-31', 106));
    // Week 152 is 23-29 November 2026 (days 1058-1064 after the due date).
    expect(emissions).toContainEqual({ on: '2026-11-23', stage: 'overdue', occurrence: 152 });
    expect(currentStageOccurrences('2023-12-31', STAGES, londonDate(new Date('2026-11-25T06:00:00Z')))).toEqual([
      { stage: 'overdue', occurrence: 152 },
    ]);
    expect(reviewStatus('2023-12-31', '2026-11-25')).toEqual({
      daysOverdue: 1060,
      headline: 'Policy review overdue',
      text: 'overdue by 151 weeks and 3 days',
    });
  });

  it('nothing before the first stage', () => {
    expect(currentStageOccurrences('2026-04-05', STAGES, '2026-03-05')).toEqual([]);
    expect(currentStageOccurrences('2026-04-05', STAGES, '2026-03-06')).toEqual([{ stage: 'due-in-30-days', occurrence: 1 }]);
  });
});

describe('a scanner that was down sends only what is current when it comes back', () => {
  it('down through the 30-day notice and back 2 days before the 7-day window ends: only the 7-day notice', () => {
    // Due 30 June: 30-day window 31 May-22 June, 7-day window 23-29 June. Down 25 May-27 June.
    const { emissions } = simulate('2026-06-30', {
      ...YEAR,
      utcTime: '06:00:00',
      down: (day) => day >= '2026-05-25' && day <= '2026-06-27',
    });
    expect(emissions.slice(0, 3)).toEqual([
      { on: '2026-06-28', stage: 'due-in-7-days', occurrence: 1 },
      { on: '2026-06-30', stage: 'due-today', occurrence: 1 },
      { on: '2026-07-01', stage: 'overdue', occurrence: 1 },
    ]);
  });

  it('down for three overdue weeks: no backlog, only the current week, then on as before', () => {
    const { emissions } = simulate('2026-06-30', {
      ...YEAR,
      utcTime: '06:00:00',
      down: (day) => day >= '2026-07-01' && day <= '2026-07-20',
    });
    const overdue = emissions.filter((e) => e.stage === 'overdue');
    expect(overdue.slice(0, 2)).toEqual([
      { on: '2026-07-21', stage: 'overdue', occurrence: 3 },
      { on: '2026-07-22', stage: 'overdue', occurrence: 4 },
    ]);
  });

  it('on the due date, only the due-day notice, never a late 30- or 7-day one', () => {
    expect(currentStageOccurrences('2026-06-30', STAGES, '2026-06-30')).toEqual([{ stage: 'due-today', occurrence: 1 }]);
    expect(currentStageOccurrences('2026-06-30', STAGES, '2026-06-29')).toEqual([{ stage: 'due-in-7-days', occurrence: 1 }]);
  });
});

describe('configured stages other than the defaults', () => {
  it('several overdue cadences each have their own period; no overdue stage means nothing after the due date', () => {
    const stages: ReviewStage[] = [
      { id: 'due-in-14-days', daysBefore: 14 },
      { id: 'overdue', everyDaysAfter: 7 },
      { id: 'overdue-monthly', everyDaysAfter: 30 },
    ];
    expect(currentStageOccurrences('2026-06-30', stages, '2026-08-01')).toEqual([
      { stage: 'overdue', occurrence: 5 },
      { stage: 'overdue-monthly', occurrence: 2 },
    ]);
    expect(currentStageOccurrences('2026-06-30', [{ id: 'due-in-14-days', daysBefore: 14 }], '2026-07-01')).toEqual([]);
    expect(reviewScanHorizon(stages, '2026-06-01')).toBe('2026-06-15');
    expect(reviewScanHorizon([{ id: 'overdue', everyDaysAfter: 7 }], '2026-06-01')).toBe('2026-06-01');
  });

  it('the scan horizon with the configured stages is 30 days ahead', () => {
    expect(reviewScanHorizon(config.reviewStages, '2026-11-25')).toBe('2026-12-25');
  });
});

// ---------------------------------------------------------------------------------

const seedPolicy: CurrentPolicy = {
  policyId: 'use-of-social-media',
  title: 'Use of Social Media Policy',
  version: 1,
  approved: '2022',
  reviewDue: '2023',
  reviewDueBy: '2023-12-31',
  reviewPeriodMonths: 12,
  ownerRole: 'trust-network-manager',
  governingCommittee: 'trust-board',
  audience: ['employees', 'governors', 'volunteers'],
  documentUrl: 'http://127.0.0.1:3000/policies/use-of-social-media/v1',
};

describe('notices', () => {
  it('one per current stage, carrying the cycle due date; a stable event id within the contract limits', () => {
    const [notice] = noticesFor(seedPolicy, STAGES, '2026-11-25');
    expect(notice).toEqual({ policyId: 'use-of-social-media', version: 1, reviewDate: '2023-12-31', stage: 'overdue', occurrence: 152 });
    if (!notice) throw new Error('no notice');
    expect(reviewNoticeEventId(notice)).toBe('review:use-of-social-media:v1:2023-12-31:overdue:152');
    const long = { ...notice, policyId: 'p'.repeat(64), stage: 's'.repeat(64) };
    expect(reviewNoticeEventId(long)).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    expect(reviewNoticeEventId(long)).toBe(reviewNoticeEventId({ ...long }));
    expect(reviewNoticeEventId(long)).not.toBe(reviewNoticeEventId({ ...long, occurrence: 153 }));
  });

  it('the due date as the policy states it: a year alone is "2023 (by 31 December 2023)"', () => {
    expect(describeReviewDue(seedPolicy)).toBe('2023 (by 31 December 2023)');
    expect(describeReviewDue({ reviewDue: '2027-11-25', reviewDueBy: '2027-11-25' })).toBe('25 November 2027');
  });

  it('how far off or overdue the review is', () => {
    expect(reviewStatus('2026-06-30', '2026-05-31').text).toBe('due in 30 days');
    expect(reviewStatus('2026-06-30', '2026-06-29')).toEqual({ daysOverdue: -1, headline: 'Policy review due in 1 day', text: 'due in 1 day' });
    expect(reviewStatus('2026-06-30', '2026-06-30')).toEqual({ daysOverdue: 0, headline: 'Policy review due today', text: 'due today' });
    expect(reviewStatus('2026-06-30', '2026-07-01').text).toBe('overdue by 1 day');
    expect(reviewStatus('2026-06-30', '2026-07-07').text).toBe('overdue by 1 week');
    expect(reviewStatus('2026-06-30', '2026-07-16').text).toBe('overdue by 2 weeks and 2 days');
  });

  it('role names read as titles', () => {
    expect(roleName('trust-network-manager')).toBe('Trust Network Manager');
    expect(roleName('chair-of-trustees')).toBe('Chair of Trustees');
    expect(roleName('deputy-dsl')).toBe('Deputy DSL');
  });

  it('a notice applies only while its version is current and its cycle open', () => {
    const notice = { version: 1, reviewDate: '2023-12-31' };
    expect(checkNotice(seedPolicy, notice)).toEqual({ kind: 'send', policy: seedPolicy });
    expect(checkNotice(null, notice)).toEqual({ kind: 'drop', reason: 'policy-not-registered' });
    expect(checkNotice({ ...seedPolicy, version: 2, reviewDueBy: '2027-11-25' }, notice)).toEqual({
      kind: 'drop',
      reason: 'version-no-longer-current',
    });
    expect(checkNotice({ ...seedPolicy, reviewDueBy: '2027-11-25' }, notice)).toEqual({ kind: 'drop', reason: 'cycle-closed' });
  });
});

let n = 0;
function person(schoolId: string, roles: Role[], extra: Partial<Person> = {}): Person {
  n++;
  return {
    staffId: `P-${n}`,
    givenName: `Given${n}`,
    familyName: `Family${n}`,
    email: `person${n}@example.org`,
    schoolId,
    roles,
    employmentType: roles.includes('trustee') ? 'trustee' : 'permanent',
    startDate: '2020-09-01',
    managesOfficialChannels: false,
    status: 'active',
    emailDeliverable: true,
    lastChangeAt: '2020-09-01T00:00:00Z',
    ...extra,
  };
}

/** Answers each lookup from a list of people, as `activeWithRole` would (active only). */
function holdersFrom(people: Person[], policy: CurrentPolicy) {
  return new Map(
    recipientLookups(policy, config).map((l) => [
      lookupKey(l),
      people.filter((p) => p.schoolId === l.schoolId && p.roles.includes(l.role) && p.status === 'active'),
    ]),
  );
}

const dueNotice = { policyId: 'use-of-social-media', version: 1, reviewDate: '2023-12-31', stage: 'overdue', occurrence: 152 };

describe('who is told', () => {
  it('trust-board: the owner role at trust level (then each school), and trustees and the chair at trust level', () => {
    const schools = config.schools.map((s) => s.id);
    expect(recipientLookups(seedPolicy, config)).toEqual([
      { schoolId: 'trust', role: 'trust-network-manager' },
      ...schools.map((schoolId) => ({ schoolId, role: 'trust-network-manager' })),
      { schoolId: 'trust', role: 'trustee' },
      { schoolId: 'trust', role: 'chair-of-trustees' },
    ]);
  });

  it('local-governing-body: the governors and chair of governors of every school', () => {
    const lookups = recipientLookups({ ...seedPolicy, governingCommittee: 'local-governing-body' }, config);
    for (const school of config.schools) {
      expect(lookups).toContainEqual({ schoolId: school.id, role: 'governor' });
      expect(lookups).toContainEqual({ schoolId: school.id, role: 'chair-of-governors' });
    }
    expect(lookups.filter((l) => l.role === 'trustee')).toEqual([]);
  });

  it('the Trust Network Manager and every trustee, once each, with why; not a school-level holder, a governor or an undeliverable address', () => {
    const tnm = person('trust', ['trust-network-manager']);
    const chair = person('trust', ['chair-of-trustees', 'trustee']);
    const trustee = person('trust', ['trustee']);
    const bounced = person('trust', ['trustee'], { emailDeliverable: false });
    const left = person('trust', ['trustee'], { status: 'left' });
    const schoolTnm = person('st-marys', ['trust-network-manager']);
    const governor = person('st-marys', ['chair-of-governors', 'governor']);
    const plan = planReviewDueEmails(dueNotice, {
      config,
      policy: seedPolicy,
      today: '2026-11-25',
      holders: holdersFrom([tnm, chair, trustee, bounced, left, schoolTnm, governor], seedPolicy),
    });
    expect(plan.emails.map((e) => [e.to.staffId, e.key])).toEqual([
      [tnm.staffId, `review#use-of-social-media#v1#2023-12-31#overdue#152#${tnm.staffId}`],
      [chair.staffId, `review#use-of-social-media#v1#2023-12-31#overdue#152#${chair.staffId}`],
      [trustee.staffId, `review#use-of-social-media#v1#2023-12-31#overdue#152#${trustee.staffId}`],
    ]);
    expect(plan).toMatchObject({ owners: 1, committee: 3, notEmailable: 1, ownerMissing: false });
    const [first] = plan.emails;
    expect(first?.templateId).toBe('review-due');
    expect(first?.data).toEqual({
      givenName: tnm.givenName,
      trustName: 'All Saints Multi Academy Trust',
      headline: 'Policy review overdue',
      policyTitle: 'Use of Social Media Policy',
      policyId: 'use-of-social-media',
      version: 1,
      reviewDue: '2023 (by 31 December 2023)',
      status: 'overdue by 151 weeks and 3 days',
      reason: 'the person responsible for this policy (Trust Network Manager)',
      ownerRole: 'Trust Network Manager',
      committee: 'the Trust Board',
      reviewPeriod: '12 months',
      documentUrl: seedPolicy.documentUrl,
    });
    expect(plan.emails[1]?.data).toMatchObject({ reason: 'a member of its governing committee, the Trust Board' });
  });

  it('someone who is both responsible and on the committee gets one email saying both', () => {
    const both = person('trust', ['trust-network-manager', 'trustee']);
    const plan = planReviewDueEmails(dueNotice, { config, policy: seedPolicy, today: '2026-11-25', holders: holdersFrom([both], seedPolicy) });
    expect(plan.emails).toHaveLength(1);
    expect(plan.emails[0]?.data).toMatchObject({
      reason: 'the person responsible for this policy (Trust Network Manager) and a member of its governing committee, the Trust Board',
    });
  });

  it('nobody holds the owner role at trust level: school-level holders; nobody anywhere: the committee is told so', () => {
    const schoolTnm = person('st-johns', ['trust-network-manager']);
    const trustee = person('trust', ['trustee']);
    const fallback = planReviewDueEmails(dueNotice, {
      config,
      policy: seedPolicy,
      today: '2026-11-25',
      holders: holdersFrom([schoolTnm, trustee], seedPolicy),
    });
    expect(fallback.emails.map((e) => e.to.staffId)).toEqual([schoolTnm.staffId, trustee.staffId]);
    expect(fallback.ownerMissing).toBe(false);

    const missing = planReviewDueEmails(dueNotice, { config, policy: seedPolicy, today: '2026-11-25', holders: holdersFrom([trustee], seedPolicy) });
    expect(missing.ownerMissing).toBe(true);
    expect(missing.emails.map((e) => e.to.staffId)).toEqual([trustee.staffId]);
    expect(missing.emails[0]?.data).toMatchObject({
      ownerNote:
        'Nobody currently holds the role of Trust Network Manager, the person responsible for this policy, so this notice went to the governing committee only.',
    });
  });

  it('a local governing body policy: each school\'s governors, named by school', () => {
    const policy: CurrentPolicy = { ...seedPolicy, governingCommittee: 'local-governing-body' };
    const gov = person('holy-trinity', ['chair-of-governors', 'governor']);
    const plan = planReviewDueEmails(dueNotice, { config, policy, today: '2026-11-25', holders: holdersFrom([gov], policy) });
    expect(plan.emails.map((e) => e.to.staffId)).toEqual([gov.staffId]);
    expect(plan.emails[0]?.data).toMatchObject({
      reason: 'a member of its governing committee, the Local Governing Body of Holy Trinity Church of England Academy',
      committee: 'the Local Governing Body',
    });
  });
});

describe('reviewed, no change', () => {
  const reviewed = { policyId: 'use-of-social-media', version: 1, reviewedOn: '2026-11-26' };

  it('sets the next review date from the review period and closes the current cycle', () => {
    expect(decideReviewed(seedPolicy, reviewed)).toEqual({
      policyId: 'use-of-social-media',
      version: 1,
      reviewedOn: '2026-11-26',
      closedCycleDueBy: '2023-12-31',
      nextReviewDueBy: '2027-11-26',
    });
  });

  it('the next date is end-of-month safe', () => {
    expect(decideReviewed({ ...seedPolicy, reviewDueBy: '2027-01-31' }, { ...reviewed, reviewedOn: '2028-02-29' }).nextReviewDueBy).toBe('2029-02-28');
    expect(decideReviewed({ ...seedPolicy, reviewPeriodMonths: 1 }, { ...reviewed, reviewedOn: '2027-01-31' }).nextReviewDueBy).toBe('2027-02-28');
    expect(addMonths('2024-01-31', 1)).toBe('2024-02-29');
    expect(daysBetween('2026-03-28', '2026-03-30')).toBe(2);
  });

  it('refuses a version that is not the current one, an unknown policy, and a review that would move the date back', () => {
    expect(() => decideReviewed({ ...seedPolicy, version: 2 }, reviewed)).toThrow(
      new ReviewRefusedError(
        'Policy Reviewed refused: detail.version 1 is not the current version (2) of use-of-social-media; record the review against the current version',
      ),
    );
    expect(() => decideReviewed(null, reviewed)).toThrow(/detail\.policyId is not a registered policy/);
    expect(() => decideReviewed({ ...seedPolicy, reviewDueBy: '2027-11-26' }, reviewed)).toThrow(/detail\.reviewedOn is too early/);
  });
});
