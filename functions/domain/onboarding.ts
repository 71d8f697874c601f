/**
 * Staff onboarding (DESIGN.md "Events": `Staff Onboarded`). Given the event and what is
 * already known, decide what changes and which emails are intended. Pure: no AWS imports,
 * no clock and no randomness of its own (the caller passes `now` and a link signer).
 *
 * - §1f, §2a: every new employee, governor or volunteer is made aware of the policy: a
 *   pending acknowledgement request for every policy whose audience covers them, due in
 *   the configured number of days, and one welcome email with a signed link per policy.
 * - §1f, §6a: "the relevant Head of School will make any new or temporary staff aware of
 *   this policy" and it is "discussed ... as part of staff induction": their Head of
 *   School is told to cover it at induction.
 * - §8h.i: people who manage official channels also sign the social media acceptable use
 *   agreement (a configured policy with `requires: managesOfficialChannels`).
 */
import type { StaffOnboarded } from '../contracts/events.ts';
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import { emailSchoolName, schoolName, type TrustConfig } from '../config/trust-config.ts';
import { addDays, formatLongDate, londonDate } from './dates.ts';
import { ledgerKey, type IntendedEmail, type PolicyLink } from './emails.ts';
import { canBeEmailed, displayName, personFromHr, policyAppliesTo, type Person } from './people.ts';
import type { CurrentPolicy } from './policies.ts';

export type AckRequestStatus = 'pending' | 'acknowledged' | 'superseded' | 'cancelled';

export interface AckRequest {
  staffId: string;
  schoolId: string;
  policyId: string;
  version: number;
  status: AckRequestStatus;
  requestedAt: string;
  dueOn: string;
  reminderCount: number;
  /** Set once acknowledged: when, and with which link (a token id, never the token). */
  acknowledgedAt?: string;
  ackTokenId?: string;
  /** The event that asked for it (`<detail-type>#<eventId>`), where a redelivery must recognise its own requests (functions/domain/people-changes.ts). */
  requestedBy?: string;
  /** Set when cancelled (the person left). */
  cancelledAt?: string;
  /** The Europe/London date of the last reminder (functions/domain/reminders.ts). */
  lastRemindedOn?: string;
  /** How many times the person went into their Head of School's digest, and when last (functions/domain/reminders.ts). */
  escalationCount?: number;
  lastEscalatedOn?: string;
  /**
   * The refresher cycle this request is in (§6a; functions/domain/refreshers.ts): absent or
   * 0 for the first request, n for the n-th time the same version is asked again.
   */
  refreshCycle?: number;
  /** The acknowledgements of earlier cycles of this request, oldest first, kept for the audit. */
  acknowledgements?: PastAcknowledgement[];
}

/** One finished cycle of a request: when it was asked and acknowledged, and with which link. */
export interface PastAcknowledgement {
  refreshCycle: number;
  requestedAt: string;
  acknowledgedAt: string;
  ackTokenId?: string;
}

export interface OnboardingContext {
  config: TrustConfig;
  /** The current version of every registered policy. */
  policies: readonly CurrentPolicy[];
  /** The person as stored before this event, if any. */
  existing: Person | null;
  /** Active holders of `head-of-school` at the person's school. */
  headsOfSchool: readonly Person[];
  /** Active holders of `executive-headteacher` (trust level), the next in line. */
  executiveHeadteachers: readonly Person[];
  /** When the event happened: its `occurredAt`, else the EventBridge `time`. */
  changeAt: string;
  now: Date;
  /** Signs an acknowledgement link for one person and policy version. */
  ackLink: (staffId: string, policyId: string, version: number, expiresAt: Date) => string;
}

export type OnboardingPlan =
  | { kind: 'ignore'; reason: 'stale' }
  | { kind: 'apply'; person: Person; requests: AckRequest[]; emails: IntendedEmail[] };

