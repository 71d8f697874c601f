/**
 * The review cycle of a policy (DESIGN.md "Events": `Policy Review Due`, `Policy Reviewed`;
 * "Trust configuration": the review stages and the seed's years; "Reliability rules":
 * schedules run in UTC, "today" is the date in Europe/London). Pure: no AWS imports and no
 * clock of its own (callers pass "today").
 *
 * The policy states its own review (seed/social-media-policy.md header: "Review Period:
 * Annually", "Person Responsible For Policy: Trust Network Manager", "Governing Committee:
 * Trust Board", "Date for Review: 2023"), and the Trust Board "will ensure this policy is
 * implemented" (§4a.i). So when a review falls due, the person responsible and every member
 * of the governing committee are told.
 *
 * A **cycle** is one due date (`reviewDueBy`) of one policy version. It ends when a new
 * version is published (`Policy Updated`: a new version with its own due date) or when the
 * review is recorded with no change (`Policy Reviewed`: the same version, the next due date
 * `reviewPeriodMonths` after the review). Everything that must happen once per stage is
 * keyed by version *and* cycle, so that the next cycle's stages fire again.
 *
 * **Stages** (config `reviewStages`, by default 30 and 7 days before, the due day, then
 * weekly while overdue):
 * - a before-due stage `{ id, daysBefore }` applies from `reviewDueBy - daysBefore` up to and
 *   including the due date; its only occurrence is 1;
 * - an overdue stage `{ id, everyDaysAfter }` applies after the due date; occurrence n is
 *   the n-th period of `everyDaysAfter` days, the first starting the day after the due
 *   date: n = floor((today - reviewDueBy - 1) / everyDaysAfter) + 1.
 *
 * **Only the current occurrences** are ever returned: on or before the due date, the
 * applicable before-due stage nearest the due date (smallest `daysBefore`); after it, each
 * overdue stage's current period. So each occurrence is current on a run of consecutive
 * days; the scanner emits it on the first of those days it runs, and its once-only record
 * stops the rest. Consequences, chosen deliberately:
 * - a day the scanner does not see is caught up the next day while the occurrence is still
 *   current. A 23:30 UTC schedule in spring skips a London date (28 March 23:30 GMT, then
 *   30 March 00:30 BST) and doubles one in autumn: the notice due on the skipped date goes
 *   the next morning, and the doubled date sends nothing twice;
 * - a scanner that was down for days emits only what is current when it comes back, never a
 *   flood: no "due in 30 days" a week before the due date, no backlog of missed overdue
 *   weeks (only the current week's notice, whose text says how overdue the review is).
 */
import { createHash } from 'node:crypto';
import type { PolicyReviewDue, PolicyReviewed } from '../contracts/events.ts';
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import { type ReviewStage, schoolName, type TrustConfig } from '../config/trust-config.ts';
import { addDays, addMonths, daysBetween, formatLongDate } from './dates.ts';
import { type IntendedEmail, ledgerKey } from './emails.ts';
import { canBeEmailed, type Person } from './people.ts';
import { committeeLookups, type CurrentPolicy, type RoleLookup } from './policies.ts';

export type { RoleLookup };

/** One stage occurrence of one cycle (what a `Policy Review Due` event carries). */
export interface ReviewNotice {
  policyId: string;
  version: number;
  /** The cycle's due date, `reviewDueBy` (YYYY-MM-DD). */
  reviewDate: string;
  stage: string;
  occurrence: number;
}

export interface StageOccurrence {
  stage: string;
  occurrence: number;
}

function isBeforeDue(stage: ReviewStage): stage is Extract<ReviewStage, { daysBefore: number }> {
  return 'daysBefore' in stage;
}

/**
 * The stage occurrences current on `today` (a Europe/London date) for a cycle due by
 * `reviewDueBy`: see the module comment. Empty when no stage applies yet.
 */
