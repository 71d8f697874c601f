/**
 * Fan-out progress in the data table: one item per policy version and school,
 *   pk = FANOUT#<policyId>#<version>, sk = SCHOOL#<schoolId>
 * holding a lease (so one worker at a time writes that school's rows, which is what lets
 * it use unconditional batch writes), the number of attempts (the first attempt knows no
 * row of its own exists yet), and `done`.
 *
 * Owed fan-outs are findable without a scan: `Policy Updated` writes each school's item
 * into the data table's sparse gsi2 (gsi2pk = FANOUT, gsi2sk = <owed since>#…) before it
 * queues the messages, and `complete` removes it. The ledger sweeper
 * (functions/handlers/ledger-sweep.ts) queues again a school whose message was lost or whose
 * worker died, once its lease has run out.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchPut } from './batch.ts';

export const FANOUT_INDEX_PK = 'FANOUT';

/** A school's fan-out of one version, owed since `owedSince` (from the index: eventually consistent). */
export interface OwedFanout {
  policyId: string;
  version: number;
  schoolId: string;
  eventId: string;
  /** The gsi2 sort key as listed, to move it conditionally. */
  indexKey: string;
  leaseUntil?: string;
  done?: string;
}

const owedIndexKey = (owedSince: Date, policyId: string, version: number, schoolId: string) =>
  `${owedSince.toISOString()}#${policyId}#${version}#${schoolId}`;

export type Lease = { kind: 'acquired'; attempt: number } | { kind: 'busy' } | { kind: 'done' };

export class FanoutRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(db: DynamoDBDocumentClient, table: string) {
    this.db = db;
    this.table = table;
  }

  private key(policyId: string, version: number, schoolId: string) {
    return { pk: `FANOUT#${policyId}#${version}`, sk: `SCHOOL#${schoolId}` };
  }

  async acquire(policyId: string, version: number, schoolId: string, now: Date, leaseMs: number): Promise<Lease> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(policyId, version, schoolId),
          UpdateExpression: 'SET leaseUntil = :until, entity = :entity ADD attempts :one',
          ConditionExpression: '(attribute_not_exists(leaseUntil) OR leaseUntil < :now) AND attribute_not_exists(done)',
          ExpressionAttributeValues: {
            ':until': new Date(now.getTime() + leaseMs).toISOString(),
            ':now': now.toISOString(),
            ':one': 1,
            ':entity': 'fanout',
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'acquired', attempt: Number(out.Attributes?.attempts ?? 1) };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return error.Item?.done ? { kind: 'done' } : { kind: 'busy' };
      throw error;
    }
  }

  /**
   * Records that these schools' fan-out is owed (before their messages are queued), so the
   * sweeper can find one whose message is lost. `fresh`: the caller has just stored this
   * version, so none of its fan-out items can exist yet and they are written in batches (25
   * a call). Otherwise (a resumed Policy Updated) one conditional write per school: a school
   * already done is left alone, one still owed is owed from now.
   */
  async markOwed(items: readonly { policyId: string; version: number; schoolId: string; eventId: string }[], now: Date, { fresh }: { fresh: boolean }): Promise<void> {
    if (fresh) {
      await batchPut(
        this.db,
        this.table,
        items.map(({ policyId, version, schoolId, eventId }) => ({
          ...this.key(policyId, version, schoolId),
          entity: 'fanout',
          policyId,
          version,
          schoolId,
          eventId,
          gsi2pk: FANOUT_INDEX_PK,
          gsi2sk: owedIndexKey(now, policyId, version, schoolId),
        })),
      );
      return;
    }
    await Promise.all(
      items.map(async ({ policyId, version, schoolId, eventId }) => {
        try {
          await this.db.send(
            new UpdateCommand({
              TableName: this.table,
              Key: this.key(policyId, version, schoolId),
              UpdateExpression: 'SET entity = :entity, policyId = :policyId, version = :version, schoolId = :schoolId, eventId = :eventId, gsi2pk = :pk, gsi2sk = :sk',
              ConditionExpression: 'attribute_not_exists(done)',
              ExpressionAttributeValues: {
                ':entity': 'fanout',
                ':policyId': policyId,
                ':version': version,
                ':schoolId': schoolId,
                ':eventId': eventId,
                ':pk': FANOUT_INDEX_PK,
                ':sk': owedIndexKey(now, policyId, version, schoolId),
              },
            }),
          );
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }),
    );
  }

  /** Fan-outs owed since `cutoff` or earlier, oldest first, at most `limit`. */
  async owedSince(cutoff: Date, limit: number): Promise<OwedFanout[]> {
    const found: OwedFanout[] = [];
    const pages = paginateQuery(
      { client: this.db, pageSize: Math.min(100, limit) },
      {
        TableName: this.table,
        IndexName: 'gsi2',
        KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk <= :cutoff',
        ExpressionAttributeValues: { ':pk': FANOUT_INDEX_PK, ':cutoff': `${cutoff.toISOString()}~` },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        found.push({
          policyId: String(item.policyId),
          version: Number(item.version),
          schoolId: String(item.schoolId),
          eventId: String(item.eventId),
          indexKey: String(item.gsi2sk),
          ...(item.leaseUntil ? { leaseUntil: String(item.leaseUntil) } : {}),
          ...(item.done ? { done: String(item.done) } : {}),
        });
      }
      if (found.length >= limit) break;
    }
    return found.slice(0, limit);
  }

  /**
   * Moves an owed fan-out's place in the index to `owedSince`, if it is still where it was
   * listed and not done: the sweeper's mark that it acted (or will look again later).
   */
  async markOwedAgain(owed: OwedFanout, owedSince: Date): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(owed.policyId, owed.version, owed.schoolId),
          UpdateExpression: 'SET gsi2sk = :next',
          ConditionExpression: 'gsi2sk = :seen AND attribute_not_exists(done)',
          ExpressionAttributeValues: { ':next': owedIndexKey(owedSince, owed.policyId, owed.version, owed.schoolId), ':seen': owed.indexKey },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async complete(policyId: string, version: number, schoolId: string, now: Date, counts: Record<string, number>): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.key(policyId, version, schoolId),
        UpdateExpression: 'SET done = :now, counts = :counts REMOVE leaseUntil, gsi2pk, gsi2sk',
        ExpressionAttributeValues: { ':now': now.toISOString(), ':counts': counts },
      }),
    );
  }
}
