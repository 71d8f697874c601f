/**
 * Chasing overdue acknowledgements: the daily reminder scan (DESIGN.md "Also scheduled": "a
 * daily reminder scanner (overdue requests: reminders, then one digest per Head of School)").
 * Pure: no AWS imports, no clock of its own. The caller passes `today` (the Europe/London
 * date of the scheduled time, so a retried or simulated run decides the same) and a link
 * signer; functions/handlers/reminder-scanner.ts does the reading and writing.
 *
 * - §1f, §4a.ii: the Trust Board makes sure that all staff and volunteers are made aware of
 *   the policy. Someone who has not confirmed it by the due date is reminded every
 *   `reminders.everyDays`, at most `reminders.maxReminders` times, each reminder with a
 *   fresh signed link.
 * - §4b.i: the Head of School makes sure staff and volunteers understand the policy. Once
 *   the reminders are spent (and the last one has had `everyDays` to work), the person is
 *   listed in their Head of School's digest: ONE email per Head of School per day listing
 *   all their people still outstanding after the reminders, never one email per person.
 *   They are listed as "due again" every further `everyDays` while still outstanding, and a
 *   digest goes only on a day when someone on it is new or due again.
 * - §4a.i: the trust's leadership (Executive Headteacher and the trust's HR advisor, §4a.iii)
 *   get one roll-up per day, with counts per school, on the days digests go.
 * - DESIGN.md "Audience": an address marked undeliverable is not chased. At the step the
 *   first reminder would have been, HR (the trust-level HR advisor) and the person's line
 *   manager are told instead (once per request and refresher cycle: the ledger key decides),
 *   and the person goes straight into the digest.
 *
 * Cadence: a request's next step is due `everyDays` after its anchor: the day of its last
 * escalation, else of its last reminder, else its due date. With the defaults (due in 14
 * days, every 7, at most 3) a request made on day 0 is reminded on days 21, 28 and 35 and
 * listed for the Head of School on day 42, 49, ... until it is acknowledged.
 *
 * Exactly once: reminder n of a request has the ledger key `reminder#<policy>#v<version>#
 * <staffId>#<n>` whatever day it is sent; the handler records `reminderCount = n` on the
 * request only after queueing, conditional on the count it read, so a retried scan neither
 * sends a second reminder n nor counts one twice. Digests are keyed by recipient and date.
 */
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import { emailSchoolName, schoolName, type TrustConfig } from '../config/trust-config.ts';
import { addDays, daysBetween, formatLongDate } from './dates.ts';
import { type DigestPerson, type IntendedEmail, ledgerKey, type RollupSchool } from './emails.ts';
import type { AckRequest } from './onboarding.ts';
import { canBeEmailed, displayName, isActiveOn, type Person, policyAppliesTo } from './people.ts';
import type { CurrentPolicy } from './policies.ts';

export interface Cadence {
  everyDays: number;
  maxReminders: number;
}

/** A pending request the scan found past due, with what is on record about it. */
export interface ChaseItem {
  request: AckRequest;
  person: Person | null;
  /** The policy's current version, or null if it is not registered. */
  policy: CurrentPolicy | null;
}

export type SkipReason = 'not-overdue' | 'person-unknown' | 'left' | 'not-current-version' | 'not-in-audience';

export type ChaseDecision =
  /** Not chased: not past due, the person is unknown or has left, a newer version replaced it, or it no longer applies to them. */
  | { kind: 'skip'; reason: SkipReason }
  /** Overdue, but no step is due today. */
  | { kind: 'wait'; escalated: boolean; undeliverable: boolean }
  /** Send reminder n (1-based) and record it. */
  | { kind: 'remind'; reminder: number }
  /** List the person in their Head of School's digest today (the n-th time) and record it. */
  | { kind: 'escalate'; escalation: number; undeliverable: boolean };

/** The day a request's next step is due: `everyDays` after its last escalation, last reminder, or due date. */
export function nextStepOn(request: Pick<AckRequest, 'dueOn' | 'lastRemindedOn' | 'lastEscalatedOn'>, everyDays: number): string {
  return addDays(request.lastEscalatedOn ?? request.lastRemindedOn ?? request.dueOn, everyDays);
}

