import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { StaffOnboarded } from '../../functions/contracts/events.ts';
import { planOnboarding, type OnboardingContext } from '../../functions/domain/onboarding.ts';
import type { Person } from '../../functions/domain/people.ts';
import { registeredPolicy } from '../../functions/domain/policies.ts';

const config = loadTrustConfig();
const policies = config.policies.map((p) => registeredPolicy(p, config.publicBaseUrl));
const now = new Date('2026-11-25T23:30:00Z'); // already 25 Nov in London (GMT)

const head: Person = {
  staffId: 'HEAD-1',
  givenName: 'Grace',
  familyName: 'Okafor',
  email: 'head@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['head-of-school'],
  employmentType: 'permanent',
  startDate: '2020-09-01',
  managesOfficialChannels: false,
  status: 'active',
  emailDeliverable: true,
  lastChangeAt: '2020-08-01T00:00:00Z',
};
const exec: Person = { ...head, staffId: 'EXEC-1', givenName: 'Sam', email: 'exec@trust.example.org', schoolId: 'trust', roles: ['executive-headteacher'] };

const detail: StaffOnboarded = {
  staffId: 'HR-1',
  givenName: 'Amira',
  familyName: 'Khan',
  email: 'amira@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2027-01-04',
};

function ctx(overrides: Partial<OnboardingContext> = {}): OnboardingContext {
  return {
    config,
    policies,
    existing: null,
    headsOfSchool: [head],
    executiveHeadteachers: [exec],
    changeAt: '2026-11-25T09:00:00Z',
    now,
    ackLink: (staffId, policyId, version, expiresAt) => `link:${staffId}:${policyId}:${version}:${expiresAt.toISOString()}`,
    ...overrides,
  };
}

function applied(plan: ReturnType<typeof planOnboarding>) {
  if (plan.kind !== 'apply') throw new Error('expected the plan to apply');
  return plan;
}

