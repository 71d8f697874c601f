/**
 * Policies in the data table (access patterns: lib/data-tables.ts).
 *   current version: pk = POLICY#<policyId>, sk = CURRENT; also gsi1pk = POLICIES, gsi1sk = <policyId>
 *   each version:    pk = POLICY#<policyId>, sk = VERSION#<000001>
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, paginateQuery, PutCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { PolicyVersion } from '../domain/policy-update.ts';
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
  async getCurrent(policyId: string): Promise<(CurrentPolicy & Partial<PolicyVersion>) | null> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: `POLICY#${policyId}`, sk: 'CURRENT' }, ConsistentRead: true }),
    );
    return out.Item ? toPolicy(out.Item) : null;
  }

  /**
   * Stores a new version and makes it current, in one transaction: the version item must
   * not exist and the current one must be older. Returns false when either condition fails
   * (the version exists, or a newer one is current): nothing was written.
   */
  async storeNewVersion(version: PolicyVersion, at: Date): Promise<boolean> {
    const item = { pk: `POLICY#${version.policyId}`, entity: 'policy', ...version, registeredAt: at.toISOString() };
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { ...item, sk: versionSk(version.version) },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: { ...item, sk: 'CURRENT', gsi1pk: 'POLICIES', gsi1sk: version.policyId, ...reviewIndexKeys(version) },
                ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
                ExpressionAttributeValues: { ':v': version.version },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof TransactionCanceledException) return false;
      throw error;
    }
  }

  /** Every stored version of a policy, oldest first. */
  async listVersions(policyId: string): Promise<PolicyVersion[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
        ExpressionAttributeValues: { ':pk': `POLICY#${policyId}`, ':v': 'VERSION#' },
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map((item) => toPolicy(item) as PolicyVersion);
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
