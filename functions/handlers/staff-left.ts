/**
 * `Staff Left` (trust.hr): parse → plan (functions/domain/people-changes.ts) → mark the
 * person left on `leftOn` (conditional on the last applied change) → cancel their pending
 * requests (they leave the reminder index) → tell leadership to change the login details of
 * each official channel the register says they managed (§8a-b, §8a.ii).
 * Redelivery is harmless: the person write is conditional, cancelling is conditional per
 * request, and the ledger's business keys (channel, leaver, recipient) decide what is queued.
 */
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { ContractError } from '../contracts/events.ts';
import { londonDate } from '../domain/dates.ts';
import { channelsManagedBy, leadershipLookups, planStaffLeft, type StaffLeftPlan } from '../domain/people-changes.ts';
import { leaverExpiresAt, retentionOf } from '../domain/retention.ts';
import { eventBridgeHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const people = new PeopleRepository(dynamo, dataTable);
const requests = new RequestRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

/** Read, decide and write again when another HR event changed the person in between. */
const WRITE_ATTEMPTS = 3;

export const handler = eventBridgeHandler('Staff Left', async (detail, event) => {
  const now = new Date();
  const today = londonDate(now);
  const eventId = detail.eventId ?? event.id;
  const lookups = leadershipLookups(channelsManagedBy(config, detail.staffId));
  const leaders = (await Promise.all(lookups.map(({ schoolId, role }) => people.activeWithRole(schoolId, role, today)))).flat();

  let plan: Extract<StaffLeftPlan, { kind: 'apply' }> | undefined;
  for (let attempt = 1; !plan; attempt++) {
    const existing = await people.get(detail.staffId);
    const decided = planStaffLeft(detail, { config, existing, leaders, changeAt: detail.occurredAt ?? event.time, now });
    if (decided.kind === 'unknown-person') {
      throw new ContractError('Staff Left', [{ field: 'detail.staffId', problem: 'is not on record (no Staff Onboarded for this person yet)' }]);
    }
    if (decided.kind === 'ignore') {
      logger.info('Ignored: the person already has a newer change applied (DESIGN.md "Order")');
      return;
    }
    // Retention (functions/domain/retention.ts): TTL removes the profile leaversMonths after leftOn.
    const person = { ...decided.person, expiresAt: leaverExpiresAt(detail.leftOn, retentionOf(config)) };
    if (existing && (await people.updateIfUnchangedSince(person, existing))) plan = decided;
    else if (attempt >= WRITE_ATTEMPTS) throw new Error(`the person changed concurrently ${WRITE_ATTEMPTS} times; the event will be retried`);
  }

  const cancelled = await requests.cancelPending(detail.staffId, now);
  const toQueue = await ledger.recordIntended(plan.emails, { detailType: 'Staff Left', eventId }, now);
  await queue.enqueue(toQueue);
  if (plan.unregisteredChannelManager) {
    logger.warn('The leaver managed official channels, but the register names none of theirs: check the official-channel register (§8a-b)');
  }
  logger.info('Staff left', {
    effectiveNow: plan.hasLeft,
    requestsCancelled: cancelled,
    channels: plan.channels.map((c) => c.channelId),
    emailsIntended: plan.emails.length,
    emailsQueued: toQueue.length,
  });
});
