/**
 * `Policy Reviewed` (trust.policies): the governing committee reviewed the current version
 * and it needs no change. The next review is due `reviewPeriodMonths` after `reviewedOn`;
 * the policy's review date and its review-index key move there, the review is recorded, and
 * notices of the closed cycle stop (functions/domain/review-cycle.ts). A review of a
 * version that is not the current one is refused with a clear error and changes nothing;
 * a redelivered event changes nothing either.
 */
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { ReviewCycleRepository } from '../adapters/review-cycle-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { decideReviewed } from '../domain/review-cycle.ts';
import { eventBridgeHandler } from './pipeline.ts';

// Checked at cold start as in every function: a bundle with a bad trust configuration fails at once.
runtimeConfig();
const { dynamo } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const policies = new PolicyRepository(dynamo, dataTable);
const reviews = new ReviewCycleRepository(dynamo, dataTable);

export class ReviewConflictError extends Error {
  override name = 'ReviewConflictError';
}

export const handler = eventBridgeHandler('Policy Reviewed', async (detail, event) => {
  const ids = { policyId: detail.policyId, version: detail.version, reviewedOn: detail.reviewedOn };
  if (await reviews.hasReview(detail.policyId, detail.version, detail.reviewedOn)) {
    logger.info('Policy review already recorded: nothing to do', ids);
    return;
  }
  // Throws ReviewRefusedError (logged by the pipeline, then retried and dead-lettered) for a
  // version that is not current or a review that would move the date back.
  const outcome = decideReviewed(await policies.getCurrent(detail.policyId), detail);
  const written = await reviews.recordReview(
    outcome,
    { eventId: detail.eventId ?? event.id, ...(detail.note !== undefined ? { note: detail.note } : {}) },
    new Date(),
  );
  if (written === 'cycle-changed') {
    // A new version or another review landed between the read and the write: the retry reads again and decides afresh.
    throw new ReviewConflictError(`Policy Reviewed for ${detail.policyId}: the current version or review date changed while recording; retrying`);
  }
  logger.info(written === 'recorded' ? 'Policy review recorded: next review date set' : 'Policy review already recorded: nothing to do', {
    ...ids,
    closedCycleDueBy: outcome.closedCycleDueBy,
    nextReviewDueBy: outcome.nextReviewDueBy,
  });
});
