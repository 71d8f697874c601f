/**
 * Erasure (`trust-notify erase <staffId>`; DESIGN.md "Data": "`trust-notify erase <staffId>`
 * removes a person's personal data except where safeguarding records must be kept (record
 * why)"). Pure: no AWS imports. Given what is stored about one person, decides per item:
 *
 * - the profile (names, email, roles): deleted;
 * - an acknowledgement request never acknowledged (pending, cancelled, superseded): deleted;
 * - an acknowledged request (now or in an earlier refresher cycle): redacted (the link's
 *   token id removed) but kept with its ids, dates and state: it is the trust's evidence that
 *   the policy was acknowledged (§6a; evidence packs), and it holds no name or address;
 * - a ledger row addressed to them or about them: never deleted (its business key must not
 *   be reused: a deleted key would let a redelivered event send again); its recipient address
 *   and template data (names, links) are replaced with `[erased]`, its key, state, dates and
 *   counts kept. A row still in flight (`queued`, `sending`) is left until it has settled,
 *   since redacting it would send to `[erased]`: run the command again later;
 * - a case where they are the subject, the reporter, a recipient or the owner: kept, and the
 *   reason recorded once on the case's timeline (SAFEGUARDING_REASON).
 *
 * Someone still active is refused: HR events would write their data again; `Staff Left`
 * first. Idempotent: items already erased produce no decision, so a second run finds nothing
 * left to erase (kept cases are reported again, marked as already recorded).
 */
import { isActiveOn, type Person } from './people.ts';

export const ERASED = '[erased]';

export const SAFEGUARDING_REASON =
  'Working Together to Safeguard Children / KCSIE: safeguarding records are kept (DESIGN.md "Data": erase keeps what safeguarding records must keep)';
export const EVIDENCE_REASON = 'acknowledgement evidence: who acknowledged which policy version and when (§6a); no name or address is held';
export const LEDGER_REASON = 'ledger business keys are never deleted (a deleted key would let a redelivered event send again)';
export const IN_FLIGHT_REASON = 'email still in flight (queued or sending): run erase again once it has been sent';

export interface RequestItem {
  sk: string;
  status: string;
  acknowledgements?: readonly unknown[];
  ackTokenId?: string;
  erasedAt?: string;
}

export interface LedgerItem {
  pk: string;
  state: string;
  recipient?: string;
  recipientStaffId?: string;
  templateData?: string;
}

export interface CaseItem {
  caseId: string;
  subject?: { staffId?: string };
  reportedByStaffId?: string;
  participants?: readonly string[];
  ownerStaffId?: string;
  /** Whether the timeline already records that this person's erasure kept the case. */
  erasureRecorded: boolean;
}

export type CaseRole = 'subject' | 'reporter' | 'recipient' | 'owner';

export interface ErasureInput {
  staffId: string;
  /** Europe/London today. */
  today: string;
  profile: Pick<Person, 'status' | 'leftOn'> | null;
  requests: readonly RequestItem[];
  /** Candidate rows (a scan may return rows that only look like theirs; see `ledgerRowConcerns`). */
  ledger: readonly LedgerItem[];
  /** Their display names, while the profile exists: rows about them addressed to others name them in the template data. */
  names?: readonly string[];
  cases: readonly CaseItem[];
}

export type ErasureDecision =
  | { item: 'profile'; action: 'delete' }
  | { item: 'request'; sk: string; action: 'delete' }
  | { item: 'request'; sk: string; action: 'redact'; reason: string }
  | { item: 'ledger'; pk: string; action: 'redact'; state: string; reason: string }
  | { item: 'ledger'; pk: string; action: 'defer'; reason: string }
  | { item: 'case'; caseId: string; action: 'keep'; roles: CaseRole[]; reason: string; alreadyRecorded: boolean };

export type ErasurePlan = { kind: 'refused'; reason: string } | { kind: 'plan'; decisions: ErasureDecision[] };

