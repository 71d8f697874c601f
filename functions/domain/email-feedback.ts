/**
 * Bounces and complaints (DESIGN.md "Email", "Audience": "addresses marked undeliverable
 * ... go to HR and the line manager instead"). Pure: no AWS imports, no clock of its own;
 * functions/handlers/ses-feedback.ts reads and writes.
 *
 * - A Permanent bounce, or any complaint, marks the address undeliverable. A Transient or
 *   Undetermined bounce does not: SES retried and may yet deliver, and a full mailbox today
 *   is not a dead address.
 * - The email names its recipient through the message tags our sender sets
 *   (functions/contracts/ses-events.ts): no lookup by address or message id. An email
 *   without the tag (to the integration contact, or sent before tagging) is not ours to act on.
 * - The address is marked only if it is still the person's address: a late bounce of an
 *   address HR has since corrected changes nothing.
 * - §4a.ii, §1f: the Trust Board makes sure all staff and volunteers are made aware of the
 *   policy, so a request to read and confirm it must still reach them. HR (§4a.iii: the HR
 *   advisor, at trust level) is told of every undeliverable address; for a notice the person
 *   must act on (a request to read and confirm a policy: welcome, policies-to-confirm,
 *   policy-updated, reminder, refresher) their line manager is told too (§1h: enforcement is
 *   the shared responsibility of employees and their managers), with what they still have
 *   to read. Nobody reachable: the integration contact, so the notice is never dropped.
 * - Reminders stop by themselves: the reminder scan never reminds an address marked
 *   undeliverable (functions/domain/reminders.ts `decideChase`), nor does any other send
 *   (`canBeEmailed`).
 * - Exactly once: each recipient is told once per person and address (ledger key
 *   `bounce#<staffId>#<addressKey>#<recipient>`), however often SES's event is delivered and
 *   however many emails were in flight to the dead address. A later mandatory bounce still
 *   tells the line manager if an earlier one (a receipt, say) did not.
 * - Never the receiving server's diagnostic text, nor the address itself, in an email or a log.
 */
import { createHash } from 'node:crypto';
import { MESSAGE_TAGS, type SesFeedbackDetail, tagValue } from '../contracts/ses-events.ts';
import { schoolName, type TrustConfig } from '../config/trust-config.ts';
import { TEMPLATE_IDS, type TemplateId } from '../email/template-ids.ts';
import { formatLongDate } from './dates.ts';
import { type IntendedEmail, ledgerKey, type TemplateData } from './emails.ts';
import type { AckRequest } from './onboarding.ts';
import { canBeEmailed, displayName, isActiveOn, type Person, policyAppliesTo } from './people.ts';
import type { CurrentPolicy } from './policies.ts';

/** Notices the person must act on: each asks them to read and confirm a policy (§4a.ii, §6a). */
export const MANDATORY_TEMPLATES: ReadonlySet<TemplateId> = new Set<TemplateId>([
  'welcome',
  'policies-to-confirm',
  'policy-updated',
  'reminder',
  'refresher',
]);

/** What the email that did not arrive was, in plain words (a fixed text per template). */
const NOTICE_LABELS: Partial<Record<TemplateId, string>> = {
  welcome: "the welcome email asking them to read and confirm the trust's policies",
  'policies-to-confirm': 'an email asking them to read and confirm policies that now apply to them',
  'policy-updated': 'an email asking them to read and confirm a new version of a policy',
  reminder: 'a reminder to read and confirm a policy',
  refresher: 'an email asking them to read and confirm a policy again (the regular refresher)',
  receipt: 'the receipt for a policy they confirmed',
  'policy-changed': 'an email telling them about a change to a policy',
  'policy-live': 'an email telling them a new policy version is in force',
  'induction-notice': 'an induction notice about a new member of staff',
  'credential-rotation': 'a notice to change the login details of an official social media channel',
  'review-due': 'a policy review notice',
  'case-notice': 'a notice about a reported concern',
  'head-digest': 'the daily list of staff who have not confirmed a policy',
  'trust-rollup': 'the daily trust-wide summary of policy confirmations',
  'undeliverable-notice': 'a notice about a colleague who cannot be emailed',
  'undeliverable-address': 'a notice about a colleague who cannot be emailed',
};
const UNKNOWN_NOTICE = 'an email from the trust';

