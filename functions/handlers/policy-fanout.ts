/**
 * The fan-out queue's consumer: for one policy version and one school, ask (substantive)
 * or tell (editorial) everyone in the audience there (functions/domain/policy-update.ts).
 *
 * Exactly-once effect with batch writes: a lease per version and school means only one
 * worker writes that school's rows at a time; on its first attempt none of its rows can
 * exist, so requests and ledger rows go in with BatchWriteItem (25 a call) without being
 * read; a later attempt reads what exists and writes only what is missing. Emails go on
 * the email queue 50 ledger keys to a message. A school whose version is no longer
 * current is skipped (a newer version replaces it).
 */
import type { SQSBatchItemFailure } from 'aws-lambda';
import { ackKeyRing } from '../adapters/ack-keys.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { FanoutRepository } from '../adapters/fanout-repository.ts';
import { fanoutMessageSchema } from '../adapters/fanout-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { ackUrl, signToken } from '../domain/ack-token.ts';
import { deliveryTimings } from '../domain/emails.ts';
import { planFanOut, type PolicyVersion } from '../domain/policy-update.ts';
import { sqsBatchHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs, secrets } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const policies = new PolicyRepository(dynamo, dataTable);
const requests = new RequestRepository(dynamo, dataTable);
const people = new PeopleRepository(dynamo, dataTable);
const fanouts = new FanoutRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const emailQueue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));
/** Longer than the function's 60 s timeout (trust configuration `delivery.leaseSeconds`, at least 90 s), so a live worker's lease never runs out under it. */
const LEASE_MS = deliveryTimings(config).leaseMs;

export const handler = sqsBatchHandler(async (event) => {
  const failures: SQSBatchItemFailure[] = [];
  for (const record of event.Records) {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      body = undefined;
    }
    const message = fanoutMessageSchema.safeParse(body);
    if (!message.success) {
      logger.error('Fan-out message rejected: it is not a fan-out message', { messageId: record.messageId });
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    const { policyId, version, schoolId, eventId } = message.data;
    const now = new Date();
    const lease = await fanouts.acquire(policyId, version, schoolId, now, LEASE_MS);
    if (lease.kind === 'done') continue;
    if (lease.kind === 'busy') {
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    const current = (await policies.getCurrent(policyId)) as PolicyVersion | null;
    if (!current || current.version !== version) {
      await fanouts.complete(policyId, version, schoolId, now, { skippedNotCurrent: 1 });
      logger.info('Fan-out skipped: the version is no longer current', { policyId, version });
      continue;
    }
    const keys = await ackKeyRing(secrets);
    const firstAttempt = lease.attempt === 1;
    let counts = { people: 0, requests: 0, emails: 0, queued: 0, undeliverable: 0 };
    for await (const page of people.inSchool(schoolId)) {
      const plan = planFanOut(page, {
        config,
        policy: current,
        now,
        ackLink: (staffId, pid, v, expiresAt) =>
          ackUrl(config.publicBaseUrl, signToken({ staffId, policyId: pid, version: v, purpose: 'ack', expiresAt }, keys)),
      });
      const written = await requests.putNewBatch(plan.requests, firstAttempt);
      const toQueue = await ledger.recordIntendedBatch(plan.emails, { detailType: 'Policy Updated', eventId }, now, firstAttempt);
      await emailQueue.enqueue(toQueue);
      counts = {
        people: counts.people + page.length,
        requests: counts.requests + written,
        emails: counts.emails + plan.emails.length,
        queued: counts.queued + toQueue.length,
        undeliverable: counts.undeliverable + plan.undeliverable,
      };
    }
    await fanouts.complete(policyId, version, schoolId, new Date(), counts);
    logger.info('Fan-out done for a school', { policyId, version, attempt: lease.attempt, ...counts });
  }
  return { batchItemFailures: failures };
});
