/**
 * `Staff Updated` (trust.hr): parse → plan (functions/domain/people-changes.ts) → write the
 * changed fields (conditional on the last applied change) → request only the newly
 * applicable policies → queue one `policies-to-confirm` email. No second welcome.
 * Redelivery is harmless: the person write is conditional, requests are created only if
 * absent, and the ledger's business key decides what is queued.
 */
import { ackKeyRing } from '../adapters/ack-keys.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { isSchoolOfTrust } from '../config/trust-config.ts';
import { ContractError } from '../contracts/events.ts';
import { ackUrl, signToken } from '../domain/ack-token.ts';
import { planStaffUpdated, type StaffUpdatedPlan } from '../domain/people-changes.ts';
import { eventBridgeHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs, secrets } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const people = new PeopleRepository(dynamo, dataTable);
const policies = new PolicyRepository(dynamo, dataTable);
const requests = new RequestRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

/** Read, decide and write again when another HR event changed the person in between. */
const WRITE_ATTEMPTS = 3;

export const handler = eventBridgeHandler('Staff Updated', async (detail, event) => {
  if (detail.schoolId !== undefined && !isSchoolOfTrust(config, detail.schoolId)) {
    throw new ContractError('Staff Updated', [{ field: 'detail.schoolId', problem: 'is not a school of the trust' }]);
  }
  const now = new Date();
  const eventId = detail.eventId ?? event.id;
  const [current, keys] = await Promise.all([policies.listCurrent(), ackKeyRing(secrets)]);

  let plan: Extract<StaffUpdatedPlan, { kind: 'apply' }> | undefined;
  for (let attempt = 1; !plan; attempt++) {
    const [existing, stored] = await Promise.all([people.get(detail.staffId), requests.forPerson(detail.staffId)]);
    const decided = planStaffUpdated(detail, {
      config,
      policies: current,
      existing,
      requests: stored,
      changeAt: detail.occurredAt ?? event.time,
      eventId,
      now,
      ackLink: (staffId, policyId, version, expiresAt) =>
        ackUrl(config.publicBaseUrl, signToken({ staffId, policyId, version, purpose: 'ack', expiresAt }, keys)),
    });
    if (decided.kind === 'unknown-person') {
      // Perhaps the Staff Onboarded is still on its way: the async retries give it time, then the failure DLQ keeps the event.
      throw new ContractError('Staff Updated', [{ field: 'detail.staffId', problem: 'is not on record (no Staff Onboarded for this person yet)' }]);
    }
    if (decided.kind === 'ignore') {
      logger.info('Ignored: the person already has a newer change applied (DESIGN.md "Order")');
      return;
    }
    if (existing && (await people.updateIfUnchangedSince(decided.person, existing))) plan = decided;
    else if (attempt >= WRITE_ATTEMPTS) throw new Error(`the person changed concurrently ${WRITE_ATTEMPTS} times; the event will be retried`);
  }

  const created = await requests.createIfAbsent(plan.requests);
  const toQueue = await ledger.recordIntended(plan.emails, { detailType: 'Staff Updated', eventId }, now);
  await queue.enqueue(toQueue);
  logger.info('Staff updated', {
    changedFields: plan.changed,
    policiesNewlyRequested: plan.requests.length,
    requestsCreated: created,
    emailsIntended: plan.emails.length,
    emailsQueued: toQueue.length,
  });
});
