/**
 * Breach and concern cases (DESIGN.md "Breach and concern intake and routing"): the case
 * record, its status moves, who may read its narrative, its timeline, and when an
 * untriaged case is escalated. Pure: no AWS imports; the caller passes "now".
 *
 * Status: `reported` → `triaged` → `investigating` → `closed`. Triage may also close a
 * case outright (no further action); nothing moves backwards and a closed case stays
 * closed. Every move, every narrative read and every refusal is a timeline entry saying
 * who and when.
 */
import type { BreachReported } from '../contracts/events.ts';
import type { BreachCategory, Role } from '../contracts/roles.ts';
import { type CaseRecipient, describeRouting, type Routing } from './breach-routing.ts';

export const CASE_STATUSES = ['reported', 'triaged', 'investigating', 'closed'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

/** The moves a case may make, from each status. */
export const CASE_MOVES: Record<CaseStatus, readonly CaseStatus[]> = {
  reported: ['triaged'],
  triaged: ['investigating', 'closed'],
  investigating: ['closed'],
  closed: [],
};

/** `CASE-2026-000123`: the year the case was opened (Europe/London) and a per-year sequence. */
export function caseIdFor(year: number, sequence: number): string {
  if (!Number.isInteger(sequence) || sequence < 1) throw new RangeError('case sequence must be a positive integer');
  return `CASE-${year}-${String(sequence).padStart(6, '0')}`;
}

/** A note on a status move. Stored with the narrative (it may say as much), never emailed. */
export const NOTE_MAX_LENGTH = 2_000;

export interface CaseRecord {
  caseId: string;
  schoolId: string;
  category: BreachCategory;
  reportedByStaffId?: string;
  subject: BreachReported['subject'];
  occurredOn: string;
  status: CaseStatus;
  reportedAt: string;
  /** When triage is due: reportedAt + the configured triage hours. */
  triageDueAt: string;
  /** How many escalations have been made (0, 1: Head of School, 2: Executive Headteacher). */
  escalationLevel: number;
  /** When the next escalation is due, while the case waits for triage. */
  nextEscalationAt?: string;
  /** Set by the `Breach Reported` handler, once. */
  routing?: Routing;
  routedAt?: string;
  /** Everyone with a role on the case: recipients of its notices and escalations, and its owner. */
  participants: string[];
  /** Who triaged it (and so owns it). */
  ownerStaffId?: string;
}

/** The case a report opens (the intake), before any routing. */
export function openCase(
  report: Pick<BreachReported, 'schoolId' | 'category' | 'reportedByStaffId' | 'subject' | 'occurredOn'>,
  caseId: string,
  now: Date,
  triageHours: number,
): CaseRecord {
  const triageDueAt = addHours(now, triageHours);
  return {
    caseId,
    schoolId: report.schoolId,
    category: report.category,
    ...(report.reportedByStaffId ? { reportedByStaffId: report.reportedByStaffId } : {}),
    subject: report.subject.staffId ? { kind: report.subject.kind, staffId: report.subject.staffId } : { kind: report.subject.kind },
    occurredOn: report.occurredOn,
    status: 'reported',
    reportedAt: now.toISOString(),
    triageDueAt,
    escalationLevel: 0,
    nextEscalationAt: triageDueAt,
    participants: [],
  };
}

export function addHours(at: Date, hours: number): string {
  return new Date(at.getTime() + hours * 3_600_000).toISOString();
}

// ---------------------------------------------------------------------------------
// Timeline

/** Routing as recorded: the recipients and why (ids and roles only). */
export type TimelineEntry =
  | { kind: 'reported'; at: string; by?: string }
  | { kind: 'routed'; at: string; routing: Routing }
  | { kind: 'status'; at: string; by: string; from: CaseStatus; to: CaseStatus; noteAdded: boolean }
  | { kind: 'narrative-read'; at: string; by: string }
  | { kind: 'narrative-refused'; at: string; by: string; reason: AccessRefusal }
  | { kind: 'move-refused'; at: string; by: string; to: string; reason: string }
  | { kind: 'escalated'; at: string; level: 1 | 2; routing: Routing }
  /** `trust-notify erase`: the person's personal data was erased but this case kept, and why (functions/domain/erasure.ts). */
  | { kind: 'erasure-kept'; at: string; staffId: string; roles: string[]; reason: string };

// ---------------------------------------------------------------------------------
// Who may do what

export type AccessRefusal = 'subject-of-case' | 'no-role-on-case';

/**
 * Whether a person may read the case's narrative (or move it): only someone with a role on
 * the case (told about it, told of an escalation, or its owner), and never its subject.
 */
export function accessDecision(record: Pick<CaseRecord, 'subject' | 'participants' | 'ownerStaffId'>, staffId: string):
  | { allowed: true }
  | { allowed: false; reason: AccessRefusal } {
  if (record.subject.staffId === staffId) return { allowed: false, reason: 'subject-of-case' };
  if (record.participants.includes(staffId) || record.ownerStaffId === staffId) return { allowed: true };
  return { allowed: false, reason: 'no-role-on-case' };
}

export type MoveDecision =
  | { ok: true; from: CaseStatus; to: CaseStatus }
  | { ok: false; reason: 'no-role-on-case' | 'subject-of-case' | 'invalid-move' | 'unknown-status'; message: string };

/** Checks a status move (`trust-notify case <caseId> <status> --by <staffId>`). */
export function decideMove(record: Pick<CaseRecord, 'caseId' | 'status' | 'subject' | 'participants' | 'ownerStaffId'>, to: string, by: string): MoveDecision {
  if (!(CASE_STATUSES as readonly string[]).includes(to) || to === 'reported') {
    return { ok: false, reason: 'unknown-status', message: `"${to}" is not a status a case can be moved to (use triaged, investigating or closed)` };
  }
  const target = to as CaseStatus;
  const access = accessDecision(record, by);
  if (!access.allowed) {
    return {
      ok: false,
      reason: access.reason,
      message:
        access.reason === 'subject-of-case'
          ? `${by} is the subject of ${record.caseId} and cannot act on it`
          : `${by} has no role on ${record.caseId}`,
    };
  }
  const allowed = CASE_MOVES[record.status];
  if (!allowed.includes(target)) {
    const next = allowed.length > 0 ? `from ${record.status} it can move to ${allowed.join(' or ')}` : 'a closed case stays closed';
    return { ok: false, reason: 'invalid-move', message: `${record.caseId} is ${record.status} and cannot move to ${target}: ${next}` };
  }
  return { ok: true, from: record.status, to: target };
}

// ---------------------------------------------------------------------------------
// Triage escalation

/** How long after an unanswered escalation the next one is due: the same triage window again. */
export type EscalationStep =
  | { kind: 'none' }
  | { kind: 'escalate'; level: 1 | 2; role: Extract<Role, 'head-of-school' | 'executive-headteacher'>; nextEscalationAt?: string };

/**
 * What the hourly triage job does with an open case at `now`: nothing (triaged, or not due
 * yet), or escalate once more: first the Head of School, when triage is overdue, then the
 * Executive Headteacher, a further triage window later. Two escalations at most.
 */
export function escalationStep(
  record: Pick<CaseRecord, 'status' | 'escalationLevel' | 'triageDueAt'>,
  now: Date,
  triageHours: number,
): EscalationStep {
  if (record.status !== 'reported') return { kind: 'none' };
  const due = Date.parse(record.triageDueAt);
  if (record.escalationLevel === 0 && now.getTime() >= due) {
    return { kind: 'escalate', level: 1, role: 'head-of-school', nextEscalationAt: addHours(new Date(due), triageHours) };
  }
  if (record.escalationLevel === 1 && now.getTime() >= due + triageHours * 3_600_000) {
    return { kind: 'escalate', level: 2, role: 'executive-headteacher' };
  }
  return { kind: 'none' };
}

/** A case still waiting for its `Breach Reported` handler this long after the report is announced again. */
export const REANNOUNCE_AFTER_MS = 10 * 60_000;

/** Whether the intake's event may have been lost: the case was never routed, some minutes on. */
export function needsReannouncing(record: Pick<CaseRecord, 'routedAt' | 'reportedAt' | 'status'>, now: Date): boolean {
  return !record.routedAt && record.status === 'reported' && now.getTime() - Date.parse(record.reportedAt) >= REANNOUNCE_AFTER_MS;
}

/** The staff ids a routing tells. */
export function recipientIds(routing: Pick<Routing, 'recipients'>): string[] {
  return routing.recipients.map((r: CaseRecipient) => r.staffId);
}

/** A timeline entry as lines of text (the CLI's `case --show` and the console's case page). */
export function describeEntry(entry: TimelineEntry): string[] {
  switch (entry.kind) {
    case 'reported':
      return [`reported${entry.by ? ` by ${entry.by}` : ''}`];
    case 'routed':
      return ['routed:', ...describeRouting(entry.routing).map((line) => `  ${line}`)];
    case 'escalated':
      return [`escalated (level ${entry.level}, not triaged in time):`, ...describeRouting(entry.routing).map((line) => `  ${line}`)];
    case 'status':
      return [`${entry.from} → ${entry.to} by ${entry.by}${entry.noteAdded ? ' (with a note)' : ''}`];
    case 'narrative-read':
      return [`narrative read by ${entry.by}`];
    case 'narrative-refused':
      return [`narrative refused to ${entry.by} (${entry.reason})`];
    case 'move-refused':
      return [`move to ${entry.to} refused to ${entry.by}: ${entry.reason}`];
    case 'erasure-kept':
      return [`kept when ${entry.staffId}'s personal data was erased (${entry.roles.join(', ')}): ${entry.reason}`];
  }
}
