/**
 * Policies in the data table (access patterns: lib/data-tables.ts).
 *   current version: pk = POLICY#<policyId>, sk = CURRENT; also gsi1pk = POLICIES, gsi1sk = <policyId>
 *   each version:    pk = POLICY#<policyId>, sk = VERSION#<000001>
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, paginateQuery, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { CurrentPolicy } from '../domain/policies.ts';
import { reviewIndexKeys } from './index-keys.ts';

export const versionSk = (version: number) => `VERSION#${String(version).padStart(6, '0')}`;

export class PolicyRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(db: DynamoDBDocumentClient, table: string) {
    this.db = db;
    this.table = table;
  }

  /**
   * Registers a configured policy if it has never been registered: the seed and the
   * acceptable use agreement exist from the first start, without a `Policy Updated` event.
   * A policy already stored (perhaps at a later version) is left as it is.
   */
  async registerIfAbsent(policy: CurrentPolicy, at: Date): Promise<boolean> {
    const put = async (sk: string, extra: Record<string, string>) => {
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.table,
            Item: { pk: `POLICY#${policy.policyId}`, sk, entity: 'policy', ...policy, registeredAt: at.toISOString(), ...extra },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    };
    await put(versionSk(policy.version), {});
    return put('CURRENT', { gsi1pk: 'POLICIES', gsi1sk: policy.policyId, ...reviewIndexKeys(policy) });
  }

  /** A policy's current version, or null if it is not registered. */
  async getCurrent(policyId: string): Promise<CurrentPolicy | null> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: `POLICY#${policyId}`, sk: 'CURRENT' }, ConsistentRead: true }),
    );
    return out.Item ? toPolicy(out.Item) : null;
  }

  /** The current version of every policy. */
  async listCurrent(): Promise<CurrentPolicy[]> {
    const out: CurrentPolicy[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :all',
        ExpressionAttributeValues: { ':all': 'POLICIES' },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) out.push(toPolicy(item));
    }
    return out;
  }
}

function toPolicy(item: Record<string, unknown>): CurrentPolicy {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, gsi2pk: _g3, gsi2sk: _g4, entity: _e, registeredAt: _r, ...policy } = item;
  return policy as unknown as CurrentPolicy;
}