export function planOnboarding(detail: StaffOnboarded, ctx: OnboardingContext): OnboardingPlan {
  // DESIGN.md "Order": an event older than the person's last applied change is ignored.
  if (ctx.existing && ctx.existing.lastChangeAt > ctx.changeAt) return { kind: 'ignore', reason: 'stale' };

  const person = personFromHr(detail, ctx.changeAt, ctx.existing);

  const applicable = applicablePolicies(ctx.policies, person, ctx.config);
  const dueOn = ackDueOn(ctx.config, ctx.now);
  const requests = pendingRequests(person, applicable, dueOn, ctx.now);

  const emails: IntendedEmail[] = [];
  if (applicable.length === 0) return { kind: 'apply', person, requests, emails };

  const school = schoolName(ctx.config, person.schoolId);
  if (canBeEmailed(person)) {
    emails.push({
      key: ledgerKey.welcome(person.staffId),
      templateId: 'welcome',
      to: { email: person.email, staffId: person.staffId },
      data: {
        givenName: person.givenName,
        trustName: ctx.config.trust.name,
        schoolName: emailSchoolName(ctx.config, person.schoolId),
        dueDate: formatLongDate(dueOn),
        policies: policyLinks(person.staffId, applicable, ctx),
      },
    });
  }

  const induction = inductionRecipients(person, ctx);
  for (const recipient of induction.recipients) {
    emails.push({
      key: ledgerKey.inductionNotice(person.staffId, recipient.staffId ?? 'integration-contact'),
      templateId: 'induction-notice',
      to: recipient.staffId ? { email: recipient.email, staffId: recipient.staffId } : { email: recipient.email },
      data: {
        recipientGivenName: recipient.givenName,
        trustName: ctx.config.trust.name,
        schoolName: school,
        newStaffName: displayName(person),
        roles: person.roles.join(', '),
        startDate: formatLongDate(person.startDate),
        policies: applicable.map(({ title, version, documentUrl }) => ({ title, version, documentUrl })),
        ...(induction.note ? { routingNote: induction.note } : {}),
      },
    });
  }
  return { kind: 'apply', person, requests, emails };
}

/**
 * The policies that ask this person to acknowledge them (§2a; §8h.i), in the
 * configuration's order (the seed policy first), then any others by title.
 */
export function applicablePolicies(
  policies: readonly CurrentPolicy[],
  person: Parameters<typeof policyAppliesTo>[1],
  config: TrustConfig,
): CurrentPolicy[] {
  const rank = (id: string) => {
    const i = config.policies.findIndex((p) => p.policyId === id);
    return i === -1 ? config.policies.length : i;
  };
  return policies
    .filter((policy) => policyAppliesTo(policy, person))
    .sort((a, b) => rank(a.policyId) - rank(b.policyId) || a.title.localeCompare(b.title));
}

/** When a request made now is due: the configured number of days after today (Europe/London). */
export function ackDueOn(config: TrustConfig, now: Date): string {
  return addDays(londonDate(now), config.acknowledgement.dueDays);
}

/** A pending acknowledgement request per policy (§1f, §2a). */
export function pendingRequests(
  person: Pick<Person, 'staffId' | 'schoolId'>,
  policies: readonly CurrentPolicy[],
  dueOn: string,
  now: Date,
): AckRequest[] {
  return policies.map((policy) => ({
    staffId: person.staffId,
    schoolId: person.schoolId,
    policyId: policy.policyId,
    version: policy.version,
    status: 'pending',
    requestedAt: now.toISOString(),
    dueOn,
    reminderCount: 0,
  }));
}

/** One signed, expiring acknowledgement link per policy, for the email that asks (DESIGN.md "Acknowledgement links"). */
export function policyLinks(
  staffId: string,
  policies: readonly CurrentPolicy[],
  ctx: Pick<OnboardingContext, 'config' | 'now' | 'ackLink'>,
): PolicyLink[] {
  const linkExpiry = new Date(ctx.now.getTime() + ctx.config.acknowledgement.linkValidDays * 86_400_000);
  return policies.map((policy) => ({
    title: policy.title,
    version: policy.version,
    documentUrl: policy.documentUrl,
    ackUrl: ctx.ackLink(staffId, policy.policyId, policy.version, linkExpiry),
  }));
}

interface InductionRecipient {
  email: string;
  givenName: string;
  staffId?: string;
}

/**
 * Who is told to cover the policy at induction (§1f, §6a): the Head of School of the
 * person's school. The new person is never told about themselves (a new Head of School),
 * and the next in line is the Executive Headteacher (DESIGN.md "Conflict of interest",
 * "Gaps"). If nobody holds either role, the trust's integration contact is told, so the
 * notice is never silently dropped.
 */
export function inductionRecipients(
  person: Pick<Person, 'staffId' | 'schoolId'>,
  ctx: Pick<OnboardingContext, 'headsOfSchool' | 'executiveHeadteachers' | 'config'>,
): { recipients: InductionRecipient[]; note?: string } {
  const usable = (people: readonly Person[]) => people.filter((p) => p.staffId !== person.staffId && canBeEmailed(p));
  const heads = person.schoolId === TRUST_SCHOOL_ID ? [] : usable(ctx.headsOfSchool);
  if (heads.length > 0) return { recipients: heads };
  const execs = usable(ctx.executiveHeadteachers);
  const why =
    person.schoolId === TRUST_SCHOOL_ID
      ? 'This person is central (trust) staff, so the notice comes to the Executive Headteacher.'
      : 'There is no other Head of School on record for this school who can be emailed, so the notice comes to the Executive Headteacher.';
  if (execs.length > 0) return { recipients: execs, note: why };
  return {
    recipients: [{ email: ctx.config.integrationContact, givenName: 'Integration contact' }],
    note: 'Nobody on record holds the Head of School or Executive Headteacher role, so this notice comes to the integration contact. Please make sure someone covers the policy at induction.',
  };
}
