import { createHash } from 'node:crypto';
/**
 * Delivers a batch of queued emails: reads their ledger rows, decides per row
 * (functions/domain/emails.ts `decideSend`), claims the ones to send, sends them with the
 * mailer 50 to a call per template, and records each outcome. Returns the ledger keys
 * whose messages must be retried (they go back to the queue, and after the queue's
 * maxReceiveCount to its dead-letter queue).
 */
import type { LedgerRepository, LedgerRow } from '../adapters/ledger-repository.ts';
import { isRefusedCall, type Mailer } from '../adapters/mailer.ts';
import { messageTags } from '../contracts/ses-events.ts';
import { chunk, decideSend, MAX_BULK_DESTINATIONS } from '../domain/emails.ts';
import { sesTemplateName } from '../email/template-ids.ts';

/** Ledger keys name people: logs carry a short hash of the key instead. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

export interface DeliveryDeps {
  ledger: LedgerRepository;
  mailer: Mailer;
  templatePrefix: string;
  /** How long a claimed row may stay `sending` before a crash is assumed (≥ the function timeout). */
  leaseMs: number;
  now: () => Date;
  log: (message: string, fields: Record<string, unknown>) => void;
  /** Waits until `recipients` more emails may be sent (the configured SES rate). */
  pace: { take(recipients: number): Promise<void>; waitFor(): number };
  /** Time left in this invocation; work that would not finish is handed back for retry. */
  remainingMs: () => number;
}

/** Time kept in hand after the last SES call, for recording the outcomes. */
const SAFETY_MS = 5_000;

export interface DeliveryReport {
  retry: Set<string>;
  sent: number;
  skipped: number;
  flaggedDuplicates: number;
  /** Rows moved to `abandoned` (their outcome was unknown twice). */
  abandoned: number;
  /** SendBulkEmail calls made, and the most destinations in one (never above 50). */
  bulkCalls: number;
  maxDestinations: number;
}

export async function deliverEmails(keys: readonly string[], deps: DeliveryDeps): Promise<DeliveryReport> {
  const report: DeliveryReport = { retry: new Set(), sent: 0, skipped: 0, flaggedDuplicates: 0, abandoned: 0, bulkCalls: 0, maxDestinations: 0 };
  const rows = await deps.ledger.getMany(keys);
  const toSend: { row: LedgerRow; flag: boolean }[] = [];
  for (const key of new Set(keys)) {
    const row = rows.get(key);
    if (!row) {
      deps.log('No ledger row for a queued email', { ledgerKeyHash: keyHash(key) });
      report.retry.add(key);
      continue;
    }
    const decision = decideSend(row, deps.now(), deps.leaseMs);
    if (decision === 'skip') report.skipped++;
    else if (decision === 'wait') report.retry.add(key);
    else if (decision === 'abandon') {
      // Sent once, resent once after a crash, and now stuck again: never a third copy. The
      // row is abandoned (terminal) for an operator to resolve; if it changed meanwhile, the
      // message comes back and the row is decided again.
      if (await deps.ledger.abandon(row, deps.now())) {
        report.abandoned++;
        deps.log('Email abandoned: its outcome was unknown twice', { ledgerKeyHash: keyHash(key) });
      } else report.retry.add(key);
    } else toSend.push({ row, flag: decision === 'resend-flagged' });
  }

  const byTemplate = Map.groupBy(toSend, (item) => item.row.templateId);
  for (const [templateId, group] of byTemplate) {
    const templateName = sesTemplateName(deps.templatePrefix, templateId);
    for (const part of chunk(group, MAX_BULK_DESTINATIONS)) {
      if (deps.remainingMs() - deps.pace.waitFor() < SAFETY_MS) {
        // Not enough time left to send and record: hand these back unclaimed.
        for (const { row } of part) report.retry.add(row.pk);
        continue;
      }
      await deps.pace.take(part.length);
      const claimed = await deps.ledger.claimMany(part, deps.now());
      const held = new Set(claimed.map((r) => r.pk));
      for (const { row, flag } of part) {
        if (!held.has(row.pk)) report.retry.add(row.pk);
        else if (flag) {
          report.flaggedDuplicates++;
          deps.log('Resending an email whose earlier attempt may have been sent', { ledgerKeyHash: keyHash(row.pk) });
        }
      }
      if (claimed.length === 0) continue;
      let outcomes: Awaited<ReturnType<Mailer['sendBulk']>>;
      report.bulkCalls++;
      report.maxDestinations = Math.max(report.maxDestinations, claimed.length);
      try {
        outcomes = await deps.mailer.sendBulk(
          templateName,
          claimed.map((row) => ({
            to: row.recipient,
            data: row.templateData,
            tags: messageTags({ staffId: row.recipientStaffId, templateId: row.templateId }),
          })),
        );
      } catch (error) {
        const refused = isRefusedCall(error);
        const code = (error as Error).name || 'Error';
        deps.log('SES call failed', { errorName: code, refused, emails: claimed.length });
        for (const row of claimed) {
          // Refused outright: nothing was sent, so the rows go back to queued. Otherwise the
          // outcome is unknown: the rows stay `sending` and the lease decides later.
          if (refused) await deps.ledger.release(row.pk, code, deps.now(), row.sendingSince);
          report.retry.add(row.pk);
        }
        continue;
      }
      // Each outcome is recorded under the claim it was sent with (`sendingSince`).
      const sent: { key: string; messageId: string; since?: string }[] = [];
      await Promise.all(
        claimed.map(async (row, i) => {
          const outcome = outcomes[i];
          if (outcome?.status === 'sent') {
            sent.push({ key: row.pk, messageId: outcome.messageId, ...(row.sendingSince ? { since: row.sendingSince } : {}) });
          } else if (outcome?.status === 'failed') {
            await deps.ledger.markFailed(row.pk, outcome.code, deps.now(), row.sendingSince);
            report.retry.add(row.pk);
          } else {
            await deps.ledger.release(row.pk, outcome?.code ?? 'NO_RESULT', deps.now(), row.sendingSince);
            report.retry.add(row.pk);
          }
        }),
      );
      // SES took these; a record that could not be written leaves the row `sending`: its
      // message goes back, and the lease decides (never a silent loss of the message).
      const unrecorded = await deps.ledger.markSentMany(sent, deps.now());
      for (const key of unrecorded) report.retry.add(key);
      if (unrecorded.length > 0) deps.log('SES accepted emails whose sent record failed', { emails: unrecorded.length });
      report.sent += sent.length - unrecorded.length;
    }
  }
  return report;
}
