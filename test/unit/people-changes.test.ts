/**
 * People changes (functions/domain/people-changes.ts): `Staff Updated` and `Staff Left`,
 * with the ordering rule of DESIGN.md "Order" and the official-channel register (§8a-b,
 * §8a.ii).
 */
import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { StaffLeft, StaffUpdated } from '../../functions/contracts/events.ts';
import type { IntendedEmail } from '../../functions/domain/emails.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import {
  channelsManagedBy,
  leadershipLookups,
  planStaffLeft,
  planStaffUpdated,
  type StaffLeftContext,
  type StaffUpdatedContext,
} from '../../functions/domain/people-changes.ts';
import { isActiveOn, type Person } from '../../functions/domain/people.ts';
import { registeredPolicy } from '../../functions/domain/policies.ts';

const config = loadTrustConfig();
const policies = config.policies.map((p) => registeredPolicy(p, config.publicBaseUrl));
const now = new Date('2026-11-25T23:30:00Z'); // already 25 November in London (GMT)
const today = '2026-11-25';

// SM-T1 manages St Mary's Facebook page in the register (config/trust.json).
const teacher: Person = {
  staffId: 'SM-T1',
  givenName: 'Oliver',
  familyName: 'Hughes',
  email: 'oliver.hughes@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2021-09-01',
  lineManagerStaffId: 'SM-HEAD',
  managesOfficialChannels: false,
  status: 'active',
  emailDeliverable: true,
  lastChangeAt: '2026-11-01T09:00:00Z',
};

const seedRequest: AckRequest = {
  staffId: 'SM-T1',
  schoolId: 'st-marys',
  policyId: 'use-of-social-media',
  version: 1,
  status: 'acknowledged',
  requestedAt: '2026-11-01T09:00:00.000Z',
  dueOn: '2026-11-15',
  reminderCount: 0,
  acknowledgedAt: '2026-11-02T10:00:00.000Z',
};

function leader(staffId: string, schoolId: string, roles: Person['roles'], extra: Partial<Person> = {}): Person {
  return {
    ...teacher,
    staffId,
    givenName: staffId,
    email: `${staffId.toLowerCase()}@example.org`,
    schoolId,
    roles,
    managesOfficialChannels: false,
    lastChangeAt: '2020-01-01T00:00:00Z',
    ...extra,
  };
}
const smHead = leader('SM-HEAD', 'st-marys', ['head-of-school', 'leadership-team']);
const smDeputyHead = leader('SM-LT', 'st-marys', ['leadership-team', 'teacher']);
const trustExec = leader('T-EXEC', 'trust', ['executive-headteacher', 'leadership-team']);
const trustDsl = leader('T-DSL', 'trust', ['dsl', 'leadership-team']);
const otherHead = leader('SJ-HEAD', 'st-johns', ['head-of-school', 'leadership-team']);

function updatedCtx(overrides: Partial<StaffUpdatedContext> = {}): StaffUpdatedContext {
  return {
    config,
    policies,
    existing: teacher,
    requests: [seedRequest],
    changeAt: '2026-11-25T09:00:00Z',
    eventId: 'hr-evt-1',
    now,
    ackLink: (staffId, policyId, version, expiresAt) => `link:${staffId}:${policyId}:${version}:${expiresAt.toISOString()}`,
    ...overrides,
  };
}

function leftCtx(overrides: Partial<StaffLeftContext> = {}): StaffLeftContext {
  return {
    config,
    existing: teacher,
    leaders: [smHead, smDeputyHead, trustExec, trustDsl, otherHead],
    changeAt: '2026-11-25T09:00:00Z',
    now,
    ...overrides,
  };
}

function applied<P extends { kind: string }>(plan: P): Extract<P, { kind: 'apply' }> {
  if (plan.kind !== 'apply') throw new Error(`expected the plan to apply, got ${plan.kind}`);
  return plan as Extract<P, { kind: 'apply' }>;
}

function only<T extends IntendedEmail['templateId']>(emails: IntendedEmail[], templateId: T): Extract<IntendedEmail, { templateId: T }> {
  const found = emails.filter((e) => e.templateId === templateId);
  if (found.length !== 1) throw new Error(`expected one ${templateId}, found ${found.length}`);
  return found[0] as Extract<IntendedEmail, { templateId: T }>;
}

