/**
 * `Breach Reported` (trust.safeguarding): route the case (functions/domain/breach-routing.ts),
 * record the routing on the case's timeline, and email each person told (ledger + queue).
 *
 * The case as the intake stored it is the source of truth, not the event: the routing is
 * computed once, recorded with a conditional write, and a redelivered event re-uses the
 * routing on record, so it tells the same people and the ledger's business keys
 * (`case#<caseId>#<staffId>#notice`) send nothing twice. Logs carry the case id and counts.
 */
import { CaseRepository } from '../adapters/case-repository.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { loadRoutingDirectory } from '../adapters/routing-directory.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { routeCase } from '../domain/breach-routing.ts';
import { caseNotices } from '../domain/case-notices.ts';
import type { Person } from '../domain/people.ts';
import { eventBridgeHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const cases = new CaseRepository(dynamo, dataTable);
const people = new PeopleRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

export const handler = eventBridgeHandler('Breach Reported', async (detail, event) => {
  logger.appendKeys({ caseId: detail.caseId });
  const record = await cases.get(detail.caseId);
  if (!record) {
    // The intake stores the case before it publishes: a missing case is an event from
    // elsewhere, or a case not yet visible. Retried, then the function's DLQ.
    throw new Error('Breach Reported names a case that is not on record');
  }
  const now = new Date();
  const routing =
    record.routing ?? (await cases.recordRouting(record.caseId, routeCase(record, await loadRoutingDirectory(people, record)), now));

  const recipients = await Promise.all(routing.recipients.map((r) => people.get(r.staffId)));
  const byId = new Map(recipients.filter((p): p is Person => p !== null).map((p) => [p.staffId, p]));
  const notices = caseNotices(record, routing, byId, config, { kind: 'notice' });
  const toQueue = await ledger.recordIntended(notices.emails, { detailType: 'Breach Reported', eventId: detail.eventId ?? event.id }, now);
  await queue.enqueue(toQueue);

  if (notices.toIntegrationContact) logger.error('Nobody on the routing could be emailed: the integration contact was told');
  logger.info('Case routed', {
    recipients: routing.recipients.length,
    flags: routing.flags.length,
    gaps: routing.gaps.length,
    conflicts: routing.conflicts.length,
    notEmailed: notices.notEmailed.length,
    emailsQueued: toQueue.length,
  });
});
