import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { EMPLOYMENT_TYPES, type EmploymentType, type Role } from '../../functions/contracts/roles.ts';
import { audiencesOf, canBeEmailed, policyAppliesTo } from '../../functions/domain/people.ts';

const config = loadTrustConfig();
const seed = config.policies.find((p) => p.policyId === 'use-of-social-media');
const aua = config.policies.find((p) => p.policyId === 'social-media-acceptable-use');
if (!seed || !aua) throw new Error('config must register both policies');

const person = (employmentType: EmploymentType, roles: Role[] = ['teacher'], managesOfficialChannels = false) => ({
  employmentType,
  roles,
  managesOfficialChannels,
});

describe('audience (DESIGN.md "Audience", §2a)', () => {
  it.each<[EmploymentType, string[]]>([
    ['permanent', ['employees']],
    ['fixed-term', ['employees']],
    ['temporary', ['employees']],
    ['volunteer', ['volunteers']],
    ['governor', ['governors']],
    ['trustee', ['trustees']],
  ])('employment type %s belongs to %j', (type, groups) => {
    expect([...audiencesOf(person(type, []))]).toEqual(groups);
  });

  it('covers every employment type in the table above', () => {
    expect(EMPLOYMENT_TYPES).toHaveLength(6);
  });

  it.each<[Role, string]>([
    ['governor', 'governors'],
    ['chair-of-governors', 'governors'],
    ['trustee', 'trustees'],
    ['chair-of-trustees', 'trustees'],
  ])('role %s adds the %s group to an employee', (role, group) => {
    expect(audiencesOf(person('permanent', ['teacher', role]))).toEqual(new Set(['employees', group]));
  });

  it.each<Role>(['teacher', 'support-staff', 'head-of-school', 'dsl', 'deputy-dsl', 'hr-advisor', 'leadership-team'])(
    'role %s adds no group of its own',
    (role) => {
      expect(audiencesOf(person('permanent', [role]))).toEqual(new Set(['employees']));
    },
  );

  it('§2a: the seed policy applies to employees, governors and volunteers, not to trustees alone', () => {
    expect(policyAppliesTo(seed, person('permanent'))).toBe(true);
    expect(policyAppliesTo(seed, person('temporary'))).toBe(true);
    expect(policyAppliesTo(seed, person('volunteer', ['volunteer']))).toBe(true);
    expect(policyAppliesTo(seed, person('governor', ['governor']))).toBe(true);
    expect(policyAppliesTo(seed, person('trustee', ['trustee']))).toBe(false);
    expect(policyAppliesTo(seed, person('trustee', ['trustee', 'chair-of-governors']))).toBe(true);
  });

  it('§8h.i: the acceptable use agreement applies only to those who manage official channels', () => {
    expect(policyAppliesTo(aua, person('permanent', ['teacher'], true))).toBe(true);
    expect(policyAppliesTo(aua, person('volunteer', ['volunteer'], true))).toBe(true);
    expect(policyAppliesTo(aua, person('permanent', ['teacher'], false))).toBe(false);
    expect(policyAppliesTo(aua, person('governor', ['governor'], true))).toBe(false);
  });

  it('people who left, or whose address bounced, are not emailed', () => {
    expect(canBeEmailed({ status: 'active', emailDeliverable: true })).toBe(true);
    expect(canBeEmailed({ status: 'left', emailDeliverable: true })).toBe(false);
    expect(canBeEmailed({ status: 'active', emailDeliverable: false })).toBe(false);
  });
});