describe('staff onboarding plan', () => {
  it('§1f, §2a: asks a new employee to acknowledge the seed policy, due in the configured days', () => {
    const plan = applied(planOnboarding(detail, ctx()));
    expect(plan.requests).toEqual([
      expect.objectContaining({ staffId: 'HR-1', policyId: 'use-of-social-media', version: 1, status: 'pending', dueOn: '2026-12-09' }),
    ]);
    expect(config.acknowledgement.dueDays).toBe(14);
    expect(plan.person).toMatchObject({ status: 'active', emailDeliverable: true, managesOfficialChannels: false });
  });

  it('sends one welcome listing each policy with its own signed link, expiring after the configured days', () => {
    const plan = applied(planOnboarding({ ...detail, managesOfficialChannels: true }, ctx()));
    const welcome = plan.emails.filter((e) => e.templateId === 'welcome');
    expect(welcome).toHaveLength(1);
    const [email] = welcome;
    if (email?.templateId !== 'welcome') throw new Error('no welcome');
    expect(email.to).toEqual({ email: 'amira@stmarys.example.org', staffId: 'HR-1' });
    expect(email.key).toBe('person#HR-1#welcome');
    expect(email.data.dueDate).toBe('9 December 2026');
    expect(email.data.policies.map((p) => p.ackUrl)).toEqual([
      'link:HR-1:use-of-social-media:1:2026-12-25T23:30:00.000Z',
      'link:HR-1:social-media-acceptable-use:1:2026-12-25T23:30:00.000Z',
    ]);
  });

  it('§8h.i: someone who manages official channels is also asked to sign the acceptable use agreement', () => {
    const plan = applied(planOnboarding({ ...detail, managesOfficialChannels: true }, ctx()));
    expect(plan.requests.map((r) => r.policyId)).toEqual(['use-of-social-media', 'social-media-acceptable-use']);
  });

  it('§1f, §6a: tells the Head of School to cover the policy at induction', () => {
    const plan = applied(planOnboarding(detail, ctx()));
    const notices = plan.emails.filter((e) => e.templateId === 'induction-notice');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      key: 'person#HR-1#induction-notice#HEAD-1',
      to: { email: 'head@stmarys.example.org', staffId: 'HEAD-1' },
      data: { recipientGivenName: 'Grace', newStaffName: 'Amira Khan', startDate: '4 January 2027' },
    });
    expect(notices[0]?.data).not.toHaveProperty('routingNote');
  });

  it('a new Head of School is not told about themselves: the Executive Headteacher is, saying why', () => {
    const newHead = { ...detail, staffId: 'HEAD-1', roles: ['head-of-school' as const] };
    const plan = applied(planOnboarding(newHead, ctx()));
    const notice = plan.emails.find((e) => e.templateId === 'induction-notice');
    expect(notice?.to.staffId).toBe('EXEC-1');
    expect(notice?.data).toHaveProperty('routingNote');
  });

  it('a school with no Head of School on record: the Executive Headteacher is told', () => {
    const plan = applied(planOnboarding(detail, ctx({ headsOfSchool: [] })));
    expect(plan.emails.find((e) => e.templateId === 'induction-notice')?.to.staffId).toBe('EXEC-1');
  });

  it('nobody holds either role: the integration contact is told, so the notice is never dropped', () => {
    const plan = applied(planOnboarding(detail, ctx({ headsOfSchool: [], executiveHeadteachers: [] })));
    const notice = plan.emails.find((e) => e.templateId === 'induction-notice');
    expect(notice?.to).toEqual({ email: config.integrationContact });
    expect(notice?.key).toBe('person#HR-1#induction-notice#integration-contact');
  });

  it('a head whose address bounced is skipped for the next in line', () => {
    const plan = applied(planOnboarding(detail, ctx({ headsOfSchool: [{ ...head, emailDeliverable: false }] })));
    expect(plan.emails.find((e) => e.templateId === 'induction-notice')?.to.staffId).toBe('EXEC-1');
  });

  it("central staff: the welcome names no school (the trust is named once); the induction notice names the trust as the school joined", () => {
    const plan = applied(planOnboarding({ ...detail, schoolId: 'trust', roles: ['hr-advisor'] }, ctx()));
    expect(plan.emails.map((e) => [e.templateId, e.data.trustName, 'schoolName' in e.data && e.data.schoolName])).toEqual([
      ['welcome', config.trust.name, ''],
      ['induction-notice', config.trust.name, config.trust.name],
    ]);
    const school = applied(planOnboarding(detail, ctx()));
    expect(school.emails.find((e) => e.templateId === 'welcome')?.data).toMatchObject({ schoolName: "St Mary's Church of England Primary School" });
  });

  it('trustees are outside the seed policy audience (§2a): no request, no welcome, no notice', () => {
    const plan = applied(planOnboarding({ ...detail, employmentType: 'trustee', roles: ['trustee'], schoolId: 'trust' }, ctx()));
    expect(plan.requests).toEqual([]);
    expect(plan.emails).toEqual([]);
  });

  it('DESIGN.md "Order": an event older than the last applied change is ignored', () => {
    const existing = { ...head, staffId: 'HR-1', lastChangeAt: '2026-11-26T00:00:00Z' };
    expect(planOnboarding(detail, ctx({ existing })).kind).toBe('ignore');
    expect(planOnboarding(detail, ctx({ existing: { ...existing, lastChangeAt: '2026-11-25T09:00:00Z' } })).kind).toBe('apply');
  });

  it('keeps a known-undeliverable address marked, and then sends no welcome to it', () => {
    const existing = { ...head, staffId: 'HR-1', email: detail.email, emailDeliverable: false };
    const plan = applied(planOnboarding(detail, ctx({ existing })));
    expect(plan.person.emailDeliverable).toBe(false);
    expect(plan.emails.map((e) => e.templateId)).toEqual(['induction-notice']);
    // A new address is a fresh start.
    const moved = applied(planOnboarding({ ...detail, email: 'new@stmarys.example.org' }, ctx({ existing })));
    expect(moved.person.emailDeliverable).toBe(true);
  });
});