const CAUSES = {
  bounce: 'emails to their address are returned as undeliverable (the receiving mail server refuses them permanently)',
  complaint: 'an email from the trust to their address was reported as spam, so the trust no longer emails that address',
} as const;

export type FeedbackCause = keyof typeof CAUSES;

export type FeedbackDecision =
  /** Nothing to do: a soft bounce, or an email that names no person of ours. */
  | { kind: 'ignore'; reason: 'soft-bounce' | 'not-tagged' }
  | {
      kind: 'undeliverable';
      cause: FeedbackCause;
      staffId: string;
      /** The template of the email that failed, when tagged. */
      templateId: TemplateId | undefined;
      mandatory: boolean;
      /** The addresses SES reported, lower-cased (one, for our one-destination bulk entries). */
      addresses: string[];
      messageId: string;
    };

function isTemplateId(value: string | undefined): value is TemplateId {
  return value !== undefined && (TEMPLATE_IDS as readonly string[]).includes(value);
}

/** What an SES bounce or complaint means for us. */
export function decideFeedback(detail: SesFeedbackDetail): FeedbackDecision {
  const cause: FeedbackCause = detail.eventType === 'Bounce' ? 'bounce' : 'complaint';
  if (cause === 'bounce' && detail.bounce?.bounceType !== 'Permanent') return { kind: 'ignore', reason: 'soft-bounce' };
  const staffId = tagValue(detail.mail.tags, MESSAGE_TAGS.staffId);
  if (!staffId) return { kind: 'ignore', reason: 'not-tagged' };
  const template = tagValue(detail.mail.tags, MESSAGE_TAGS.template);
  const templateId = isTemplateId(template) ? template : undefined;
  const listed = cause === 'bounce' ? (detail.bounce?.bouncedRecipients ?? []) : (detail.complaint?.complainedRecipients ?? []);
  return {
    kind: 'undeliverable',
    cause,
    staffId,
    templateId,
    mandatory: templateId !== undefined && MANDATORY_TEMPLATES.has(templateId),
    addresses: listed.map((r) => r.emailAddress.trim().toLowerCase()),
    messageId: detail.mail.messageId,
  };
}

/** A short, stable key for an address (ledger keys carry no addresses). */
export function addressKey(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 16);
}

export interface UndeliverableContext {
  config: TrustConfig;
  /** Europe/London date. */
  today: string;
  /** The person the email was for, as on record now (null if unknown). */
  person: Person | null;
  /** Their line manager, if they have one on record (read only for a mandatory notice). */
  lineManager: Person | null;
  /** Active holders of `hr-advisor` at trust level. */
  hrAdvisors: readonly Person[];
  /** The person's acknowledgement requests. */
  requests: readonly AckRequest[];
  /** Every policy's current version. */
  policies: readonly CurrentPolicy[];
}

export type UndeliverablePlan =
  | { kind: 'ignore'; reason: 'person-unknown' | 'address-changed' }
  | {
      kind: 'mark';
      staffId: string;
      /** The address to mark, exactly as stored: the write is conditional on it. */
      email: string;
      /** Notices to HR and the line manager (none for a leaver). */
      emails: IntendedEmail[];
      lineManagerTold: boolean;
      /** Set when someone other than HR and the line manager is told, or the line manager cannot be. */
      gap?: 'no-line-manager' | 'nobody';
    };

interface Recipient {
  /** The recipient's staffId, or `integration-contact`. */
  id: string;
  email: string;
  staffId?: string;
  givenName: string;
  reason: string;
  action: string;
}

const HR_ACTION = 'Please correct their email address in the HR system: once it changes, the trust emails them again.';
const MANAGER_ACTION = "The trust's HR advisor has been told, so that their email address can be corrected.";
const CONTACT_ACTION = 'Please make sure their email address is corrected in the HR system and that someone passes this on to them.';

/**
 * The notices for a person whose address SES reports as undeliverable, and the address to
 * mark. Ignored when the person is unknown, or their address is no longer the one that failed.
 */
