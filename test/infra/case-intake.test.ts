/**
 * Breach and concern cases in the CDK stack (lib/case-intake.ts and the stack's
 * BreachReported / TriageEscalation entries): the narrative table and its own rotated
 * key, the IAM-authorized and throttled POST /reports, who may touch narratives (only the
 * intake writes them; only the operator console's function reads them; the case CLI's policy reads them), the
 * Breach Reported rule and the hourly triage schedule, and cdk-nag on all of it.
 * Synthesized without bundling (stack.test.ts checks the bundles); expected values are
 * written out literally.
 */
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { matchesEventPattern } from '../../local/event-pattern.ts';
import { parseSchedule } from '../../local/schedule.ts';
import {
  allow,
  arnOf,
  asList,
  describeRef,
  envOf,
  invokeConfigsFor,
  logicalIdOf,
  nameOf,
  ofType,
  permissionsOf,
  props,
  resourceAt,
  synthesis,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';

type Json = Record<string, unknown>;
interface Statement {
  Sid?: string;
  Effect: string;
  Action: unknown;
  Resource: unknown;
  Condition?: Json;
}

beforeAll(synthesizeForAssertions);

const statementsOf = (policy: Json): Statement[] => (props(policy).PolicyDocument as { Statement: Statement[] }).Statement;

/** Every IAM statement in the template, with the policy (construct path) it belongs to. */
function allStatements(): { policy: string; type: string; statement: Statement }[] {
  return [...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')].flatMap(([id, policy]) =>
    statementsOf(policy).map((statement) => ({ policy: nameOf.get(id) ?? id, type: String(policy.Type), statement })),
  );
}

function merge(...grants: Record<string, string[]>[]): Record<string, string[]> {
  const merged: Record<string, string[]> = {};
  for (const grant of grants) for (const [action, names] of Object.entries(grant)) merged[action] = [...(merged[action] ?? []), ...names].sort();
  return merged;
}

const SEND = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
const XRAY = allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']);
/** A table key is used through DynamoDB only, from this account, for the named table (lib/key-policy.ts). */
const throughDynamoDbFor = (table: string) => ({
  StringEquals: {
    'kms:ViaService': 'dynamodb.eu-west-2.amazonaws.com',
    'kms:CallerAccount': { Ref: 'AWS::AccountId' },
    'kms:EncryptionContext:aws:dynamodb:tableName': { Ref: logicalIdOf(table) },
  },
});

describe('the narrative table and its key', () => {
  it('NarrativeTable: pk/sk only, on-demand, PITR, encrypted with its own customer-managed key, deletion-protected and retained', () => {
    const table = resourceAt('CaseIntake/NarrativeTable');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(props(table)).toEqual({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      DeletionProtectionEnabled: true,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: arnOf('CaseIntake/NarrativeKey') },
    });
  });

  it('the narrative key is customer-managed, rotated yearly, retained, and not the data tables’ key', () => {
    const key = resourceAt('CaseIntake/NarrativeKey');
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(props(key).EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    expect(logicalIdOf('CaseIntake/NarrativeKey')).not.toBe(logicalIdOf('Tables/DataKey'));
    // Its key policy names who may decrypt, through DynamoDB only; the account root has no kms:*
    // (statement by statement in test/infra/least-privilege.test.ts).
    const statements = (props(key).KeyPolicy as { Statement: Json[] }).Statement;
    expect(statements.map((s) => s.Sid)).toEqual([
      'KeyAdministration',
      'DynamoDbTableSetup',
      'DynamoDbTableGrants',
      'CaseReadersThroughDynamoDb',
      'IntakeWritesThroughDynamoDb',
      'ConsoleReadsThroughDynamoDb',
    ]);
    for (const statement of statements) expect(statement.Action).not.toBe('kms:*');
  });
});

describe('IAM: only the intake writes narratives; only the operator console’s function reads them; the case CLI’s policy does', () => {
  const touchesNarratives = (s: Statement) =>
    asList(s.Resource).some((r) => /^CaseIntake\/Narrative(Table|Key)/.test(describeRef(r)));
  /** The operator console (issue #7, test/infra/operator-console.test.ts) shows a narrative to a person with a role on the case. */
  const CONSOLE_POLICY = 'OperatorConsole/ConsoleFunctionRole/DefaultPolicy';

  it('the function roles that name the narrative table or key: the intake’s (PutItem; Decrypt of the key through DynamoDB, for that table) and the console’s', () => {
    const onNarratives = allStatements().filter((s) => s.type === 'AWS::IAM::Policy' && touchesNarratives(s.statement));
    expect(new Set(onNarratives.map((s) => s.policy))).toEqual(new Set(['CaseIntake/ReportIntakeFunctionRole/DefaultPolicy', CONSOLE_POLICY]));
    const [table, key] = onNarratives.filter((s) => s.policy !== CONSOLE_POLICY).map((s) => s.statement);
    expect(table).toEqual({ Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: arnOf('CaseIntake/NarrativeTable') });
    // DynamoDB calls only Decrypt (of the table key) for a caller, to write an item as to read one.
    const { StringEquals } = throughDynamoDbFor('CaseIntake/NarrativeTable');
    expect(key).toEqual({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: arnOf('CaseIntake/NarrativeKey'),
      Condition: { StringEquals: { ...StringEquals, 'kms:EncryptionContext:aws:dynamodb:tableName': [{ Ref: logicalIdOf('CaseIntake/NarrativeTable') }] } },
    });
  });

  it('nothing attached to a function but the console can read a narrative (GetItem, Query, Scan, BatchGetItem, streams); the console cannot write one', () => {
    for (const { policy, type, statement } of allStatements()) {
      if (!touchesNarratives(statement) || type !== 'AWS::IAM::Policy') continue;
      for (const action of asList(statement.Action) as string[]) {
        if (policy === CONSOLE_POLICY) {
          expect(action, policy).toMatch(/^dynamodb:(GetItem|Query)$|^kms:Decrypt$/);
        } else {
          expect(action, policy).not.toMatch(/^dynamodb:(Get|Query|Scan|BatchGet|.*Stream)/);
        }
      }
    }
  });

  it('CaseReaderPolicy (for `trust-notify case`, run with the operator’s credentials): narratives, cases and timelines, the keys via DynamoDB, the stack’s outputs', () => {
    const policy = resourceAt('CaseIntake/CaseReaderPolicy');
    // Attached to nothing by the stack: operators attach it to the safeguarding team's role.
    expect(props(policy).Roles).toBeUndefined();
    expect(props(policy).Users).toBeUndefined();
    expect(props(policy).Groups).toBeUndefined();
    const statements = statementsOf(policy).map((s) => ({ ...s, Resource: asList(s.Resource).map(describeRef) }));
    expect(statements).toEqual([
      { Sid: 'Narratives', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'], Resource: ['CaseIntake/NarrativeTable'] },
      {
        Sid: 'CasesAndTimelines',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: ['Tables/DataTable'],
      },
      {
        Sid: 'NarrativeKeyThroughDynamoDB',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: ['CaseIntake/NarrativeKey'],
        Condition: throughDynamoDbFor('CaseIntake/NarrativeTable'),
      },
      { Sid: 'DataKeyThroughDynamoDB', Effect: 'Allow', Action: 'kms:Decrypt', Resource: ['Tables/DataKey'], Condition: throughDynamoDbFor('Tables/DataTable') },
      { Sid: 'StackOutputs', Effect: 'Allow', Action: 'cloudformation:DescribeStacks', Resource: [`\${AWS::StackId}`] },
    ]);
  });

  it('ReportSubmitterPolicy: execute-api:Invoke on POST /reports of the $default stage only', () => {
    const policy = resourceAt('CaseIntake/ReportSubmitterPolicy');
    expect(props(policy).Roles).toBeUndefined();
    expect(statementsOf(policy).map((s) => ({ ...s, Resource: describeRef(s.Resource) }))).toEqual([
      {
        Effect: 'Allow',
        Action: 'execute-api:Invoke',
        Resource: `arn:aws:execute-api:eu-west-2:\${AWS::AccountId}:CaseIntake/Api/$default/POST/reports`,
      },
    ]);
  });

  it('the intake: its logs, X-Ray, the case counter, case, timeline and marker in the data table, PutItem on narratives, each key’s Decrypt, PutEvents on the trust bus', () => {
    expect(permissionsOf('CaseIntake/ReportIntakeFunction')).toEqual(
      merge(
        allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['CaseIntake/ReportIntakeFunctionLogGroup']),
        XRAY,
        allow(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
        allow(['dynamodb:PutItem'], ['CaseIntake/NarrativeTable']),
        allow(['kms:Decrypt'], ['Tables/DataKey', 'CaseIntake/NarrativeKey']),
        allow(['events:PutEvents'], ['Events/Bus']),
      ),
    );
  });

  it('BreachReported: its logs, X-Ray, the data and ledger tables and key, sending to the email queue; nothing else', () => {
    expect(permissionsOf('BreachReportedFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['BreachReportedFunctionLogGroup']),
      ...XRAY,
      ...allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:PutItem'], ['Tables/DataTable', 'Tables/LedgerTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable/index/gsi1']),
      ...allow(['kms:Decrypt'], ['Tables/DataKey']),
      ...allow(SEND, ['Email/Queue', 'BreachReportedFunction/FailureDlq']),
    });
  });

  it('TriageEscalation: as BreachReported, plus PutEvents on the trust bus (to announce an unrouted case again)', () => {
    expect(permissionsOf('TriageEscalationFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['TriageEscalationFunctionLogGroup']),
      ...XRAY,
      ...allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:PutItem'], ['Tables/DataTable', 'Tables/LedgerTable']),
      // Its people (gsi1) and the cases waiting for triage (gsi2).
      ...allow(['dynamodb:Query'], ['Tables/DataTable/index/gsi1', 'Tables/DataTable/index/gsi2']),
      ...allow(['kms:Decrypt'], ['Tables/DataKey']),
      ...allow(SEND, ['Email/Queue', 'TriageEscalationFunction/FailureDlq']),
      ...allow(['events:PutEvents'], ['Events/Bus']),
    });
  });
});

describe('POST /reports (API Gateway HTTP API)', () => {
  it('is its own HTTP API with exactly one route, POST /reports, IAM-authorized, to the intake function (payload 2.0)', () => {
    const apiId = logicalIdOf('CaseIntake/Api');
    expect(props(resourceAt('CaseIntake/Api'))).toEqual({
      Name: 'trust-policy-notify-reports',
      Description: 'Breach and concern intake: POST /reports (IAM authorization, SigV4)',
      ProtocolType: 'HTTP',
    });
    const routes = ofType('AWS::ApiGatewayV2::Route').filter(([, r]) => (props(r).ApiId as Json).Ref === apiId);
    expect(routes.map(([, r]) => props(r))).toEqual([
      {
        ApiId: { Ref: apiId },
        RouteKey: 'POST /reports',
        AuthorizationType: 'AWS_IAM',
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: logicalIdOf('CaseIntake/Api/POST--reports/ReportIntakeIntegration') }]] },
      },
    ]);
    expect(props(resourceAt('CaseIntake/Api/POST--reports/ReportIntakeIntegration'))).toEqual({
      ApiId: { Ref: apiId },
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: arnOf('CaseIntake/ReportIntakeFunction'),
      PayloadFormatVersion: '2.0',
    });
  });

  it('is throttled (5 requests/s, bursts of 10) on its one $default stage, with JSON access logs kept 90 days', () => {
    expect(props(resourceAt('CaseIntake/Api/DefaultStage'))).toEqual({
      ApiId: { Ref: logicalIdOf('CaseIntake/Api') },
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
      AccessLogSettings: { DestinationArn: arnOf('CaseIntake/AccessLogs'), Format: expect.any(String) },
    });
    const format = JSON.parse(String((props(resourceAt('CaseIntake/Api/DefaultStage')).AccessLogSettings as Json).Format)) as Json;
    expect(format).toMatchObject({ routeKey: '$context.routeKey', status: '$context.status' });
    for (const value of Object.values(format)) expect(String(value)).not.toMatch(/path|sourceIp|userAgent|identity/i);
    expect(props(resourceAt('CaseIntake/AccessLogs'))).toEqual({ RetentionInDays: 90 });
  });

  it('API Gateway may invoke the intake on /reports of this API only; the intake is synchronous (no async retries, no DLQ)', () => {
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, p]) => JSON.stringify(props(p).FunctionName) === JSON.stringify(arnOf('CaseIntake/ReportIntakeFunction')),
    );
    expect(permissions.map(([, p]) => ({ ...props(p), SourceArn: describeRef(props(p).SourceArn), FunctionName: 'intake' }))).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: 'intake',
        Principal: 'apigateway.amazonaws.com',
        SourceArn: `arn:aws:execute-api:eu-west-2:\${AWS::AccountId}:CaseIntake/Api/*/*/reports`,
      },
    ]);
    const fnId = logicalIdOf('CaseIntake/ReportIntakeFunction');
    expect(invokeConfigsFor(fnId)).toHaveLength(0);
    expect(props(resourceAt('CaseIntake/ReportIntakeFunction'))).toMatchObject({ Runtime: 'nodejs24.x', Timeout: 10, MemorySize: 512 });
    expect(envOf('CaseIntake/ReportIntakeFunction')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      DATA_TABLE_NAME: 'Tables/DataTable',
      EVENT_BUS_NAME: 'Events/Bus',
      NARRATIVE_TABLE_NAME: 'CaseIntake/NarrativeTable',
    });
  });
});

