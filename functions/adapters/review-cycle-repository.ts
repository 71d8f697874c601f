/**
 * The review cycle of each policy in the data table (access patterns: lib/data-tables.ts).
 * Its items live in the policy's own partition, beside the versions:
 *
 *   policies by review date:   gsi2: gsi2pk = REVIEW, gsi2sk = <reviewDueBy>#<policyId>
 *                              (the CURRENT item; PolicyRepository writes it with each version,
 *                              `recordReview` moves it)
 *   a notice, once per cycle:  pk = POLICY#<policyId>, sk = REVIEWNOTICE#<000001>#<reviewDueBy>#<stage>#<occurrence>
 *   a recorded review:         pk = POLICY#<policyId>, sk = REVIEWED#<000001>#<reviewedOn>
 *
 * Emitting a notice exactly once, when publishing can fail (DESIGN.md "Reliability rules"):
 * the scanner first claims the notice with a conditional put (state `claimed`), then
 * publishes, then marks it `published`. A later run (the function's retry, the rule's
 * retry, or tomorrow's scan while the stage is still current) finds the claim:
 * `published` → nothing to do; still `claimed` → the earlier attempt failed or stopped
 * before marking, so it publishes again. An event can therefore be published twice only
 * when an attempt stopped between the bus accepting it and the mark (or two scans ran at
 * once); both copies carry the same `eventId`, and the `Policy Review Due` handler's ledger
 * keys make the emails once. A claim never blocks a publish, so a failed publish is never lost
 * while its stage is current.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { CurrentPolicy } from '../domain/policies.ts';
import type { ReviewNotice, ReviewOutcome } from '../domain/review-cycle.ts';
import { reviewIndexKeys } from './index-keys.ts';

const pad = (version: number) => String(version).padStart(6, '0');
const policyPk = (policyId: string) => `POLICY#${policyId}`;
const noticeKey = (n: ReviewNotice) => ({
  pk: policyPk(n.policyId),
  sk: `REVIEWNOTICE#${pad(n.version)}#${n.reviewDate}#${n.stage}#${n.occurrence}`,
});

/** What a claim found: a new claim, an earlier claim whose event may not have been published, or a published notice. */
export type NoticeClaim = 'claimed' | 'unpublished' | 'published';

/** What recording a review did. */
export type ReviewWrite = 'recorded' | 'already-recorded' | 'cycle-changed';

/** Fields of the CURRENT item that are not part of a CurrentPolicy. */
const STORAGE_FIELDS = new Set(['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'entity', 'registeredAt', 'lastReviewedOn']);

function toPolicy(item: Record<string, unknown>): CurrentPolicy {
  return Object.fromEntries(Object.entries(item).filter(([k]) => !STORAGE_FIELDS.has(k))) as unknown as CurrentPolicy;
}

export class ReviewCycleRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(db: DynamoDBDocumentClient, table: string) {
    this.db = db;
    this.table = table;
  }

  /**
   * The current version of every policy whose review is due by `horizon` (YYYY-MM-DD),
   * overdue ones included: a query on the sparse review index, never a scan.
   */
  async dueBy(horizon: string): Promise<CurrentPolicy[]> {
    const out: CurrentPolicy[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi2',
        KeyConditionExpression: 'gsi2pk = :review AND gsi2sk <= :upper',
        // `~` sorts after every character of `#<policyId>`, so the whole horizon day is included.
        ExpressionAttributeValues: { ':review': reviewIndexKeys({ policyId: '', reviewDueBy: '' }).gsi2pk, ':upper': `${horizon}~` },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) out.push(toPolicy(item));
    return out;
  }

  /** Claims a notice before it is published (see the module comment). */
  async claimNotice(notice: ReviewNotice, now: Date): Promise<NoticeClaim> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...noticeKey(notice), entity: 'review-notice', ...notice, state: 'claimed', claimedAt: now.toISOString() },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'claimed';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return error.Item?.state?.S === 'published' ? 'published' : 'unpublished';
      }
      throw error;
    }
  }

  /** Marks a claimed notice as published, with the bus's event id. */
  async markPublished(notice: ReviewNotice, busEventId: string, now: Date): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: noticeKey(notice),
        UpdateExpression: 'SET #state = :published, publishedAt = :now, busEventId = :id',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':published': 'published', ':now': now.toISOString(), ':id': busEventId },
      }),
    );
  }

  /** Whether a review of this version on this date is already recorded (a redelivered `Policy Reviewed`). */
  async hasReview(policyId: string, version: number, reviewedOn: string): Promise<boolean> {
    const out = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: policyPk(policyId), sk: `REVIEWED#${pad(version)}#${reviewedOn}` },
        ConsistentRead: true,
      }),
    );
    return out.Item !== undefined;
  }

  /**
   * Records "reviewed, no change" and opens the next cycle, in one transaction:
   * - the review record, once per version and review date (a redelivered event finds it:
   *   `already-recorded`, nothing changes);
   * - the CURRENT item's `reviewDue`/`reviewDueBy` and its review-index key move to the
   *   next due date, only if it is still this version and still in the cycle the review
   *   closes (`cycle-changed` otherwise: a new version or another review came first).
   */
  async recordReview(outcome: ReviewOutcome, extra: { eventId: string; note?: string }, now: Date): Promise<ReviewWrite> {
    const pk = policyPk(outcome.policyId);
    const index = reviewIndexKeys({ policyId: outcome.policyId, reviewDueBy: outcome.nextReviewDueBy });
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: {
                  pk,
                  sk: `REVIEWED#${pad(outcome.version)}#${outcome.reviewedOn}`,
                  entity: 'policy-review',
                  ...outcome,
                  ...(extra.note !== undefined ? { note: extra.note } : {}),
                  sourceEventId: extra.eventId,
                  recordedAt: now.toISOString(),
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: { pk, sk: 'CURRENT' },
                UpdateExpression:
                  'SET #reviewDue = :next, #reviewDueBy = :next, #lastReviewedOn = :on, #gsi2pk = :gsi2pk, #gsi2sk = :gsi2sk',
                ConditionExpression: '#version = :version AND #reviewDueBy = :closed',
                ExpressionAttributeNames: {
                  '#reviewDue': 'reviewDue',
                  '#reviewDueBy': 'reviewDueBy',
                  '#lastReviewedOn': 'lastReviewedOn',
                  '#gsi2pk': 'gsi2pk',
                  '#gsi2sk': 'gsi2sk',
                  '#version': 'version',
                },
                ExpressionAttributeValues: {
                  ':next': outcome.nextReviewDueBy,
                  ':on': outcome.reviewedOn,
                  ':gsi2pk': index.gsi2pk,
                  ':gsi2sk': index.gsi2sk,
                  ':version': outcome.version,
                  ':closed': outcome.closedCycleDueBy,
                },
              },
            },
          ],
        }),
      );
      return 'recorded';
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const [review, current] = error.CancellationReasons ?? [];
        if (review?.Code === 'ConditionalCheckFailed') return 'already-recorded';
        if (current?.Code === 'ConditionalCheckFailed') return 'cycle-changed';
      }
      throw error;
    }
  }
}
