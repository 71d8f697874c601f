/**
 * Every Lambda function of the platform is a TrustFunction: one place that fixes how a
 * function is built, logged, traced and retried, and how it is given access to a table,
 * a queue, a secret or the event bus (an environment variable and the least-privilege
 * grant, in one call).
 */
import { resolve } from 'node:path';
import { Duration, Lazy, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { throughDynamoDb } from './key-policy.ts';
import { DeadLetterQueue } from './secure-queue.ts';

export const SERVICE_NAME = 'trust-policy-notify';

/**
 * 90 days of logs: long enough to investigate a problem reported weeks later (a missing
 * welcome email found at the end of a half term), short enough for UK GDPR storage
 * limitation. Logs carry no personal data by design, but ids are still ids.
 */
export const LOG_RETENTION = logs.RetentionDays.THREE_MONTHS;

/** Async invocations (EventBridge → Lambda): two retries within six hours, then the function's DLQ. */
export const ASYNC_RETRY_ATTEMPTS = 2;
export const ASYNC_MAX_EVENT_AGE = Duration.hours(6);

export interface TrustFunctionProps {
  /** The handler file, relative to the repository root; it exports `handler`. */
  entry: string;
  description: string;
  /** The resolved trust configuration, compiled into the bundle as `process.env.TRUST_CONFIG_JSON`. */
  config: TrustConfig;
  /** @default 30 seconds */
  timeout?: Duration;
  /**
   * How the function is invoked. `async` (EventBridge): retries and a failure DLQ as
   * DESIGN.md "Reliability rules" requires. `sync` (API Gateway): the caller gets the
   * answer or the error at once and nothing is retried, so there is no async
   * configuration and no DLQ that would always stay empty.
   * @default 'async'
   */
  invocation?: 'async' | 'sync';
}

/** A DynamoDB item action a function can be granted on a table it binds. */
export type TableAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:BatchGetItem'
  | 'dynamodb:Query'
  | 'dynamodb:Scan'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:BatchWriteItem'
  | 'dynamodb:ConditionCheckItem';

/**
 * What a function does with a table: exactly the actions its code sends (a transaction
 * counts as the action of each of its items: Put, Update, Delete, ConditionCheck), and the
 * indexes it queries. test/infra/least-privilege.test.ts derives both from the handler's
 * code and fails on any difference.
 */
export interface TableAccess {
  /** On the table itself (a Query here is on the table's own key). */
  actions: readonly TableAction[];
  /** Indexes it queries by name: `dynamodb:Query` on `<table ARN>/index/<name>`, and no other index. */
  queries?: readonly string[];
}

export class TrustFunction extends NodejsFunction {
  /** The execution role: CloudWatch Logs (this function's group only), X-Ray, and what `bind*` grants. */
  readonly executionRole: iam.Role;
  /** The handler file, relative to the repository root (what test/infra/least-privilege.test.ts reads). */
  readonly entry: string;
  /** Where async invocations go once retries are spent (the on-failure destination); none for a `sync` function. */
  readonly failureDlq: DeadLetterQueue | undefined;

  constructor(scope: Construct, id: string, props: TrustFunctionProps) {
    // The role and the log group are built first (beside the function) so that the
    // function is created with them: no AWS managed policy, and no log group Lambda
    // would otherwise create itself, without retention, on first invocation.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, { retention: LOG_RETENTION });
    const executionRole = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    logGroup.grantWrite(executionRole);

    super(scope, id, {
      entry: resolve(REPO_ROOT, props.entry),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: resolve(REPO_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: props.timeout ?? Duration.seconds(30),
      role: executionRole,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: 'INFO',
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        // The AWS SDK v3 is bundled, not taken from the runtime: the version we test is
        // the version that runs, and tree-shaking keeps it small.
        bundleAwsSDK: true,
        externalModules: [],
        // CommonJS dependencies bundled into an ES module still call `require`.
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        // The trust configuration is compiled in: a function never reads files at run
        // time, and a configuration change is a new bundle (and a new deployment).
        define: { 'process.env.TRUST_CONFIG_JSON': JSON.stringify(JSON.stringify(props.config)) },
      },
    });
    this.executionRole = executionRole;
    this.entry = props.entry;

    if ((props.invocation ?? 'async') === 'async') {
      this.failureDlq = new DeadLetterQueue(this, 'FailureDlq', {
        holds: `asynchronous invocations of ${this.node.path} that failed after ${ASYNC_RETRY_ATTEMPTS} retries`,
      });
      this.configureAsyncInvoke({
        retryAttempts: ASYNC_RETRY_ATTEMPTS,
        maxEventAge: ASYNC_MAX_EVENT_AGE,
        onFailure: new SqsDestination(this.failureDlq),
      });
      this.acknowledgeOnFunction(
        'Serverless-LambdaDLQ',
        `Asynchronous failures go to the on-failure destination ${this.failureDlq.node.path} (${ASYNC_RETRY_ATTEMPTS} retries, at most ${ASYNC_MAX_EVENT_AGE.toHours()} hours), which keeps the event with its error and retry count; a DeadLetterConfig as well would hold a second, poorer copy of each failure.`,
      );
    } else {
      this.acknowledgeOnFunction(
        'Serverless-LambdaDLQ',
        'Invoked synchronously only (by API Gateway, or by an SQS event source whose queue has its own redrive policy): a failure returns to the caller or to the queue, and a DeadLetterConfig, which applies to asynchronous invocations only, would stay empty.',
      );
    }

    this.acknowledge(
      'AwsSolutions-IAM5[Resource::*]',
      'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so AWS requires Resource "*" (Service Authorization Reference, AWS X-Ray). No other statement of this role uses "*": the infra tests check it.',
    );
  }

  /**
   * Names the table in `envName` and grants exactly `access`: its item actions on the table,
   * Query on the indexes it names (each index's own ARN, never `index/*`), and, for a table
   * encrypted with a customer-managed key, `kms:Decrypt` on that key only through DynamoDB
   * and only for this table (`kms:EncryptionContext:aws:dynamodb:tableName`): the one key
   * action DynamoDB performs on a caller's behalf, to read or to write (lib/key-policy.ts).
   * No Scan, delete or batch write unless the code sends one.
   */
  bindTable(table: dynamodb.Table, access: TableAccess, envName: string): this {
    this.addEnvironment(envName, table.tableName);
    const actions = [...new Set(access.actions)];
    const queries = [...new Set(access.queries ?? [])];
    if (actions.length === 0 && queries.length === 0) {
      throw new Error(`${this.node.path}: bindTable(${table.node.id}) grants nothing`);
    }
    const cfnTable = table.node.defaultChild as dynamodb.CfnTable;
    const indexes: unknown = this.stack.resolve(cfnTable.globalSecondaryIndexes);
    const indexNames = new Set(Array.isArray(indexes) ? indexes.map((index: { indexName?: string }) => index.indexName) : []);
    for (const name of queries) {
      if (!indexNames.has(name)) throw new Error(`${this.node.path}: ${table.node.id} has no index ${name}`);
    }
    if (actions.length > 0) {
      this.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [table.tableArn] }));
    }
    if (queries.length > 0) {
      this.executionRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: queries.map((name) => `${table.tableArn}/index/${name}`) }),
      );
    }
    if (table.encryptionKey) {
      // One statement per key, naming every table bound with that key.
      const key = table.encryptionKey;
      let tables = this.decryptTables.get(key);
      if (!tables) {
        const names: string[] = [];
        tables = names;
        this.decryptTables.set(key, names);
        this.executionRole.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['kms:Decrypt'],
            resources: [key.keyArn],
            conditions: {
              StringEquals: { ...throughDynamoDb(this), 'kms:EncryptionContext:aws:dynamodb:tableName': Lazy.list({ produce: () => names }) },
            },
          }),
        );
      }
      tables.push(table.tableName);
    }
    return this;
  }

  /** Table key → the names of the tables bound with it (the Decrypt statement's encryption context). */
  private readonly decryptTables = new Map<kms.IKey, string[]>();

  /** Names the queue's URL in `envName` and grants sending to it. */
  bindQueueSender(queue: sqs.Queue, envName: string): this {
    this.addEnvironment(envName, queue.queueUrl);
    queue.grantSendMessages(this);
    return this;
  }

  /** Names the secret's ARN in `envName` and grants reading its value. */
  bindSecretReader(secret: secretsmanager.Secret, envName: string): this {
    this.addEnvironment(envName, secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  /**
   * Names the bus in `envName` and grants `events:PutEvents` on that bus only. (Not
   * `bus.grants.allPutEvents`, which grants it on every bus: Resource "*".)
   */
  bindEventBus(bus: events.EventBus, envName: string): this {
    this.addEnvironment(envName, bus.eventBusName);
    bus.grants.actions(this, ['events:PutEvents']);
    return this;
  }

  /**
   * Adds the event source; for an SQS queue, also acknowledges cdk-nag's
   * Serverless-LambdaEventSourceMappingDestination on the new mapping: Lambda offers
   * on-failure destinations for stream and Kafka sources only, and an SQS message that
   * keeps failing is dead-lettered by its queue's redrive policy instead.
   */
  override addEventSource(source: lambda.IEventSource): void {
    const before = new Set(this.node.children);
    super.addEventSource(source);
    if (!(source instanceof SqsEventSource)) return;
    const redrive = source.queue instanceof sqs.Queue ? source.queue.deadLetterQueue : undefined;
    if (!redrive) return; // No redrive policy: the finding stands, and the checks fail synthesis.
    for (const child of this.node.children) {
      if (before.has(child) || !(child instanceof lambda.EventSourceMapping)) continue;
      Validations.of(child.node.defaultChild ?? child).acknowledge({
        id: 'Serverless-LambdaEventSourceMappingDestination',
        reason: `SQS event source: Lambda offers on-failure destinations for stream and Kafka sources only; a message that fails ${redrive.maxReceiveCount} receives is moved by its queue's redrive policy to ${redrive.queue.node.path}.`,
      });
    }
  }

  /** Acknowledges one cdk-nag finding on this function's own resource (AWS::Lambda::Function) only. */
  private acknowledgeOnFunction(id: string, reason: string): void {
    Validations.of(this.node.defaultChild ?? this).acknowledge({ id, reason });
  }

  /**
   * Acknowledges one cdk-nag finding (rule id and finding, e.g. `AwsSolutions-IAM5[Resource::*]`)
   * on this function's role policy only, with its reason.
   */
  private acknowledge(id: string, reason: string): void {
    const policy = this.executionRole.node.tryFindChild('DefaultPolicy') ?? this.executionRole;
    Validations.of(policy).acknowledge({ id, reason });
  }
}
