/**
 * What the operator console shows, loaded from the tables and queues (query patterns of
 * lib/data-tables.ts; the ledger's one Scan is explained in LedgerRepository.scanAll).
 * Used by functions/handlers/console-http.ts, in AWS and on the local runtime alike.
 */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CaseRepository } from '../adapters/case-repository.ts';
import { type LedgerRow, LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import type { TrustConfig } from '../config/trust-config.ts';
import { accessDecision, type CaseRecord, type TimelineEntry } from '../domain/cases.ts';
import type { ComplianceReport } from '../domain/compliance-report.ts';
import type { LedgerState } from '../domain/emails.ts';
import type { DlqCount, LedgerOverview, NarrativeView } from '../http/console-pages.ts';
import { loadComplianceReportWithVersions, type ReportQuery } from './compliance-report.ts';

export interface ConsoleSource {
  db: DynamoDBDocumentClient;
  dataTable: string;
  ledgerTable: string;
  narrativeTable: string;
  config: TrustConfig;
  sqs: SQSClient;
  /** DLQ display name → queue URL (env DLQ_URLS). */
  dlqUrls: Record<string, string>;
}

/** The report of one policy version and the versions on record (for the version links). */
export function complianceReport(source: ConsoleSource, query: ReportQuery): Promise<{ report: ComplianceReport; versions: number[] }> {
  return loadComplianceReportWithVersions({ db: source.db, table: source.dataTable, config: source.config }, query);
}

/** Every policy's current version (one query of the POLICIES index). */
export function currentPolicies(source: ConsoleSource): Promise<{ policyId: string; version: number }[]> {
  return new PolicyRepository(source.db, source.dataTable).listCurrent();
}

export async function awaitingTriage(source: ConsoleSource): Promise<number> {
  return (await cases(source).awaitingTriage()).length;
}

const cases = (source: ConsoleSource) => new CaseRepository(source.db, source.dataTable, source.narrativeTable);

export async function recentCases(source: ConsoleSource, limit: number, before: string | undefined, status: CaseRecord['status'] | undefined) {
  // Filtering by status reads further back: at most five pages a request.
  const out: CaseRecord[] = [];
  let cursor = before;
  let exhausted = false;
  for (let page = 0; page < 5 && out.length < limit; page++) {
    const batch = await cases(source).recent(limit, cursor);
    out.push(...batch.cases.filter((c) => status === undefined || c.status === status));
    // Ended by the ids, not by how many cases came back: an allocated id without a case is not the end.
    if (batch.next === null) {
      exhausted = true;
      break;
    }
    cursor = batch.next;
  }
  const shown = out.slice(0, limit);
  const next = exhausted && out.length <= limit ? null : out.length >= limit ? (shown[shown.length - 1]?.caseId ?? null) : (cursor ?? null);
  return { cases: shown, next };
}

export interface CaseView {
  record: CaseRecord;
  timeline: (TimelineEntry & { seq: number })[];
  narrative: NarrativeView;
}

/**
 * A case for a viewer (an email: the signed-in person, or "view as" locally). The viewer is
 * matched to a person among those the case names (its participants, owner and subject), so
 * no directory-wide lookup is needed; the narrative is read only for a person with a role
 * on the case (functions/domain/cases.ts `accessDecision`), and the read or the refusal is
 * recorded on the timeline before anything is shown, as `trust-notify case --show` does.
 */
export async function caseForViewer(source: ConsoleSource, caseId: string, viewerEmail: string | null, now: Date): Promise<CaseView | null> {
  const repo = cases(source);
  const record = await repo.get(caseId);
  if (!record) return null;
  let narrative: NarrativeView;
  if (viewerEmail === null) {
    narrative = { kind: 'refused', reason: 'not-identified' };
  } else {
    const named = [...new Set([...record.participants, ...(record.ownerStaffId ? [record.ownerStaffId] : []), ...(record.subject.staffId ? [record.subject.staffId] : [])])];
    const people = await new PeopleRepository(source.db, source.dataTable).getMany(named);
    const wanted = viewerEmail.toLowerCase();
    const person = [...people.values()].find((p) => p.email.toLowerCase() === wanted);
    const by = person?.staffId ?? viewerEmail;
    const decision = person ? accessDecision(record, person.staffId) : ({ allowed: false, reason: 'no-role-on-case' } as const);
    const at = now.toISOString();
    if (decision.allowed) {
      await repo.record(caseId, { kind: 'narrative-read', at, by });
      const stored = await repo.readNarrative(caseId);
      narrative = stored ? { kind: 'shown', narrative: stored.narrative, notes: stored.notes } : { kind: 'missing' };
    } else {
      await repo.record(caseId, { kind: 'narrative-refused', at, by, reason: decision.reason });
      narrative = { kind: 'refused', reason: decision.reason };
    }
  }
  return { record, timeline: await repo.timeline(caseId), narrative };
}

const ATTENTION: Record<LedgerState, number> = { abandoned: 0, failed: 1, sending: 2, queued: 3, sent: 4 };

export async function ledgerOverview(source: ConsoleSource, state: LedgerState | null, limit = 200): Promise<LedgerOverview> {
  const started = Date.now();
  const counts: Record<LedgerState, number> = { queued: 0, sending: 0, sent: 0, failed: 0, abandoned: 0 };
  let possibleDuplicates = 0;
  let scanned = 0;
  const kept: LedgerRow[] = [];
  for await (const page of new LedgerRepository(source.db, source.ledgerTable).scanAll()) {
    for (const row of page) {
      scanned++;
      counts[row.state] = (counts[row.state] ?? 0) + 1;
      if (row.possibleDuplicate) possibleDuplicates++;
      if (state === null || row.state === state) kept.push(row);
    }
    // Keep memory bounded on a large ledger: only the rows that can still be shown.
    if (kept.length > limit * 4) trim(kept, limit);
  }
  trim(kept, limit);
  return { counts, possibleDuplicates, rows: kept, scanned, ms: Date.now() - started };
}

function trim(rows: LedgerRow[], limit: number): void {
  rows.sort((a, b) => ATTENTION[a.state] - ATTENTION[b.state] || b.updatedAt.localeCompare(a.updatedAt));
  rows.length = Math.min(rows.length, limit);
}

export async function dlqCounts(source: ConsoleSource): Promise<DlqCount[]> {
  const entries = Object.entries(source.dlqUrls).sort(([a], [b]) => a.localeCompare(b));
  return Promise.all(
    entries.map(async ([name, url]) => {
      const out = await source.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      return {
        name,
        visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      };
    }),
  );
}

/** `DLQ_URLS`: a JSON object of names to queue URLs; an error names the variable, never its value. */
export function parseDlqUrls(raw: string | undefined): Record<string, string> {
  if (raw === undefined || raw === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error('DLQ_URLS must be a JSON object of queue names to URLs');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new Error('DLQ_URLS must be a JSON object of queue names to URLs');
  }
  return value as Record<string, string>;
}