const update = (fields: Omit<StaffUpdated, 'staffId'>): StaffUpdated => ({ staffId: 'SM-T1', ...fields });
const leaving = (leftOn: string): StaffLeft => ({ staffId: 'SM-T1', leftOn });

describe('Staff Updated plan', () => {
  it('applies the changed fields to the stored person and names them; status and deliverability stay', () => {
    // Prepare / act
    const plan = applied(planStaffUpdated(update({ roles: ['teacher', 'dsl'], lineManagerStaffId: 'SM-LT' }), updatedCtx()));

    // Assess
    expect(plan.person).toEqual({
      ...teacher,
      roles: ['teacher', 'dsl'],
      lineManagerStaffId: 'SM-LT',
      lastChangeAt: '2026-11-25T09:00:00Z',
    });
    expect(plan.changed).toEqual(['roles', 'lineManagerStaffId']);
  });

  it('§8h.i: now managing official channels → only the acceptable use agreement is requested, in one policies-to-confirm email, no second welcome', () => {
    const plan = applied(planStaffUpdated(update({ managesOfficialChannels: true }), updatedCtx()));

    expect(plan.requests).toEqual([
      {
        staffId: 'SM-T1',
        schoolId: 'st-marys',
        policyId: 'social-media-acceptable-use',
        version: 1,
        status: 'pending',
        requestedAt: now.toISOString(),
        dueOn: '2026-12-09',
        reminderCount: 0,
        requestedBy: 'Staff Updated#hr-evt-1',
      },
    ]);
    expect(plan.emails.map((e) => e.templateId)).toEqual(['policies-to-confirm']);
    const email = only(plan.emails, 'policies-to-confirm');
    expect(email.key).toBe('person#SM-T1#policies-to-confirm#hr-evt-1');
    expect(email.to).toEqual({ email: 'oliver.hughes@stmarys.example.org', staffId: 'SM-T1' });
    expect(email.data).toEqual({
      givenName: 'Oliver',
      trustName: 'All Saints Multi Academy Trust',
      schoolName: "St Mary's Church of England Primary School",
      dueDate: '9 December 2026',
      policies: [
        {
          title: 'Social Media Acceptable Use Agreement',
          version: 1,
          documentUrl: 'http://127.0.0.1:3000/policies/social-media-acceptable-use/v1',
          ackUrl: 'link:SM-T1:social-media-acceptable-use:1:2026-12-25T23:30:00.000Z',
        },
      ],
    });
  });

  it('a change that brings no new policy requests nothing and sends nothing', () => {
    const plan = applied(planStaffUpdated(update({ familyName: 'Hughes-Patel', roles: ['teacher', 'leadership-team'] }), updatedCtx()));
    expect(plan.requests).toEqual([]);
    expect(plan.emails).toEqual([]);
  });

  it('a person never asked for anything (a seeded directory entry) is asked for every policy that applies, by one email', () => {
    const plan = applied(planStaffUpdated(update({ managesOfficialChannels: true }), updatedCtx({ requests: [] })));
    expect(plan.requests.map((r) => r.policyId)).toEqual(['use-of-social-media', 'social-media-acceptable-use']);
    expect(only(plan.emails, 'policies-to-confirm').data.policies.map((p) => p.title)).toEqual([
      'Use of Social Media Policy',
      'Social Media Acceptable Use Agreement',
    ]);
  });

  it('asks for a policy whose current version was never requested, even if an older version was acknowledged', () => {
    const v2 = policies.map((p) => (p.policyId === 'use-of-social-media' ? { ...p, version: 2 } : p));
    const plan = applied(planStaffUpdated(update({ startDate: '2021-09-02' }), updatedCtx({ policies: v2 })));
    expect(plan.requests.map((r) => [r.policyId, r.version])).toEqual([['use-of-social-media', 2]]);
  });

  it('a redelivery of the same event plans the same email, even after one of its requests was acknowledged', () => {
    // Prepare: the first delivery created the request (due on 9 December) and then stopped.
    const first = applied(planStaffUpdated(update({ managesOfficialChannels: true }), updatedCtx()));
    const stored = first.requests.map((r) => ({ ...r, status: 'acknowledged' as const }));

    // Act: delivered again two days later
    const again = applied(
      planStaffUpdated(
        update({ managesOfficialChannels: true }),
        updatedCtx({ requests: [seedRequest, ...stored], now: new Date('2026-11-27T10:00:00Z') }),
      ),
    );

    // Assess: the same ledger key (nothing new is sent) and the stored due date
    expect(again.emails.map((e) => e.key)).toEqual(first.emails.map((e) => e.key));
    expect(again.requests.map((r) => [r.policyId, r.dueOn])).toEqual([['social-media-acceptable-use', '2026-12-09']]);
    // A different event with the same change finds the request already made: nothing.
    const other = applied(planStaffUpdated(update({ managesOfficialChannels: true }), updatedCtx({ requests: [seedRequest, ...stored], eventId: 'hr-evt-2' })));
    expect(other.requests).toEqual([]);
    expect(other.emails).toEqual([]);
  });

  it('DESIGN.md "Order": an event older than the last applied change is ignored, comparing instants (not strings)', () => {
    expect(planStaffUpdated(update({ familyName: 'Old' }), updatedCtx({ changeAt: '2026-10-31T09:00:00Z' }))).toEqual({
      kind: 'ignore',
      reason: 'stale',
    });
    // 10:00+01:00 is 09:00Z: the same instant as the stored change, so not older (a redelivery applies again).
    const sameInstant = planStaffUpdated(update({ familyName: 'Same' }), updatedCtx({ changeAt: '2026-11-01T10:00:00+01:00' }));
    expect(sameInstant.kind).toBe('apply');
    // 09:30+01:00 is 08:30Z: older, although its text sorts after "…T09:00:00Z".
    expect(planStaffUpdated(update({ familyName: 'Older' }), updatedCtx({ changeAt: '2026-11-01T09:30:00+01:00' })).kind).toBe('ignore');
  });

  it('a person not on record is reported, not created', () => {
    expect(planStaffUpdated(update({ familyName: 'X' }), updatedCtx({ existing: null }))).toEqual({ kind: 'unknown-person' });
  });

  it('a new email address is deliverable again; the same address keeps its bounce mark and gets requests but no email', () => {
    const bounced = { ...teacher, emailDeliverable: false };
    const moved = applied(planStaffUpdated(update({ email: 'oliver@new.example.org' }), updatedCtx({ existing: bounced })));
    expect(moved.person.emailDeliverable).toBe(true);

    const same = applied(
      planStaffUpdated(update({ email: teacher.email, managesOfficialChannels: true }), updatedCtx({ existing: bounced })),
    );
    expect(same.person.emailDeliverable).toBe(false);
    expect(same.changed).toEqual(['managesOfficialChannels']);
    expect(same.requests.map((r) => r.policyId)).toEqual(['social-media-acceptable-use']);
    expect(same.emails).toEqual([]);
  });

  it('never changes status: a leaver stays left, and is asked for nothing', () => {
    const leaver = { ...teacher, status: 'left' as const, leftOn: '2026-11-20' };
    const plan = applied(planStaffUpdated(update({ managesOfficialChannels: true, email: 'x@new.example.org' }), updatedCtx({ existing: leaver })));
    expect(plan.person).toMatchObject({ status: 'left', leftOn: '2026-11-20', email: 'x@new.example.org' });
    expect(plan.requests).toEqual([]);
    expect(plan.emails).toEqual([]);
  });

  it('a person whose leaving date has come (still stored active) is asked for nothing either', () => {
    const leaving = { ...teacher, leftOn: today };
    const plan = applied(planStaffUpdated(update({ managesOfficialChannels: true }), updatedCtx({ existing: leaving })));
    expect(plan.person.status).toBe('active');
    expect(plan.requests).toEqual([]);
    expect(plan.emails).toEqual([]);
  });
});

