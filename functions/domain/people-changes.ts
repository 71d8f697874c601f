/**
 * People changes (DESIGN.md "Events": `Staff Updated` and `Staff Left`; "Order";
 * "Audience"). Given the event and what is stored, decide what changes and which emails
 * are intended. Pure: no AWS imports, no clock and no randomness of its own (the caller
 * passes `now` and a link signer).
 *
 * Order (DESIGN.md "Order"): an HR event older than the person's last applied change
 * (`lastChangeAt`, compared as instants) is ignored. A `Staff Updated` never changes a
 * person's status, so a late one cannot revive a leaver; a leaver is asked for nothing.
 *
 * `Staff Updated`: the changed fields are applied to the stored person. Only policies that
 * now apply and that the person has no request for (their current version) are requested,
 * with one `policies-to-confirm` email holding a signed link per policy (§1f, §2a; §8h.i
 * when they now manage official channels) and no second welcome. A new email address is
 * deliverable again until SES says otherwise.
 *
 * `Staff Left`: the person is left from `leftOn`. When HR tells us:
 *   - the person is stored with `leftOn`; `status` becomes `left` at once when the date has
 *     come (Europe/London), otherwise it stays `active` and `isActiveOn` (people.ts) treats
 *     them as left from that day, with no further write (DESIGN.md: "a leftOn in the future
 *     takes effect on that date");
 *   - every pending request of theirs is cancelled at once, whatever the date: a leaver is
 *     not chased, and no later job has to remember to do it (the handler does this);
 *   - for each official channel the register (config `officialChannels`, §8a-b) says they
 *     managed, leadership are told to change its login details (§8a.ii: "Leadership staff
 *     have access to account information and login details for our social media
 *     channels"), naming the channel and the leaving date: the channel's school's
 *     leadership team and Head of School, and the trust's leadership team. The leaver is
 *     never told about themselves; if nobody can be told, the integration contact is, so
 *     the notice is never silently dropped (DESIGN.md "Gaps").
 */
