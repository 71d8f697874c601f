/**
 * Intended emails and their ledger (docs/ARCHITECTURE.md "The email ledger": one row per
 * intended email, keyed by a business key that never expires, state
 * queued → sending → sent | failed | abandoned).
 * The business key is what makes a redelivered event or queue message harmless: an email
 * whose key is already in the ledger is never queued again. Pure: no AWS imports.
 */
import type { TemplateId } from '../email/template-ids.ts';

/**
 * - `queued`: owed, not claimed (new, or handed back after a refusal worth retrying);
 * - `sending`: claimed by a sender, which may have died between SES and the ledger;
 * - `sent`: SES accepted it (terminal);
 * - `failed`: SES refused this destination for a reason that needs a person (not verified,
 *   rejected): retried by the queue, then its dead-letter queue and `redrive`;
 * - `abandoned`: its outcome was unknown twice (sent once, resent once flagged as a possible
 *   duplicate, and stuck again): terminal, never sent by a redelivery, a redrive or a sweep.
 *   Only an operator moves it on (`trust-notify ledger resolve`).
 */
export const LEDGER_STATES = ['queued', 'sending', 'sent', 'failed', 'abandoned'] as const;
export type LedgerState = (typeof LEDGER_STATES)[number];

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
    /** Their school (`emailSchoolName(config, schoolId)`: '' for central staff, so the trust is named once), shown in the header and the opening sentence. */
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
    /** Their current school (`emailSchoolName(config, schoolId)`: '' for central staff, so the trust is named once), shown in the header and sign-off. */
    schoolName: string;
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
    /** Their current school (`emailSchoolName(config, schoolId)`: '' for central staff, so the trust is named once), shown in the header and sign-off. */
    schoolName: string;
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
    /** Their current school (`emailSchoolName(config, schoolId)`: '' for central staff, so the trust is named once), shown in the header and sign-off. */
    schoolName: string;
    policyTitle: string;
    version: number;
    acknowledgedOn: string;
    documentUrl: string;
  };
  /** `Staff Updated`: policies that newly apply to someone already on record (not a second welcome). */
  'policies-to-confirm': {
    givenName: string;
    trustName: string;
    /** Their school (`emailSchoolName(config, schoolId)`: '' for central staff, so the trust is named once), shown in the header and the opening sentence. */
    schoolName: string;
    dueDate: string;
    policies: PolicyLink[];
  };
  /** `Staff Left`: leadership are told to change the login details of an official channel the leaver managed (§8a.ii). */
  'credential-rotation': {
    recipientGivenName: string;
    trustName: string;
    channelName: string;
    platform: string;
    ownerSchoolName: string;
    leaverName: string;
    /** True when the leaving date has come; false for a date still ahead. */
    hasLeft: boolean;
    leftOn: string;
    /** Set when the notice reaches someone other than the channel's leadership, saying why. */
    routingNote?: string;
  };
  /** `Policy Review Due`: to the person responsible and the governing committee (functions/domain/review-cycle.ts). */
  'review-due': {
    givenName: string;
    trustName: string;
    /** "Policy review overdue", "Policy review due in 30 days", "Policy review due today". */
    headline: string;
    policyTitle: string;
    policyId: string;
    version: number;
    /** As the policy states it: "2023 (by 31 December 2023)" or "25 November 2027". */
    reviewDue: string;
    /** "overdue by 151 weeks and 2 days", "due in 7 days", "due today". */
    status: string;
    /** Why this person is told, e.g. "the person responsible for this policy (Trust Network Manager)". */
    reason: string;
    ownerRole: string;
    committee: string;
    reviewPeriod: string;
    documentUrl: string;
    /** Set when nobody holds the owner role: the committee is told so. */
    ownerNote?: string;
  };
  /**
   * `Breach Reported` and triage escalations (functions/domain/case-notices.ts): the case
   * reference, category, school, flags and a link, and nothing else: never the narrative,
   * the subject, the reporter or why this person was chosen (that could point at the subject).
   */
  'case-notice': {
    trustName: string;
    caseId: string;
    categoryLabel: string;
    schoolName: string;
    flags: { label: string }[];
    caseUrl: string;
    /** Set on an escalation: "Not triaged within 24 hours: escalated to you as Head of School." */
    escalation?: string;
  };
  /** An overdue acknowledgement: the n-th of at most `maxReminders` (functions/domain/reminders.ts). */
  reminder: {
    givenName: string;
    trustName: string;
    /** Their current school (`emailSchoolName(config, schoolId)`: '' for central staff, so the trust is named once), shown in the header and sign-off. */
    schoolName: string;
    policyTitle: string;
    version: number;
    documentUrl: string;
    ackUrl: string;
    /** "9 December 2026". */
    dueDate: string;
    /** "7 days". */
    overdueBy: string;
    reminderNumber: number;
    maxReminders: number;
    /** The last reminder: after it the Head of School is told. */
    finalReminder: boolean;
    /** Set in a refresher cycle (§6a): the person is re-confirming a policy they confirmed before. */
    refresher: boolean;
  };
  /** One per Head of School per day: their people still outstanding after the reminders (functions/domain/reminders.ts). */
  'head-digest': {
    recipientGivenName: string;
    trustName: string;
    /** "9 December 2026". */
    date: string;
    count: number;
    people: DigestPerson[];
    /** People at the same schools who are overdue and still being reminded (not listed). */
    stillBeingReminded: number;
    /** Set when some of these people come to the recipient as next in line, saying why. */
    routingNote?: string;
  };
  /** One per day to the trust's leadership: counts per school (functions/domain/reminders.ts). */
  'trust-rollup': {
    recipientGivenName: string;
    trustName: string;
    date: string;
    schools: RollupSchool[];
    totalOverdue: number;
    totalBeingReminded: number;
    totalEscalated: number;
    totalNewlyEscalated: number;
    totalUndeliverable: number;
    /** Set when nobody holds the leadership roles and the integration contact is told. */
    routingNote?: string;
  };
  /** Someone who cannot be emailed has an overdue acknowledgement: HR and their line manager are told instead (DESIGN.md "Audience"). */
  'undeliverable-notice': {
    recipientGivenName: string;
    trustName: string;
    personName: string;
    schoolName: string;
    policyTitle: string;
    version: number;
    documentUrl: string;
    dueDate: string;
    /** Why this recipient: "their line manager", "the trust's HR advisor". */
    reason: string;
    routingNote?: string;
  };
  /** A refresher cycle opens (§6a: the policy is "revisited ... via regular staff training"). */
  refresher: {
    givenName: string;
    trustName: string;
    /** Their current school (`emailSchoolName(config, schoolId)`: '' for central staff, so the trust is named once), shown in the header and sign-off. */
    schoolName: string;
    policyTitle: string;
    version: number;
    documentUrl: string;
    ackUrl: string;
    dueDate: string;
    /** When the person last confirmed it: "25 November 2025 at 14:05". */
    lastAcknowledgedOn: string;
    /** "12 months". */
    period: string;
  };
  /**
   * SES reported a hard bounce or a complaint: the address is marked undeliverable, and HR
   * (and, for a notice the person must act on, their line manager) is told instead
   * (functions/domain/email-feedback.ts). Every text is one of a fixed set: never the
   * receiving server's diagnostic text.
   */
  'undeliverable-address': {
    recipientGivenName: string;
    trustName: string;
    personName: string;
    schoolName: string;
    /** What SES reported, in plain words: "emails to their address are returned as undeliverable". */
    cause: string;
    /** What the email that did not arrive was: "the welcome email asking them to read and confirm the trust's policies". */
    noticeLabel: string;
    /** A notice the person must act on (a request to read and confirm a policy). */
    mandatory: boolean;
    hasOutstanding: boolean;
    /** Their acknowledgements still pending, so that the notice still reaches them. */
    outstanding: { policyTitle: string; version: number; dueDate: string; documentUrl: string }[];
    /** Why this recipient: "the trust's HR advisor", "their line manager". */
    reason: string;
    /** What the recipient is asked to do about the address. */
    action: string;
    routingNote?: string;
  };
  /**
   * An event a handler refused because it breaks its contract, told to the integration
   * contact (functions/domain/rejected-event.ts): the event id, detail-type and the field
   * paths with the rules broken. Never a value from the event.
   */
  'event-rejected': {
    trustName: string;
    eventId: string;
    detailType: string;
    problemCount: number;
    problems: { field: string; problem: string }[];
  };
}