export function decideChase(item: ChaseItem, today: string, cadence: Cadence): ChaseDecision {
  const { request, person, policy } = item;
  if (request.status !== 'pending' || request.dueOn >= today) return { kind: 'skip', reason: 'not-overdue' };
  if (!person) return { kind: 'skip', reason: 'person-unknown' };
  if (!isActiveOn(person, today)) return { kind: 'skip', reason: 'left' };
  // An older version's link is refused as superseded (functions/domain/acknowledgement.ts): chasing it would not help.
  if (!policy || policy.version !== request.version) return { kind: 'skip', reason: 'not-current-version' };
  if (!policyAppliesTo(policy, person)) return { kind: 'skip', reason: 'not-in-audience' };

  const undeliverable = !person.emailDeliverable;
  const escalations = request.escalationCount ?? 0;
  const stepDue = nextStepOn(request, cadence.everyDays) <= today;
  const reminding = !undeliverable && request.reminderCount < cadence.maxReminders;
  if (!stepDue) return { kind: 'wait', escalated: escalations > 0, undeliverable };
  if (reminding) return { kind: 'remind', reminder: request.reminderCount + 1 };
  return { kind: 'escalate', escalation: escalations + 1, undeliverable };
}

// ---------------------------------------------------------------------------------
// One page of overdue requests: reminders, undeliverable notices, and who is outstanding.

export interface ChaseContext {
  config: TrustConfig;
  today: string;
  now: Date;
  /** Signs an acknowledgement link for one person and policy version. */
  ackLink: (staffId: string, policyId: string, version: number, expiresAt: Date) => string;
  /** Active holders of `hr-advisor` at trust level (told about undeliverable addresses). */
  hrAdvisors: readonly Person[];
  /** Line managers of the people on this page, by staffId (those on record). */
  lineManagers: ReadonlyMap<string, Person>;
}

/** A count to record on a request once its emails are queued: reminder or escalation n (conditional on n - 1). */
export interface StepUpdate {
  request: AckRequest;
  n: number;
}

/** Someone past their reminders: listed in the digest (today's new entries carry the escalation to record). */
export interface OutstandingEntry {
  request: AckRequest;
  person: Person;
  policyTitle: string;
  /** Set when listed as new (or due again) today: the escalation count to record. */
  escalation?: number;
  undeliverable: boolean;
}

export interface SchoolTally {
  overdue: number;
  beingReminded: number;
  escalated: number;
  newlyEscalated: number;
  undeliverable: number;
  remindersSent: number;
}

/** Counts per school id (`trust` for central staff). */
export type Tally = Record<string, SchoolTally>;

export interface ChasePagePlan {
  /** Reminders and undeliverable notices, to record in the ledger and queue. */
  emails: IntendedEmail[];
  /** Reminder counts to record after queueing. */
  reminders: StepUpdate[];
  outstanding: OutstandingEntry[];
  tally: Tally;
  skipped: Record<SkipReason, number>;
}

const emptyTally = (): SchoolTally => ({ overdue: 0, beingReminded: 0, escalated: 0, newlyEscalated: 0, undeliverable: 0, remindersSent: 0 });

/** Adds `from` into `into` (the handler sums the pages' tallies). */
export function addTally(into: Tally, from: Tally): Tally {
  for (const [schoolId, counts] of Object.entries(from)) {
    const total = into[schoolId] ?? emptyTally();
    into[schoolId] = total;
    for (const k of Object.keys(counts) as (keyof SchoolTally)[]) total[k] += counts[k];
  }
  return into;
}