import type { StaffLeft, StaffUpdated } from '../contracts/events.ts';
import { type Role, TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import { emailSchoolName, schoolName, type TrustConfig } from '../config/trust-config.ts';
import { formatLongDate, londonDate } from './dates.ts';
import { ledgerKey, type IntendedEmail } from './emails.ts';
import { type AckRequest, ackDueOn, applicablePolicies, type OnboardingContext, pendingRequests, policyLinks } from './onboarding.ts';
import { canBeEmailed, displayName, isActiveOn, type Person } from './people.ts';
import type { CurrentPolicy } from './policies.ts';

export type OfficialChannel = TrustConfig['officialChannels'][number];

/** DESIGN.md "Order": the change happened before the last one applied to this person. */
export function isStale(existing: Pick<Person, 'lastChangeAt'>, changeAt: string): boolean {
  return Date.parse(existing.lastChangeAt) > Date.parse(changeAt);
}

// ---------------------------------------------------------------------------------
// Staff Updated

export interface StaffUpdatedContext {
  config: TrustConfig;
  /** The current version of every registered policy. */
  policies: readonly CurrentPolicy[];
  /** The person as stored, if on record. */
  existing: Person | null;
  /** Every acknowledgement request of theirs, in any status. */
  requests: readonly AckRequest[];
  /** When the change happened: the detail's `occurredAt`, else the EventBridge `time`. */
  changeAt: string;
  /** The event's `eventId`, else its EventBridge id: marks the requests it makes, so a redelivery recognises them. */
  eventId: string;
  now: Date;
  ackLink: OnboardingContext['ackLink'];
}

export type StaffUpdatedPlan =
  | { kind: 'unknown-person' }
  | { kind: 'ignore'; reason: 'stale' }
  | {
      kind: 'apply';
      person: Person;
      /** Names of the fields whose value changed (for logs: names, never values). */
      changed: string[];
      /** Requests for the newly applicable policies. */
      requests: AckRequest[];
      emails: IntendedEmail[];
    };

/** What `requestedBy` says on the requests a `Staff Updated` event makes. */
export const staffUpdatedRequester = (eventId: string) => `Staff Updated#${eventId}`;

export function planStaffUpdated(detail: StaffUpdated, ctx: StaffUpdatedContext): StaffUpdatedPlan {
  const { existing } = ctx;
  if (!existing) return { kind: 'unknown-person' };
  if (isStale(existing, ctx.changeAt)) return { kind: 'ignore', reason: 'stale' };

  const { person, changed } = applyChanges(existing, detail, ctx.changeAt);
  // A leaver (now, or from a leaving date that has come) is asked for nothing.
  if (!isActiveOn(person, londonDate(ctx.now))) return { kind: 'apply', person, changed, requests: [], emails: [] };

  // Newly applicable: the policy applies now, and its current version was never requested
  // from this person, except by this very event (a redelivery after a crash must make the
  // same plan, so that the email it may not have queued yet is queued).
  const requester = staffUpdatedRequester(ctx.eventId);
  const stored = new Map(ctx.requests.map((r) => [`${r.policyId}#${r.version}`, r]));
  const ours: AckRequest[] = [];
  const newlyApplicable = applicablePolicies(ctx.policies, person, ctx.config).filter((policy) => {
    const request = stored.get(`${policy.policyId}#${policy.version}`);
    if (request?.requestedBy === requester) ours.push(request);
    return !request || request.requestedBy === requester;
  });
  if (newlyApplicable.length === 0) return { kind: 'apply', person, changed, requests: [], emails: [] };

  const dueOn = ours[0]?.dueOn ?? ackDueOn(ctx.config, ctx.now);
  const requests = pendingRequests(person, newlyApplicable, dueOn, ctx.now).map((r) => ({ ...r, requestedBy: requester }));
  const emails: IntendedEmail[] = [];
  if (canBeEmailed(person)) {
    emails.push({
      key: ledgerKey.policiesToConfirm(person.staffId, ctx.eventId),
      templateId: 'policies-to-confirm',
      to: { email: person.email, staffId: person.staffId },
      data: {
        givenName: person.givenName,
        trustName: ctx.config.trust.name,
        schoolName: emailSchoolName(ctx.config, person.schoolId),
        dueDate: formatLongDate(dueOn),
        policies: policyLinks(person.staffId, newlyApplicable, ctx),
      },
    });
  }
  return { kind: 'apply', person, changed, requests, emails };
}

/** The fields `Staff Updated` may change: those of `Staff Onboarded` but the id. */
const CHANGEABLE = [
  'givenName',
  'familyName',
  'email',
  'schoolId',
  'roles',
  'employmentType',
  'startDate',
  'lineManagerStaffId',
  'managesOfficialChannels',
] as const satisfies readonly (keyof StaffUpdated & keyof Person)[];

/**
 * The stored person with the event's fields applied. Status, leaving date and
 * deliverability are not HR fields: they stay as stored, except that a new email address
 * is deliverable until SES reports otherwise.
 */
export function applyChanges(existing: Person, detail: StaffUpdated, changeAt: string): { person: Person; changed: string[] } {
  const changes: Partial<Person> = {};
  for (const field of CHANGEABLE) {
    const value = detail[field];
    if (value !== undefined) Object.assign(changes, { [field]: value });
  }
  const changed = CHANGEABLE.filter(
    (field) => detail[field] !== undefined && JSON.stringify(detail[field]) !== JSON.stringify(existing[field]),
  );
  const person: Person = {
    ...existing,
    ...changes,
    status: existing.status,
    emailDeliverable: changed.includes('email') ? true : existing.emailDeliverable,
    lastChangeAt: changeAt,
  };
  return { person, changed };
}

// ---------------------------------------------------------------------------------
// Staff Left

export interface StaffLeftContext {
  config: TrustConfig;
  existing: Person | null;
  /**
   * Active holders of `leadership-team` and `head-of-school` at the schools that own the
   * leaver's channels, and of `leadership-team` at trust level (see `leadershipLookups`).
   */
  leaders: readonly Person[];
  changeAt: string;
  now: Date;
}

export type StaffLeftPlan =
  | { kind: 'unknown-person' }
  | { kind: 'ignore'; reason: 'stale' }
  | {
      /** Write the person, cancel every pending request of theirs, queue the emails. */
      kind: 'apply';
      person: Person;
      /** The leaving date has come (Europe/London); false for a date still ahead. */
      hasLeft: boolean;
      /** The register's channels they managed (§8a-b). */
      channels: OfficialChannel[];
      /** HR says they managed official channels, but the register names none of theirs. */
      unregisteredChannelManager: boolean;
      emails: IntendedEmail[];
    };

/** The official channels the register (§8a-b) says this person manages. */
export function channelsManagedBy(config: TrustConfig, staffId: string): OfficialChannel[] {
  return config.officialChannels.filter((channel) => channel.managedByStaffIds.includes(staffId));
}

/** Which role holders the handler looks up for these channels' rotation notices: (school, role) pairs. */
export function leadershipLookups(channels: readonly OfficialChannel[]): { schoolId: string; role: Role }[] {
  if (channels.length === 0) return [];
  const schools = [...new Set(channels.map((c) => c.ownerSchoolId))].filter((s) => s !== TRUST_SCHOOL_ID).sort();
  return [
    { schoolId: TRUST_SCHOOL_ID, role: 'leadership-team' },
    ...schools.flatMap((schoolId) => [
      { schoolId, role: 'leadership-team' as const },
      { schoolId, role: 'head-of-school' as const },
    ]),
  ];
}

export function planStaffLeft(detail: StaffLeft, ctx: StaffLeftContext): StaffLeftPlan {
  const { existing } = ctx;
  if (!existing) return { kind: 'unknown-person' };
  if (isStale(existing, ctx.changeAt)) return { kind: 'ignore', reason: 'stale' };

  const today = londonDate(ctx.now);
  const hasLeft = detail.leftOn <= today;
  const person: Person = {
    ...existing,
    // Once left, left: only a newer Staff Onboarded (a re-hire) makes someone active again.
    status: existing.status === 'left' || hasLeft ? 'left' : 'active',
    leftOn: detail.leftOn,
    lastChangeAt: ctx.changeAt,
  };

  const channels = channelsManagedBy(ctx.config, person.staffId);
  const emails: IntendedEmail[] = [];
  for (const channel of channels) {
    const routing = rotationRecipients(channel, person.staffId, ctx.leaders, today, ctx.config);
    for (const recipient of routing.recipients) {
      emails.push({
        key: ledgerKey.credentialRotation(channel.channelId, person.staffId, recipient.staffId ?? 'integration-contact'),
        templateId: 'credential-rotation',
        to: recipient.staffId ? { email: recipient.email, staffId: recipient.staffId } : { email: recipient.email },
        data: {
          recipientGivenName: recipient.givenName,
          trustName: ctx.config.trust.name,
          channelName: channel.name,
          platform: channel.platform,
          ownerSchoolName: schoolName(ctx.config, channel.ownerSchoolId),
          leaverName: displayName(person),
          hasLeft,
          leftOn: formatLongDate(detail.leftOn),
          ...(routing.note ? { routingNote: routing.note } : {}),
        },
      });
    }
  }
  return {
    kind: 'apply',
    person,
    hasLeft,
    channels,
    unregisteredChannelManager: person.managesOfficialChannels && channels.length === 0,
    emails,
  };
}

interface RotationRecipient {
  email: string;
  givenName: string;
  staffId?: string;
}

/**
 * Who changes a channel's login details (§8a.ii): the leadership team and the Head of
 * School of the school that owns it, and the trust's leadership team; for a trust channel,
 * the trust's leadership team. Never the leaver, and only people who are active today and
 * can be emailed. Nobody → the integration contact, saying why.
 */
export function rotationRecipients(
  channel: OfficialChannel,
  leaverStaffId: string,
  leaders: readonly Person[],
  today: string,
  config: TrustConfig,
): { recipients: RotationRecipient[]; note?: string } {
  const holds = (p: Person, role: Role) => p.roles.includes(role);
  const chosen = leaders.filter(
    (p) =>
      p.staffId !== leaverStaffId &&
      isActiveOn(p, today) &&
      canBeEmailed(p) &&
      ((p.schoolId === channel.ownerSchoolId && (holds(p, 'leadership-team') || holds(p, 'head-of-school'))) ||
        (p.schoolId === TRUST_SCHOOL_ID && holds(p, 'leadership-team'))),
  );
  const unique = [...new Map(chosen.map((p) => [p.staffId, p])).values()].sort((a, b) => a.staffId.localeCompare(b.staffId));
  if (unique.length > 0) return { recipients: unique.map(({ email, givenName, staffId }) => ({ email, givenName, staffId })) };
  return {
    recipients: [{ email: config.integrationContact, givenName: 'Integration contact' }],
    note: `Nobody on record in the leadership team of ${schoolName(config, channel.ownerSchoolId)} or of the trust can be emailed, so this notice comes to the integration contact. Please make sure the login details are changed.`,
  };
}
