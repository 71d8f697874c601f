/**
 * The review cycle in the CDK stack: the daily scanner's scheduled rule (UTC cron, on the
 * default bus, where scheduled rules live), the `Policy Review Due` and `Policy Reviewed`
 * rules, their targets, retries and dead-letter queues, and each function's environment and
 * IAM, least privilege (the scanner reads the review index by query: no function may Scan).
 * Synthesized without bundling (stack.test.ts checks the bundles); expected values are
 * written out literally.
 */
import { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { londonDate } from '../../functions/domain/dates.ts';
import { matchesEventPattern } from '../../local/event-pattern.ts';
import { firingsBetween, parseSchedule } from '../../local/schedule.ts';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';

type Json = Record<string, unknown>;

let resourcesById: Record<string, Json>;
/** Logical id → the construct's path below the stack, e.g. `Tables/DataTable`. */
const nameOf = new Map<string, string>();

beforeAll(() => {
  const { stack } = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } });
  resourcesById = Template.fromStack(stack).toJSON().Resources as Record<string, Json>;
  for (const construct of stack.node.findAll()) {
    if (construct instanceof CfnElement) {
      const path = construct.node.path.slice(stack.node.path.length + 1).replace(/\/Resource$/, '');
      nameOf.set(stack.resolve(construct.logicalId), path);
    }
  }
});

function logicalIdOf(path: string): string {
  for (const [id, name] of nameOf) if (name === path) return id;
  throw new Error(`no resource at ${path}`);
}
const props = (resource: Json | undefined): Json => (resource?.Properties ?? {}) as Json;
const resourceAt = (path: string): Json => resourcesById[logicalIdOf(path)] ?? {};
const ofType = (type: string) => Object.entries(resourcesById).filter(([, r]) => r.Type === type);
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);
const arnOf = (path: string) => ({ 'Fn::GetAtt': [logicalIdOf(path), 'Arn'] });

/** A CloudFormation value with references rendered as construct paths. */
function describeRef(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Json;
  if (typeof v.Ref === 'string') return v.Ref.startsWith('AWS::') ? `\${${v.Ref}}` : (nameOf.get(v.Ref) ?? v.Ref);
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') {
    const name = nameOf.get(getAtt[0]) ?? getAtt[0];
    return getAtt[1] === 'Arn' ? name : `${name}.${String(getAtt[1])}`;
  }
  const join = v['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) return join[1].map(describeRef).join(join[0]);
  throw new Error(`cannot describe ${JSON.stringify(value)}`);
}

/** Every action the function's role allows, with the resources (construct paths). */
function permissionsOf(functionPath: string): Record<string, string[]> {
  const roleId = (props(resourceAt(functionPath)).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  const policies = ofType('AWS::IAM::Policy').filter(([, p]) => asList(props(p).Roles).some((r) => (r as Json).Ref === roleId));
  expect(policies).toHaveLength(1);
  const allowed: Record<string, string[]> = {};
  for (const [, policy] of policies) {
    for (const statement of (props(policy).PolicyDocument as { Statement: { Effect: string; Action: unknown; Resource: unknown }[] }).Statement) {
      expect(statement.Effect).toBe('Allow');
      for (const action of asList(statement.Action) as string[]) {
        allowed[action] = [...(allowed[action] ?? []), ...asList(statement.Resource).map(describeRef)].sort();
      }
    }
  }
  return allowed;
}
const allow = (actions: string[], names: string[]) => Object.fromEntries(actions.map((a) => [a, [...names].sort()]));

function envOf(functionPath: string): Record<string, string> {
  const variables = (props(resourceAt(functionPath)).Environment as { Variables: Json }).Variables;
  return Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, describeRef(value)]));
}

const deliveryTarget = (functionPath: string) => ({
  Id: 'Target0',
  Arn: arnOf(functionPath),
  RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
  DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
});

/** EventBridge may invoke the function, from this one rule only. */
function expectInvokedOnlyBy(functionPath: string, rulePath: string): void {
  const fnArn = arnOf(functionPath);
  const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(props(p).FunctionName) === JSON.stringify(fnArn));
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
    const configs = ofType('AWS::Lambda::EventInvokeConfig').filter(([, c]) => (props(c).FunctionName as Json).Ref === fnId);
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
  const readActions = ['dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query'];
  const writeActions = ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
  const keyActions = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'];
  const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
  const xray = allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']);
  const logs = (name: string) => allow(['logs:CreateLogStream', 'logs:PutLogEvents'], [`${name}FunctionLogGroup`]);

  it('the scanner: its logs, X-Ray, the data table (its index included) and key, PutEvents on the trust bus only', () => {
    expect(permissionsOf('ReviewScannerFunction')).toEqual({
      ...logs('ReviewScanner'),
      ...xray,
      ...allow([...readActions, ...writeActions], ['Tables/DataTable', 'Tables/DataTable/index/*']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['ReviewScannerFunction/FailureDlq']),
      ...allow(['events:PutEvents'], ['Events/Bus']),
    });
  });

  it('Policy Review Due: reads the data table, writes the ledger, sends to the email queue; no bus', () => {
    expect(permissionsOf('PolicyReviewDueFunction')).toEqual({
      ...logs('PolicyReviewDue'),
      ...xray,
      ...allow(readActions, ['Tables/DataTable', 'Tables/DataTable/index/*', 'Tables/LedgerTable']),
      ...allow(writeActions, ['Tables/LedgerTable']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'PolicyReviewDueFunction/FailureDlq']),
    });
  });

  it('Policy Reviewed: the data table and key only; no ledger, no email queue, no bus', () => {
    expect(permissionsOf('PolicyReviewedFunction')).toEqual({
      ...logs('PolicyReviewed'),
      ...xray,
      ...allow([...readActions, ...writeActions], ['Tables/DataTable', 'Tables/DataTable/index/*']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['PolicyReviewedFunction/FailureDlq']),
    });
  });

  it('none of them may Scan: the scanner finds policies by querying the review index', () => {
    for (const name of functions) expect(Object.keys(permissionsOf(`${name}Function`))).not.toContain('dynamodb:Scan');
  });
});