/** Whether a ledger row is addressed to the person or about them: their id is a segment of its key, it is addressed to them, or its data names them. */
export function ledgerRowConcerns(row: LedgerItem, staffId: string, names: readonly string[] = []): boolean {
  if (row.pk.split('#').includes(staffId)) return true;
  if (row.recipientStaffId === staffId) return true;
  const data = row.templateData ?? '';
  return names.some((name) => name.length > 0 && (data.includes(name) || row.recipient === name));
}

export function isErasedLedgerRow(row: LedgerItem): boolean {
  return (row.recipient === undefined || row.recipient === ERASED) && (row.templateData === undefined || row.templateData === ERASED);
}

/** The roles the person has on a case (none: the case is not theirs). */
export function caseRoles(item: CaseItem, staffId: string): CaseRole[] {
  const roles: CaseRole[] = [];
  if (item.subject?.staffId === staffId) roles.push('subject');
  if (item.reportedByStaffId === staffId) roles.push('reporter');
  if (item.participants?.includes(staffId)) roles.push('recipient');
  if (item.ownerStaffId === staffId) roles.push('owner');
  return roles;
}

export function planErasure(input: ErasureInput): ErasurePlan {
  const { staffId, profile } = input;
  if (profile && isActiveOn(profile, input.today)) {
    return { kind: 'refused', reason: 'the person is still active: publish Staff Left first (HR events would write their data again)' };
  }
  const decisions: ErasureDecision[] = [];
  if (profile) decisions.push({ item: 'profile', action: 'delete' });

  for (const request of input.requests) {
    const evidence = request.status === 'acknowledged' || (request.acknowledgements?.length ?? 0) > 0;
    if (!evidence) decisions.push({ item: 'request', sk: request.sk, action: 'delete' });
    else if (!request.erasedAt) decisions.push({ item: 'request', sk: request.sk, action: 'redact', reason: EVIDENCE_REASON });
  }

  for (const row of input.ledger) {
    if (!ledgerRowConcerns(row, staffId, input.names) || isErasedLedgerRow(row)) continue;
    if (row.state === 'queued' || row.state === 'sending') decisions.push({ item: 'ledger', pk: row.pk, action: 'defer', reason: IN_FLIGHT_REASON });
    else decisions.push({ item: 'ledger', pk: row.pk, action: 'redact', state: row.state, reason: LEDGER_REASON });
  }

  for (const item of input.cases) {
    const roles = caseRoles(item, staffId);
    if (roles.length === 0) continue;
    decisions.push({ item: 'case', caseId: item.caseId, action: 'keep', roles, reason: SAFEGUARDING_REASON, alreadyRecorded: item.erasureRecorded });
  }
  return { kind: 'plan', decisions };
}

export interface ErasureSummary {
  profileDeleted: number;
  requestsDeleted: number;
  requestsRedacted: number;
  ledgerRedacted: number;
  ledgerDeferred: number;
  casesKept: string[];
  casesNewlyRecorded: number;
  /** Whether anything is (or was) still to erase: false on a run that changes nothing. */
  changed: boolean;
}

export function summarise(decisions: readonly ErasureDecision[]): ErasureSummary {
  const count = (item: ErasureDecision['item'], action: ErasureDecision['action']) =>
    decisions.filter((d) => d.item === item && d.action === action).length;
  const cases = decisions.filter((d): d is Extract<ErasureDecision, { item: 'case' }> => d.item === 'case');
  const summary = {
    profileDeleted: count('profile', 'delete'),
    requestsDeleted: count('request', 'delete'),
    requestsRedacted: count('request', 'redact'),
    ledgerRedacted: count('ledger', 'redact'),
    ledgerDeferred: count('ledger', 'defer'),
    casesKept: cases.map((c) => c.caseId),
    casesNewlyRecorded: cases.filter((c) => !c.alreadyRecorded).length,
  };
  const changed =
    summary.profileDeleted + summary.requestsDeleted + summary.requestsRedacted + summary.ledgerRedacted + summary.casesNewlyRecorded > 0;
  return { ...summary, changed };
}
