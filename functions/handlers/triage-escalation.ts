/**
 * The hourly triage job (a scheduled rule, UTC): for every case still waiting for triage
 * (the sparse TRIAGE index, never a scan of all cases),
 * - escalate it once its triage deadline (`escalation.triageHours` after the report) has
 *   passed: first the Head of School, then, a further triage window later, the Executive
 *   Headteacher (functions/domain/cases.ts `escalationStep`), each with the routing rules'
 *   conflict-of-interest and gap handling. Each escalation is recorded on the case once
 *   (a conditional write on its level) and emailed once per recipient (ledger key
 *   `case#<caseId>#<staffId>#escalation-<level>`);
 * - announce it again if it was never routed some minutes after the report (the intake's
 *   publish, or its delivery, was lost): the `Breach Reported` handler is idempotent.
 * "Now" is the scheduled event's time, so a retried run decides the same and
 * `trust-notify tick --today` simulates a date.
 */
import { CaseRepository } from '../adapters/case-repository.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { EventPublisher, eventBridgeClient } from '../adapters/event-publisher.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { loadEscalationDirectory } from '../adapters/routing-directory.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { escalationLookups, escalationRouting } from '../domain/breach-routing.ts';
import { caseNotices } from '../domain/case-notices.ts';
import { type CaseRecord, escalationStep, needsReannouncing } from '../domain/cases.ts';
import type { Person } from '../domain/people.ts';
import { scheduledHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const cases = new CaseRepository(dynamo, dataTable);
const people = new PeopleRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));
const events = new EventPublisher(eventBridgeClient(), requireEnv('EVENT_BUS_NAME'));

/** Makes every escalation now due for one case (both, if the job could not run for a while). Returns how many. */
async function escalate(record: CaseRecord, now: Date, eventId: string): Promise<number> {
  let current = record;
  let made = 0;
  for (let step = escalationStep(current, now, config.escalation.triageHours); step.kind === 'escalate'; ) {
    const directory = await loadEscalationDirectory(people, escalationLookups(current.schoolId));
    const planned = escalationRouting(current, directory, step.level);
    const routing = await cases.recordEscalation(current.caseId, step.level, planned, now, step.nextEscalationAt);
    if (!routing) return made; // triaged meanwhile
    const found = await Promise.all(routing.recipients.map((r) => people.get(r.staffId)));
    const byId = new Map(found.filter((p): p is Person => p !== null).map((p) => [p.staffId, p]));
    const notices = caseNotices(current, routing, byId, config, {
      kind: 'escalation',
      level: step.level,
      hoursWaiting: config.escalation.triageHours * step.level,
    });
    const toQueue = await ledger.recordIntended(notices.emails, { detailType: 'Scheduled Event', eventId }, now);
    await queue.enqueue(toQueue);
    logger.info('Case escalated', { caseId: current.caseId, level: step.level, recipients: routing.recipients.length, emailsQueued: toQueue.length });
    made++;
    current = { ...current, escalationLevel: step.level };
    step = escalationStep(current, now, config.escalation.triageHours);
  }
  return made;
}

export const handler = scheduledHandler(async (now, event) => {
  const waiting = await cases.awaitingTriage();
  let escalated = 0;
  let reannounced = 0;
  let failed = 0;
  for (const record of waiting) {
    try {
      if (needsReannouncing(record, now)) {
        await events.publish('Breach Reported', {
          eventId: `breach-reported-${record.caseId}`,
          caseId: record.caseId,
          schoolId: record.schoolId,
          category: record.category,
          ...(record.reportedByStaffId ? { reportedByStaffId: record.reportedByStaffId } : {}),
          subject: record.subject,
          occurredOn: record.occurredOn,
          occurredAt: record.reportedAt,
        });
        reannounced++;
      }
      escalated += await escalate(record, now, `${event.id}#${record.caseId}`);
    } catch (error) {
      // One case failing does not hold up the others; the run fails at the end, so it is retried.
      failed++;
      logger.error('Triage check failed for a case', { caseId: record.caseId, errorName: (error as Error).name });
    }
  }
  logger.info('Triage check done', { waiting: waiting.length, escalated, reannounced, failed });
  if (failed > 0) throw new Error(`${failed} case(s) could not be checked`);
});
