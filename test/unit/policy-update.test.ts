import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { PolicyUpdated } from '../../functions/contracts/events.ts';
import type { Person } from '../../functions/domain/people.ts';
import { registeredPolicy } from '../../functions/domain/policies.ts';
import {
  committeeRecipients,
  decideVersion,
  effectiveAckVersion,
  newVersion,
  planFanOut,
  PolicyVersionError,
} from '../../functions/domain/policy-update.ts';
import { addMonths } from '../../functions/domain/dates.ts';

const config = loadTrustConfig();
const seed = registeredPolicy(config.policies[0] ?? (undefined as never), config.publicBaseUrl);
const detail: PolicyUpdated = {
  policyId: 'use-of-social-media',
  title: 'Use of Social Media Policy',
  version: 2,
  approvedOn: '2026-11-20',
  reviewPeriodMonths: 12,
  ownerRole: 'trust-network-manager',
  governingCommittee: 'trust-board',
  audience: ['employees', 'governors', 'volunteers'],
  documentUrl: 'https://policies.example.org/social-media/v2',
  changeSummary: 'Section 8 now covers volunteers who run official channels.',
  change: 'substantive',
};
const person = (staffId: string, over: Partial<Person> = {}): Person => ({
  staffId,
  givenName: 'Sam',
  familyName: 'Lee',
  email: `${staffId.toLowerCase()}@example.org`,
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2020-01-01',
  managesOfficialChannels: false,
  status: 'active',
  emailDeliverable: true,
  lastChangeAt: '2020-01-01T00:00:00Z',
  ...over,
});
const now = new Date('2026-11-25T10:00:00Z');
const ackLink = (s: string, p: string, v: number) => `link:${s}:${p}:${v}`;

describe('policy versions (versions only go up)', () => {
  it('a higher version is new; the same event again resumes; a repeat or older version is refused by name', () => {
    expect(decideVersion(seed, detail, 'evt-1')).toEqual({ kind: 'new' });
    const stored = newVersion(detail, seed, 'evt-1');
    expect(decideVersion(stored, detail, 'evt-1')).toEqual({ kind: 'resume' });
    expect(() => decideVersion(stored, detail, 'evt-2')).toThrow(PolicyVersionError);
    expect(() => decideVersion(stored, detail, 'evt-2')).toThrow(/detail\.version 2 repeats the current version \(2\)/);
    expect(() => decideVersion(stored, { ...detail, version: 1 }, 'evt-3')).toThrow(/is older than the current version/);
    expect(decideVersion(null, detail, 'evt-4')).toEqual({ kind: 'new' });
  });

  it('the next review is due reviewPeriodMonths after approval, end-of-month safe', () => {
    expect(newVersion(detail, seed, 'e').reviewDueBy).toBe('2027-11-20');
    expect(addMonths('2027-01-31', 1)).toBe('2027-02-28');
    expect(addMonths('2028-01-31', 1)).toBe('2028-02-29');
    expect(addMonths('2026-11-30', 15)).toBe('2028-02-29');
  });

  it('keeps who else must be asked (§8h.i) from the previous version', () => {
    const aua = registeredPolicy(config.policies[1] ?? (undefined as never), config.publicBaseUrl);
    expect(newVersion({ ...detail, policyId: aua.policyId }, aua, 'e').requires).toBe('managesOfficialChannels');
  });

  it('editorial versions carry acknowledgements forward to the last substantive version', () => {
    const versions = [
      { version: 1, change: 'substantive' as const },
      { version: 2, change: 'editorial' as const },
      { version: 3, change: 'substantive' as const },
      { version: 4, change: 'editorial' as const },
      { version: 5, change: 'editorial' as const },
    ];
    expect(effectiveAckVersion(versions, 2)).toBe(1);
    expect(effectiveAckVersion(versions, 3)).toBe(3);
    expect(effectiveAckVersion(versions, 5)).toBe(3);
  });
});

describe('fan-out plan for one page of people', () => {
  const version = newVersion(detail, seed, 'evt-1');
  const people = [
    person('A'),
    person('GOV', { employmentType: 'governor', roles: ['governor'] }),
    person('TRUSTEE', { employmentType: 'trustee', roles: ['trustee'] }),
    person('LEFT', { status: 'left' }),
    person('BOUNCED', { emailDeliverable: false }),
  ];

  it('substantive: asks everyone in the audience, one email each with their own link; none to leavers or outside it', () => {
    const plan = planFanOut(people, { config, policy: version, now, ackLink });
    expect(plan.requests.map((r) => r.staffId)).toEqual(['A', 'GOV', 'BOUNCED']);
    expect(plan.emails.map((e) => e.to.staffId)).toEqual(['A', 'GOV']);
    expect(plan.emails.map((e) => e.key)).toEqual(['policy#use-of-social-media#v2#A#ask', 'policy#use-of-social-media#v2#GOV#ask']);
    expect(plan.emails[0]?.data).toMatchObject({
      ackUrl: 'link:A:use-of-social-media:2',
      dueDate: '9 December 2026',
      schoolName: "St Mary's Church of England Primary School",
    });
    expect(plan.undeliverable).toBe(1);
  });

  it("each email names the trust and the person's current school (none for central staff: the trust is named once), asked or told", () => {
    const staff = [person('SJ', { schoolId: 'st-johns' }), person('CENTRAL', { schoolId: 'trust' })];
    for (const change of ['substantive', 'editorial'] as const) {
      const plan = planFanOut(staff, { config, policy: { ...version, change }, now, ackLink });
      expect(plan.emails.map((e) => [e.templateId, e.data.trustName, 'schoolName' in e.data && e.data.schoolName])).toEqual([
        [change === 'substantive' ? 'policy-updated' : 'policy-changed', config.trust.name, "St John's Church of England Primary School"],
        [change === 'substantive' ? 'policy-updated' : 'policy-changed', config.trust.name, ''],
      ]);
    }
  });

  it('a version that sets acknowledgementDueDays uses it instead of the configured default', () => {
    const plan = planFanOut(people, { config, policy: { ...version, acknowledgementDueDays: 21 }, now, ackLink });
    expect(plan.requests[0]?.dueOn).toBe('2026-12-16');
  });

  it('editorial: tells the audience, asks nobody', () => {
    const plan = planFanOut(people, { config, policy: { ...version, change: 'editorial' }, now, ackLink });
    expect(plan.requests).toEqual([]);
    expect(plan.emails.map((e) => [e.templateId, e.to.staffId])).toEqual([
      ['policy-changed', 'A'],
      ['policy-changed', 'GOV'],
    ]);
  });

  it('the Trust Board and the person responsible are told the version is live (§4a.i)', () => {
    const board = [
      person('T1', { schoolId: 'trust', employmentType: 'trustee', roles: ['trustee'] }),
      person('CHAIR', { schoolId: 'trust', employmentType: 'trustee', roles: ['chair-of-trustees', 'trustee'] }),
      person('TNM', { schoolId: 'trust', roles: ['trust-network-manager'] }),
      person('TNM', { schoolId: 'trust', roles: ['trust-network-manager'] }),
      person('T2', { schoolId: 'trust', employmentType: 'trustee', roles: ['trustee'], emailDeliverable: false }),
    ];
    expect(committeeRecipients(version, board).map((p) => p.staffId)).toEqual(['T1', 'CHAIR', 'TNM']);
  });
});