describe('Breach Reported rule and the hourly triage job', () => {
  it('routes exactly trust.safeguarding / Breach Reported to the BreachReported function, with retries into the delivery DLQ', () => {
    const rule = props(resourceAt('Events/BreachReportedRule'));
    expect(rule.EventBusName).toEqual({ Ref: logicalIdOf('Events/Bus') });
    expect(rule.EventPattern).toEqual({ source: ['trust.safeguarding'], 'detail-type': ['Breach Reported'] });
    expect(rule.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: arnOf('BreachReportedFunction'),
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
      },
    ]);
    const event = (source: string, detailType: string) => ({ source, 'detail-type': detailType, detail: {} });
    expect(matchesEventPattern(rule.EventPattern, event('trust.safeguarding', 'Breach Reported'))).toBe(true);
    expect(matchesEventPattern(rule.EventPattern, event('trust.hr', 'Breach Reported'))).toBe(false);
  });

  it('runs the triage job every hour on the hour (UTC) from the default bus, with retries into the delivery DLQ', () => {
    const rule = props(resourceAt('Events/TriageEscalationSchedule'));
    expect(rule.ScheduleExpression).toBe('cron(0 * * * ? *)');
    expect(rule.EventBusName).toBeUndefined();
    expect(rule.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: arnOf('TriageEscalationFunction'),
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        DeadLetterConfig: { Arn: arnOf('Events/DeliveryDlq') },
      },
    ]);
    expect(parseSchedule(String(rule.ScheduleExpression))).toBeTruthy();
  });

  it('both functions retry asynchronous failures twice, then go to their own failure DLQ, and get the tables they need', () => {
    for (const name of ['BreachReported', 'TriageEscalation']) {
      const fnId = logicalIdOf(`${name}Function`);
      const [config] = invokeConfigsFor(fnId);
      expect(props(config?.[1])).toMatchObject({
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: arnOf(`${name}Function/FailureDlq`) } },
      });
    }
    expect(envOf('BreachReportedFunction')).toMatchObject({ DATA_TABLE_NAME: 'Tables/DataTable', LEDGER_TABLE_NAME: 'Tables/LedgerTable', EMAIL_QUEUE_URL: 'Email/Queue' });
    expect(envOf('BreachReportedFunction').NARRATIVE_TABLE_NAME).toBeUndefined();
    expect(envOf('TriageEscalationFunction')).toMatchObject({ EVENT_BUS_NAME: 'Events/Bus', DATA_TABLE_NAME: 'Tables/DataTable' });
    expect(envOf('TriageEscalationFunction').NARRATIVE_TABLE_NAME).toBeUndefined();
  });

  it('the archive keeps no trust.safeguarding event', () => {
    const [[, archive]] = ofType('AWS::Events::Archive') as [[string, Json]];
    expect(matchesEventPattern(props(archive).EventPattern, { source: 'trust.safeguarding', 'detail-type': 'Breach Reported', detail: {} })).toBe(false);
  });
});