/** One person in a Head of School's digest. */
export interface DigestPerson {
  name: string;
  schoolName: string;
  policyTitle: string;
  version: number;
  dueDate: string;
  overdueBy: string;
  remindersSent: number;
  /** Listed for the first time, or again after another `everyDays` (functions/domain/reminders.ts). */
  isNew: boolean;
  /** E.g. "email address undeliverable: HR and their line manager have been told". */
  note?: string;
}

/** One school's line in the trust-wide roll-up. */
export interface RollupSchool {
  schoolName: string;
  overdue: number;
  beingReminded: number;
  escalated: number;
  newlyEscalated: number;
  undeliverable: number;
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
  /**
   * One receipt per person per policy version acknowledged, and one more per refresher
   * cycle (§6a; `#r<cycle>` from cycle 1 on, so cycle 0 keeps its original key).
   */
  receipt: (staffId: string, policyId: string, version: number, refreshCycle = 0) =>
    `person#${staffId}#receipt#${policyId}#v${version}${cycleSuffix(refreshCycle)}`,
  /**
   * One email per person per HR change that made policies newly apply (`Staff Updated`,
   * keyed by the event's `eventId`, else its EventBridge id): a redelivery of that change
   * sends nothing more, whatever was acknowledged meanwhile.
   */
  policiesToConfirm: (staffId: string, eventId: string) => `person#${staffId}#policies-to-confirm#${eventId}`,
  /** One notice per official channel, leaver and recipient (§8a.ii). */
  credentialRotation: (channelId: string, leaverStaffId: string, recipient: string) =>
    `channel#${channelId}#credential-rotation#${leaverStaffId}#${recipient}`,
  /**
   * One review notice per stage occurrence per recipient, per cycle: the cycle's due date is
   * part of the key (DESIGN.md's `review#policy#version#stage#occurrence` plus the cycle and
   * the recipient), because a version reviewed with no change keeps its number and its next
   * cycle's stages must be able to send again.
   */
  reviewDue: (policyId: string, version: number, reviewDate: string, stage: string, occurrence: number, recipientStaffId: string) =>
    `review#${policyId}#v${version}#${reviewDate}#${stage}#${occurrence}#${recipientStaffId}`,
  /** One notice per case per recipient (DESIGN.md: case#recipient#kind). */
  caseNotice: (caseId: string, recipient: string) => `case#${caseId}#${recipient}#notice`,
  /** One notice per case, escalation level and recipient. */
  caseEscalation: (caseId: string, level: number, recipient: string) => `case#${caseId}#${recipient}#escalation-${level}`,
  /**
   * Reminders (functions/domain/reminders.ts): the n-th reminder of a request, once, whatever
   * day a retried scan runs (`#r<cycle>` before n in a refresher cycle).
   */
  reminder: (policyId: string, version: number, staffId: string, n: number, refreshCycle = 0) =>
    `reminder#${policyId}#v${version}#${staffId}${cycleSuffix(refreshCycle)}#${n}`,
  /** One Head of School digest per recipient per day (a Europe/London date). */
  headDigest: (recipient: string, date: string) => `digest#${recipient}#${date}`,
  /** One trust-wide roll-up per day per recipient (trust leadership). */
  trustRollup: (date: string, recipient: string) => `rollup#${date}#${recipient}`,
  /** An undeliverable address is reported once per request (and cycle) to each recipient (HR, the line manager). */
  undeliverableNotice: (policyId: string, version: number, staffId: string, recipient: string, refreshCycle = 0) =>
    `undeliverable#${policyId}#v${version}#${staffId}${cycleSuffix(refreshCycle)}#${recipient}`,
  /** The email that opens a refresher cycle (§6a), once per cycle. */
  refresher: (policyId: string, version: number, staffId: string, refreshCycle: number) =>
    `refresher#${policyId}#v${version}#${staffId}${cycleSuffix(refreshCycle)}`,
  /**
   * A bounced or complained-about address is reported once per person, address and
   * recipient (functions/domain/email-feedback.ts): a redelivered SES event, or several
   * emails in flight to the same dead address, tell each recipient once. `addressKey` is a
   * hash of the address, so a corrected address that fails later is reported again.
   */
  undeliverableAddress: (staffId: string, addressKey: string, recipient: string) => `bounce#${staffId}#${addressKey}#${recipient}`,
  /** One notice per refused event, however often it is redelivered or retried. */
  eventRejected: (eventId: string) => `rejected#${eventId}`,
};

