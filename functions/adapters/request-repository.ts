/**
 * Acknowledgement requests in the data table (access patterns: lib/data-tables.ts).
 *   a person's requests:   pk = PERSON#<staffId>, sk = REQUEST#<policyId>#<000001>
 *   a version's requests:  gsi1pk = POLICYVERSION#<policyId>#<version>, gsi1sk = PERSON#<staffId>
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, paginateQuery, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchGet, batchPut } from './batch.ts';
import type { AckRequest } from '../domain/onboarding.ts';
import { pendingIndexKeys } from './index-keys.ts';

export const requestKey = (staffId: string, policyId: string, version: number) => ({
  pk: `PERSON#${staffId}`,
  sk: `REQUEST#${policyId}#${String(version).padStart(6, '0')}`,
});

export class RequestRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(db: DynamoDBDocumentClient, table: string) {
    this.db = db;
    this.table = table;
  }

  /** Creates each request that does not exist yet; an existing one is left untouched. Returns how many were new. */
  async createIfAbsent(requests: readonly AckRequest[]): Promise<number> {
    const created = await Promise.all(
      requests.map(async (request) => {
        try {
          await this.db.send(
            new PutCommand({
              TableName: this.table,
              Item: this.item(request),
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
          return 1;
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException) return 0;
          throw error;
        }
      }),
    );
    return created.reduce<number>((a, b) => a + b, 0);
  }

  /**
   * Writes new requests in batches (BatchWriteItem, unconditional). Only for a writer that
   * holds the fan-out lease and knows none of these exist yet (`firstAttempt`); otherwise
   * the ones that exist are read first and left alone (an acknowledged request is never
   * reset to pending). Returns how many were written.
   */
  async putNewBatch(requests: readonly AckRequest[], firstAttempt: boolean): Promise<number> {
    let fresh = requests;
    if (!firstAttempt && requests.length > 0) {
      const existing = await batchGet(
        this.db,
        this.table,
        requests.map((r) => requestKey(r.staffId, r.policyId, r.version)),
      );
      const seen = new Set(existing.map((item) => `${item.pk}|${item.sk}`));
      fresh = requests.filter((r) => {
        const k = requestKey(r.staffId, r.policyId, r.version);
        return !seen.has(`${k.pk}|${k.sk}`);
      });
    }
    await batchPut(this.db, this.table, fresh.map((r) => this.item(r)));
    return fresh.length;
  }

  private item(request: AckRequest): Record<string, unknown> {
    return {
      ...requestKey(request.staffId, request.policyId, request.version),
      entity: 'ack-request',
      gsi1pk: `POLICYVERSION#${request.policyId}#${request.version}`,
      gsi1sk: `PERSON#${request.staffId}`,
      ...(request.status === 'pending' ? pendingIndexKeys(request) : {}),
      ...request,
    };
  }

  /** Every request of one policy version (the report's and the supersede step's query). */
  async *ofVersion(policyId: string, version: number): AsyncGenerator<AckRequest[]> {
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :v',
        ExpressionAttributeValues: { ':v': `POLICYVERSION#${policyId}#${version}` },
      },
    );
    for await (const page of pages) yield (page.Items ?? []).map(toRequest);
  }

  /**
   * pending → superseded for every pending request of an older version (a substantive new
   * version replaces them), each a conditional write so that an acknowledgement recorded
   * meanwhile is never overwritten. Returns how many were superseded.
   */
  async supersedePending(policyId: string, olderVersion: number, byVersion: number): Promise<number> {
    let count = 0;
    for await (const page of this.ofVersion(policyId, olderVersion)) {
      for (const request of page.filter((r) => r.status === 'pending')) {
        try {
          await this.db.send(
            new UpdateCommand({
              TableName: this.table,
              Key: requestKey(request.staffId, policyId, olderVersion),
              UpdateExpression: 'SET #status = :superseded, supersededBy = :by REMOVE gsi2pk, gsi2sk',
              ConditionExpression: '#status = :pending',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':superseded': 'superseded', ':pending': 'pending', ':by': byVersion },
            }),
          );
          count++;
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }
    }
    return count;
  }

  async get(staffId: string, policyId: string, version: number): Promise<AckRequest | null> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: requestKey(staffId, policyId, version), ConsistentRead: true }),
    );
    return out.Item ? toRequest(out.Item) : null;
  }

  /**
   * pending → acknowledged, once: a conditional write, so a second click, a second tab or a
   * replayed request changes nothing. Returns the stored request after the attempt and
   * whether this call was the one that recorded it.
   */
  async acknowledge(
    staffId: string,
    policyId: string,
    version: number,
    tokenId: string,
    at: Date,
  ): Promise<{ recorded: boolean; request: AckRequest | null }> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: requestKey(staffId, policyId, version),
          // Leaves the pending index (gsi2): the reminder scan no longer sees it.
          UpdateExpression: 'SET #status = :acknowledged, acknowledgedAt = :at, ackTokenId = :token REMOVE gsi2pk, gsi2sk',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':acknowledged': 'acknowledged', ':pending': 'pending', ':at': at.toISOString(), ':token': tokenId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { recorded: true, request: out.Attributes ? toRequest(out.Attributes) : null };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { recorded: false, request: await this.get(staffId, policyId, version) };
      throw error;
    }
  }

  async forPerson(staffId: string): Promise<AckRequest[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :req)',
        ExpressionAttributeValues: { ':pk': `PERSON#${staffId}`, ':req': 'REQUEST#' },
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map(toRequest);
  }
}

function toRequest(item: Record<string, unknown>): AckRequest {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, gsi2pk: _g3, gsi2sk: _g4, entity: _e, ...request } = item;
  return request as unknown as AckRequest;
}
