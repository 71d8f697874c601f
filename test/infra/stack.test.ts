/**
 * The CDK stack, synthesized once (bundling included) and asserted resource by resource:
 * what routes where, with which retries and dead-letter queues, which function may do
 * what, and cdk-nag's AwsSolutions pack with every acknowledgement justified.
 *
 * Expected values are written out literally (not read from the constants the stack uses),
 * so a changed constant shows up here as a failing test to review.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, CfnElement, Token, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrustConfig } from '../../functions/config/trust-config.ts';
import { REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { loadEmailTemplates } from '../../functions/email/load-templates.ts';
import { TEMPLATE_IDS } from '../../functions/email/template-ids.ts';
import { matchesEventPattern } from '../../local/event-pattern.ts';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';
import type { TrustPolicyNotifyStack } from '../../lib/trust-policy-notify-stack.ts';

type Json = Record<string, unknown>;

let app: App;
let stack: TrustPolicyNotifyStack;
let config: TrustConfig;
let template: Template;
let assemblyDir: string;
/** Logical id → the construct's path below the stack, e.g. `Tables/DataTable`. */
let nameOf: Map<string, string>;

beforeAll(() => {
  ({ app, stack, config } = createTrustApp());
  const assembly = app.synth();
  assemblyDir = assembly.directory;
  template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
  nameOf = new Map();
  for (const construct of stack.node.findAll()) {
    if (construct instanceof CfnElement) {
      const path = construct.node.path.slice(stack.node.path.length + 1).replace(/\/Resource$/, '');
      nameOf.set(stack.resolve(construct.logicalId), path);
    }
  }
});

/** Removes a cloud assembly the App put in a temporary directory. */
function removeAssembly(dir: string | undefined): void {
  if (dir?.startsWith(tmpdir())) rmSync(dir, { recursive: true, force: true });
}

afterAll(() => removeAssembly(assemblyDir));

// ---------------------------------------------------------------------------------
// Helpers: find resources and describe references by construct path.

function resources(type: string): [string, Json][] {
  return Object.entries(template.findResources(type)) as [string, Json][];
}

function props(resource: Json): Json {
  return (resource.Properties ?? {}) as Json;
}

function logicalIdOf(path: string): string {
  for (const [id, name] of nameOf) if (name === path) return id;
  throw new Error(`no resource at ${path}; have ${[...nameOf.values()].join(', ')}`);
}

function resourceAt(path: string): Json {
  const id = logicalIdOf(path);
  const all = template.toJSON().Resources as Record<string, Json>;
  const resource = all[id];
  if (!resource) throw new Error(`no resource ${id}`);
  return resource;
}

/** Renders a CloudFormation value with references as construct paths: `${AWS::AccountId}`, `Tables/DataTable`. */
function describeRef(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const v = value as Json;
    if (typeof v.Ref === 'string') return v.Ref.startsWith('AWS::') ? `\${${v.Ref}}` : (nameOf.get(v.Ref) ?? v.Ref);
    const getAtt = v['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') {
      const name = nameOf.get(getAtt[0]) ?? getAtt[0];
      return getAtt[1] === 'Arn' ? name : `${name}.${String(getAtt[1])}`;
    }
    const join = v['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map(describeRef).join(join[0]);
    }
  }
  throw new Error(`cannot describe ${JSON.stringify(value)}`);
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

interface Statement {
  Effect: string;
  Action: unknown;
  Resource: unknown;
}

function statementsOf(policy: Json): Statement[] {
  return (props(policy).PolicyDocument as { Statement: Statement[] }).Statement;
}

/** Every action a function's role allows, with the resources it allows it on (construct paths). */
function permissionsOf(functionPath: string): Record<string, string[]> {
  const fn = resourceAt(functionPath);
  const roleId = (props(fn).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  const policies = resources('AWS::IAM::Policy').filter(([, policy]) =>
    asList(props(policy).Roles).some((role) => (role as Json).Ref === roleId),
  );
  expect(policies).toHaveLength(1);
  const allowed: Record<string, string[]> = {};
  for (const [, policy] of policies) {
    for (const statement of statementsOf(policy)) {
      expect(statement.Effect).toBe('Allow');
      for (const action of asList(statement.Action) as string[]) {
        allowed[action] = [...(allowed[action] ?? []), ...asList(statement.Resource).map(describeRef)].sort();
      }
    }
  }
  return allowed;
}

function allow(actions: string[], resourceNames: string[]): Record<string, string[]> {
  return Object.fromEntries(actions.map((action) => [action, [...resourceNames].sort()]));
}


function envOf(functionPath: string): Record<string, string> {
  const variables = (props(resourceAt(functionPath)).Environment as { Variables: Json }).Variables;
  return Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, describeRef(value)]));
}

const sesArn = (resource: string) => `arn:aws:ses:eu-west-2:\${AWS::AccountId}:${resource}`;

// ---------------------------------------------------------------------------------

