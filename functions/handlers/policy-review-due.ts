/**
 * `Policy Review Due` (trust.policies, from the review scanner): tells the person
 * responsible for the policy and every member of its governing committee that its review
 * is coming up or overdue, and what to do (functions/domain/review-cycle.ts). One email
 * per recipient per stage occurrence and cycle, whatever the redeliveries: the ledger's
 * business key decides. A notice whose version is no longer current, or whose cycle a
 * `Policy Reviewed` closed, is dropped (logged).
 */
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { londonDate } from '../domain/dates.ts';
import type { Person } from '../domain/people.ts';
import { checkNotice, lookupKey, planReviewDueEmails, recipientLookups } from '../domain/review-cycle.ts';
import { eventBridgeHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const people = new PeopleRepository(dynamo, dataTable);
const policies = new PolicyRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

export const handler = eventBridgeHandler('Policy Review Due', async (detail, event) => {
  const ids = { policyId: detail.policyId, version: detail.version, reviewDate: detail.reviewDate, stage: detail.stage, occurrence: detail.occurrence };
  const check = checkNotice(await policies.getCurrent(detail.policyId), detail);
  if (check.kind === 'drop') {
    logger.info('Review notice dropped', { ...ids, reason: check.reason });
    return;
  }
  const lookups = recipientLookups(check.policy, config);
  const holders = new Map<string, Person[]>(
    await Promise.all(lookups.map(async (l) => [lookupKey(l), await people.activeWithRole(l.schoolId, l.role)] as const)),
  );
  // How overdue is measured on the day the scanner saw the stage (its scheduled time), not on delivery.
  const today = londonDate(new Date(detail.occurredAt ?? event.time));
  const plan = planReviewDueEmails(detail, { config, policy: check.policy, today, holders });
  if (plan.ownerMissing) logger.warn('Nobody holds the policy owner role: the governing committee is told so', { ...ids, ownerRole: check.policy.ownerRole });
  if (plan.emails.length === 0) {
    logger.error('Review notice reached nobody: no active, emailable owner or committee member', { ...ids, notEmailable: plan.notEmailable });
    return;
  }
  const toQueue = await ledger.recordIntended(plan.emails, { detailType: 'Policy Review Due', eventId: detail.eventId ?? event.id }, new Date());
  await queue.enqueue(toQueue);
  logger.info('Review notice queued', {
    ...ids,
    owners: plan.owners,
    committee: plan.committee,
    notEmailable: plan.notEmailable,
    emailsIntended: plan.emails.length,
    emailsQueued: toQueue.length,
  });
});
