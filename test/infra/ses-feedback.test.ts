/**
 * Bounces and complaints in the CDK stack (lib/ses-feedback.ts): the configuration set's
 * event destination (BOUNCE and COMPLAINT to the default bus, the only bus SES publishes
 * to), the default-bus rule that forwards them to trust-events (its event bus target, the
 * role EventBridge assumes to put them there, the DLQ), the trust-events rule to the
 * handler (retries, DLQ, invoke permission), and the handler's settings and least-privilege
 * IAM. Synthesized without bundling (stack.test.ts checks the bundles); expected values
 * are written out literally.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { matchesEventPattern } from '../../local/event-pattern.ts';
import {
  allow,
  arnOf,
  asList,
  describeRef,
  envOf,
  invokeConfigsFor,
  invokePermissionsFor,
  logicalIdOf,
  nameOf,
  ofType,
  permissionsOfRole,
  props,
  resourceAt,
  synthesis,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';

type Json = Record<string, unknown>;

beforeAll(synthesizeForAssertions);

const PATTERN = { source: ['aws.ses'], 'detail-type': ['Email Bounced', 'Email Complaint Received'] };
const sesEvent = (detailType: string, source = 'aws.ses') => ({ source, 'detail-type': detailType, detail: { eventType: 'Bounce' } });

describe('the configuration set event destination', () => {
  it('publishes bounces and complaints, and nothing else, from our configuration set to the default bus', () => {
    const destinations = ofType('AWS::SES::ConfigurationSetEventDestination');
    expect(destinations.map(([id]) => nameOf.get(id))).toEqual(['SesFeedback/EventDestination']);
    const { ConfigurationSetName, EventDestination } = props(resourceAt('SesFeedback/EventDestination')) as {
      ConfigurationSetName: unknown;
      EventDestination: { EventBridgeDestination: { EventBusArn: unknown } } & Json;
    };
    expect(describeRef(ConfigurationSetName)).toBe('Email/ConfigurationSet');
    expect(EventDestination).toEqual({
      Enabled: true,
      MatchingEventTypes: ['bounce', 'complaint'],
      EventBridgeDestination: { EventBusArn: expect.anything() },
    });
    // SES supports the default bus only (AWS::SES::ConfigurationSetEventDestination EventBridgeDestination).
    expect(describeRef(EventDestination.EventBridgeDestination.EventBusArn)).toBe(`arn:aws:events:eu-west-2:\${AWS::AccountId}:event-bus/default`);
  });
});

describe('the forwarding rule on the default bus', () => {
  it('matches SES bounces and complaints on the default bus (no EventBusName) and targets trust-events, with the delivery DLQ', () => {
    expect(props(resourceAt('SesFeedback/ForwardRule'))).toEqual({
      Description: 'SES bounces and complaints → trust-events (SES publishes them only to the default bus)',
      EventPattern: PATTERN,
      State: 'ENABLED',
      Targets: [
        {
          Id: 'Target0',
          Arn: arnOf('Events/Bus'),
          RoleArn: arnOf('SesFeedback/ForwardRole'),
          // An event bus target takes no RetryPolicy (EventBridge's default applies: 24 h, 185 attempts); then this DLQ.
          DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
        },
      ],
    });
  });

  it('its pattern matches both SES feedback types from aws.ses only', () => {
    const pattern = props(resourceAt('SesFeedback/ForwardRule')).EventPattern;
    expect(matchesEventPattern(pattern, sesEvent('Email Bounced'))).toBe(true);
    expect(matchesEventPattern(pattern, sesEvent('Email Complaint Received'))).toBe(true);
    expect(matchesEventPattern(pattern, sesEvent('Email Delivered'))).toBe(false);
    expect(matchesEventPattern(pattern, sesEvent('Email Bounced', 'trust.hr'))).toBe(false);
  });

  it('EventBridge assumes its role (from this account only), which may put events on trust-events and nothing else', () => {
    const role = props(resourceAt('SesFeedback/ForwardRole'));
    expect(role.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        },
      ],
    });
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(permissionsOfRole(logicalIdOf('SesFeedback/ForwardRole'))).toEqual(allow(['events:PutEvents'], ['Events/Bus']));
  });

  it('the delivery DLQ accepts messages from EventBridge for this rule', () => {
    const dlqId = logicalIdOf('Events/DeliveryDlq');
    const [[, policy]] = ofType('AWS::SQS::QueuePolicy').filter(([, p]) => asList(props(p).Queues).some((q) => (q as Json).Ref === dlqId)) as [
      [string, Json],
    ];
    expect((props(policy).PolicyDocument as { Statement: Json[] }).Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Principal: { Service: 'events.amazonaws.com' },
        Condition: { ArnEquals: { 'aws:SourceArn': arnOf('SesFeedback/ForwardRule') } },
      }),
    );
  });
});

describe('the trust-events rule and the handler', () => {
  it('matches the same events on trust-events and delivers them to the handler with retries and the delivery DLQ', () => {
    expect(props(resourceAt('SesFeedback/Rule'))).toEqual({
      Description: 'SES bounces and complaints → HandlerFunction',
      EventBusName: { Ref: logicalIdOf('Events/Bus') },
      EventPattern: PATTERN,
      State: 'ENABLED',
      Targets: [
        {
          Id: 'Target0',
          Arn: arnOf('SesFeedback/HandlerFunction'),
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
        },
      ],
    });
  });

  it('EventBridge may invoke the handler, from this rule only', () => {
    const fnArn = arnOf('SesFeedback/HandlerFunction');
    const permissions = invokePermissionsFor(fnArn);
    expect(permissions.map(([, p]) => props(p))).toEqual([
      { Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', FunctionName: fnArn, SourceArn: arnOf('SesFeedback/Rule') },
    ]);
  });

  it('the handler: Node.js 24 on arm64, 30 s, async retries into its own failure DLQ, whose URL is an output', () => {
    expect(props(resourceAt('SesFeedback/HandlerFunction'))).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 30,
      TracingConfig: { Mode: 'Active' },
    });
    const fnId = logicalIdOf('SesFeedback/HandlerFunction');
    const configs = invokeConfigsFor(fnId);
    expect(configs.map(([, c]) => props(c))).toEqual([
      {
        FunctionName: { Ref: fnId },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21600,
        DestinationConfig: { OnFailure: { Destination: arnOf('SesFeedback/HandlerFunction/FailureDlq') } },
      },
    ]);
    expect(describeRef(synthesis().outputs.SesFeedbackFailureDlqUrl?.Value)).toBe('SesFeedback/HandlerFunction/FailureDlq');
  });

  it('the handler gets the data table, the ledger table and the email queue', () => {
    expect(envOf('SesFeedback/HandlerFunction')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
    });
  });

  it('the handler may use its logs, X-Ray, the two tables and their key, and send to the email queue: nothing on any bus, no SES', () => {
    const roleId = (props(resourceAt('SesFeedback/HandlerFunction')).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] ?? '';
    expect(permissionsOfRole(roleId)).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['SesFeedback/HandlerFunctionLogGroup']),
      ...allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']),
      // The person and the address marked undeliverable (Get, Update), what they still have to confirm
      // (Query), their line manager and HR (gsi1), the notices (a ledger Put): what its code sends.
      ...allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable', 'Tables/DataTable/index/gsi1']),
      ...allow(['dynamodb:PutItem'], ['Tables/LedgerTable']),
      ...allow(['kms:Decrypt'], ['Tables/DataKey']),
      ...allow(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], ['Email/Queue', 'SesFeedback/HandlerFunction/FailureDlq']),
    });
  });
});
