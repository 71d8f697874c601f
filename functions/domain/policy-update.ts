/**
 * A new version of a policy (`Policy Updated`; DESIGN.md "Events"). Pure: no AWS imports.
 *
 * - Versions only go up: a lower or repeated version is refused with a clear error and
 *   changes nothing. The same event delivered again is not a repeat: it resumes.
 * - The next review is due `reviewPeriodMonths` after `approvedOn`.
 * - `substantive`: every person in the audience (DESIGN.md "Audience"; §2a) is asked to
 *   acknowledge this version, saying what changed; older pending requests are superseded.
 * - `editorial`: the audience is told, not asked; acknowledgements of the last substantive
 *   version carry forward (the compliance report counts them for this version).
 * - The governing committee is told the version is live (§4a.i: the Trust Board ensures the
 *   policy is implemented).
 * §6a ("revisited and communicated via regular staff training opportunities") is why a
 * substantive change is sent to everyone, not only to new staff.
 */
import type { PolicyUpdated } from '../contracts/events.ts';
import { emailSchoolName, type TrustConfig } from '../config/trust-config.ts';
import { addDays, addMonths, formatLongDate, londonDate } from './dates.ts';
import type { IntendedEmail } from './emails.ts';
import type { AckRequest } from './onboarding.ts';
import { canBeEmailed, isActiveOn, type Person, policyAppliesTo } from './people.ts';
import { committeeRoles, type CurrentPolicy } from './policies.ts';

/** A stored policy version, with what kind of change made it and the event that did. */
export interface PolicyVersion extends CurrentPolicy {
  change: 'substantive' | 'editorial';
  changeSummary: string;
  /** Days people have to acknowledge this version, if the event set it (else the configured default). */
  acknowledgementDueDays?: number;
  /** The event that created this version (its eventId, else the EventBridge id). */
  sourceEventId: string;
}

export class PolicyVersionError extends Error {
  override name = 'PolicyVersionError';
}

export type VersionDecision = { kind: 'new' } | { kind: 'resume' };

/**
 * Whether `detail` makes a new version, resumes one already stored by the same event, or
 * is refused (throws PolicyVersionError, naming the versions, no personal data).
 */
export function decideVersion(current: PolicyVersion | CurrentPolicy | null, detail: PolicyUpdated, eventId: string): VersionDecision {
  if (!current || detail.version > current.version) return { kind: 'new' };
  if (detail.version === current.version && 'sourceEventId' in current && current.sourceEventId === eventId) {
    return { kind: 'resume' };
  }
  const what = detail.version === current.version ? 'repeats the current version' : 'is older than the current version';
  throw new PolicyVersionError(
    `Policy Updated refused: detail.version ${detail.version} ${what} (${current.version}) of ${detail.policyId}; versions only go up`,
  );
}

/** The version `detail` makes. `requires` (who else must be asked) carries over from the previous version. */
export function newVersion(detail: PolicyUpdated, previous: CurrentPolicy | null, eventId: string): PolicyVersion {
  const reviewDueBy = addMonths(detail.approvedOn, detail.reviewPeriodMonths);
  return {
    policyId: detail.policyId,
    title: detail.title,
    version: detail.version,
    approved: detail.approvedOn,
    reviewDue: reviewDueBy,
    reviewDueBy,
    reviewPeriodMonths: detail.reviewPeriodMonths,
    ownerRole: detail.ownerRole,
    governingCommittee: detail.governingCommittee,
    audience: [...detail.audience],
    ...(previous?.requires ? { requires: previous.requires } : {}),
    documentUrl: detail.documentUrl,
    change: detail.change,
    changeSummary: detail.changeSummary,
    ...(detail.acknowledgementDueDays ? { acknowledgementDueDays: detail.acknowledgementDueDays } : {}),
    sourceEventId: eventId,
  };
}

/**
 * The version whose acknowledgements count for `version`: the latest substantive version
 * at or before it (an editorial change carries acknowledgements forward). Version 1, as
 * registered, counts as substantive.
 */
export function effectiveAckVersion(versions: readonly Pick<PolicyVersion, 'version' | 'change'>[], version: number): number {
  const candidates = versions
    .filter((v) => v.version <= version && (v.change === 'substantive' || v.version === 1 || v.change === undefined))
    .map((v) => v.version);
  return candidates.length > 0 ? Math.max(...candidates) : version;
}