describe('Staff Left plan', () => {
  it('marks the person left on leftOn when the date has come (Europe/London)', () => {
    const plan = applied(planStaffLeft(leaving(today), leftCtx()));
    expect(plan.person).toEqual({ ...teacher, status: 'left', leftOn: today, lastChangeAt: '2026-11-25T09:00:00Z' });
    expect(plan.hasLeft).toBe(true);
    // 23:30 UTC on 25 November is still the 25th in London (GMT): the 26th has not come.
    expect(applied(planStaffLeft(leaving('2026-11-26'), leftCtx())).hasLeft).toBe(false);
  });

  it('a leftOn in the future takes effect on that date: stored, status active until then, isActiveOn false from that day', () => {
    const plan = applied(planStaffLeft(leaving('2026-12-31'), leftCtx()));
    expect(plan.person).toMatchObject({ status: 'active', leftOn: '2026-12-31' });
    expect(plan.hasLeft).toBe(false);
    expect(isActiveOn(plan.person, '2026-12-30')).toBe(true);
    expect(isActiveOn(plan.person, '2026-12-31')).toBe(false);
    expect(isActiveOn(plan.person, '2027-01-15')).toBe(false);
    // The rotation notice goes now, saying when they leave.
    const notice = plan.emails.find((e) => e.templateId === 'credential-rotation');
    expect(notice?.data).toMatchObject({ hasLeft: false, leftOn: '31 December 2026' });
  });

  it('someone already left stays left, whatever a later Staff Left says about the date', () => {
    const leaver = { ...teacher, status: 'left' as const, leftOn: '2026-11-20', lastChangeAt: '2026-11-20T09:00:00Z' };
    const plan = applied(planStaffLeft(leaving('2027-03-31'), leftCtx({ existing: leaver })));
    expect(plan.person).toMatchObject({ status: 'left', leftOn: '2027-03-31' });
  });

  it('§8a.ii: tells the channel school leadership, its Head of School and the trust leadership to rotate the credentials, naming the channel', () => {
    const plan = applied(planStaffLeft(leaving(today), leftCtx()));

    expect(plan.channels.map((c) => c.channelId)).toEqual(['st-marys-facebook']);
    expect(plan.emails.map((e) => [e.templateId, e.key, e.to])).toEqual([
      ['credential-rotation', 'channel#st-marys-facebook#credential-rotation#SM-T1#SM-HEAD', { email: 'sm-head@example.org', staffId: 'SM-HEAD' }],
      ['credential-rotation', 'channel#st-marys-facebook#credential-rotation#SM-T1#SM-LT', { email: 'sm-lt@example.org', staffId: 'SM-LT' }],
      ['credential-rotation', 'channel#st-marys-facebook#credential-rotation#SM-T1#T-DSL', { email: 't-dsl@example.org', staffId: 'T-DSL' }],
      ['credential-rotation', 'channel#st-marys-facebook#credential-rotation#SM-T1#T-EXEC', { email: 't-exec@example.org', staffId: 'T-EXEC' }],
    ]);
    expect(only(plan.emails.slice(0, 1), 'credential-rotation').data).toEqual({
      recipientGivenName: 'SM-HEAD',
      trustName: 'All Saints Multi Academy Trust',
      channelName: "St Mary's Facebook page",
      platform: 'facebook',
      ownerSchoolName: "St Mary's Church of England Primary School",
      leaverName: 'Oliver Hughes',
      hasLeft: true,
      leftOn: '25 November 2026',
    });
  });

  it('a trust channel goes to the trust leadership only; the leaver is never told about themselves', () => {
    const tnm = { ...teacher, staffId: 'T-TNM', schoolId: 'trust', roles: ['trust-network-manager', 'leadership-team'] as Person['roles'] };
    const plan = applied(planStaffLeft({ staffId: 'T-TNM', leftOn: today }, leftCtx({ existing: tnm, leaders: [smHead, trustExec, tnm] })));
    expect(plan.channels.map((c) => c.name)).toEqual(['All Saints MAT on X']);
    expect(plan.emails.map((e) => e.to.staffId)).toEqual(['T-EXEC']);
    expect(plan.emails[0]?.data).toMatchObject({ channelName: 'All Saints MAT on X', ownerSchoolName: 'All Saints Multi Academy Trust' });
  });

  it('leaders who left, leave today or cannot be emailed are passed over; with nobody left, the integration contact is told why', () => {
    const leaders = [
      { ...smHead, status: 'left' as const },
      { ...smDeputyHead, leftOn: today },
      { ...trustExec, emailDeliverable: false },
    ];
    const plan = applied(planStaffLeft(leaving(today), leftCtx({ leaders })));
    expect(plan.emails.map((e) => [e.key, e.to])).toEqual([
      ['channel#st-marys-facebook#credential-rotation#SM-T1#integration-contact', { email: config.integrationContact }],
    ]);
    expect(plan.emails[0]?.data).toMatchObject({ routingNote: expect.stringContaining('integration contact') });
  });

  it('someone who managed no registered channel gets no notice; HR saying they managed one is flagged for the register', () => {
    const other = { ...teacher, staffId: 'SM-T2', managesOfficialChannels: true };
    const plan = applied(planStaffLeft({ staffId: 'SM-T2', leftOn: today }, leftCtx({ existing: other })));
    expect(plan.channels).toEqual([]);
    expect(plan.emails).toEqual([]);
    expect(plan.unregisteredChannelManager).toBe(true);
  });

  it('DESIGN.md "Order": an older Staff Left is ignored; a person not on record is reported', () => {
    expect(planStaffLeft(leaving(today), leftCtx({ changeAt: '2026-10-01T00:00:00Z' }))).toEqual({ kind: 'ignore', reason: 'stale' });
    expect(planStaffLeft(leaving(today), leftCtx({ existing: null }))).toEqual({ kind: 'unknown-person' });
  });

  it('a Staff Left followed by a late Staff Updated does not revive anyone', () => {
    // Prepare: HR's update happened at 08:00, their leave at 09:00; the leave arrives first.
    const left = applied(planStaffLeft(leaving(today), leftCtx({ changeAt: '2026-11-25T09:00:00Z' }))).person;

    // Act: the late update, then a genuinely newer one
    const late = planStaffUpdated(update({ managesOfficialChannels: true }), updatedCtx({ existing: left, changeAt: '2026-11-25T08:00:00Z' }));
    const newer = applied(
      planStaffUpdated(update({ managesOfficialChannels: true }), updatedCtx({ existing: left, changeAt: '2026-11-25T10:00:00Z' })),
    );

    // Assess
    expect(late).toEqual({ kind: 'ignore', reason: 'stale' });
    expect(newer.person.status).toBe('left');
    expect(newer.requests).toEqual([]);
    expect(newer.emails).toEqual([]);
  });
});