export function planChasePage(items: readonly ChaseItem[], ctx: ChaseContext): ChasePagePlan {
  const plan: ChasePagePlan = {
    emails: [],
    reminders: [],
    outstanding: [],
    tally: {},
    skipped: { 'not-overdue': 0, 'person-unknown': 0, left: 0, 'not-current-version': 0, 'not-in-audience': 0 },
  };
  for (const item of items) {
    const decision = decideChase(item, ctx.today, ctx.config.reminders);
    if (decision.kind === 'skip') {
      plan.skipped[decision.reason]++;
      continue;
    }
    // decideChase only returns other kinds for a known, current policy and person.
    const person = item.person as Person;
    const policy = item.policy as CurrentPolicy;
    const counts = plan.tally[person.schoolId] ?? emptyTally();
    plan.tally[person.schoolId] = counts;
    counts.overdue++;
    if (!person.emailDeliverable) counts.undeliverable++;

    if (decision.kind === 'remind') {
      counts.beingReminded++;
      counts.remindersSent++;
      plan.emails.push(reminderEmail(item.request, person, policy, decision.reminder, ctx));
      plan.reminders.push({ request: item.request, n: decision.reminder });
      continue;
    }
    if (decision.kind === 'wait') {
      if (decision.escalated) {
        counts.escalated++;
        plan.outstanding.push({ request: item.request, person, policyTitle: policy.title, undeliverable: decision.undeliverable });
      } else if (!decision.undeliverable) {
        counts.beingReminded++;
      }
      continue;
    }
    counts.escalated++;
    if (decision.escalation === 1) counts.newlyEscalated++;
    plan.outstanding.push({
      request: item.request,
      person,
      policyTitle: policy.title,
      escalation: decision.escalation,
      undeliverable: decision.undeliverable,
    });
    if (decision.undeliverable) plan.emails.push(...undeliverableNotices(item.request, person, policy, ctx));
  }
  return plan;
}

export function dayCount(days: number): string {
  return days === 1 ? '1 day' : `${days} days`;
}

function reminderEmail(request: AckRequest, person: Person, policy: CurrentPolicy, n: number, ctx: ChaseContext): IntendedEmail {
  const cycle = request.refreshCycle ?? 0;
  const expiresAt = new Date(ctx.now.getTime() + ctx.config.acknowledgement.linkValidDays * 86_400_000);
  return {
    key: ledgerKey.reminder(request.policyId, request.version, request.staffId, n, cycle),
    templateId: 'reminder',
    to: { email: person.email, staffId: person.staffId },
    data: {
      givenName: person.givenName,
      trustName: ctx.config.trust.name,
      schoolName: emailSchoolName(ctx.config, person.schoolId),
      policyTitle: policy.title,
      version: request.version,
      documentUrl: policy.documentUrl,
      ackUrl: ctx.ackLink(request.staffId, request.policyId, request.version, expiresAt),
      dueDate: formatLongDate(request.dueOn),
      overdueBy: dayCount(daysBetween(request.dueOn, ctx.today)),
      reminderNumber: n,
      maxReminders: ctx.config.reminders.maxReminders,
      finalReminder: n === ctx.config.reminders.maxReminders,
      refresher: cycle > 0,
    },
  };
}

interface Recipient {
  /** The person's staffId, or `integration-contact`. */
  id: string;
  email: string;
  givenName: string;
  staffId?: string;
}

const INTEGRATION_CONTACT = 'integration-contact';

function integrationContact(config: TrustConfig): Recipient {
  return { id: INTEGRATION_CONTACT, email: config.integrationContact, givenName: 'Integration contact' };
}

const asRecipient = (p: Person): Recipient => ({ id: p.staffId, email: p.email, givenName: p.givenName, staffId: p.staffId });

/**
 * Who is told that a person with an undeliverable address has not confirmed (DESIGN.md
 * "Audience": HR and the line manager): their line manager, if on record and reachable, and
 * the trust's HR advisors; never the person themselves. If nobody can be emailed, the
 * integration contact, so the notice is never silently dropped.
 */
export function undeliverableRecipients(
  person: Person,
  ctx: Pick<ChaseContext, 'config' | 'today' | 'hrAdvisors' | 'lineManagers'>,
): { recipients: (Recipient & { reason: string })[]; note?: string } {
  const usable = (p: Person | undefined): p is Person =>
    p !== undefined && p.staffId !== person.staffId && isActiveOn(p, ctx.today) && canBeEmailed(p);
  const manager = person.lineManagerStaffId ? ctx.lineManagers.get(person.lineManagerStaffId) : undefined;
  const recipients: (Recipient & { reason: string })[] = [];
  if (usable(manager)) recipients.push({ ...asRecipient(manager), reason: 'their line manager' });
  for (const hr of ctx.hrAdvisors.filter(usable)) {
    if (!recipients.some((r) => r.id === hr.staffId)) recipients.push({ ...asRecipient(hr), reason: "the trust's HR advisor" });
  }
  if (recipients.length === 0) {
    return {
      recipients: [{ ...integrationContact(ctx.config), reason: 'the integration contact' }],
      note: 'Nobody on record can be told in their place: they have no line manager who can be emailed and nobody holds the HR advisor role at trust level.',
    };
  }
  if (!usable(manager)) return { recipients, note: 'They have no line manager on record who can be emailed, so only HR is told.' };
  return { recipients };
}

