/**
 * `Staff Onboarded` (trust.hr): parse → plan (functions/domain/onboarding.ts) → persist
 * the person, the acknowledgement requests and the ledger rows → queue the emails.
 * Redelivery is harmless: every write is conditional and the ledger's business keys
 * decide what is queued (DESIGN.md "Reliability rules").
 */
import { ContractError } from '../contracts/events.ts';
import { isSchoolOfTrust } from '../config/trust-config.ts';
import { ackKeyRing } from '../adapters/ack-keys.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { ackUrl, signToken } from '../domain/ack-token.ts';
import { planOnboarding } from '../domain/onboarding.ts';
import { registeredPolicy } from '../domain/policies.ts';
import { eventBridgeHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs, secrets } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const people = new PeopleRepository(dynamo, dataTable);
const policies = new PolicyRepository(dynamo, dataTable);
const requests = new RequestRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

let registration: Promise<void> | undefined;
/** The configured policies exist from the first event on (once per container). */
function ensurePoliciesRegistered(now: Date): Promise<void> {
  registration ??= Promise.all(
    config.policies.map((p) => policies.registerIfAbsent(registeredPolicy(p, config.publicBaseUrl), now)),
  ).then(
    () => undefined,
    (error: unknown) => {
      registration = undefined;
      throw error;
    },
  );
  return registration;
}

export const handler = eventBridgeHandler('Staff Onboarded', async (detail, event) => {
  if (!isSchoolOfTrust(config, detail.schoolId)) {
    throw new ContractError('Staff Onboarded', [{ field: 'detail.schoolId', problem: 'is not a school of the trust' }]);
  }
  const now = new Date();
  await ensurePoliciesRegistered(now);
  const [existing, current, headsOfSchool, executiveHeadteachers, keys] = await Promise.all([
    people.get(detail.staffId),
    policies.listCurrent(),
    people.activeWithRole(detail.schoolId, 'head-of-school'),
    people.activeWithRole('trust', 'executive-headteacher'),
    ackKeyRing(secrets),
  ]);

  const plan = planOnboarding(detail, {
    config,
    policies: current,
    existing,
    headsOfSchool,
    executiveHeadteachers,
    // As an instant in UTC, so that an offset in occurredAt cannot upset the ordering.
    changeAt: new Date(detail.occurredAt ?? event.time).toISOString(),
    now,
    ackLink: (staffId, policyId, version, expiresAt) =>
      ackUrl(config.publicBaseUrl, signToken({ staffId, policyId, version, purpose: 'ack', expiresAt }, keys)),
  });
  if (plan.kind === 'ignore' || !(await people.putIfNotOlder(plan.person))) {
    logger.info('Ignored: the person already has a newer change applied');
    return;
  }
  const created = await requests.createIfAbsent(plan.requests);
  const toQueue = await ledger.recordIntended(plan.emails, { detailType: 'Staff Onboarded', eventId: detail.eventId ?? event.id }, now);
  await queue.enqueue(toQueue);
  logger.info('Staff onboarded', {
    policiesRequested: plan.requests.length,
    requestsCreated: created,
    emailsIntended: plan.emails.length,
    emailsQueued: toQueue.length,
  });
});