describe('the stack', () => {
  it('is synthesized on Node 24, the Lambda runtime', () => {
    expect(process.versions.node.split('.')[0]).toBe('24');
  });

  it('is named trust-policy-notify, in the configured region, with no account baked in', () => {
    expect(stack.stackName).toBe('trust-policy-notify');
    expect(stack.region).toBe('eu-west-2');
    expect(Token.isUnresolved(stack.account)).toBe(true);
  });

  it('outputs the bus, table names and every queue URL', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const described = Object.fromEntries(Object.entries(outputs).map(([key, out]) => [key, describeRef(out.Value)]));
    expect(described).toEqual({
      EventBusName: 'Events/Bus',
      DataTableName: 'Tables/DataTable',
      LedgerTableName: 'Tables/LedgerTable',
      EmailQueueUrl: 'Email/Queue',
      EmailDlqUrl: 'Email/Dlq',
      EventDeliveryDlqUrl: 'Events/DeliveryDlq',
      StaffOnboardedFailureDlqUrl: 'StaffOnboardedFunction/FailureDlq',
      StaffUpdatedFailureDlqUrl: 'StaffUpdatedFunction/FailureDlq',
      StaffLeftFailureDlqUrl: 'StaffLeftFunction/FailureDlq',
      PolicyAcknowledgedFailureDlqUrl: 'PolicyAcknowledgedFunction/FailureDlq',
      ReviewScannerFailureDlqUrl: 'ReviewScannerFunction/FailureDlq',
      ReminderScannerFailureDlqUrl: 'ReminderScannerFunction/FailureDlq',
      PolicyReviewDueFailureDlqUrl: 'PolicyReviewDueFunction/FailureDlq',
      PolicyReviewedFailureDlqUrl: 'PolicyReviewedFunction/FailureDlq',
      PolicyUpdatedFailureDlqUrl: 'PolicyUpdatedFunction/FailureDlq',
      LedgerSweepFailureDlqUrl: 'LedgerSweepFunction/FailureDlq',
      AckApiUrl: `https://AckEndpoint/Api.execute-api.eu-west-2.\${AWS::URLSuffix}/`,
      // Breach and concern cases (test/infra/case-intake.test.ts).
      BreachReportedFailureDlqUrl: 'BreachReportedFunction/FailureDlq',
      TriageEscalationFailureDlqUrl: 'TriageEscalationFunction/FailureDlq',
      NarrativeTableName: 'CaseIntake/NarrativeTable',
      ReportsApiUrl: `https://CaseIntake/Api.execute-api.eu-west-2.\${AWS::URLSuffix}/`,
      ReportSubmitterPolicyArn: 'CaseIntake/ReportSubmitterPolicy',
      CaseReaderPolicyArn: 'CaseIntake/CaseReaderPolicy',
      // Bounces and complaints (test/infra/ses-feedback.test.ts).
      SesFeedbackFailureDlqUrl: 'SesFeedback/HandlerFunction/FailureDlq',
      // Evidence packs (test/infra/evidence-key.test.ts).
      EvidenceKeyId: 'EvidenceKey/Key',
      EvidenceSignerPolicyArn: 'EvidenceKey/SignerPolicy',
      // The operator console (test/infra/operator-console.test.ts): the API's own URL while publicBaseUrl is not https.
      ConsoleUrl: 'AckEndpoint/Api.ApiEndpoint/',
      ConsoleUserPoolId: 'OperatorConsole/UserPool',
    });
  });
});

describe('event bus and archive', () => {
  it('is the custom bus trust-events', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'trust-events' });
  });

  it('archives every event except trust.safeguarding and forwarded SES feedback, for 365 days', () => {
    const [[, archive], ...others] = resources('AWS::Events::Archive') as [[string, Json]];
    expect(others).toHaveLength(0);
    expect(props(archive)).toEqual({
      Description: 'Every event on trust-events except trust.safeguarding and aws.ses',
      EventPattern: { source: [{ 'anything-but': ['trust.safeguarding', 'aws.ses'] }] },
      RetentionDays: 365,
      SourceArn: { 'Fn::GetAtt': [logicalIdOf('Events/Bus'), 'Arn'] },
    });
  });

  it('archive pattern: trust.hr and trust.policies events match, trust.safeguarding events do not', () => {
    const [[, archive]] = resources('AWS::Events::Archive') as [[string, Json]];
    const pattern = props(archive).EventPattern;
    const event = (source: string, detailType: string) => ({ source, 'detail-type': detailType, detail: {} });
    expect(matchesEventPattern(pattern, event('trust.hr', 'Staff Onboarded'))).toBe(true);
    expect(matchesEventPattern(pattern, event('trust.policies', 'Policy Updated'))).toBe(true);
    expect(matchesEventPattern(pattern, event('trust.safeguarding', 'Breach Reported'))).toBe(false);
    expect(matchesEventPattern(pattern, event('aws.ses', 'Email Bounced'))).toBe(false);
  });
});

