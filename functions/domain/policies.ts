/**
 * Policies and their versions. Pure: no AWS imports.
 */
import { reviewDueBy, type ConfiguredPolicy, type TrustConfig } from '../config/trust-config.ts';
import { type Audience, type GoverningCommittee, type Role, TRUST_SCHOOL_ID } from '../contracts/roles.ts';

/** The current version of a policy, as stored and as onboarding needs it. */
export interface CurrentPolicy {
  policyId: string;
  title: string;
  version: number;
  /** As the policy states it: a year ("2022") or a date. */
  approved: string;
  /** As the policy states it: a year ("2023") or a date. */
  reviewDue: string;
  /** The date the review is due by (a year alone means 31 December of that year). */
  reviewDueBy: string;
  reviewPeriodMonths: number;
  ownerRole: Role;
  governingCommittee: GoverningCommittee;
  audience: Audience[];
  requires?: 'managesOfficialChannels';
  documentUrl: string;
}

/** Where the local runtime and the deployed site serve a policy's document. */
export function policyDocumentUrl(publicBaseUrl: string, policyId: string, version: number): string {
  return `${publicBaseUrl}/policies/${policyId}/v${version}`;
}

/**
 * A configured policy as first registered: the seed gives years only (approved 2022,
 * review 2023); they are stored as stated, and the review counts as due by 31 December
 * of the stated year (DESIGN.md "Trust configuration").
 */
export function registeredPolicy(policy: ConfiguredPolicy, publicBaseUrl: string): CurrentPolicy {
  return {
    policyId: policy.policyId,
    title: policy.title,
    version: policy.version,
    approved: policy.approved,
    reviewDue: policy.reviewDue,
    reviewDueBy: reviewDueBy(policy.reviewDue),
    reviewPeriodMonths: policy.reviewPeriodMonths,
    ownerRole: policy.ownerRole,
    governingCommittee: policy.governingCommittee,
    audience: [...policy.audience],
    ...(policy.requires ? { requires: policy.requires } : {}),
    documentUrl: policyDocumentUrl(publicBaseUrl, policy.policyId, policy.version),
  };
}

/** A role to look up at one school (or `trust`): one `activeWithRole(schoolId, role)` query. */
export interface RoleLookup {
  schoolId: string;
  role: Role;
}

/**
 * The governing committee's roles (§4a: the Trust Board ensures the policy is
 * implemented): the Trust Board is the trustees and their chair; a local governing body
 * the governors and their chair.
 */
export function committeeRoles(policy: Pick<CurrentPolicy, 'governingCommittee'>): Role[] {
  return policy.governingCommittee === 'trust-board' ? ['trustee', 'chair-of-trustees'] : ['governor', 'chair-of-governors'];
}

/**
 * Where the committee's members are: the Trust Board at trust level; a local governing
 * body at every school of the trust (a trust-wide policy governed locally is each school's
 * governing body's to oversee). The one rule for every notice to a committee.
 */
export function committeeLookups(policy: Pick<CurrentPolicy, 'governingCommittee'>, config: Pick<TrustConfig, 'schools'>): RoleLookup[] {
  const schoolIds = policy.governingCommittee === 'trust-board' ? [TRUST_SCHOOL_ID] : config.schools.map((s) => s.id);
  return schoolIds.flatMap((schoolId) => committeeRoles(policy).map((role) => ({ schoolId, role })));
}