/** `#r<n>` for a refresher cycle n ≥ 1; nothing for the first request, whose keys predate refreshers. */
function cycleSuffix(refreshCycle: number): string {
  return refreshCycle > 0 ? `#r${refreshCycle}` : '';
}

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
 * What to do with a ledger row when its queue message arrives (at-least-once delivery,
 * from the queue, a redrive or the sweeper alike):
 * - `send`: queued, or failed earlier: claim it and send;
 * - `skip`: nothing to do: already sent (a redelivered message), or abandoned (an operator
 *   decides, never a message);
 * - `wait`: another consumer holds it in `sending` and its lease has not run out;
 * - `resend-flagged`: it has sat in `sending` past the lease, so a consumer crashed between
 *   asking SES and recording the answer: SES may already have sent it. It is sent again at
 *   most once more and flagged as a possible duplicate (docs/ARCHITECTURE.md "Reliability");
 * - `abandon`: that already happened once: it is not sent a third time but moved to
 *   `abandoned`, so one email is never sent more than twice.
 * A `failed` row that carries the flag is sent again like any failed row: SES refused the
 * flagged resend, so at most the first attempt reached the person and a resend is the
 * second copy at most.
 */
export type SendDecision = 'send' | 'skip' | 'wait' | 'resend-flagged' | 'abandon';