describe('rules', () => {
  // Each event type the platform handles, its source, and the function it is routed to.
  const routes = [
    { detailType: 'Staff Onboarded', source: 'trust.hr', name: 'StaffOnboarded' },
    { detailType: 'Staff Updated', source: 'trust.hr', name: 'StaffUpdated' },
    { detailType: 'Staff Left', source: 'trust.hr', name: 'StaffLeft' },
    { detailType: 'Policy Acknowledged', source: 'trust.policies', name: 'PolicyAcknowledged' },
    { detailType: 'Policy Review Due', source: 'trust.policies', name: 'PolicyReviewDue' },
    { detailType: 'Policy Reviewed', source: 'trust.policies', name: 'PolicyReviewed' },
    { detailType: 'Breach Reported', source: 'trust.safeguarding', name: 'BreachReported' },
    { detailType: 'Policy Updated', source: 'trust.policies', name: 'PolicyUpdated' },
  ];
  // Scheduled rules (on the default bus; each asserted in its feature's infra test, e.g. test/infra/review-cycle.test.ts).
  const schedules = ['Events/ReviewScannerSchedule', 'Events/TriageEscalationSchedule', 'Events/ReminderScannerSchedule', 'Events/LedgerSweepSchedule'];
  // SES bounces and complaints: a forwarding rule on the default bus and one on trust-events, each
  // matching two SES detail-types (asserted in test/infra/ses-feedback.test.ts).
  const sesFeedbackRules = ['SesFeedback/ForwardRule', 'SesFeedback/Rule'];
  const eventRules = () =>
    resources('AWS::Events::Rule').filter(
      ([id, rule]) => props(rule).ScheduleExpression === undefined && !sesFeedbackRules.includes(nameOf.get(id) ?? ''),
    );

  it('are exactly one per routed event type, plus the scheduled jobs', () => {
    const rules = resources('AWS::Events::Rule').map(([id]) => nameOf.get(id));
    expect(rules.sort()).toEqual([...routes.map((r) => `Events/${r.name}Rule`), ...schedules, ...sesFeedbackRules].sort());
  });

  it.each(routes)('routes exactly $detailType from $source to the $name function', ({ detailType, source, name }) => {
    const rules = resources('AWS::Events::Rule').filter(
      ([, rule]) => JSON.stringify(props(rule).EventPattern) === JSON.stringify({ source: [source], 'detail-type': [detailType] }),
    );
    expect(rules).toHaveLength(1);
    const [[ruleId, rule]] = rules as [[string, Json]];
    expect(nameOf.get(ruleId)).toBe(`Events/${name}Rule`);
    expect(props(rule).EventBusName).toEqual({ Ref: logicalIdOf('Events/Bus') });
    expect(props(rule).Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::GetAtt': [logicalIdOf(`${name}Function`), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalIdOf('Events/DeliveryDlq'), 'Arn'] } },
      },
    ]);
    // EventBridge may invoke the function, from this rule only.
    const permissions = resources('AWS::Lambda::Permission').filter(
      ([, p]) => JSON.stringify(props(p).FunctionName) === JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(`${name}Function`), 'Arn'] }),
    );
    expect(permissions.map(([, p]) => props(p))).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalIdOf(`${name}Function`), 'Arn'] },
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      },
    ]);
  });

  it.each(routes)('the $detailType pattern matches only that detail-type from that source', ({ detailType, source, name }) => {
    const pattern = props(resourceAt(`Events/${name}Rule`)).EventPattern;
    const event = (s: string, d: string) => ({ source: s, 'detail-type': d, detail: {} });
    expect(matchesEventPattern(pattern, event(source, detailType))).toBe(true);
    for (const other of routes.filter((r) => r.detailType !== detailType)) {
      expect(matchesEventPattern(pattern, event(other.source, other.detailType))).toBe(false);
    }
    expect(matchesEventPattern(pattern, event(source, 'Staff Transferred'))).toBe(false);
    expect(matchesEventPattern(pattern, event(source === 'trust.hr' ? 'trust.policies' : 'trust.hr', detailType))).toBe(false);
  });

  it('every event rule is on the custom bus, matches one source and one detail-type, and retries into the delivery DLQ', () => {
    const rules = eventRules();
    expect(rules.length).toBeGreaterThan(0);
    for (const [, rule] of rules) {
      const p = props(rule);
      expect(p.EventBusName).toEqual({ Ref: logicalIdOf('Events/Bus') });
      expect(p.EventPattern).toEqual({ source: [expect.any(String)], 'detail-type': [expect.any(String)] });
      for (const target of p.Targets as Json[]) {
        expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 });
        expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [logicalIdOf('Events/DeliveryDlq'), 'Arn'] } });
      }
    }
  });

  it('the delivery DLQ accepts messages from EventBridge for each rule, and nothing over plain HTTP', () => {
    const dlqId = logicalIdOf('Events/DeliveryDlq');
    const ruleIds = resources('AWS::Events::Rule').map(([id]) => id);
    const [[, policy]] = resources('AWS::SQS::QueuePolicy').filter(([, p]) =>
      asList(props(p).Queues).some((q) => (q as Json).Ref === dlqId),
    ) as [[string, Json]];
    const statements = statementsOf(policy) as unknown as Json[];
    for (const ruleId of ruleIds) {
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
        }),
      );
    }
  });
});

