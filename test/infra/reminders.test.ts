/**
 * The daily reminder scanner in the CDK stack (functions/handlers/reminder-scanner.ts): its
 * scheduled rule (UTC cron on the default bus, where scheduled rules live), target retries
 * and dead-letter queue, the function's settings and environment, and its IAM, least
 * privilege: the two tables (it queries the pending and acknowledged indexes, never Scans),
 * the email queue, the link-signing secret, and nothing on the bus. Synthesized without
 * bundling (stack.test.ts checks the bundles); expected values are written out literally.
 */
import { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { londonDate } from '../../functions/domain/dates.ts';
import { TEMPLATE_IDS } from '../../functions/email/template-ids.ts';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';
import { firingsBetween, parseSchedule } from '../../local/schedule.ts';

type Json = Record<string, unknown>;

let resourcesById: Record<string, Json>;
let outputs: Record<string, { Value: unknown }>;
/** Logical id → the construct's path below the stack, e.g. `Tables/DataTable`. */
const nameOf = new Map<string, string>();

beforeAll(() => {
  const { stack } = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(stack).toJSON();
  resourcesById = template.Resources as Record<string, Json>;
  outputs = template.Outputs as Record<string, { Value: unknown }>;
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

describe('the daily reminder scanner schedule', () => {
  it('runs at 07:00 UTC every day, on the default bus (no EventBusName), with retries and the delivery DLQ', () => {
    expect(props(resourceAt('Events/ReminderScannerSchedule'))).toEqual({
      Description:
        'Daily reminder scanner: reminders for overdue acknowledgements, Head of School digests, trust roll-up, undeliverable notices, refreshers',
      ScheduleExpression: 'cron(0 7 * * ? *)',
      State: 'ENABLED',
      Targets: [
        {
          Id: 'Target0',
          Arn: arnOf('ReminderScannerFunction'),
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
        },
      ],
    });
  });

  it('EventBridge may invoke the function, from this rule only', () => {
    const fnArn = arnOf('ReminderScannerFunction');
    const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(props(p).FunctionName) === JSON.stringify(fnArn));
    expect(permissions.map(([, p]) => props(p))).toEqual([
      { Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', FunctionName: fnArn, SourceArn: arnOf('Events/ReminderScannerSchedule') },
    ]);
  });

  it('fires once per UTC day across both 2026 clock changes, each firing a different London date (07:00 or 08:00 there)', () => {
    const expression = props(resourceAt('Events/ReminderScannerSchedule')).ScheduleExpression as string;
    const firings = firingsBetween(parseSchedule(expression), new Date('2026-01-01T00:00:00Z'), new Date('2026-12-31T23:59:59Z'), 400);
    expect(firings).toHaveLength(365);
    expect(firings.every((at) => at.toISOString().endsWith('T07:00:00.000Z'))).toBe(true);
    const londonDates = firings.map(londonDate);
    expect(new Set(londonDates).size).toBe(365);
    expect(londonDates).toContain('2026-03-29');
    expect(londonDates).toContain('2026-10-25');
  });
});

describe('the reminder scanner function', () => {
  it('Node.js 24 on arm64, five minutes (a refresher day touches everyone), async retries twice within 6 h, then its own failure DLQ', () => {
    expect(props(resourceAt('ReminderScannerFunction'))).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 300,
      TracingConfig: { Mode: 'Active' },
    });
    const fnId = logicalIdOf('ReminderScannerFunction');
    const configs = ofType('AWS::Lambda::EventInvokeConfig').filter(([, c]) => (props(c).FunctionName as Json).Ref === fnId);
    expect(configs.map(([, c]) => props(c))).toEqual([
      {
        FunctionName: { Ref: fnId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21600,
        DestinationConfig: { OnFailure: { Destination: arnOf('ReminderScannerFunction/FailureDlq') } },
      },
    ]);
    expect(describeRef(outputs.ReminderScannerFailureDlqUrl?.Value)).toBe('ReminderScannerFunction/FailureDlq');
  });

  it('is given the two tables, the email queue and the signing secret; no bus', () => {
    expect(envOf('ReminderScannerFunction')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
      ACK_TOKEN_SECRET_ARN: 'AckTokenKey',
    });
  });
});

describe('reminder scanner IAM: least privilege', () => {
  const readActions = ['dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query'];
  const writeActions = ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
  const keyActions = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'];
  const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];

  it('its logs, X-Ray, the two tables (the data table index included) and their key, the email queue, reading the secret', () => {
    expect(permissionsOf('ReminderScannerFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['ReminderScannerFunctionLogGroup']),
      ...allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']),
      ...allow([...readActions, ...writeActions], ['Tables/DataTable', 'Tables/DataTable/index/*', 'Tables/LedgerTable']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'ReminderScannerFunction/FailureDlq']),
      ...allow(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], ['AckTokenKey']),
    });
  });

  it('may not Scan (it queries the pending and acknowledged indexes) nor put events', () => {
    const actions = Object.keys(permissionsOf('ReminderScannerFunction'));
    expect(actions).not.toContain('dynamodb:Scan');
    expect(actions).not.toContain('events:PutEvents');
  });
});

describe('its email templates', () => {
  it('are registered (stored in SES by the deployment and the local runtime)', () => {
    expect(TEMPLATE_IDS).toEqual(expect.arrayContaining(['reminder', 'head-digest', 'trust-rollup', 'undeliverable-notice', 'refresher']));
    const stored = ofType('AWS::SES::Template').map(([, t]) => (props(t).Template as Json).TemplateName);
    expect(stored).toEqual(expect.arrayContaining(['tpn-reminder', 'tpn-head-digest', 'tpn-trust-rollup', 'tpn-undeliverable-notice', 'tpn-refresher']));
  });
});