describe('outputs and cdk-nag', () => {
  it('outputs the narrative table, the reports API URL and the two policies for the CLI and operators', () => {
    const { outputs } = synthesis();
    expect(describeRef(outputs.NarrativeTableName?.Value)).toBe('CaseIntake/NarrativeTable');
    expect(describeRef(outputs.ReportsApiUrl?.Value)).toBe(`https://CaseIntake/Api.execute-api.eu-west-2.\${AWS::URLSuffix}/`);
    expect(describeRef(outputs.ReportSubmitterPolicyArn?.Value)).toBe('CaseIntake/ReportSubmitterPolicy');
    expect(describeRef(outputs.CaseReaderPolicyArn?.Value)).toBe('CaseIntake/CaseReaderPolicy');
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['BreachReportedFailureDlqUrl', 'TriageEscalationFailureDlqUrl']));
  });

  it('cdk-nag finds nothing unacknowledged in the intake, the Breach Reported handler or the triage job', () => {
    const report = new AwsSolutionsChecks().validateScope(synthesis().app);
    const ours = /\/(CaseIntake|BreachReported|TriageEscalation|Events\/(BreachReportedRule|TriageEscalationSchedule))/;
    const findings = report.violations.flatMap((v) =>
      v.violatingResources.filter((r) => ours.test(r.constructPath ?? '')).map((r) => `${v.ruleName} at ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
  });

  it('acknowledges only the findings every TrustFunction has, each with its reason; none on the narrative table, key, API or policies', () => {
    const acks: string[] = [];
    const { stack } = synthesis();
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        const path = construct.node.path.slice(stack.node.path.length + 1);
        if (!/^(CaseIntake|BreachReported|TriageEscalation)/.test(path)) continue;
        for (const id of Object.keys(entry.data as Json)) acks.push(`${path}: ${id.replace(/^annotation::/i, '')}`);
      }
    }
    // Only X-Ray's Resource "*": table grants name each index they query, and the only key action is kms:Decrypt.
    const perFunction = (role: string) => [`${role}/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`];
    expect(acks.sort()).toEqual(
      [
        ...perFunction('CaseIntake/ReportIntakeFunctionRole'),
        ...perFunction('BreachReportedFunctionRole'),
        ...perFunction('TriageEscalationFunctionRole'),
        'BreachReportedFunction/FailureDlq: AwsSolutions-SQS3',
        'TriageEscalationFunction/FailureDlq: AwsSolutions-SQS3',
        // cdk-nag Serverless, as on every TrustFunction (test/infra/serverless-nag.test.ts).
        ...['CaseIntake/ReportIntake', 'BreachReported', 'TriageEscalation'].map((name) => `${name}Function/Resource: Serverless-LambdaDLQ`),
        ...['BreachReported', 'TriageEscalation'].map((name) => `${name}Function/FailureDlq: Serverless-SQSRedrivePolicy`),
      ].sort(),
    );
  });
});