describe('functions', () => {
  /** Invoked asynchronously (EventBridge, schedules): retries and a failure DLQ. */
  const asyncFunctionPaths = [
    'StaffOnboardedFunction',
    'StaffUpdatedFunction',
    'StaffLeftFunction',
    'PolicyAcknowledgedFunction',
    'ReviewScannerFunction',
    'PolicyReviewDueFunction',
    'PolicyReviewedFunction',
    'BreachReportedFunction',
    'TriageEscalationFunction',
    'ReminderScannerFunction',
    'PolicyUpdatedFunction',
    'SesFeedback/HandlerFunction',
    'LedgerSweepFunction',
  ];
  /**
   * Invoked synchronously (API Gateway, or an SQS event source: the fan-out and email
   * queues): nothing to retry asynchronously; those queues redrive to their own DLQs.
   */
  const syncFunctionPaths = ['AckFunction', 'CaseIntake/ReportIntakeFunction', 'PolicyFanout/WorkerFunction', 'Email/SenderFunction', 'OperatorConsole/ConsoleFunction'];
  const functionPaths = [...asyncFunctionPaths, ...syncFunctionPaths];
  /** Seconds. The ack function answers a person waiting on a page, inside API Gateway's 29 s integration timeout. */
  const timeoutOf: Record<string, number> = {
    StaffOnboardedFunction: 30,
    StaffUpdatedFunction: 30,
    StaffLeftFunction: 30,
    PolicyAcknowledgedFunction: 30,
    'Email/SenderFunction': 30,
    AckFunction: 10,
    ReviewScannerFunction: 30,
    PolicyReviewDueFunction: 30,
    PolicyReviewedFunction: 30,
    BreachReportedFunction: 30,
    TriageEscalationFunction: 30,
    'CaseIntake/ReportIntakeFunction': 10,
    'OperatorConsole/ConsoleFunction': 10,
    // A refresher day for a large trust touches every person once (test/infra/reminders.test.ts).
    ReminderScannerFunction: 300,
    // Supersedes the older versions' pending requests of the whole trust (lib/trust-policy-notify-stack.ts).
    PolicyUpdatedFunction: 120,
    'SesFeedback/HandlerFunction': 30,
    // At most 10,000 owed rows a run (functions/handlers/ledger-sweep.ts).
    LedgerSweepFunction: 120,
    // One school of a policy version per invocation (lib/policy-fanout.ts).
    'PolicyFanout/WorkerFunction': 60,
  };

  it('are exactly the event handlers, the email sender and the acknowledgement endpoint', () => {
    const paths = resources('AWS::Lambda::Function').map(([id]) => nameOf.get(id));
    expect(paths.sort()).toEqual([...functionPaths].sort());
  });

  it.each(functionPaths)('%s: Node.js 24 on arm64, 512 MB, its timeout, active tracing, source maps', (path) => {
    const p = props(resourceAt(path));
    expect(p).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: timeoutOf[path],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
    });
    expect(envOf(path)).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
  });

  it.each(functionPaths)('%s: logs to its own log group, kept 90 days', (path) => {
    const logGroupId = (props(resourceAt(path)).LoggingConfig as { LogGroup: Json }).LogGroup.Ref as string;
    expect(nameOf.get(logGroupId)).toBe(`${path}LogGroup`);
    expect(props(resourceAt(`${path}LogGroup`))).toEqual({ RetentionInDays: 90 });
  });

  it.each(asyncFunctionPaths)('%s: async invocations retry twice within 6 h, then go to its own failure DLQ', (path) => {
    const fnId = logicalIdOf(path);
    const configs = resources('AWS::Lambda::EventInvokeConfig').filter(([, c]) => (props(c).FunctionName as Json).Ref === fnId);
    expect(configs).toHaveLength(1);
    const [[, invokeConfig]] = configs as [[string, Json]];
    expect(props(invokeConfig)).toEqual({
      FunctionName: { Ref: fnId },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(`${path}/FailureDlq`), 'Arn'] } } },
    });
    expect(props(resourceAt(`${path}/FailureDlq`))).toEqual({ MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
  });

  it.each(syncFunctionPaths)('%s: no async invoke configuration and no failure DLQ (API Gateway invokes it synchronously)', (path) => {
    const fnId = logicalIdOf(path);
    const configs = resources('AWS::Lambda::EventInvokeConfig').filter(([, c]) => (props(c).FunctionName as Json).Ref === fnId);
    expect(configs).toHaveLength(0);
    expect([...nameOf.values()]).not.toContain(`${path}/FailureDlq`);
  });

  it('StaffOnboarded gets the data and ledger tables, the email queue and the ack key secret', () => {
    expect(envOf('StaffOnboardedFunction')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
      ACK_TOKEN_SECRET_ARN: 'AckTokenKey',
    });
  });

  it('PolicyAcknowledged gets the data table (to read), the ledger table and the email queue', () => {
    expect(envOf('PolicyAcknowledgedFunction')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      EMAIL_QUEUE_URL: 'Email/Queue',
    });
  });

  it('the ack function gets the data table, the ack key secret and the bus name', () => {
    expect(envOf('AckFunction')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      DATA_TABLE_NAME: 'Tables/DataTable',
      ACK_TOKEN_SECRET_ARN: 'AckTokenKey',
      EVENT_BUS_NAME: 'Events/Bus',
    });
  });

  it('the email sender gets the ledger table and its share of the send rate', () => {
    expect(envOf('Email/SenderFunction')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'trust-policy-notify',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      // config/trust.json: 14 emails/s shared by 2 concurrent invocations
      EMAIL_SEND_RATE_PER_INVOCATION: '7',
    });
  });

  it.each(functionPaths)('%s: bundle is minified ESM with the require banner, source map and the config compiled in', (path) => {
    const code = props(resourceAt(path)).Code as { S3Key: string };
    const assetDir = join(assemblyDir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
    const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    // Booleans, not the bundle itself, in failure messages: it is half a megabyte.
    const has = (text: string) => bundle.includes(text);
    expect(bundle.startsWith("import { createRequire } from 'module'; const require = createRequire(import.meta.url);")).toBe(true);
    expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
    // The resolved trust configuration is compiled in, and nothing reads it from the environment.
    expect(has('process.env.TRUST_CONFIG_JSON')).toBe(false);
    expect(has(config.sender.address)).toBe(true);
    expect(has(config.trust.name)).toBe(true);
    // The AWS SDK is bundled (the DynamoDB client's protocol target is in the code), never loaded from the runtime.
    expect(has('DynamoDB_20120810')).toBe(true);
    expect(/(?:from\s*|require\()["']@aws-sdk\/client-/.test(bundle)).toBe(false);
    // It loads as an ES module on Node 24 (the banner's `require` included) and exports the handler.
    // (The console checks its sign-in settings at cold start: its pool, client, domain and callback
    // are references until deployed, so they get values of the deployed shape here.)
    const deployedShape: Record<string, string> =
      path === 'OperatorConsole/ConsoleFunction'
        ? {
            CONSOLE_USER_POOL_ID: 'eu-west-2_AbCdEf123',
            CONSOLE_CLIENT_ID: '4k2consoleclient0000000000',
            CONSOLE_AUTH_DOMAIN_URL: 'https://tpn-console-0.auth.eu-west-2.amazoncognito.com',
            CONSOLE_CALLBACK_URL: 'https://abcdef1234.execute-api.eu-west-2.amazonaws.com/auth/callback',
          }
        : {};
    const loaded = execFileSync(
      process.execPath,
      ['--enable-source-maps', '--input-type=module', '-e', `const m = await import(${JSON.stringify(join(assetDir, 'index.mjs'))}); console.log(typeof m.handler);`],
      { env: { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-2', ...envOf(path), ...deployedShape }, encoding: 'utf8' },
    );
    expect(loaded.trim()).toBe('function');
    // Minified: lines thousands of characters long on average (the few newlines are inside template literals).
    expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000);
  });
});

describe('email queue and sender', () => {
  it('the email queue is encrypted, redrives to the email DLQ after 5 receives, and hides a message 6 × 30 s + 2 s', () => {
    expect(props(resourceAt('Email/Queue'))).toEqual({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 182,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf('Email/Dlq'), 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(props(resourceAt('Email/Dlq'))).toEqual({ MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
  });

  it('the sender consumes the queue two messages (up to 100 emails) at a time with partial batch failures and at most 2 at once', () => {
    const mappings = resources('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => JSON.stringify((m as { Properties?: unknown }).Properties).includes(logicalIdOf('Email/Queue')),
    );
    expect(mappings).toHaveLength(1);
    const [[, mapping]] = mappings as [[string, Json]];
    expect(props(mapping)).toEqual({
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf('Email/Queue'), 'Arn'] },
      FunctionName: { Ref: logicalIdOf('Email/SenderFunction') },
      BatchSize: 2,
      MaximumBatchingWindowInSeconds: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('every queue is encrypted at rest and refuses requests that are not over TLS', () => {
    const queues = resources('AWS::SQS::Queue');
    expect(queues.map(([id]) => nameOf.get(id)).sort()).toEqual(
      [
        'Email/Dlq',
        'Email/Queue',
        'Events/DeliveryDlq',
        'StaffOnboardedFunction/FailureDlq',
        'StaffUpdatedFunction/FailureDlq',
        'StaffLeftFunction/FailureDlq',
        'PolicyAcknowledgedFunction/FailureDlq',
        'ReviewScannerFunction/FailureDlq',
        'PolicyReviewDueFunction/FailureDlq',
        'PolicyReviewedFunction/FailureDlq',
        'BreachReportedFunction/FailureDlq',
        'PolicyUpdatedFunction/FailureDlq',
        'PolicyFanout/Queue',
        'PolicyFanout/Dlq',
        'TriageEscalationFunction/FailureDlq',
        'ReminderScannerFunction/FailureDlq',
        'SesFeedback/HandlerFunction/FailureDlq',
        'LedgerSweepFunction/FailureDlq',
      ].sort(),
    );
    const policies = resources('AWS::SQS::QueuePolicy');
    for (const [queueId, queue] of queues) {
      expect(props(queue).SqsManagedSseEnabled).toBe(true);
      const policy = policies.find(([, p]) => asList(props(p).Queues).some((q) => (q as Json).Ref === queueId));
      expect(policy, `${nameOf.get(queueId)} has a queue policy`).toBeDefined();
      expect(statementsOf((policy as [string, Json])[1])).toContainEqual({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
      });
    }
  });
});

describe('tables', () => {
  const common = {
    BillingMode: 'PAY_PER_REQUEST',
    DeletionProtectionEnabled: true,
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
  };

  it('DataTable: pk/sk, gsi1 and the sparse gsi2 projecting everything, TTL on expiresAt, PITR, KMS, retained', () => {
    const table = resourceAt('Tables/DataTable');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(props(table)).toEqual({
      ...common,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
        { AttributeName: 'gsi2pk', AttributeType: 'S' },
        { AttributeName: 'gsi2sk', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'gsi2',
          KeySchema: [
            { AttributeName: 'gsi2pk', KeyType: 'HASH' },
            { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: {
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [logicalIdOf('Tables/DataKey'), 'Arn'] },
      },
    });
  });

  it('LedgerTable: pk only, no TTL (rows never expire), PITR, KMS, retained; the sparse keys-only owed index for the sweeper', () => {
    const table = resourceAt('Tables/LedgerTable');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(props(table)).toEqual({
      ...common,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'owedShard', AttributeType: 'S' },
        { AttributeName: 'owedSince', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'owed',
          KeySchema: [
            { AttributeName: 'owedShard', KeyType: 'HASH' },
            { AttributeName: 'owedSince', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
      SSESpecification: {
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [logicalIdOf('Tables/DataKey'), 'Arn'] },
      },
    });
  });

  it('the table key is customer-managed, rotated yearly and retained', () => {
    const key = resourceAt('Tables/DataKey');
    expect(props(key).EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
  });
});

describe('acknowledgement key and SES', () => {
  it('the ack token key is generated by Secrets Manager as {"kid":"k1","key":<64 letters and digits>}', () => {
    expect(props(resourceAt('AckTokenKey')).GenerateSecretString).toEqual({
      SecretStringTemplate: '{"kid":"k1"}',
      GenerateStringKey: 'key',
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
  });

  it('a configuration set named from the config, requiring TLS, and the sender identity using it', () => {
    expect(props(resourceAt('Email/ConfigurationSet'))).toMatchObject({
      Name: 'trust-policy-notify',
      DeliveryOptions: { TlsPolicy: 'REQUIRE' },
      SuppressionOptions: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
    });
    // No tracking options: statutory notices carry no open or click tracking.
    expect(props(resourceAt('Email/ConfigurationSet')).TrackingOptions).toBeUndefined();
    expect(props(resourceAt('Email/SenderIdentity'))).toEqual({
      EmailIdentity: 'notifications@allsaints-mat.example.org',
      ConfigurationSetAttributes: { ConfigurationSetName: { Ref: logicalIdOf('Email/ConfigurationSet') } },
    });
  });

  it('TEMPLATE_IDS names every template folder, and only those', () => {
    // templates/_layout/ holds the MJML partials every template includes (npm run emails), not a template.
    const folders = readdirSync(join(REPO_ROOT, 'templates'), { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('_'));
    expect(folders.map((d) => d.name).sort()).toEqual([...TEMPLATE_IDS].sort());
  });

  it('one stored SES template per template id, named <templatePrefix>-<id>, with its subject, HTML and text', () => {
    const files = loadEmailTemplates('tpn');
    expect(files.map((f) => f.name).sort()).toEqual(TEMPLATE_IDS.map((id) => `tpn-${id}`).sort());
    // The receipt (Policy Acknowledged) is one of them.
    expect(files.map((f) => f.name)).toContain('tpn-receipt');
    const stored = resources('AWS::SES::Template').map(([, t]) => props(t).Template as Json);
    expect(stored).toHaveLength(files.length);
    for (const file of files) {
      expect(stored).toContainEqual({ TemplateName: file.name, SubjectPart: file.subject, HtmlPart: file.html, TextPart: file.text });
    }
  });
});

describe('acknowledgement endpoint (API Gateway HTTP API)', () => {
  const ackFunctionArn = () => ({ 'Fn::GetAtt': [logicalIdOf('AckFunction'), 'Arn'] });

  /** `{"Fn::Join": ["", ["integrations/", {"Ref": <id>}]]}` → `<id>`: how a route names its integration. */
  function integrationIdOf(target: unknown): string {
    const join = (target as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    const [prefix, ref] = join?.[1] ?? [];
    expect(join?.[0]).toBe('');
    expect(prefix).toBe('integrations/');
    return (ref as { Ref: string }).Ref;
  }

  /** This API's own resources (the reports API, CaseIntake/Api, is asserted in test/infra/case-intake.test.ts). */
  const ofAckApi = (type: string) =>
    resources(type).filter(([, r]) => JSON.stringify(props(r).ApiId) === JSON.stringify({ Ref: logicalIdOf('AckEndpoint/Api') }));

  it('is one HTTP API, named for the platform (beside the reports API)', () => {
    const apis = resources('AWS::ApiGatewayV2::Api');
    expect(apis.map(([id]) => nameOf.get(id)).sort()).toEqual(['AckEndpoint/Api', 'CaseIntake/Api']);
    expect(props(resourceAt('AckEndpoint/Api'))).toEqual({
      Name: 'trust-policy-notify-ack',
      Description: 'Acknowledgement links: GET shows the policy, POST records the acknowledgement',
      ProtocolType: 'HTTP',
    });
  });

  it('has exactly two routes, GET and POST /ack/{token}, both to one Lambda proxy integration (payload 2.0) of the ack function', () => {
    const apiId = logicalIdOf('AckEndpoint/Api');
    // (GET / and GET /{proxy+} on this API are the operator console's: test/infra/operator-console.test.ts.)
    const routes = ofAckApi('AWS::ApiGatewayV2::Route').map(([, r]) => props(r)).filter((r) => String(r.RouteKey).includes('/ack/'));
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(['GET /ack/{token}', 'POST /ack/{token}']);
    const integrations = ofAckApi('AWS::ApiGatewayV2::Integration').filter(([, i]) => JSON.stringify(props(i).IntegrationUri) === JSON.stringify(ackFunctionArn()));
    expect(integrations).toHaveLength(1);
    const [[integrationId, integration]] = integrations as [[string, Json]];
    for (const route of routes) {
      expect(route).toEqual({
        ApiId: { Ref: apiId },
        RouteKey: route.RouteKey,
        // Public by design (the token is the credential); acknowledged below (AwsSolutions-APIG4).
        AuthorizationType: 'NONE',
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
      });
    }
    expect(props(integration)).toEqual({
      ApiId: { Ref: apiId },
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: ackFunctionArn(),
      PayloadFormatVersion: '2.0',
    });
  });

  it('route → integration → function resolves from the template alone, as the local router does', () => {
    // Prepare: the template's resources, by logical id
    const all = template.toJSON().Resources as Record<string, Json>;

    // Act: RouteKey → Target "integrations/<ref>" → the integration's IntegrationUri → the function
    const served = Object.fromEntries(
      resources('AWS::ApiGatewayV2::Route').map(([, route]) => {
        const integration = all[integrationIdOf(props(route).Target)];
        expect(integration?.Type).toBe('AWS::ApiGatewayV2::Integration');
        const [functionId] = (props(integration ?? {}).IntegrationUri as { 'Fn::GetAtt': [string, 'Arn'] })['Fn::GetAtt'];
        expect(all[functionId]?.Type).toBe('AWS::Lambda::Function');
        return [props(route).RouteKey, nameOf.get(functionId)];
      }),
    );

    // Assess
    expect(served).toEqual({
      'GET /ack/{token}': 'AckFunction',
      'POST /ack/{token}': 'AckFunction',
      'POST /reports': 'CaseIntake/ReportIntakeFunction',
      'GET /': 'OperatorConsole/ConsoleFunction',
      'GET /{proxy+}': 'OperatorConsole/ConsoleFunction',
    });
  });

  it('API Gateway may invoke the ack function on /ack/{token} of this API only, and nothing else may invoke it', () => {
    const permissions = resources('AWS::Lambda::Permission').filter(
      ([, p]) => JSON.stringify(props(p).FunctionName) === JSON.stringify(ackFunctionArn()),
    );
    // One per route (CDK scopes each route's permission to its path; the two paths are the same).
    expect(permissions).toHaveLength(2);
    for (const [, permission] of permissions) {
      expect(props(permission)).toMatchObject({ Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com' });
      expect(describeRef(props(permission).SourceArn)).toBe(
        `arn:aws:execute-api:eu-west-2:\${AWS::AccountId}:AckEndpoint/Api/*/*/ack/{token}`,
      );
    }
    // API Gateway invokes no other function but the intake, from the reports API (test/infra/case-intake.test.ts),
    // and the operator console on GET / and GET /{proxy+} (test/infra/operator-console.test.ts).
    const viaApiGateway = resources('AWS::Lambda::Permission').filter(([, p]) => props(p).Principal === 'apigateway.amazonaws.com');
    expect(viaApiGateway).toHaveLength(permissions.length + 3);
  });

  it('serves one stage, $default, deployed automatically, throttled to 20 requests/s with bursts of 40, with access logs', () => {
    const stages = resources('AWS::ApiGatewayV2::Stage');
    expect(stages.map(([id]) => nameOf.get(id)).sort()).toEqual(['AckEndpoint/Api/DefaultStage', 'CaseIntake/Api/DefaultStage']);
    expect(props(resourceAt('AckEndpoint/Api/DefaultStage'))).toEqual({
      ApiId: { Ref: logicalIdOf('AckEndpoint/Api') },
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [logicalIdOf('AckEndpoint/AccessLogs'), 'Arn'] },
        Format: expect.any(String),
      },
    });
    // Its access log group is kept as long as the functions' logs.
    expect(props(resourceAt('AckEndpoint/AccessLogs'))).toEqual({ RetentionInDays: 90 });
  });

  it('access logs are one JSON object per request, by route, without the token, IP address or user agent', () => {
    const { Format } = props(resourceAt('AckEndpoint/Api/DefaultStage')).AccessLogSettings as { Format: string };
    const fields = JSON.parse(Format) as Record<string, string>;
    expect(fields).toMatchObject({
      requestId: '$context.requestId',
      httpMethod: '$context.httpMethod',
      routeKey: '$context.routeKey',
      status: '$context.status',
      integrationError: '$context.integration.error',
    });
    for (const value of Object.values(fields)) expect(value).toMatch(/^\$context\.[A-Za-z.]+$/);
    // The path carries the token (a credential naming a person); IP and user agent are personal data.
    for (const value of Object.values(fields)) {
      expect(value).not.toMatch(/path|sourceIp|userAgent|identity/i);
    }
  });
});

describe('IAM: least privilege per function', () => {
  // DynamoDB: exactly what each function's code sends, derived from the code in
  // test/infra/least-privilege.test.ts; written out here for the functions of this file.
  // Keys: Decrypt through DynamoDB only, for the bound tables.
  const keyActions = ['kms:Decrypt'];
  const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
  const xray = allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']);

  it('StaffOnboarded: its logs, X-Ray, the two tables and key, sending to the email queue, reading the secret', () => {
    expect(permissionsOf('StaffOnboardedFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['StaffOnboardedFunctionLogGroup']),
      ...xray,
      // The person, the configured policies, the requests (Get, Put), the policies and leadership
      // (gsi1), one ledger row per email (Put): nothing is updated or deleted.
      ...allow(['dynamodb:GetItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:PutItem'], ['Tables/DataTable', 'Tables/LedgerTable']),
      ...allow(['dynamodb:Query'], ['Tables/DataTable/index/gsi1']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'StaffOnboardedFunction/FailureDlq']),
      ...allow(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], ['AckTokenKey']),
    });
  });

  it('PolicyAcknowledged: its logs, X-Ray, reading the person and the policy, the receipt’s ledger row, the key, sending to the email queue', () => {
    expect(permissionsOf('PolicyAcknowledgedFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['PolicyAcknowledgedFunctionLogGroup']),
      ...xray,
      // Two GetItems on the data table; one conditional PutItem on the ledger.
      ...allow(['dynamodb:GetItem'], ['Tables/DataTable']),
      ...allow(['dynamodb:PutItem'], ['Tables/LedgerTable']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(sendActions, ['Email/Queue', 'PolicyAcknowledgedFunction/FailureDlq']),
    });
  });

  it('ack function (public): its logs, X-Ray, the request, the policy and its versions, the acknowledgement, the key, reading the secret, PutEvents on the trust bus only', () => {
    expect(permissionsOf('AckFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['AckFunctionLogGroup']),
      ...xray,
      // No Put, Delete, batch write or index: a link can only read its request and policy and acknowledge.
      ...allow(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], ['AckTokenKey']),
      ...allow(['events:PutEvents'], ['Events/Bus']),
    });
  });

  it('only the ack function and the review scanner may put events, and only on the trust-events bus', () => {
    for (const [id, policy] of resources('AWS::IAM::Policy')) {
      for (const statement of statementsOf(policy)) {
        const actions = asList(statement.Action) as string[];
        if (!actions.some((a) => a.startsWith('events:'))) continue;
        expect([
          'AckFunctionRole/DefaultPolicy',
          'ReviewScannerFunctionRole/DefaultPolicy',
          // Breach Reported, published by the intake and, for a case left unrouted, the triage job.
          'CaseIntake/ReportIntakeFunctionRole/DefaultPolicy',
          'TriageEscalationFunctionRole/DefaultPolicy',
          // EventBridge forwarding SES bounces and complaints from the default bus (test/infra/ses-feedback.test.ts).
          'SesFeedback/ForwardRole/DefaultPolicy',
        ]).toContain(nameOf.get(id));
        expect(actions).toEqual(['events:PutEvents']);
        expect(statement.Resource).toEqual({ 'Fn::GetAtt': [logicalIdOf('Events/Bus'), 'Arn'] });
      }
    }
  });

  it('email sender: its logs, X-Ray, the ledger and key, consuming the queue, sending as our identity with our templates', () => {
    expect(permissionsOf('Email/SenderFunction')).toEqual({
      ...allow(['logs:CreateLogStream', 'logs:PutLogEvents'], ['Email/SenderFunctionLogGroup']),
      ...xray,
      // The queued rows (BatchGetItem) and each move of their state (UpdateItem, alone or in a transaction).
      ...allow(['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'], ['Tables/LedgerTable']),
      ...allow(keyActions, ['Tables/DataKey']),
      ...allow(
        ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
        ['Email/Queue'],
      ),
      ...allow(
        ['ses:SendBulkEmail', 'ses:SendEmail'],
        [
          sesArn('identity/Email/SenderIdentity'),
          sesArn('configuration-set/Email/ConfigurationSet'),
          // Every stored template, and only those: the receipt included.
          ...TEMPLATE_IDS.map((id) => sesArn(`template/tpn-${id}`)),
        ],
      ),
    });
  });

  it('no statement anywhere allows Resource "*" except the X-Ray one, no action wildcard, and no resource wildcard (no index/*)', () => {
    for (const [id, policy] of [...resources('AWS::IAM::Policy'), ...resources('AWS::IAM::ManagedPolicy')]) {
      for (const statement of statementsOf(policy)) {
        const actions = asList(statement.Action) as string[];
        if (asList(statement.Resource).includes('*')) {
          expect(actions.sort(), `${nameOf.get(id)}: Resource "*"`).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
        } else {
          for (const resource of asList(statement.Resource)) expect(JSON.stringify(resource), `${nameOf.get(id)}`).not.toContain('*');
        }
        expect(actions.filter((a) => a.includes('*')), `${nameOf.get(id)}`).toEqual([]);
      }
    }
  });

  it('no function role has an AWS managed policy', () => {
    for (const [, role] of resources('AWS::IAM::Role')) {
      expect(props(role).ManagedPolicyArns).toBeUndefined();
    }
  });
});

// ---------------------------------------------------------------------------------
// cdk-nag

interface Acknowledgement {
  path: string;
  id: string;
  reason: string;
}

function acknowledgements(root: IConstruct): Acknowledgement[] {
  const found: Acknowledgement[] = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [qualifiedId, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.push({ path: construct.node.path, id: qualifiedId.replace(/^annotation::/i, ''), reason });
      }
    }
  }
  return found;
}

describe('cdk-nag AwsSolutions', () => {
  it('has no unacknowledged findings', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    expect(findings).toEqual([]);
  });

  it('acknowledges exactly these findings, each on the construct that causes it', () => {
    const acks = acknowledgements(app).map((a) => `${a.path.slice(stack.node.path.length + 1)}: ${a.id}`);
    // Every function (lib/trust-function.ts).
    const functions = [
      'Email/Sender',
      'StaffOnboarded',
      'StaffUpdated',
      'StaffLeft',
      'PolicyAcknowledged',
      'Ack',
      'PolicyFanout/Worker',
      'PolicyUpdated',
      'ReviewScanner',
      'PolicyReviewDue',
      'PolicyReviewed',
      'ReminderScanner',
      'CaseIntake/ReportIntake',
      'BreachReported',
      'TriageEscalation',
      'SesFeedback/Handler',
      'LedgerSweep',
      'OperatorConsole/Console',
    ];
    // Invoked asynchronously: each has its own on-failure DLQ.
    const asyncFunctions = [
      'StaffOnboarded',
      'StaffUpdated',
      'StaffLeft',
      'PolicyAcknowledged',
      'PolicyUpdated',
      'ReviewScanner',
      'PolicyReviewDue',
      'PolicyReviewed',
      'ReminderScanner',
      'BreachReported',
      'TriageEscalation',
      'SesFeedback/Handler',
      'LedgerSweep',
    ];
    expect(acks.sort()).toEqual(
      [
        // The acknowledgement endpoint is public by design: one per route.
        'AckEndpoint/Api/GET--ack--{token}: AwsSolutions-APIG4',
        'AckEndpoint/Api/POST--ack--{token}: AwsSolutions-APIG4',
        'AckTokenKey: AwsSolutions-SMG4',
        // X-Ray (active tracing) takes Resource "*": the only IAM5 finding left on a function role. Table
        // grants name each index they query (no index/*), and the only key action is kms:Decrypt.
        ...functions.map((name) => `${name}FunctionRole/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`),
        // Dead-letter queues are not dead-lettered themselves.
        'Events/DeliveryDlq: AwsSolutions-SQS3',
        ...asyncFunctions.map((name) => `${name}Function/FailureDlq: AwsSolutions-SQS3`),
        // cdk-nag Serverless (test/infra/serverless-nag.test.ts): every function has an on-failure destination
        // or is invoked synchronously, every DLQ is itself the end of the line, SQS event sources dead-letter by redrive policy.
        ...functions.map((name) => `${name}Function/Resource: Serverless-LambdaDLQ`),
        ...['Events/DeliveryDlq', 'Email/Dlq', 'PolicyFanout/Dlq', ...asyncFunctions.map((name) => `${name}Function/FailureDlq`)].map(
          (dlq) => `${dlq}: Serverless-SQSRedrivePolicy`,
        ),
        'Email/SenderFunction/SqsEventSource:trustpolicynotifyEmailQueue462BD71A/Resource: Serverless-LambdaEventSourceMappingDestination',
        'PolicyFanout/WorkerFunction/SqsEventSource:trustpolicynotifyPolicyFanoutQueue1D12CA65/Resource: Serverless-LambdaEventSourceMappingDestination',
        // The operator console (test/infra/operator-console.test.ts): its routes are checked by the function (Cognito session cookie).
        'OperatorConsole/RootRoute: AwsSolutions-APIG4',
        'OperatorConsole/ProxyRoute: AwsSolutions-APIG4',
      ].sort(),
    );
  });

  it('the endpoint is public by design: each route says the signed, single-use token is the credential', () => {
    // (The operator console's routes are signed in with Cognito instead: test/infra/operator-console.test.ts.)
    const apig4 = acknowledgements(app).filter((a) => a.id === 'AwsSolutions-APIG4' && !a.path.includes('/OperatorConsole/'));
    expect(apig4.map((a) => a.path.slice(stack.node.path.length + 1)).sort()).toEqual([
      'AckEndpoint/Api/GET--ack--{token}',
      'AckEndpoint/Api/POST--ack--{token}',
    ]);
    for (const ack of apig4) {
      expect(ack.reason).toMatch(/^Public by design: the signed, expiring, single-use token in the URL is the credential/);
      expect(ack.reason).toMatch(/no account to sign in with/);
    }
  });

  it('every acknowledgement gives a specific reason', () => {
    const acks = acknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(80);
    }
  });

  it('every acknowledgement silences a real finding below its construct (none is stale or too broad)', () => {
    // The same checks with acknowledgements ignored: every finding there is.
    const raw = new AwsSolutionsChecks();
    Object.assign(raw, { isAcknowledged: () => false });
    const findings = raw
      .validateScope(app)
      .violations.flatMap((v) => v.violatingResources.map((r) => ({ id: v.ruleName, path: r.constructPath })));
    // (The Serverless pack's acknowledgements: the same check in test/infra/serverless-nag.test.ts.)
    for (const ack of acknowledgements(app).filter((a) => a.id.startsWith('AwsSolutions-'))) {
      const silenced = findings.filter(
        (f) => f.id === ack.id && f.path !== undefined && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)),
      );
      expect(silenced.length, `${ack.path}: ${ack.id}`).toBeGreaterThan(0);
      // Scoped to one resource: the construct is not a stack, nor a parent of several findings' resources.
      expect(new Set(silenced.map((f) => f.path)).size, `${ack.path}: ${ack.id}`).toBe(1);
    }
  });

  it('the app runs the checks at synthesis: a new finding fails `cdk synth`', () => {
    // Prepare: the same app (without bundling, which the checks do not need) plus one unencrypted queue.
    const probe = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } });
    new sqs.Queue(probe.stack, 'ProbeQueue', { encryption: sqs.QueueEncryption.UNENCRYPTED });

    // Act / assess
    try {
      expect(() => probe.app.synth()).toThrow(/AwsSolutions-SQS2/);
    } finally {
      removeAssembly(probe.app.outdir);
    }
  });
});