function undeliverableNotices(request: AckRequest, person: Person, policy: CurrentPolicy, ctx: ChaseContext): IntendedEmail[] {
  const { recipients, note } = undeliverableRecipients(person, ctx);
  return recipients.map(
    (recipient): IntendedEmail => ({
      key: ledgerKey.undeliverableNotice(request.policyId, request.version, request.staffId, recipient.id, request.refreshCycle ?? 0),
      templateId: 'undeliverable-notice',
      to: recipient.staffId ? { email: recipient.email, staffId: recipient.staffId } : { email: recipient.email },
      data: {
        recipientGivenName: recipient.givenName,
        trustName: ctx.config.trust.name,
        personName: displayName(person),
        schoolName: schoolName(ctx.config, person.schoolId),
        policyTitle: policy.title,
        version: request.version,
        documentUrl: policy.documentUrl,
        dueDate: formatLongDate(request.dueOn),
        reason: recipient.reason,
        ...(note ? { routingNote: note } : {}),
      },
    }),
  );
}

// ---------------------------------------------------------------------------------
// After every page: the Head of School digests and the trust-wide roll-up.

export interface DigestContext {
  config: TrustConfig;
  today: string;
  /** Active holders of `head-of-school`, by school id (for the schools of the outstanding people). */
  headsOfSchool: ReadonlyMap<string, readonly Person[]>;
  /** Active holders of `executive-headteacher` at trust level: next in line, and the roll-up's readers. */
  executiveHeadteachers: readonly Person[];
  /** Active holders of `hr-advisor` at trust level: the roll-up's other readers. */
  hrAdvisors: readonly Person[];
}

export interface EscalationPlan {
  /** The digests and the roll-ups, to record in the ledger and queue. */
  emails: IntendedEmail[];
  /** Escalation counts to record after queueing. */
  escalations: StepUpdate[];
}

/**
 * Who gets a person's digest entry (§4b.i): the Head(s) of School of their school. Central
 * (trust) staff, a school with no Head who can be emailed, or a Head who is themselves
 * outstanding: the Executive Headteacher (DESIGN.md "Conflict of interest", "Gaps"); if
 * nobody holds either role, the integration contact.
 */
export function digestRecipients(
  person: Person,
  ctx: Pick<DigestContext, 'config' | 'headsOfSchool' | 'executiveHeadteachers'>,
): { recipients: Recipient[]; note?: string } {
  const usable = (people: readonly Person[]) => people.filter((p) => p.staffId !== person.staffId && canBeEmailed(p));
  const central = person.schoolId === TRUST_SCHOOL_ID;
  const heads = central ? [] : usable(ctx.headsOfSchool.get(person.schoolId) ?? []);
  if (heads.length > 0) return { recipients: heads.map(asRecipient) };
  const execs = usable(ctx.executiveHeadteachers);
  if (execs.length > 0) {
    return {
      recipients: execs.map(asRecipient),
      note: central
        ? 'Some of these people are central (trust) staff, so they are listed for the Executive Headteacher.'
        : 'Some of these people are at a school with no other Head of School on record who can be emailed, so they are listed for the Executive Headteacher.',
    };
  }
  return {
    recipients: [integrationContact(ctx.config)],
    note: 'Nobody on record holds the Head of School or Executive Headteacher role for some of these people, so they are listed for the integration contact. Please make sure someone follows them up.',
  };
}