export function decideSend(
  row: { state: LedgerState; sendingSince?: string; possibleDuplicate?: boolean },
  now: Date,
  leaseMs: number,
): SendDecision {
  switch (row.state) {
    case 'sent':
    case 'abandoned':
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

/**
 * How the ledger sweeper (functions/handlers/ledger-sweep.ts) treats a row it finds owed
 * in the sweep index: the index holds every row not yet `sent`, `failed` or `abandoned`,
 * by the time it should next be looked at (`sweepAt`).
 * - `requeue`: still `queued` after the grace period, or `sending` past its lease: put its
 *   key back on the email queue, where `decideSend` decides (send, resend flagged once,
 *   or abandon) under the same rules as any delivery; look again after `recheckAt`;
 * - `later`: `sending` within its lease: look again when the lease runs out;
 * - `drop`: nothing owed any more (the index was behind the table): nothing to do.
 */
export type SweepDecision = { kind: 'requeue'; recheckAt: Date } | { kind: 'later'; recheckAt: Date } | { kind: 'drop' };

export interface DeliveryTimings {
  /** How long a claimed row may stay `sending` before its sender is presumed dead. */
  leaseMs: number;
  /** How long a `queued` row may wait for its queue message before the sweeper re-queues it. */
  queuedGraceMs: number;
}

export function decideSweep(row: { state: LedgerState; sendingSince?: string }, now: Date, timings: DeliveryTimings): SweepDecision {
  switch (row.state) {
    case 'queued':
      return { kind: 'requeue', recheckAt: new Date(now.getTime() + timings.queuedGraceMs) };
    case 'sending': {
      const leaseEnds = (row.sendingSince ? Date.parse(row.sendingSince) : 0) + timings.leaseMs;
      if (leaseEnds > now.getTime()) return { kind: 'later', recheckAt: new Date(leaseEnds) };
      return { kind: 'requeue', recheckAt: new Date(now.getTime() + timings.leaseMs) };
    }
    default:
      return { kind: 'drop' };
  }
}

/** Delivery timings from the trust configuration, with their defaults. */
export function deliveryTimings(config: {
  delivery?: { leaseSeconds?: number | undefined; sweepEveryMinutes?: number | undefined; queuedGraceSeconds?: number | undefined } | undefined;
}): DeliveryTimings & { sweepEveryMinutes: number } {
  return {
    leaseMs: (config.delivery?.leaseSeconds ?? 300) * 1000,
    queuedGraceMs: (config.delivery?.queuedGraceSeconds ?? 900) * 1000,
    sweepEveryMinutes: config.delivery?.sweepEveryMinutes ?? 5,
  };
}

/** When a new row should first be looked at by the sweeper: after the grace period. */
export function firstSweepAt(createdAt: Date, timings: Pick<DeliveryTimings, 'queuedGraceMs'>): Date {
  return new Date(createdAt.getTime() + timings.queuedGraceMs);
}
