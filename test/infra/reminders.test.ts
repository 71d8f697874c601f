/**
 * The daily reminder scanner in the CDK stack (functions/handlers/reminder-scanner.ts): its
 * scheduled rule (UTC cron on the default bus, where scheduled rules live), target retries
 * and dead-letter queue, the function's settings and environment, and its IAM, least
 * privilege: the two tables (it queries the pending and acknowledged indexes, never Scans),
 * the email queue, the link-signing secret, and nothing on the bus. Synthesized without
 * bundling (stack.test.ts checks the bundles); expected values are written out literally.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { londonDate } from '../../functions/domain/dates.ts';
import { TEMPLATE_IDS } from '../../functions/email/template-ids.ts';
import { firingsBetween, parseSchedule } from '../../local/schedule.ts';
import {
  allow,
  arnOf,
  describeRef,
  envOf,
  invokeConfigsFor,
  invokePermissionsFor,
  logicalIdOf,
  ofType,
  permissionsOf,
  props,
  resourceAt,
  synthesis,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';

type Json = Record<string, unknown>;

beforeAll(synthesizeForAssertions);

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
    const permissions = invokePermissionsFor(fnArn);
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
    const configs = invokeConfigsFor(fnId);
    expect(configs.map(([, c]) => props(c))).toEqual([
      {
        FunctionName: { Ref: fnId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21600,
        DestinationConfig: { OnFailure: { Destination: arnOf('ReminderScannerFunction/FailureDlq') } },
      },
    ]);
    expect(describeRef(synthesis().outputs.ReminderScannerFailureDlqUrl?.Value)).toBe('ReminderScannerFunction/FailureDlq');
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
  const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];

  it('its logs, X-Ray, the two tables (the pending and acknowledged indexes, people by school) and their key, the email queue, reading the secret', () => {
    expect(permissionsOf('ReminderScannerFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['ReminderScannerFunctionLogGroup']),
      ...allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']),
      // What its code sends (test/infra/least-privilege.test.ts): no Scan, no delete, no batch write.
      ...allow(['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:PutItem'], ['Tables/DataTable', 'Tables/LedgerTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable/index/gsi1', 'Tables/DataTable/index/gsi2']),
      ...allow(['kms:Decrypt'], ['Tables/DataKey']),
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