export function planEscalations(outstanding: readonly OutstandingEntry[], tally: Tally, ctx: DigestContext): EscalationPlan {
  const listedToday = outstanding.filter((e) => e.escalation !== undefined);
  if (listedToday.length === 0) return { emails: [], escalations: [] };
  const date = formatLongDate(ctx.today);

  const groups = new Map<string, { recipient: Recipient; entries: OutstandingEntry[]; notes: Set<string> }>();
  for (const entry of outstanding) {
    const { recipients, note } = digestRecipients(entry.person, ctx);
    for (const recipient of recipients) {
      const group = groups.get(recipient.id) ?? { recipient, entries: [], notes: new Set<string>() };
      groups.set(recipient.id, group);
      group.entries.push(entry);
      if (note) group.notes.add(note);
    }
  }

  const emails: IntendedEmail[] = [];
  for (const { recipient, entries, notes } of groups.values()) {
    // A digest goes only when someone on it is new or due again today.
    if (!entries.some((e) => e.escalation !== undefined)) continue;
    const people = entries.map((e) => digestPerson(e, ctx)).sort(byListing);
    const schools = new Set(entries.map((e) => e.person.schoolId));
    emails.push({
      key: ledgerKey.headDigest(recipient.id, ctx.today),
      templateId: 'head-digest',
      to: recipient.staffId ? { email: recipient.email, staffId: recipient.staffId } : { email: recipient.email },
      data: {
        recipientGivenName: recipient.givenName,
        trustName: ctx.config.trust.name,
        date,
        count: people.length,
        people,
        stillBeingReminded: [...schools].reduce((sum, id) => sum + (tally[id]?.beingReminded ?? 0), 0),
        ...(notes.size > 0 ? { routingNote: [...notes].join(' ') } : {}),
      },
    });
  }
  emails.push(...rollups(tally, ctx, date));
  return { emails, escalations: listedToday.map((e) => ({ request: e.request, n: e.escalation as number })) };
}

function digestPerson(entry: OutstandingEntry, ctx: DigestContext): DigestPerson {
  const { request, person } = entry;
  return {
    name: displayName(person),
    schoolName: schoolName(ctx.config, person.schoolId),
    policyTitle: entry.policyTitle,
    version: request.version,
    dueDate: formatLongDate(request.dueOn),
    overdueBy: dayCount(daysBetween(request.dueOn, ctx.today)),
    remindersSent: request.reminderCount,
    isNew: entry.escalation === 1,
    ...(entry.undeliverable ? { note: 'their email address is undeliverable: HR (and their line manager, where one is on record) have been told' } : {}),
  };
}

const byListing = (a: DigestPerson, b: DigestPerson) =>
  a.schoolName.localeCompare(b.schoolName) || a.name.localeCompare(b.name) || a.policyTitle.localeCompare(b.policyTitle);

/** The trust-wide roll-up (§4a.i): one per day to each of the trust's leadership, counts per school. */
function rollups(tally: Tally, ctx: DigestContext, date: string): IntendedEmail[] {
  const order = [...ctx.config.schools.map((s) => s.id), TRUST_SCHOOL_ID];
  const rank = (id: string) => (order.includes(id) ? order.indexOf(id) : order.length);
  const schools: RollupSchool[] = Object.entries(tally)
    .filter(([, c]) => c.overdue > 0)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([id, c]) => ({
      schoolName: schoolName(ctx.config, id),
      overdue: c.overdue,
      beingReminded: c.beingReminded,
      escalated: c.escalated,
      newlyEscalated: c.newlyEscalated,
      undeliverable: c.undeliverable,
    }));
  const total = (k: Exclude<keyof RollupSchool, 'schoolName'>) => schools.reduce((sum, s) => sum + s[k], 0);

  const leadership = new Map<string, Recipient>();
  for (const p of [...ctx.executiveHeadteachers, ...ctx.hrAdvisors]) if (canBeEmailed(p)) leadership.set(p.staffId, asRecipient(p));
  const recipients = leadership.size > 0 ? [...leadership.values()] : [integrationContact(ctx.config)];
  const note =
    leadership.size > 0
      ? undefined
      : 'Nobody on record who can be emailed holds the Executive Headteacher or HR advisor role at trust level, so this roll-up comes to the integration contact.';
  return recipients.map(
    (recipient): IntendedEmail => ({
      key: ledgerKey.trustRollup(ctx.today, recipient.id),
      templateId: 'trust-rollup',
      to: recipient.staffId ? { email: recipient.email, staffId: recipient.staffId } : { email: recipient.email },
      data: {
        recipientGivenName: recipient.givenName,
        trustName: ctx.config.trust.name,
        date,
        schools,
        totalOverdue: total('overdue'),
        totalBeingReminded: total('beingReminded'),
        totalEscalated: total('escalated'),
        totalNewlyEscalated: total('newlyEscalated'),
        totalUndeliverable: total('undeliverable'),
        ...(note ? { routingNote: note } : {}),
      },
    }),
  );
}
