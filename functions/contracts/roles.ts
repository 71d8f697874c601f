/**
 * The Role list and other enumerations shared by every contract (DESIGN.md "Contracts").
 * Kept apart from the event schemas so that domain code and configuration can import
 * them without pulling in every schema.
 */
export const ROLES = [
  'teacher',
  'support-staff',
  'volunteer',
  'governor',
  'chair-of-governors',
  'trustee',
  'chair-of-trustees',
  'head-of-school',
  'executive-headteacher',
  'dsl',
  'deputy-dsl',
  'trust-network-manager',
  'director-of-finance-and-resources',
  'hr-advisor',
  'leadership-team',
] as const;
export type Role = (typeof ROLES)[number];

export const EMPLOYMENT_TYPES = ['permanent', 'fixed-term', 'temporary', 'volunteer', 'governor', 'trustee'] as const;
export type EmploymentType = (typeof EMPLOYMENT_TYPES)[number];

/** Audience groups a policy can apply to (DESIGN.md "Audience"; §2a). */
export const AUDIENCES = ['employees', 'governors', 'volunteers', 'trustees'] as const;
export type Audience = (typeof AUDIENCES)[number];

export const GOVERNING_COMMITTEES = ['trust-board', 'local-governing-body'] as const;
export type GoverningCommittee = (typeof GOVERNING_COMMITTEES)[number];

/** Breach and concern categories: the routing table's slugs (DESIGN.md). */
export const BREACH_CATEGORIES = [
  'online-conduct-concern',
  'personal-account-contact',
  'staff-abused-online',
  'staff-misconduct',
  'bullying-harassment',
  'possibly-illegal',
  'student-social-media',
  'official-channel-concern',
  'self-report',
] as const;
export type BreachCategory = (typeof BREACH_CATEGORIES)[number];

export const SUBJECT_KINDS = ['staff', 'student', 'volunteer', 'governor', 'parent', 'other'] as const;

/** The school id used for central (trust-level) staff. */
export const TRUST_SCHOOL_ID = 'trust';
