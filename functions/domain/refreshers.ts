/**
 * Refreshers (§6a: the safe and responsible use of social media "will be discussed with all
 * members of staff as part of staff induction and will be revisited and communicated via
 * regular staff training opportunities"; DESIGN.md "Also scheduled": every N months each
 * person re-acknowledges the current version). Pure: no AWS imports, no clock of its own.
 *
 * A person whose acknowledgement of the current version is `refresher.everyMonths` old (or
 * older) is asked again for the same version, with a fresh link, due in
 * `acknowledgement.dueDays`; from then on the reminder scan chases it like any request.
 *
 * Data model: the SAME request goes back to `pending` with `refreshCycle` + 1, and the
 * acknowledgement it had moves into its `acknowledgements` history (kept for the audit).
 * Why this rather than a new request row per cycle:
 * - one row per person and version stays true, so the compliance report (the requests of a
 *   version, by status) counts each person once: during a refresher they are outstanding
 *   again, which is what a refresher means, and their earlier confirmations are on the row;
 * - the link's claims (person, policy, version) still name exactly one request, so tokens
 *   and the acknowledgement endpoint are unchanged; only a link already used in an earlier
 *   cycle is refused (functions/domain/acknowledgement.ts checks the history), and the
 *   receipt and `Policy Acknowledged` carry the cycle so each cycle gets its own receipt.
 *
 * If a newer version has come since (an editorial change carries acknowledgements forward,
 * so the person has no request for it), the refresher asks for the current version with a
 * new request instead, and the old row leaves the refresher index. People who left, to whom
 * the policy no longer applies, or who already have a request for a newer version simply
 * leave the index.
 */
import { emailSchoolName, type TrustConfig } from '../config/trust-config.ts';
import { addMonths, formatLondonDateTime, formatLongDate, londonDate } from './dates.ts';
import { type IntendedEmail, ledgerKey } from './emails.ts';
import { type AckRequest, ackDueOn, pendingRequests } from './onboarding.ts';
import { canBeEmailed, isActiveOn, type Person, policyAppliesTo } from './people.ts';
import type { CurrentPolicy } from './policies.ts';

/** An acknowledged request the refresher index returned, with what is on record about it. */
export interface RefresherItem {
  request: AckRequest;
  person: Person | null;
  /** The policy's current version, or null if it is not registered. */
  policy: CurrentPolicy | null;
  /**
   * Only when `request.version` is older than the current version: the person's request for
   * the current version, or null if they have none.
   */
  currentRequest: AckRequest | null;
}

export interface RefresherContext {
  config: TrustConfig;
  /** The Europe/London date of the scheduled time. */
  today: string;
  now: Date;
  ackLink: (staffId: string, policyId: string, version: number, expiresAt: Date) => string;
}

export type DropReason = 'person-unknown' | 'left' | 'policy-unknown' | 'not-in-audience' | 'newer-version-requested';

export type RefresherDecision =
  /** Not due yet (acknowledged, or its cycle started, less than the period ago): left as it is. */
  | { kind: 'not-yet' }
  /** Nothing to ask: the request leaves the refresher index (its acknowledgement stays). */
  | { kind: 'drop'; reason: DropReason }
  /** The same request opens its next cycle: `next` replaces it (pending), and the person is emailed (if they can be). */
  | { kind: 'refresh'; next: AckRequest; email?: IntendedEmail }
  /** A new request for the current version (the acknowledged one was of an older version); the old one leaves the index. */
  | { kind: 'ask-current'; request: AckRequest; email?: IntendedEmail };

/** Acknowledged on or before this date (Europe/London), the refresher is due today. */
export function refresherCutoff(today: string, everyMonths: number): string {
  return addMonths(today, -everyMonths);
}

export function decideRefresher(item: RefresherItem, ctx: RefresherContext): RefresherDecision {
  const { request, person, policy } = item;
  const cutoff = refresherCutoff(ctx.today, ctx.config.refresher.everyMonths);
  // At most one cycle per period: counted from the acknowledgement and from when this cycle was asked.
  if (
    request.status !== 'acknowledged' ||
    !request.acknowledgedAt ||
    londonDate(new Date(request.acknowledgedAt)) > cutoff ||
    londonDate(new Date(request.requestedAt)) > cutoff
  ) {
    return { kind: 'not-yet' };
  }
  if (!person) return { kind: 'drop', reason: 'person-unknown' };
  if (!isActiveOn(person, ctx.today)) return { kind: 'drop', reason: 'left' };
  if (!policy) return { kind: 'drop', reason: 'policy-unknown' };
  if (!policyAppliesTo(policy, person)) return { kind: 'drop', reason: 'not-in-audience' };

  const dueOn = ackDueOn(ctx.config, ctx.now);
  if (request.version < policy.version) {
    if (item.currentRequest) return { kind: 'drop', reason: 'newer-version-requested' };
    const [fresh] = pendingRequests(person, [policy], dueOn, ctx.now);
    const asked = fresh as AckRequest;
    return { kind: 'ask-current', request: asked, ...emailFor(asked, request, person, policy, ctx) };
  }

  const cycle = request.refreshCycle ?? 0;
  const { acknowledgedAt, ackTokenId, lastRemindedOn: _r, escalationCount: _e, lastEscalatedOn: _l, ...rest } = request;
  const next: AckRequest = {
    ...rest,
    schoolId: person.schoolId,
    status: 'pending',
    requestedAt: ctx.now.toISOString(),
    dueOn,
    reminderCount: 0,
    refreshCycle: cycle + 1,
    acknowledgements: [
      ...(request.acknowledgements ?? []),
      { refreshCycle: cycle, requestedAt: request.requestedAt, acknowledgedAt, ...(ackTokenId ? { ackTokenId } : {}) },
    ],
  };
  return { kind: 'refresh', next, ...emailFor(next, request, person, policy, ctx) };
}

/** The email that opens the cycle, for someone who can be emailed (an undeliverable address is reported by the reminder scan instead). */
function emailFor(
  asked: AckRequest,
  previous: AckRequest,
  person: Person,
  policy: CurrentPolicy,
  ctx: RefresherContext,
): { email?: IntendedEmail } {
  if (!canBeEmailed(person)) return {};
  const expiresAt = new Date(ctx.now.getTime() + ctx.config.acknowledgement.linkValidDays * 86_400_000);
  const months = ctx.config.refresher.everyMonths;
  return {
    email: {
      key: ledgerKey.refresher(asked.policyId, asked.version, asked.staffId, asked.refreshCycle ?? 0),
      templateId: 'refresher',
      to: { email: person.email, staffId: person.staffId },
      data: {
        givenName: person.givenName,
        trustName: ctx.config.trust.name,
        schoolName: emailSchoolName(ctx.config, person.schoolId),
        policyTitle: policy.title,
        version: asked.version,
        documentUrl: policy.documentUrl,
        ackUrl: ctx.ackLink(asked.staffId, asked.policyId, asked.version, expiresAt),
        dueDate: formatLongDate(asked.dueOn),
        lastAcknowledgedOn: formatLondonDateTime(previous.acknowledgedAt ?? previous.requestedAt),
        period: months === 1 ? 'month' : `${months} months`,
      },
    },
  };
}
