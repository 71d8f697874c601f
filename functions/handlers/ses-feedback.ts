/**
 * SES bounces and complaints (`Email Bounced`, `Email Complaint Received`, source
 * `aws.ses`), forwarded from the default bus to trust-events (lib/ses-feedback.ts):
 * parse → decide (functions/domain/email-feedback.ts) → mark the address undeliverable
 * (conditional on it still being the person's address) → record the notices to HR and
 * the line manager in the ledger → queue them. A redelivered event marks nothing new and
 * queues nothing new: the ledger's business keys decide. Logs carry counts and ids, never
 * an address or SES's diagnostic text.
 */
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { londonDate } from '../domain/dates.ts';
import { decideFeedback, planUndeliverable } from '../domain/email-feedback.ts';
import { sesEventHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const people = new PeopleRepository(dynamo, dataTable);
const policies = new PolicyRepository(dynamo, dataTable);
const requests = new RequestRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

export const handler = sesEventHandler(async (detail, detailType, event) => {
  const decision = decideFeedback(detail);
  if (decision.kind === 'ignore') {
    logger.info('SES feedback needs no action', { reason: decision.reason, sesMessageId: detail.mail.messageId });
    return;
  }
  logger.appendKeys({ sesMessageId: decision.messageId, cause: decision.cause, templateId: decision.templateId ?? 'untagged' });
  const now = new Date();
  const today = londonDate(now);
  const person = await people.get(decision.staffId);
  const managerId = decision.mandatory ? person?.lineManagerStaffId : undefined;
  const [lineManager, hrAdvisors, personRequests, current] = await Promise.all([
    managerId ? people.get(managerId) : null,
    people.activeWithRole(TRUST_SCHOOL_ID, 'hr-advisor', today),
    // What they still have to read, for a notice they must act on.
    decision.mandatory && person ? requests.forPerson(person.staffId) : [],
    decision.mandatory && person ? policies.listCurrent() : [],
  ]);
  const plan = planUndeliverable(decision, { config, today, person, lineManager, hrAdvisors, requests: personRequests, policies: current });
  if (plan.kind === 'ignore') {
    logger.warn('SES feedback ignored', { reason: plan.reason });
    return;
  }
  if (!(await people.markUndeliverable(plan.staffId, plan.email))) {
    // HR changed the address (or removed the person) since we read it: the failed address is no longer theirs.
    logger.warn('SES feedback ignored', { reason: 'address-changed' });
    return;
  }
  const toQueue = await ledger.recordIntended(plan.emails, { detailType, eventId: event.id }, now);
  await queue.enqueue(toQueue);
  logger.info('Address marked undeliverable', {
    mandatory: decision.mandatory,
    noticesIntended: plan.emails.length,
    noticesQueued: toQueue.length,
    lineManagerTold: plan.lineManagerTold,
    ...(plan.gap ? { gap: plan.gap } : {}),
  });
});
