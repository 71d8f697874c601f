/**
 * Keys of the data table's sparse gsi2 (lib/data-tables.ts), in one place so that writers
 * and the scanners agree. An item leaves the index when its gsi2 attributes are removed.
 */
import { createHash } from 'node:crypto';

export const PENDING_SHARDS = 8;

/** Pending requests, sharded by person so a large fan-out spreads over index partitions. */
export function pendingIndexKeys(request: { staffId: string; policyId: string; version: number; dueOn: string }) {
  const shard = createHash('sha256').update(request.staffId).digest()[0] ?? 0;
  return {
    gsi2pk: `PENDING#${shard % PENDING_SHARDS}`,
    gsi2sk: `${request.dueOn}#${request.staffId}#${request.policyId}#${String(request.version).padStart(6, '0')}`,
  };
}

/**
 * Acknowledged requests, by the Europe/London date of the acknowledgement, sharded like the
 * pending ones: the refresher scan (functions/handlers/reminder-scanner.ts) asks for those
 * acknowledged on or before a date with a query (`gsi2sk <= <date>~`), never a scan.
 */
export function acknowledgedIndexKeys(request: { staffId: string; policyId: string; version: number }, acknowledgedOn: string) {
  const shard = createHash('sha256').update(request.staffId).digest()[0] ?? 0;
  return {
    gsi2pk: `ACKED#${shard % PENDING_SHARDS}`,
    gsi2sk: `${acknowledgedOn}#${request.staffId}#${request.policyId}#${String(request.version).padStart(6, '0')}`,
  };
}

/** A policy's current version, by the date its review is due by. */
export function reviewIndexKeys(policy: { policyId: string; reviewDueBy: string }) {
  return { gsi2pk: 'REVIEW', gsi2sk: `${policy.reviewDueBy}#${policy.policyId}` };
}

/** An open case, by the time its triage is due. */
export function triageIndexKeys(caseRecord: { caseId: string; triageDueAt: string }) {
  return { gsi2pk: 'TRIAGE', gsi2sk: `${caseRecord.triageDueAt}#${caseRecord.caseId}` };
}