export function planUndeliverable(
  decision: Extract<FeedbackDecision, { kind: 'undeliverable' }>,
  ctx: UndeliverableContext,
): UndeliverablePlan {
  const { person } = ctx;
  if (!person) return { kind: 'ignore', reason: 'person-unknown' };
  if (!decision.addresses.includes(person.email.trim().toLowerCase())) return { kind: 'ignore', reason: 'address-changed' };
  const mark = { kind: 'mark' as const, staffId: person.staffId, email: person.email };
  // A leaver is excluded from every send already: mark the address, tell nobody.
  if (!isActiveOn(person, ctx.today)) return { ...mark, emails: [], lineManagerTold: false };

  const usable = (p: Person | null | undefined): p is Person =>
    !!p && p.staffId !== person.staffId && isActiveOn(p, ctx.today) && canBeEmailed(p);
  const recipients: Recipient[] = [];
  const manager = decision.mandatory && usable(ctx.lineManager) ? ctx.lineManager : null;
  if (manager) {
    recipients.push({ ...asRecipient(manager), reason: 'their line manager', action: MANAGER_ACTION });
  }
  for (const hr of ctx.hrAdvisors.filter(usable)) {
    if (recipients.some((r) => r.id === hr.staffId)) continue;
    recipients.push({ ...asRecipient(hr), reason: "the trust's HR advisor", action: HR_ACTION });
  }
  let gap: 'no-line-manager' | 'nobody' | undefined;
  let note: string | undefined;
  if (recipients.length === 0) {
    gap = 'nobody';
    note = decision.mandatory
      ? 'Nobody on record can be told in their place: they have no line manager who can be emailed, and nobody holds the HR advisor role at trust level.'
      : 'Nobody holds the HR advisor role at trust level who can be emailed.';
    recipients.push({
      id: 'integration-contact',
      email: ctx.config.integrationContact,
      givenName: 'Integration contact',
      reason: 'the integration contact',
      action: CONTACT_ACTION,
    });
  } else if (decision.mandatory && !manager) {
    gap = 'no-line-manager';
    note = 'They have no line manager on record who can be emailed, so please make sure this notice reaches them.';
  }

  const outstanding = outstandingFor(person, ctx);
  const base = {
    trustName: ctx.config.trust.name,
    personName: displayName(person),
    schoolName: schoolName(ctx.config, person.schoolId),
    cause: CAUSES[decision.cause],
    noticeLabel: (decision.templateId && NOTICE_LABELS[decision.templateId]) || UNKNOWN_NOTICE,
    mandatory: decision.mandatory,
    hasOutstanding: outstanding.length > 0,
    outstanding,
  } satisfies Partial<TemplateData['undeliverable-address']>;
  const key = addressKey(person.email);
  const emails = recipients.map(
    (r): IntendedEmail => ({
      key: ledgerKey.undeliverableAddress(person.staffId, key, r.id),
      templateId: 'undeliverable-address',
      to: r.staffId ? { email: r.email, staffId: r.staffId } : { email: r.email },
      data: {
        ...base,
        recipientGivenName: r.givenName,
        reason: r.reason,
        action: r.action,
        ...(note ? { routingNote: note } : {}),
      },
    }),
  );
  return { ...mark, emails, lineManagerTold: manager !== null, ...(gap ? { gap } : {}) };
}

const asRecipient = (p: Person) => ({ id: p.staffId, email: p.email, staffId: p.staffId, givenName: p.givenName });

/**
 * The person's pending requests for the current version of a policy that still applies to
 * them, soonest due first: what they still have to read and confirm.
 */
function outstandingFor(person: Person, ctx: UndeliverableContext): TemplateData['undeliverable-address']['outstanding'] {
  const current = new Map(ctx.policies.map((p) => [p.policyId, p]));
  return ctx.requests
    .filter((r) => r.staffId === person.staffId && r.status === 'pending')
    .flatMap((r) => {
      const policy = current.get(r.policyId);
      if (!policy || policy.version !== r.version || !policyAppliesTo(policy, person)) return [];
      return [{ request: r, policy }];
    })
    .sort((a, b) => a.request.dueOn.localeCompare(b.request.dueOn) || a.policy.policyId.localeCompare(b.policy.policyId))
    .map(({ request, policy }) => ({
      policyTitle: policy.title,
      version: request.version,
      dueDate: formatLongDate(request.dueOn),
      documentUrl: policy.documentUrl,
    }));
}