export interface FanOutContext {
  config: TrustConfig;
  policy: PolicyVersion;
  now: Date;
  ackLink: (staffId: string, policyId: string, version: number, expiresAt: Date) => string;
}

export interface FanOutPlan {
  requests: AckRequest[];
  emails: IntendedEmail[];
  /** People in the audience who get no email (address undeliverable): counted, not chased here. */
  undeliverable: number;
}

export const policyLedgerKey = {
  ask: (policyId: string, version: number, staffId: string) => `policy#${policyId}#v${version}#${staffId}#ask`,
  tell: (policyId: string, version: number, staffId: string) => `policy#${policyId}#v${version}#${staffId}#tell`,
  live: (policyId: string, version: number, staffId: string) => `policy#${policyId}#v${version}#${staffId}#live`,
};

/** What one page of people (one school's) gets for this version. */
export function planFanOut(people: readonly Person[], ctx: FanOutContext): FanOutPlan {
  const { policy, config, now } = ctx;
  const today = londonDate(now);
  const dueOn = addDays(today, policy.acknowledgementDueDays ?? ctx.config.acknowledgement.dueDays);
  const linkExpiry = new Date(now.getTime() + config.acknowledgement.linkValidDays * 86_400_000);
  const plan: FanOutPlan = { requests: [], emails: [], undeliverable: 0 };
  for (const person of people) {
    if (!isActiveOn(person, today) || !policyAppliesTo(policy, person)) continue;
    if (policy.change === 'substantive') {
      plan.requests.push({
        staffId: person.staffId,
        schoolId: person.schoolId,
        policyId: policy.policyId,
        version: policy.version,
        status: 'pending',
        requestedAt: now.toISOString(),
        dueOn,
        reminderCount: 0,
      });
    }
    if (!canBeEmailed(person)) {
      plan.undeliverable++;
      continue;
    }
    const common = {
      givenName: person.givenName,
      trustName: config.trust.name,
      schoolName: emailSchoolName(config, person.schoolId),
      policyTitle: policy.title,
      version: policy.version,
      changeSummary: policy.changeSummary,
      documentUrl: policy.documentUrl,
    };
    plan.emails.push(
      policy.change === 'substantive'
        ? {
            key: policyLedgerKey.ask(policy.policyId, policy.version, person.staffId),
            templateId: 'policy-updated',
            to: { email: person.email, staffId: person.staffId },
            data: {
              ...common,
              dueDate: formatLongDate(dueOn),
              ackUrl: ctx.ackLink(person.staffId, policy.policyId, policy.version, linkExpiry),
            },
          }
        : {
            key: policyLedgerKey.tell(policy.policyId, policy.version, person.staffId),
            templateId: 'policy-changed',
            to: { email: person.email, staffId: person.staffId },
            data: common,
          },
    );
  }
  return plan;
}

/**
 * Who is told the version is live: the governing committee (`trust-board`: the trustees and
 * the chair of trustees, at trust level; `local-governing-body`: each school's governors
 * and chair of governors), and the person responsible (the owner role's holders).
 */
export function committeeRecipients(policy: Pick<CurrentPolicy, 'governingCommittee' | 'ownerRole'>, everyone: readonly Person[]): Person[] {
  const roles = committeeRoles(policy);
  const chosen = everyone.filter(
    (p) =>
      canBeEmailed(p) &&
      (p.roles.some((r) => roles.includes(r)) || (p.roles.includes(policy.ownerRole) && p.schoolId === 'trust')),
  );
  return [...new Map(chosen.map((p) => [p.staffId, p])).values()];
}

export function committeeEmails(policy: PolicyVersion, recipients: readonly Person[], config: TrustConfig): IntendedEmail[] {
  return recipients.map((person) => ({
    key: policyLedgerKey.live(policy.policyId, policy.version, person.staffId),
    templateId: 'policy-live',
    to: { email: person.email, staffId: person.staffId },
    data: {
      givenName: person.givenName,
      trustName: config.trust.name,
      policyTitle: policy.title,
      version: policy.version,
      change: policy.change,
      changeSummary: policy.changeSummary,
      approvedOn: formatLongDate(policy.approved),
      reviewDueBy: formatLongDate(policy.reviewDueBy),
      documentUrl: policy.documentUrl,
    },
  }));
}