export function currentStageOccurrences(reviewDueBy: string, stages: readonly ReviewStage[], today: string): StageOccurrence[] {
  const daysAfter = daysBetween(reviewDueBy, today);
  if (daysAfter <= 0) {
    const applicable = stages.filter(isBeforeDue).filter((s) => s.daysBefore >= -daysAfter);
    if (applicable.length === 0) return [];
    const nearest = Math.min(...applicable.map((s) => s.daysBefore));
    return applicable.filter((s) => s.daysBefore === nearest).map((s) => ({ stage: s.id, occurrence: 1 }));
  }
  return stages
    .filter((s): s is Extract<ReviewStage, { everyDaysAfter: number }> => !isBeforeDue(s))
    .map((s) => ({ stage: s.id, occurrence: Math.floor((daysAfter - 1) / s.everyDaysAfter) + 1 }));
}

/**
 * The latest due date a scan on `today` must look at: today plus the largest `daysBefore`.
 * Everything due by then (and everything overdue) is read from the review index; nothing
 * else can have a current stage.
 */
export function reviewScanHorizon(stages: readonly ReviewStage[], today: string): string {
  const before = stages.filter(isBeforeDue).map((s) => s.daysBefore);
  return addDays(today, before.length > 0 ? Math.max(...before) : 0);
}

/** The notices a scan on `today` finds for one policy's current version. */
export function noticesFor(policy: Pick<CurrentPolicy, 'policyId' | 'version' | 'reviewDueBy'>, stages: readonly ReviewStage[], today: string): ReviewNotice[] {
  return currentStageOccurrences(policy.reviewDueBy, stages, today).map((o) => ({
    policyId: policy.policyId,
    version: policy.version,
    reviewDate: policy.reviewDueBy,
    stage: o.stage,
    occurrence: o.occurrence,
  }));
}

/**
 * The event's idempotency key (`eventId`, at most 128 of `[A-Za-z0-9._:-]`): the same for
 * every publication of one notice, so a duplicate is recognisable downstream. Long policy
 * and stage ids are hashed to fit.
 */
export function reviewNoticeEventId(notice: ReviewNotice): string {
  const readable = `review:${notice.policyId}:v${notice.version}:${notice.reviewDate}:${notice.stage}:${notice.occurrence}`;
  if (readable.length <= 128) return readable;
  return `review:${createHash('sha256').update(readable).digest('hex')}`;
}

// ---------------------------------------------------------------------------------
// What a notice says.

/**
 * The due date as the policy states it: the seed gives a year alone ("2023"), read as due
 * by 31 December (DESIGN.md "Trust configuration"), so it is shown as "2023 (by 31
 * December 2023)"; a full date is shown as "31 December 2027".
 */
