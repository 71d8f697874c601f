/**
 * Fan-out progress in the data table: one item per policy version and school,
 *   pk = FANOUT#<policyId>#<version>, sk = SCHOOL#<schoolId>
 * holding a lease (so one worker at a time writes that school's rows, which is what lets
 * it use unconditional batch writes), the number of attempts (the first attempt knows no
 * row of its own exists yet), and `done`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

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

  async complete(policyId: string, version: number, schoolId: string, now: Date, counts: Record<string, number>): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.key(policyId, version, schoolId),
        UpdateExpression: 'SET done = :now, counts = :counts REMOVE leaseUntil',
        ExpressionAttributeValues: { ':now': now.toISOString(), ':counts': counts },
      }),
    );
  }
}
