/**
 * Intended emails and their ledger (DESIGN.md "Data": one row per intended email, keyed
 * by a business key that never expires, state queued → sending → sent | failed).
 * The business key is what makes a redelivered event or queue message harmless: an email
 * whose key is already in the ledger is never queued again. Pure: no AWS imports.
 */
import type { TemplateId } from '../email/template-ids.ts';

export type LedgerState = 'queued' | 'sending' | 'sent' | 'failed';

export interface PolicyLink {
  title: string;
  version: number;
  documentUrl: string;
  ackUrl: string;
}

/** The data each template is rendered with (SES `{{placeholders}}`). */
export interface TemplateData {
  welcome: {
    givenName: string;
    trustName: string;
    schoolName: string;
    dueDate: string;
    policies: PolicyLink[];
  };
  'induction-notice': {
    recipientGivenName: string;
    trustName: string;
    schoolName: string;
    newStaffName: string;
    roles: string;
    startDate: string;
    policies: Omit<PolicyLink, 'ackUrl'>[];
    /** Set when the notice reaches someone other than the school's Head of School, saying why. */
    routingNote?: string;
  };
  'policy-updated': {
    givenName: string;
    trustName: string;
    policyTitle: string;
    version: number;
    changeSummary: string;
    documentUrl: string;
    dueDate: string;
    ackUrl: string;
  };
  'policy-changed': {
    givenName: string;
    trustName: string;
    policyTitle: string;
    version: number;
    changeSummary: string;
    documentUrl: string;
  };
  'policy-live': {
    givenName: string;
    trustName: string;
    policyTitle: string;
    version: number;
    change: 'substantive' | 'editorial';
    changeSummary: string;
    approvedOn: string;
    reviewDueBy: string;
    documentUrl: string;
  };
  receipt: {
    givenName: string;
    trustName: string;
    policyTitle: string;
    version: number;
    acknowledgedOn: string;
    documentUrl: string;
  };
}

export type IntendedEmail = {
  [T in TemplateId]: {
    /** Business key, unique per intended email, never reused. */
    key: string;
    templateId: T;
    to: { email: string; staffId?: string };
    data: TemplateData[T];
  };
}[TemplateId];

export const ledgerKey = {
  /** One welcome per person, ever (a redelivered or repeated onboarding sends no second). */
  welcome: (staffId: string) => `person#${staffId}#welcome`,
  /** One induction notice per new person per recipient (§1f). */
  inductionNotice: (staffId: string, recipientStaffId: string) => `person#${staffId}#induction-notice#${recipientStaffId}`,
  /** One receipt per person per policy version acknowledged. */
  receipt: (staffId: string, policyId: string, version: number) => `person#${staffId}#receipt#${policyId}#v${version}`,
};

/** SES accepts at most 50 destinations in one SendBulkEmail call (DESIGN.md "Email"). */
export const MAX_BULK_DESTINATIONS = 50;

/** Splits a list into chunks of at most `size` (used to honour the SES bulk limit). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError('chunk size must be a positive integer');
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * What to do with a ledger row when its queue message arrives (at-least-once delivery):
 * - `send`: queued, or failed earlier: claim it and send;
 * - `skip`: already sent, nothing to do (a redelivered message);
 * - `wait`: another consumer holds it in `sending` and its lease has not run out;
 * - `resend-flagged`: it has sat in `sending` past the lease, so a consumer crashed between
 *   asking SES and recording the answer: SES may already have sent it. It is sent again at
 *   most once more and flagged as a possible duplicate (DESIGN.md "Reliability rules");
 * - `abandon`: that already happened once: it is not sent a third time but marked failed
 *   for an operator to look at, so one email is never duplicated more than once.
 */
export type SendDecision = 'send' | 'skip' | 'wait' | 'resend-flagged' | 'abandon';

export function decideSend(
  row: { state: LedgerState; sendingSince?: string; possibleDuplicate?: boolean },
  now: Date,
  leaseMs: number,
): SendDecision {
  switch (row.state) {
    case 'sent':
      return 'skip';
    case 'queued':
    case 'failed':
      return 'send';
    case 'sending': {
      const since = row.sendingSince ? Date.parse(row.sendingSince) : 0;
      if (now.getTime() - since < leaseMs) return 'wait';
      return row.possibleDuplicate ? 'abandon' : 'resend-flagged';
    }
  }
}