export function describeReviewDue(policy: Pick<CurrentPolicy, 'reviewDue' | 'reviewDueBy'>): string {
  if (/^\d{4}$/.test(policy.reviewDue)) return `${policy.reviewDue} (by ${formatLongDate(policy.reviewDueBy)})`;
  return formatLongDate(policy.reviewDueBy);
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

export interface ReviewStatus {
  /** Days past the due date: negative before it, 0 on it. */
  daysOverdue: number;
  /** For the subject line, e.g. "Policy review overdue". */
  headline: string;
  /** E.g. "due in 7 days", "due today", "overdue by 151 weeks and 2 days". */
  text: string;
}

export function reviewStatus(reviewDueBy: string, today: string): ReviewStatus {
  const daysOverdue = daysBetween(reviewDueBy, today);
  if (daysOverdue < 0) {
    const text = `due in ${plural(-daysOverdue, 'day')}`;
    return { daysOverdue, headline: `Policy review ${text}`, text };
  }
  if (daysOverdue === 0) return { daysOverdue, headline: 'Policy review due today', text: 'due today' };
  const weeks = Math.floor(daysOverdue / 7);
  const days = daysOverdue % 7;
  const parts = [...(weeks > 0 ? [plural(weeks, 'week')] : []), ...(days > 0 ? [plural(days, 'day')] : [])];
  return { daysOverdue, headline: 'Policy review overdue', text: `overdue by ${parts.join(' and ')}` };
}

const UPPER_WORDS = new Set(['dsl', 'hr']);
const LOWER_WORDS = new Set(['of', 'and']);

/** "trust-network-manager" → "Trust Network Manager", "chair-of-trustees" → "Chair of Trustees". */
export function roleName(role: string): string {
  return role
    .split('-')
    .map((w) => (UPPER_WORDS.has(w) ? w.toUpperCase() : LOWER_WORDS.has(w) ? w : `${w.charAt(0).toUpperCase()}${w.slice(1)}`))
    .join(' ');
}

// ---------------------------------------------------------------------------------
// Whether a delivered notice still applies.

export type NoticeCheck =
  | { kind: 'send'; policy: CurrentPolicy }
  | { kind: 'drop'; reason: 'policy-not-registered' | 'version-no-longer-current' | 'cycle-closed' };

/**
 * A notice is sent only while its version is current and its cycle open: a new version
 * (`Policy Updated`) or a recorded review (`Policy Reviewed`, which moves `reviewDueBy`)
 * stops every notice of the old cycle, however late it is delivered.
 */
export function checkNotice(current: CurrentPolicy | null, notice: Pick<ReviewNotice, 'version' | 'reviewDate'>): NoticeCheck {
  if (!current) return { kind: 'drop', reason: 'policy-not-registered' };
  if (current.version !== notice.version) return { kind: 'drop', reason: 'version-no-longer-current' };
  if (current.reviewDueBy !== notice.reviewDate) return { kind: 'drop', reason: 'cycle-closed' };
  return { kind: 'send', policy: current };
}

// ---------------------------------------------------------------------------------
// Who is told.

export const lookupKey = (l: RoleLookup) => `${l.schoolId}#${l.role}`;

/** The person responsible: holders of `ownerRole` at trust level first, then at each school (used only if nobody holds it at trust level). */
function ownerLookups(policy: Pick<CurrentPolicy, 'ownerRole'>, config: Pick<TrustConfig, 'schools'>): RoleLookup[] {
  return [TRUST_SCHOOL_ID, ...config.schools.map((s) => s.id)].map((schoolId) => ({ schoolId, role: policy.ownerRole }));
}

/**
 * The people to look up for a notice (each an `activeWithRole(schoolId, role)` query):
 * - the person responsible: holders of `ownerRole` at trust level, and at every school in
 *   case nobody holds it at trust level (`planReviewDueEmails` prefers trust level);
 * - `trust-board`: trustees and the chair of trustees, at trust level;
 * - `local-governing-body`: the governors and chair of governors of every school of the
 *   trust (a trust-wide policy governed locally is each school's governing body's to
 *   review). This is the same choice as the `Policy Updated` committee notice.
 */
export function recipientLookups(policy: Pick<CurrentPolicy, 'ownerRole' | 'governingCommittee'>, config: Pick<TrustConfig, 'schools'>): RoleLookup[] {
  const seen = new Set<string>();
  return [...ownerLookups(policy, config), ...committeeLookups(policy, config)].filter((l) => {
    if (seen.has(lookupKey(l))) return false;
    seen.add(lookupKey(l));
    return true;
  });
}

export interface ReviewDueContext {
  config: TrustConfig;
  policy: CurrentPolicy;
  /** Today in Europe/London, when the scan saw the stage. */
  today: string;
  /** The result of each `recipientLookups` query, by `lookupKey`. */
  holders: ReadonlyMap<string, readonly Person[]>;
}

export interface ReviewDuePlan {
  emails: IntendedEmail[];
  /** How many were chosen as the person responsible, and as committee members (before the email check). */
  owners: number;
  committee: number;
  /** Chosen, but left or undeliverable: no email. */
  notEmailable: number;
  /** Nobody holds the owner role anywhere: the committee is told so in the notice. */
  ownerMissing: boolean;
}

/**
 * One `review-due` email per person (a person who is both responsible and on the committee
 * gets one, saying both), keyed `review#<policyId>#v<version>#<reviewDate>#<stage>#<occurrence>#<staffId>`
 * so that redelivery sends nothing twice and the next cycle can send again.
 */
export function planReviewDueEmails(notice: PolicyReviewDue, ctx: ReviewDueContext): ReviewDuePlan {
  const { policy, config } = ctx;
  const found = (l: RoleLookup) => ctx.holders.get(lookupKey(l)) ?? [];
  const [trustLevel, ...schoolLevel] = ownerLookups(policy, config);
  const atTrust = trustLevel ? found(trustLevel) : [];
  const owners = atTrust.length > 0 ? atTrust : schoolLevel.flatMap(found);
  const committee = committeeLookups(policy, config).flatMap(found);

  const reasons = new Map<string, { person: Person; reasons: string[] }>();
  const add = (person: Person, reason: string) => {
    const entry = reasons.get(person.staffId) ?? { person, reasons: [] };
    if (!entry.reasons.includes(reason)) entry.reasons.push(reason);
    reasons.set(person.staffId, entry);
  };
  const ownerTitle = roleName(policy.ownerRole);
  for (const person of owners) add(person, `the person responsible for this policy (${ownerTitle})`);
  for (const person of committee) {
    add(
      person,
      policy.governingCommittee === 'trust-board'
        ? 'a member of its governing committee, the Trust Board'
        : `a member of its governing committee, the Local Governing Body of ${schoolName(config, person.schoolId)}`,
    );
  }

  const status = reviewStatus(policy.reviewDueBy, ctx.today);
  const ownerMissing = owners.length === 0;
  const emails: IntendedEmail[] = [];
  let notEmailable = 0;
  for (const { person, reasons: why } of reasons.values()) {
    if (!canBeEmailed(person)) {
      notEmailable++;
      continue;
    }
    emails.push({
      key: ledgerKey.reviewDue(notice.policyId, notice.version, notice.reviewDate, notice.stage, notice.occurrence, person.staffId),
      templateId: 'review-due',
      to: { email: person.email, staffId: person.staffId },
      data: {
        givenName: person.givenName,
        trustName: config.trust.name,
        headline: status.headline,
        policyTitle: policy.title,
        policyId: policy.policyId,
        version: policy.version,
        reviewDue: describeReviewDue(policy),
        status: status.text,
        reason: why.join(' and '),
        ownerRole: ownerTitle,
        committee: policy.governingCommittee === 'trust-board' ? 'the Trust Board' : 'the Local Governing Body',
        reviewPeriod: plural(policy.reviewPeriodMonths, 'month'),
        documentUrl: policy.documentUrl,
        ...(ownerMissing
          ? { ownerNote: `Nobody currently holds the role of ${ownerTitle}, the person responsible for this policy, so this notice went to the governing committee only.` }
          : {}),
      },
    });
  }
  const unique = (people: readonly Person[]) => new Set(people.map((p) => p.staffId)).size;
  return { emails, owners: unique(owners), committee: unique(committee), notEmailable, ownerMissing };
}

// ---------------------------------------------------------------------------------
// Reviewed, no change.

/** A `Policy Reviewed` that cannot be applied. The message names fields, versions and the policy id, never personal data. */
export class ReviewRefusedError extends Error {
  override name = 'ReviewRefusedError';
}

export interface ReviewOutcome {
  policyId: string;
  version: number;
  reviewedOn: string;
  /** The cycle the review closes (the due date it was recorded against). */
  closedCycleDueBy: string;
  /** The next cycle's due date: `reviewedOn + reviewPeriodMonths` (end-of-month safe). */
  nextReviewDueBy: string;
}

/**
 * Applies "reviewed, no change" to the current version: only the current version can be
 * reviewed (a review of an older version is refused: its cycle ended with the new
 * version), and the review must move the due date on, not back.
 */
export function decideReviewed(current: CurrentPolicy | null, detail: PolicyReviewed): ReviewOutcome {
  if (!current) throw new ReviewRefusedError('Policy Reviewed refused: detail.policyId is not a registered policy');
  if (detail.version !== current.version) {
    throw new ReviewRefusedError(
      `Policy Reviewed refused: detail.version ${detail.version} is not the current version (${current.version}) of ${current.policyId}; record the review against the current version`,
    );
  }
  const nextReviewDueBy = addMonths(detail.reviewedOn, current.reviewPeriodMonths);
  if (nextReviewDueBy <= current.reviewDueBy) {
    throw new ReviewRefusedError(
      `Policy Reviewed refused: detail.reviewedOn is too early for the current review cycle of ${current.policyId} (the next review date would not be later than the current one)`,
    );
  }
  return {
    policyId: current.policyId,
    version: current.version,
    reviewedOn: detail.reviewedOn,
    closedCycleDueBy: current.reviewDueBy,
    nextReviewDueBy,
  };
}
