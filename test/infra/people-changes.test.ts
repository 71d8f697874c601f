/**
 * The people-change handlers in the CDK stack: the two rules (`Staff Updated`, `Staff Left`
 * from trust.hr), their targets, retries and dead-letter queues, and each function's
 * environment and IAM, least privilege. Synthesized without bundling (the bundles are
 * checked by stack.test.ts); expected values are written out literally.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { matchesEventPattern } from '../../local/event-pattern.ts';
import {
  allow,
  envOf,
  invokeConfigsFor,
  invokePermissionsFor,
  logicalIdOf,
  permissionsOf,
  props,
  resourceAt,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';

beforeAll(synthesizeForAssertions);

const handlers = [
  { name: 'StaffUpdated', detailType: 'Staff Updated' },
  { name: 'StaffLeft', detailType: 'Staff Left' },
];

describe('people-change rules', () => {
  it.each(handlers)('$name: exactly $detailType from trust.hr on trust-events, to its function, with retries and the delivery DLQ', ({ name, detailType }) => {
    const rule = props(resourceAt(`Events/${name}Rule`));
    expect(rule.EventPattern).toEqual({ source: ['trust.hr'], 'detail-type': [detailType] });
    expect(rule.EventBusName).toEqual({ Ref: logicalIdOf('Events/Bus') });
    expect(rule.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::GetAtt': [logicalIdOf(`${name}Function`), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf('Events/DeliveryDlq'), 'Arn'] } },
      },
    ]);
  });

  it.each(handlers)('$name: the pattern matches only $detailType from trust.hr', ({ name, detailType }) => {
    const pattern = props(resourceAt(`Events/${name}Rule`)).EventPattern;
    const event = (source: string, type: string) => ({ source, 'detail-type': type, detail: { staffId: 'SM-T1' } });
    expect(matchesEventPattern(pattern, event('trust.hr', detailType))).toBe(true);
    for (const other of ['Staff Onboarded', 'Staff Updated', 'Staff Left'].filter((t) => t !== detailType)) {
      expect(matchesEventPattern(pattern, event('trust.hr', other))).toBe(false);
    }
    expect(matchesEventPattern(pattern, event('trust.policies', detailType))).toBe(false);
  });

  it.each(handlers)('$name: EventBridge may invoke the function from its rule only', ({ name }) => {
    const fnArn = { 'Fn::GetAtt': [logicalIdOf(`${name}Function`), 'Arn'] };
    const permissions = invokePermissionsFor(fnArn);
    expect(permissions.map(([, p]) => props(p))).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: fnArn,
        SourceArn: { 'Fn::GetAtt': [logicalIdOf(`Events/${name}Rule`), 'Arn'] },
      },
    ]);
  });
});

describe('people-change functions', () => {
  it.each(handlers)('$name: Node.js 24 on arm64, async retries twice within 6 h, then its own failure DLQ', ({ name }) => {
    expect(props(resourceAt(`${name}Function`))).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Timeout: 30 });
    const fnId = logicalIdOf(`${name}Function`);
    const configs = invokeConfigsFor(fnId);
    expect(configs.map(([, c]) => props(c))).toEqual([
      {
        FunctionName: { Ref: fnId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(`${name}Function/FailureDlq`), 'Arn'] } } },
      },
    ]);
  });

  const base = { NODE_OPTIONS: '--enable-source-maps', POWERTOOLS_SERVICE_NAME: 'trust-policy-notify', POWERTOOLS_LOG_LEVEL: 'INFO' };

  it('StaffUpdated is given the data and ledger tables, the email queue and the ack key secret (it signs links)', () => {
    expect(envOf('StaffUpdatedFunction')).toEqual({
      ...base,
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
      ACK_TOKEN_SECRET_ARN: 'AckTokenKey',
    });
  });

  it('StaffLeft is given the data and ledger tables and the email queue, and no secret (it signs nothing)', () => {
    expect(envOf('StaffLeftFunction')).toEqual({
      ...base,
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
    });
  });
});

describe('people-change IAM: least privilege', () => {
  // What their code sends (test/infra/least-privilege.test.ts derives it): no Scan, no delete, no batch write.
  // The key: Decrypt through DynamoDB, for the two tables only.
  const keyActions = ['kms:Decrypt'];
  const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
  const xray = allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']);

  it('StaffUpdated: its logs, X-Ray, the two tables and their key, sending to the email queue, reading the ack key secret', () => {
    expect(permissionsOf('StaffUpdatedFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['StaffUpdatedFunctionLogGroup']),
      ...xray,
      // The person, their requests and the policies (Get, Query, gsi1 for the Heads of School), the
      // changes (Put, Update); one ledger row per email (Put).
      ...allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:PutItem'], ['Tables/DataTable', 'Tables/LedgerTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable', 'Tables/DataTable/index/gsi1']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'StaffUpdatedFunction/FailureDlq']),
      ...allow(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], ['AckTokenKey']),
    });
  });

  it('StaffLeft: its logs, X-Ray, the two tables and their key, sending to the email queue; no secret, no bus', () => {
    expect(permissionsOf('StaffLeftFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['StaffLeftFunctionLogGroup']),
      ...xray,
      // Marks them left and cancels their pending requests (Get, Query, Update), finds leadership
      // (gsi1), and records the emails (a ledger Put); it creates no data-table item.
      ...allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:PutItem'], ['Tables/LedgerTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable', 'Tables/DataTable/index/gsi1']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'StaffLeftFunction/FailureDlq']),
    });
  });
});
