/**
 * The policy lifecycle in the CDK stack: the `Policy Updated` rule and function, and the
 * fan-out queue with its worker (lib/policy-fanout.ts): redrive to a DLQ, one school per
 * invocation with partial batch failures, and least-privilege IAM for both functions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  allow,
  envOf,
  logicalIdOf,
  ofType,
  permissionsOf,
  props,
  resourceAt,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';

beforeAll(synthesizeForAssertions);

describe('Policy Updated and its fan-out', () => {
  it('routes exactly Policy Updated from trust.policies to its function, with retries and the delivery DLQ', () => {
    const rule = props(resourceAt('Events/PolicyUpdatedRule'));
    expect(rule.EventPattern).toEqual({ source: ['trust.policies'], 'detail-type': ['Policy Updated'] });
    expect(rule.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::GetAtt': [logicalIdOf('PolicyUpdatedFunction'), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf('Events/DeliveryDlq'), 'Arn'] } },
      },
    ]);
  });

  it('the fan-out queue redrives to its DLQ after 5 receives and hides a message for 6 × the worker timeout', () => {
    const queue = props(resourceAt('PolicyFanout/Queue'));
    expect(queue.VisibilityTimeout).toBe(360);
    expect(queue.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf('PolicyFanout/Dlq'), 'Arn'] }, maxReceiveCount: 5 });
    expect(queue.SqsManagedSseEnabled).toBe(true);
  });

  it('the worker takes one school at a time, reports partial batch failures, at most 2 at once', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => JSON.stringify(props(m).EventSourceArn) === JSON.stringify({ 'Fn::GetAtt': [logicalIdOf('PolicyFanout/Queue'), 'Arn'] }),
    );
    expect(mappings).toHaveLength(1);
    expect(props(mappings[0]?.[1])).toMatchObject({
      FunctionName: { Ref: logicalIdOf('PolicyFanout/WorkerFunction') },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    expect(props(resourceAt('PolicyFanout/WorkerFunction')).Timeout).toBe(60);
  });

  it('the Policy Updated function: the tables, the email and fan-out queues, nothing else', () => {
    expect(envOf('PolicyUpdatedFunction')).toMatchObject({
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
      FANOUT_QUEUE_URL: 'PolicyFanout/Queue',
    });
    const perms = permissionsOf('PolicyUpdatedFunction');
    // The queues it sends to, and its own on-failure destination (Lambda sends failed invocations there).
    expect(perms['sqs:SendMessage']).toEqual(['Email/Queue', 'PolicyFanout/Queue', 'PolicyUpdatedFunction/FailureDlq']);
    expect(perms).not.toHaveProperty('secretsmanager:GetSecretValue');
    expect(perms).not.toHaveProperty('dynamodb:Scan');
    expect(perms).not.toHaveProperty('events:PutEvents');
  });

  it('the worker: the tables, the email queue and the link-signing secret, nothing else', () => {
    expect(envOf('PolicyFanout/WorkerFunction')).toMatchObject({
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
      ACK_TOKEN_SECRET_ARN: 'AckTokenKey',
    });
    const perms = permissionsOf('PolicyFanout/WorkerFunction');
    expect(perms).toMatchObject(allow(['secretsmanager:GetSecretValue'], ['AckTokenKey']));
    expect(perms['sqs:SendMessage']).toEqual(['Email/Queue']);
    // A school's requests and ledger rows in batches (read first on a retry), under the fan-out lease.
    expect(perms['dynamodb:BatchWriteItem']?.sort()).toEqual(['Tables/DataTable', 'Tables/LedgerTable']);
    expect(perms['dynamodb:BatchGetItem']?.sort()).toEqual(['Tables/DataTable', 'Tables/LedgerTable']);
    expect(perms['dynamodb:Query']).toEqual(['Tables/DataTable/index/gsi1']);
    expect(perms).not.toHaveProperty('dynamodb:DeleteItem');
    expect(perms).not.toHaveProperty('dynamodb:Scan');
    // It consumes its queue (the event source) and sends to nothing but the email queue.
    expect(perms['sqs:ReceiveMessage']).toEqual(['PolicyFanout/Queue']);
  });
});
