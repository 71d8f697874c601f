/**
 * The ledger sweeper's work (functions/handlers/ledger-sweep.ts; docs/ARCHITECTURE.md
 * "Reliability"): what the ledger says is owed and nobody is delivering goes back on its
 * path. Every person a policy applies to must be asked (§1f, §4a.ii), so an email owed is
 * never left to a queue message that a crash may have lost.
 *
 * - Ledger rows still `queued` after the grace period, or `sending` past their lease: their
 *   keys go back on the email queue, where the sender decides under the usual rules
 *   (functions/domain/emails.ts `decideSend`: send, resend once flagged as a possible
 *   duplicate, or abandon). The sweeper never sends and never changes a row's state.
 * - A school's fan-out still owed after the grace period whose worker's lease has run out
 *   (or was never taken): its message goes back on the fan-out queue; the worker's lease and
 *   its resume rules make a second message harmless.
 *
 * Each row or fan-out acted on is moved along its index first (a conditional write), so two
 * sweeps never both act on it and it is looked at again only when next due. Reads come from
 * sparse indexes (never a scan) and are bounded by `limit` per run: the rest waits for the
 * next run.
 */
import { inFlight } from '../adapters/batch.ts';
import type { FanoutRepository } from '../adapters/fanout-repository.ts';
import type { FanoutMessage } from '../adapters/fanout-queue.ts';
import type { LedgerRepository } from '../adapters/ledger-repository.ts';
import { type DeliveryTimings, decideSweep } from '../domain/emails.ts';

export interface SweepDeps {
  ledger: LedgerRepository;
  fanouts: FanoutRepository;
  emailQueue: { enqueue(ledgerKeys: readonly string[]): Promise<number> };
  fanoutQueue: { enqueue(messages: readonly FanoutMessage[]): Promise<void> };
  timings: DeliveryTimings;
  now: () => Date;
  /** Rows (and fan-outs) looked at per run at most. */
  limit: number;
}

export interface SweepReport {
  /** Rows the index listed as owed past the grace period. */
  examined: number;
  /** Keys put back on the email queue. */
  requeued: number;
  /** Rows still within a live sender's lease: looked at again when it runs out. */
  later: number;
  /** Rows no longer owed (the index was behind the table). */
  settled: number;
  fanoutsRequeued: number;
  fanoutsLater: number;
}

export async function sweepOwed(deps: SweepDeps): Promise<SweepReport> {
  const now = deps.now();
  const { queuedGraceMs } = deps.timings;
  const cutoff = new Date(now.getTime() - queuedGraceMs);
  /** The index is read as "owed since", so a row to look at again at `t` is filed at t - grace. */
  const filedFor = (recheckAt: Date) => new Date(recheckAt.getTime() - queuedGraceMs);
  const report: SweepReport = { examined: 0, requeued: 0, later: 0, settled: 0, fanoutsRequeued: 0, fanoutsLater: 0 };

  const owed = await deps.ledger.owedSince(cutoff, deps.limit);
  report.examined = owed.length;
  const rows = await deps.ledger.getMany(owed.map((o) => o.pk));
  const requeue = await inFlight(
    owed.map((entry) => async (): Promise<string | null> => {
      const row = rows.get(entry.pk);
      const decision = row ? decideSweep(row, now, deps.timings) : ({ kind: 'drop' } as const);
      if (decision.kind === 'drop') {
        report.settled++;
        return null;
      }
      const moved = await deps.ledger.markOwed(entry.pk, entry.owedSince, filedFor(decision.recheckAt));
      if (!moved) return null;
      if (decision.kind === 'later') {
        report.later++;
        return null;
      }
      return entry.pk;
    }),
  );
  const keys = requeue.filter((k): k is string => k !== null);
  await deps.emailQueue.enqueue(keys);
  report.requeued = keys.length;

  const fanouts = await deps.fanouts.owedSince(cutoff, deps.limit);
  const messages: FanoutMessage[] = [];
  for (const fanout of fanouts) {
    if (fanout.done) continue;
    const leaseUntil = fanout.leaseUntil ? new Date(fanout.leaseUntil) : undefined;
    if (leaseUntil && leaseUntil > now) {
      if (await deps.fanouts.markOwedAgain(fanout, filedFor(leaseUntil))) report.fanoutsLater++;
      continue;
    }
    if (await deps.fanouts.markOwedAgain(fanout, now)) {
      messages.push({ policyId: fanout.policyId, version: fanout.version, schoolId: fanout.schoolId, eventId: fanout.eventId });
    }
  }
  await deps.fanoutQueue.enqueue(messages);
  report.fanoutsRequeued = messages.length;
  return report;
}
