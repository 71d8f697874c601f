/**
 * The review cycle in the CDK stack: the daily scanner's scheduled rule (UTC cron, on the
 * default bus, where scheduled rules live), the `Policy Review Due` and `Policy Reviewed`
 * rules, their targets, retries and dead-letter queues, and each function's environment and
 * IAM, least privilege (the scanner reads the review index by query: no function may Scan).
 * Synthesized without bundling (stack.test.ts checks the bundles); expected values are
 * written out literally.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { londonDate } from '../../functions/domain/dates.ts';
import { matchesEventPattern } from '../../local/event-pattern.ts';
import { firingsBetween, parseSchedule } from '../../local/schedule.ts';
import {
  allow,
  arnOf,
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

const deliveryTarget = (functionPath: string) => ({
  Id: 'Target0',
  Arn: arnOf(functionPath),
  RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
  DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
});

/** EventBridge may invoke the function, from this one rule only. */
function expectInvokedOnlyBy(functionPath: string, rulePath: string): void {
  const fnArn = arnOf(functionPath);
  const permissions = invokePermissionsFor(fnArn);
  expect(permissions.map(([, p]) => props(p))).toEqual([
    { Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', FunctionName: fnArn, SourceArn: arnOf(rulePath) },
  ]);
}

describe('the daily review scanner schedule', () => {
  it('runs at 06:00 UTC every day, on the default bus (no EventBusName), with retries and the delivery DLQ', () => {
    expect(props(resourceAt('Events/ReviewScannerSchedule'))).toEqual({
      Description: 'Daily review scanner: publishes Policy Review Due for each policy at its current review stage, once per cycle',
      ScheduleExpression: 'cron(0 6 * * ? *)',
      State: 'ENABLED',
      Targets: [deliveryTarget('ReviewScannerFunction')],
    });
    expectInvokedOnlyBy('ReviewScannerFunction', 'Events/ReviewScannerSchedule');
  });

  it('fires once per UTC day across both 2026 clock changes, and each firing is a different London date (06:00 or 07:00 there)', () => {
    const expression = props(resourceAt('Events/ReviewScannerSchedule')).ScheduleExpression as string;
    const firings = firingsBetween(parseSchedule(expression), new Date('2026-01-01T00:00:00Z'), new Date('2026-12-31T23:59:59Z'), 400);
    expect(firings).toHaveLength(365);
    expect(firings.every((at) => at.toISOString().endsWith('T06:00:00.000Z'))).toBe(true);
    const londonDates = firings.map(londonDate);
    expect(new Set(londonDates).size).toBe(365);
    expect(londonDates).toContain('2026-03-29');
    expect(londonDates).toContain('2026-10-25');
  });
});

const handlers = [
  { name: 'PolicyReviewDue', detailType: 'Policy Review Due' },
  { name: 'PolicyReviewed', detailType: 'Policy Reviewed' },
];

describe('review rules', () => {
  it.each(handlers)('$name: exactly $detailType from trust.policies on trust-events, to its function, with retries and the delivery DLQ', ({ name, detailType }) => {
    const rule = props(resourceAt(`Events/${name}Rule`));
    expect(rule.EventPattern).toEqual({ source: ['trust.policies'], 'detail-type': [detailType] });
    expect(rule.EventBusName).toEqual({ Ref: logicalIdOf('Events/Bus') });
    expect(rule.Targets).toEqual([deliveryTarget(`${name}Function`)]);
    expectInvokedOnlyBy(`${name}Function`, `Events/${name}Rule`);
  });

  it.each(handlers)('$name: the pattern matches only $detailType from trust.policies', ({ name, detailType }) => {
    const pattern = props(resourceAt(`Events/${name}Rule`)).EventPattern;
    const event = (source: string, type: string) => ({ source, 'detail-type': type, detail: { policyId: 'use-of-social-media' } });
    expect(matchesEventPattern(pattern, event('trust.policies', detailType))).toBe(true);
    for (const other of ['Policy Review Due', 'Policy Reviewed', 'Policy Updated', 'Policy Acknowledged'].filter((t) => t !== detailType)) {
      expect(matchesEventPattern(pattern, event('trust.policies', other))).toBe(false);
    }
    expect(matchesEventPattern(pattern, event('trust.hr', detailType))).toBe(false);
  });
});

const functions = ['ReviewScanner', 'PolicyReviewDue', 'PolicyReviewed'];

describe('review functions', () => {
  it.each(functions)('%s: Node.js 24 on arm64, 30 s, async retries twice within 6 h, then its own failure DLQ', (name) => {
    expect(props(resourceAt(`${name}Function`))).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 30,
      TracingConfig: { Mode: 'Active' },
    });
    const fnId = logicalIdOf(`${name}Function`);
    const configs = invokeConfigsFor(fnId);
    expect(configs.map(([, c]) => props(c))).toEqual([
      {
        FunctionName: { Ref: fnId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21600,
        DestinationConfig: { OnFailure: { Destination: arnOf(`${name}Function/FailureDlq`) } },
      },
    ]);
  });

  const base = { NODE_OPTIONS: '--enable-source-maps', POWERTOOLS_SERVICE_NAME: 'trust-policy-notify', POWERTOOLS_LOG_LEVEL: 'INFO' };

  it('the scanner is given the data table and the bus name', () => {
    expect(envOf('ReviewScannerFunction')).toEqual({ ...base, DATA_TABLE_NAME: 'Tables/DataTable', EVENT_BUS_NAME: 'Events/Bus' });
  });

  it('Policy Review Due is given the data and ledger tables and the email queue', () => {
    expect(envOf('PolicyReviewDueFunction')).toEqual({
      ...base,
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
    });
  });

  it('Policy Reviewed is given the data table only (it sends nothing)', () => {
    expect(envOf('PolicyReviewedFunction')).toEqual({ ...base, DATA_TABLE_NAME: 'Tables/DataTable' });
  });
});