describe('the official-channel register (§8a-b)', () => {
  it('names the channels each person manages (config/trust.json)', () => {
    expect(channelsManagedBy(config, 'SM-T1').map((c) => c.channelId)).toEqual(['st-marys-facebook']);
    expect(channelsManagedBy(config, 'T-TNM').map((c) => c.channelId)).toEqual(['trust-x']);
    expect(channelsManagedBy(config, 'SM-T2')).toEqual([]);
  });

  it('looks up the trust leadership and, per owning school, its leadership and Head of School', () => {
    expect(leadershipLookups(channelsManagedBy(config, 'SM-T1'))).toEqual([
      { schoolId: 'trust', role: 'leadership-team' },
      { schoolId: 'st-marys', role: 'leadership-team' },
      { schoolId: 'st-marys', role: 'head-of-school' },
    ]);
    expect(leadershipLookups(channelsManagedBy(config, 'T-TNM'))).toEqual([{ schoolId: 'trust', role: 'leadership-team' }]);
    expect(leadershipLookups([])).toEqual([]);
  });
});

describe('isActiveOn', () => {
  it('is false for a person marked left, and from the leaving date on', () => {
    expect(isActiveOn({ status: 'active' }, today)).toBe(true);
    expect(isActiveOn({ status: 'left' }, today)).toBe(false);
    expect(isActiveOn({ status: 'active', leftOn: '2026-11-26' }, today)).toBe(true);
    expect(isActiveOn({ status: 'active', leftOn: today }, today)).toBe(false);
  });
});
