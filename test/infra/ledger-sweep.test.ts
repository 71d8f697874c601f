/**
 * The ledger sweeper in the CDK stack (functions/handlers/ledger-sweep.ts): a scheduled rule
 * at the configured rate with target retries and the delivery DLQ, a 2-minute function, and
 * least-privilege IAM: both tables (it queries the ledger's `owed` index and the data
 * table's gsi2, never Scans), and sending to the email and fan-out queues; nothing on a bus,
 * no SES. Expected values are written out literally.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { deliveryTimings } from '../../functions/domain/emails.ts';
import { parseSchedule } from '../../local/schedule.ts';
import { allow, arnOf, envOf, invokePermissionsFor, permissionsOf, props, resourceAt, synthesizeForAssertions } from '../support/cdk-assertions.ts';

beforeAll(synthesizeForAssertions);

describe('the ledger sweeper', () => {
  it('runs at the configured rate (5 minutes by default), with retries and the delivery DLQ', () => {
    expect(deliveryTimings(loadTrustConfig()).sweepEveryMinutes).toBe(5);
    const rule = props(resourceAt('Events/LedgerSweepSchedule'));
    expect(rule).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        {
          Id: 'Target0',
          Arn: arnOf('LedgerSweepFunction'),
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
        },
      ],
    });
    // The local scheduler fires it from the same expression.
    expect(parseSchedule(String(rule.ScheduleExpression))).toMatchObject({ kind: 'rate', everyMs: 5 * 60_000 });
    expect(invokePermissionsFor(arnOf('LedgerSweepFunction')).map(([, p]) => props(p).SourceArn)).toEqual([arnOf('Events/LedgerSweepSchedule')]);
  });

  it('has two minutes and the tables and queues it acts on in its environment', () => {
    expect(props(resourceAt('LedgerSweepFunction')).Timeout).toBe(120);
    expect(envOf('LedgerSweepFunction')).toMatchObject({
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      DATA_TABLE_NAME: 'Tables/DataTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
      FANOUT_QUEUE_URL: 'PolicyFanout/Queue',
    });
  });

  it('IAM: its logs, X-Ray, the owed index and gsi2, the rows it moves along them, their key, the two queues; no Scan, no bus, no SES', () => {
    const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
    expect(permissionsOf('LedgerSweepFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['LedgerSweepFunctionLogGroup']),
      ...allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']),
      // The ledger's owed index and the data table's gsi2 (queried, never scanned), the rows they list
      // (BatchGetItem), and each row's or fan-out's place in its index (a conditional UpdateItem).
      ...allow(['dynamodb:Query'], ['Tables/LedgerTable/index/owed', 'Tables/DataTable/index/gsi2']),
      ...allow(['dynamodb:BatchGetItem'], ['Tables/LedgerTable']),
      ...allow(['dynamodb:UpdateItem'], ['Tables/LedgerTable', 'Tables/DataTable']),
      ...allow(['kms:Decrypt'], ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'PolicyFanout/Queue', 'LedgerSweepFunction/FailureDlq']),
    });
  });
});
