/**
 * The daily review scanner (a scheduled rule, `cron(0 6 * * ? *)`, UTC). "Today" is the
 * Europe/London date of the scheduled time (DESIGN.md "Reliability rules"), so a retried or
 * simulated run (`trust-notify tick --today`) computes the same day. It reads the policies
 * whose review is due within the largest configured lead time (or overdue) from the review
 * index, works out each one's current stage occurrences (functions/domain/review-cycle.ts)
 * and publishes `Policy Review Due` for each, once per cycle: claim, publish, mark
 * (functions/adapters/review-cycle-repository.ts says why a failed publish is retried and
 * never lost).
 *
 * The configured policies are registered first (once per container), so that on a fresh
 * install the first scan already finds the seed policy, due by 31 December 2023, overdue.
 */
import { EventPublisher, eventBridgeClient } from '../adapters/event-publisher.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { ReviewCycleRepository } from '../adapters/review-cycle-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { londonDate } from '../domain/dates.ts';
import { type CurrentPolicy, registeredPolicy } from '../domain/policies.ts';
import { noticesFor, reviewNoticeEventId, reviewScanHorizon } from '../domain/review-cycle.ts';
import { scheduledHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const policies = new PolicyRepository(dynamo, dataTable);
const reviews = new ReviewCycleRepository(dynamo, dataTable);
const events = new EventPublisher(eventBridgeClient(), requireEnv('EVENT_BUS_NAME'));

let registered = false;
/**
 * Registers the configured policies if they are not yet (on the first run in each
 * container). Returns the ones this call registered: the review index is eventually
 * consistent, so they are scanned directly rather than read back from it.
 */
async function registerConfiguredPolicies(now: Date): Promise<CurrentPolicy[]> {
  if (registered) return [];
  const lists = await Promise.all(
    config.policies.map(async (p) => {
      const policy = registeredPolicy(p, config.publicBaseUrl);
      return (await policies.registerIfAbsent(policy, now)) ? [policy] : [];
    }),
  );
  registered = true;
  return lists.flat();
}

export const handler = scheduledHandler(async (now) => {
  const today = londonDate(now);
  const justRegistered = await registerConfiguredPolicies(now);
  const fromIndex = await reviews.dueBy(reviewScanHorizon(config.reviewStages, today));
  const due = [...new Map([...justRegistered, ...fromIndex].map((p) => [p.policyId, p])).values()];

  const counts = { policiesDue: due.length, published: 0, republished: 0, alreadyPublished: 0, failed: 0 };
  for (const policy of due) {
    for (const notice of noticesFor(policy, config.reviewStages, today)) {
      const ids = { policyId: notice.policyId, version: notice.version, stage: notice.stage, occurrence: notice.occurrence };
      try {
        const claim = await reviews.claimNotice(notice, now);
        if (claim === 'published') {
          counts.alreadyPublished++;
          continue;
        }
        const busEventId = await events.publish('Policy Review Due', {
          ...notice,
          eventId: reviewNoticeEventId(notice),
          occurredAt: now.toISOString(),
        });
        await reviews.markPublished(notice, busEventId, now);
        counts[claim === 'claimed' ? 'published' : 'republished']++;
        logger.info('Policy Review Due published', { ...ids, republished: claim !== 'claimed' });
      } catch (error) {
        // One policy's failure does not stop the others; the run fails at the end so it is retried.
        counts.failed++;
        logger.error('Policy Review Due not published', { ...ids, errorName: (error as Error).name, errorMessage: (error as Error).message });
      }
    }
  }
  logger.info('Review scan done', { today, ...counts });
  if (counts.failed > 0) {
    throw new Error(`${counts.failed} review notices were not published; a retry of this run publishes them`);
  }
});
