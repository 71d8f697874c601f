/**
 * `Policy Acknowledged` (trust.policies): the receipt email is sent here and only here
 * (DESIGN.md "Events"). One receipt per person and policy version, whatever the
 * redeliveries: the ledger's business key decides.
 */
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { emailSchoolName } from '../config/trust-config.ts';
import { formatLondonDateTime } from '../domain/dates.ts';
import { ledgerKey } from '../domain/emails.ts';
import { canBeEmailed } from '../domain/people.ts';
import { policyDocumentUrl } from '../domain/policies.ts';
import { eventBridgeHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const people = new PeopleRepository(dynamo, dataTable);
const policies = new PolicyRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

export const handler = eventBridgeHandler('Policy Acknowledged', async (detail, event) => {
  const [person, policy] = await Promise.all([people.get(detail.staffId), policies.getCurrent(detail.policyId)]);
  if (!person || !policy) {
    // Nothing to send to, or about: say so loudly (no personal data) and stop retrying.
    logger.error('Receipt not sent: the person or the policy is not on record', { personKnown: !!person, policyKnown: !!policy });
    return;
  }
  if (!canBeEmailed(person)) {
    logger.warn('Receipt not sent: the person has left or their address is undeliverable');
    return;
  }
  const toQueue = await ledger.recordIntended(
    [
      {
        key: ledgerKey.receipt(detail.staffId, detail.policyId, detail.version, detail.refreshCycle ?? 0),
        templateId: 'receipt',
        to: { email: person.email, staffId: person.staffId },
        data: {
          givenName: person.givenName,
          trustName: config.trust.name,
          schoolName: emailSchoolName(config, person.schoolId),
          policyTitle: policy.title,
          version: detail.version,
          acknowledgedOn: formatLondonDateTime(detail.acknowledgedAt),
          documentUrl:
            policy.version === detail.version ? policy.documentUrl : policyDocumentUrl(config.publicBaseUrl, detail.policyId, detail.version),
        },
      },
    ],
    { detailType: 'Policy Acknowledged', eventId: detail.eventId ?? event.id },
    new Date(),
  );
  await queue.enqueue(toQueue);
  logger.info('Receipt queued', { queued: toQueue.length });
});