describe('review IAM: least privilege', () => {
  // What their code sends (test/infra/least-privilege.test.ts); the key: Decrypt through DynamoDB.
  const keyActions = ['kms:Decrypt'];
  const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
  const xray = allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']);
  const logs = (name: string) => allow(['logs:CreateLogStream', 'logs:PutLogEvents'], [`${name}FunctionLogGroup`]);

  it('the scanner: its logs, X-Ray, the review index (gsi2), the configured policies and the notices written, the key, PutEvents on the trust bus only', () => {
    expect(permissionsOf('ReviewScannerFunction')).toEqual({
      ...logs('ReviewScanner'),
      ...xray,
      ...allow(['dynamodb:PutItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable/index/gsi2']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['ReviewScannerFunction/FailureDlq']),
      ...allow(['events:PutEvents'], ['Events/Bus']),
    });
  });

  it('Policy Review Due: reads the data table, writes the ledger, sends to the email queue; no bus', () => {
    expect(permissionsOf('PolicyReviewDueFunction')).toEqual({
      ...logs('PolicyReviewDue'),
      ...xray,
      ...allow(['dynamodb:GetItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable/index/gsi1']),
      ...allow(['dynamodb:PutItem'], ['Tables/LedgerTable']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'PolicyReviewDueFunction/FailureDlq']),
    });
  });

  it('Policy Reviewed: the data table and key only; no ledger, no email queue, no bus', () => {
    expect(permissionsOf('PolicyReviewedFunction')).toEqual({
      ...logs('PolicyReviewed'),
      ...xray,
      ...allow(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['PolicyReviewedFunction/FailureDlq']),
    });
  });

  it('none of them may Scan: the scanner finds policies by querying the review index', () => {
    for (const name of functions) expect(Object.keys(permissionsOf(`${name}Function`))).not.toContain('dynamodb:Scan');
  });
});
