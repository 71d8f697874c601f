/**
 * `Policy Updated` (trust.policies): store the new version (versions only go up), supersede
 * older pending requests when the change is substantive, tell the governing committee, and
 * queue the fan-out: one message per school and one for central staff, handled by
 * functions/handlers/policy-fanout.ts. Redelivery resumes: the version is already stored
 * by this same event, and every later step is idempotent.
 */
import { EmailQueue } from '../adapters/email-queue.ts';
import { FanoutQueue } from '../adapters/fanout-queue.ts';
import { FanoutRepository } from '../adapters/fanout-repository.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import {
  committeeEmails,
  committeeRecipients,
  decideVersion,
  newVersion,
  type PolicyVersion,
} from '../domain/policy-update.ts';
import { committeeLookups } from '../domain/policies.ts';
import { eventBridgeHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const policies = new PolicyRepository(dynamo, dataTable);
const requests = new RequestRepository(dynamo, dataTable);
const people = new PeopleRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const emailQueue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));
const fanoutQueue = new FanoutQueue(sqs, requireEnv('FANOUT_QUEUE_URL'));
const fanouts = new FanoutRepository(dynamo, dataTable);

export const handler = eventBridgeHandler('Policy Updated', async (detail, event) => {
  const eventId = detail.eventId ?? event.id;
  const now = new Date();
  const current = (await policies.getCurrent(detail.policyId)) as PolicyVersion | null;
  const decision = decideVersion(current, detail, eventId);
  let version = decision.kind === 'resume' && current ? current : newVersion(detail, current, eventId);
  let resumed = decision.kind === 'resume';
  if (!resumed && !(await policies.storeNewVersion(version, now))) {
    // Another delivery of this event stored it first, or a newer version won: decide again
    // on what is stored (resume, or refuse with a clear error).
    const stored = (await policies.getCurrent(detail.policyId)) as PolicyVersion | null;
    decideVersion(stored, detail, eventId);
    if (!stored) throw new Error('the policy version could not be stored');
    version = stored;
    resumed = true;
  }

  let superseded = 0;
  if (version.change === 'substantive') {
    // Batched and resumable (RequestRepository.supersedePending): a redelivery finds only what is still pending.
    const started = Date.now();
    const older = (await policies.listVersions(detail.policyId)).filter((v) => v.version < version.version);
    for (const v of older) superseded += await requests.supersedePending(detail.policyId, v.version, version.version);
    logger.info('Older pending requests superseded', { superseded, olderVersions: older.length, durationMs: Date.now() - started });
  }

  const schools = [...config.schools.map((s) => s.id), TRUST_SCHOOL_ID];
  const fanoutMessages = schools.map((schoolId) => ({ policyId: version.policyId, version: version.version, schoolId, eventId }));
  // Owed before queued: a lost message or a dead worker is found by the ledger sweeper.
  await fanouts.markOwed(fanoutMessages, now, { fresh: !resumed });
  await fanoutQueue.enqueue(fanoutMessages);

  // The governing committee and the person responsible are told the version is live.
  const lookups = [...committeeLookups(version, config), { schoolId: TRUST_SCHOOL_ID, role: version.ownerRole }];
  const candidates = (await Promise.all(lookups.map((l) => people.activeWithRole(l.schoolId, l.role)))).flat();
  const notices = committeeEmails(version, committeeRecipients(version, candidates), config);
  const queued = await ledger.recordIntended(notices, { detailType: 'Policy Updated', eventId }, now);
  await emailQueue.enqueue(queued);

  logger.info('Policy version live', {
    policyId: version.policyId,
    version: version.version,
    change: version.change,
    resumed,
    superseded,
    fanoutMessages: schools.length,
    committeeNotices: notices.length,
  });
});
