/**
 * People and audiences (DESIGN.md "Audience"; §2a: the policy applies to all employees,
 * governors and volunteers). Pure: no AWS imports.
 */
import type { StaffOnboarded } from '../contracts/events.ts';
import type { Audience, EmploymentType, Role } from '../contracts/roles.ts';
import type { ConfiguredPolicy } from '../config/trust-config.ts';

export type PersonStatus = 'active' | 'left';

export interface Person {
  staffId: string;
  givenName: string;
  familyName: string;
  email: string;
  schoolId: string;
  roles: Role[];
  employmentType: EmploymentType;
  startDate: string;
  lineManagerStaffId?: string;
  managesOfficialChannels: boolean;
  status: PersonStatus;
  /**
   * The day HR says the person left or will leave (`Staff Left`). A date still to come
   * leaves `status` active until then: readers use `isActiveOn`, which treats the person
   * as left from that day on (DESIGN.md "Order": "a leftOn in the future takes effect on
   * that date").
   */
  leftOn?: string;
  /** False once SES reports a hard bounce or complaint; sends then go to HR and the line manager. */
  emailDeliverable: boolean;
  /** When the last HR change applied to this person happened (`occurredAt`, else the event time). */
  lastChangeAt: string;
  /** A leaver's profile: when DynamoDB's TTL may remove it (epoch seconds; functions/domain/retention.ts). */
  expiresAt?: number;
}

const EMPLOYEE_TYPES: readonly EmploymentType[] = ['permanent', 'fixed-term', 'temporary'];

/** The audience groups a person belongs to. */
export function audiencesOf(person: Pick<Person, 'employmentType' | 'roles'>): Set<Audience> {
  const groups = new Set<Audience>();
  if (EMPLOYEE_TYPES.includes(person.employmentType)) groups.add('employees');
  if (person.employmentType === 'volunteer') groups.add('volunteers');
  if (person.employmentType === 'governor' || person.roles.some((r) => r === 'governor' || r === 'chair-of-governors')) {
    groups.add('governors');
  }
  if (person.employmentType === 'trustee' || person.roles.some((r) => r === 'trustee' || r === 'chair-of-trustees')) {
    groups.add('trustees');
  }
  return groups;
}

/** Policy facts that decide who is asked to acknowledge it. */
export type PolicyAudience = Pick<ConfiguredPolicy, 'audience' | 'requires'>;

/**
 * Whether a policy asks this person to acknowledge it: their audience groups meet the
 * policy's (§2a), and any extra requirement holds (§8h.i: the acceptable use agreement is
 * for people who manage official channels).
 */
export function policyAppliesTo(
  policy: PolicyAudience,
  person: Pick<Person, 'employmentType' | 'roles' | 'managesOfficialChannels'>,
): boolean {
  const groups = audiencesOf(person);
  if (!policy.audience.some((a) => groups.has(a))) return false;
  if (policy.requires === 'managesOfficialChannels' && !person.managesOfficialChannels) return false;
  return true;
}

/** People who may be sent email: not left, and their address not marked undeliverable. */
export function canBeEmailed(person: Pick<Person, 'status' | 'emailDeliverable'>): boolean {
  return person.status === 'active' && person.emailDeliverable;
}

/**
 * Whether the person is still with the trust on `today` (a Europe/London date,
 * `londonDate(now)`): not marked left, and no `leftOn` on or before today. The rule every
 * fan-out and report applies, so that a leaver whose leaving date was in the future when
 * HR told us drops out on that day without a write (DESIGN.md "Audience": people who left
 * are excluded from sends; "Order").
 */
export function isActiveOn(person: Pick<Person, 'status' | 'leftOn'>, today: string): boolean {
  return person.status === 'active' && (person.leftOn === undefined || person.leftOn > today);
}

export function displayName(person: Pick<Person, 'givenName' | 'familyName'>): string {
  return `${person.givenName} ${person.familyName}`;
}

/**
 * The person an HR record describes (a `Staff Onboarded` detail or a directory row),
 * active from now on. An address already known to bounce stays marked undeliverable.
 */
export function personFromHr(detail: StaffOnboarded, changeAt: string, existing: Person | null): Person {
  return {
    staffId: detail.staffId,
    givenName: detail.givenName,
    familyName: detail.familyName,
    email: detail.email,
    schoolId: detail.schoolId,
    roles: detail.roles,
    employmentType: detail.employmentType,
    startDate: detail.startDate,
    ...(detail.lineManagerStaffId ? { lineManagerStaffId: detail.lineManagerStaffId } : {}),
    managesOfficialChannels: detail.managesOfficialChannels ?? false,
    status: 'active',
    emailDeliverable: existing?.email === detail.email ? existing.emailDeliverable : true,
    lastChangeAt: changeAt,
  };
}
