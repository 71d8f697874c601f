/**
 * The breach and concern intake (DESIGN.md "Breach and concern intake and routing"):
 *
 *   reporting system ──SigV4──▶ POST /reports (HTTP API, IAM authorization, throttled)
 *        ──▶ ReportIntakeFunction ──▶ NarrativeTable (its own customer-managed key): the narrative
 *                                 ├─▶ DataTable: the case and its timeline
 *                                 └─▶ trust-events: `Breach Reported`, without the narrative
 *
 * Breach reports carry special-category data, so the narrative never travels on the bus and
 * lives in a table of its own, encrypted with a key of its own. Who can touch it:
 * - the intake function may only PutItem into it (it cannot read a narrative back);
 * - the operator console's function (lib/operator-console.ts) may only read it (GetItem, and
 *   Query for the notes), and shows a narrative only to a person with a role on the case,
 *   recording the view on the case's timeline first; no other function is granted anything
 *   on it or its key;
 * - people read it with `trust-notify case <caseId> --show --as <staffId>`, which runs with
 *   the operator's own AWS credentials: attach `CaseReaderPolicy` to the role the
 *   safeguarding team's operators assume. The CLI lets only people with a role on the case
 *   read a narrative, and records every read and refusal on the case's timeline.
 * - systems that submit reports get `ReportSubmitterPolicy` (execute-api:Invoke on
 *   POST /reports only) and sign their requests with SigV4.
 *
 * The narrative key's policy (lib/key-policy.ts) has no `kms:*` for the account. Besides its
 * administration and DynamoDB's table setup, it allows Decrypt through DynamoDB (the one key
 * action DynamoDB performs for a caller, to write an item as to read it) to the intake's role
 * (`IntakeWritesThroughDynamoDb`), the console's role (`ConsoleReadsThroughDynamoDb`) and
 * whoever IAM allows (`CaseReadersThroughDynamoDb`: the CaseReaderPolicy, which names this
 * table's encryption context). Nothing can decrypt with it outside DynamoDB.
 *
 * NarrativeTable access patterns:
 *
 * | what                          | key condition                                                 |
 * |-------------------------------|---------------------------------------------------------------|
 * | a case's narrative            | pk = CASE#<caseId>, sk = NARRATIVE                            |
 * | the notes on a case's moves   | pk = CASE#<caseId>, sk begins_with NOTE# (NOTE#<iso>#<000001>) |
 *
 * Cases and timelines live in the data table (lib/data-tables.ts, functions/adapters/case-repository.ts):
 * pk = CASE#<caseId> with sk = CASE or TIMELINE#<iso>#<000001>; open cases by triage
 * deadline in the sparse gsi2 (gsi2pk = TRIAGE); the yearly case number sequence at
 * pk = COUNTER#CASE, sk = <year>; intake idempotency markers at pk = INTAKE#<eventId>.
 *
 * Locally (`npm start`) the same route is served by the local web server from this
 * template, on 127.0.0.1 only and without IAM authorization: loopback is the boundary there.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { ACK_ACCESS_LOG_FORMAT } from './ack-endpoint.ts';
import { allowDecryptThroughDynamoDb, dynamoDbKeyPolicy, throughDynamoDb } from './key-policy.ts';
import { LOG_RETENTION, TrustFunction } from './trust-function.ts';

export const REPORTS_PATH = '/reports';

/**
 * Throttling of the reports API, requests per second. Reports are rare (a handful a week in
 * a trust of four schools; a serious incident might bring a few dozen in an hour): 5/s with
 * bursts of 10 is far above that, while a misbehaving submitter cannot run up the table,
 * the key or Lambda concurrency, or flood the safeguarding team with notices.
 */
export const REPORTS_THROTTLE: apigwv2.ThrottleSettings = { rateLimit: 5, burstLimit: 10 };

export interface CaseIntakeProps {
  config: TrustConfig;
  /** The data table (cases and timelines) and its key. */
  dataTable: dynamodb.Table;
  dataKey: kms.Key;
  /** Where `Breach Reported` is published. */
  bus: events.EventBus;
}

export class CaseIntake extends Construct {
  readonly narrativeKey: kms.Key;
  readonly narrativeTable: dynamodb.Table;
  readonly intake: TrustFunction;
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  readonly route: apigwv2.HttpRoute;
  /** execute-api:Invoke on POST /reports: for the systems that submit reports. */
  readonly submitterPolicy: iam.ManagedPolicy;
  /** What `trust-notify case` needs: reading narratives and cases, writing timeline entries and notes. */
  readonly caseReaderPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: CaseIntakeProps) {
    super(scope, id);

    // Its own key: disabling it makes every narrative unreadable without touching anything
    // else, and CloudTrail shows each use of it apart from the rest of the platform's data.
    this.narrativeKey = new kms.Key(this, 'NarrativeKey', {
      description: 'Encrypts breach and concern narratives (special-category data) in the trust-policy-notify narrative table',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      policy: dynamoDbKeyPolicy(this, [{ sid: 'CaseReadersThroughDynamoDb', principals: [new iam.AccountRootPrincipal()] }]),
    });
    this.narrativeTable = new dynamodb.Table(this, 'NarrativeTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.narrativeKey,
      // Safeguarding records are kept (DESIGN.md "Data": erase keeps what safeguarding must).
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });

    // Invoked synchronously by API Gateway: no async retries; 10 s, inside API Gateway's 29 s.
    this.intake = new TrustFunction(this, 'ReportIntakeFunction', {
      entry: 'functions/handlers/report-intake.ts',
      description: 'POST /reports: stores the narrative, opens the case, publishes Breach Reported without the narrative',
      config: props.config,
      timeout: Duration.seconds(10),
      invocation: 'sync',
    })
      // The year's case counter (UpdateItem), the case, its first timeline entry and the
      // idempotency marker (PutItem items of one transaction), the marker read back (GetItem).
      .bindTable(props.dataTable, { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] }, 'DATA_TABLE_NAME')
      // Write-only on the narratives: one conditional Put inside that transaction.
      .bindTable(this.narrativeTable, { actions: ['dynamodb:PutItem'] }, 'NARRATIVE_TABLE_NAME')
      .bindEventBus(props.bus, 'EVENT_BUS_NAME');
    allowDecryptThroughDynamoDb(this.narrativeKey, 'IntakeWritesThroughDynamoDb', this.intake.executionRole);

    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: 'trust-policy-notify-reports',
      description: 'Breach and concern intake: POST /reports (IAM authorization, SigV4)',
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: LOG_RETENTION });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: REPORTS_THROTTLE,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACK_ACCESS_LOG_FORMAT)),
      },
    });
    const [route] = this.api.addRoutes({
      path: REPORTS_PATH,
      methods: [apigwv2.HttpMethod.POST],
      integration: new HttpLambdaIntegration('ReportIntakeIntegration', this.intake),
      authorizer: new HttpIamAuthorizer(),
    });
    if (!route) throw new Error('POST /reports was not created');
    this.route = route;

    this.submitterPolicy = new iam.ManagedPolicy(this, 'ReportSubmitterPolicy', {
      description: 'Submit breach and concern reports: POST /reports on the trust-policy-notify reports API',
      statements: [
        new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: [this.api.arnForExecuteApi('POST', REPORTS_PATH, '$default')] }),
      ],
    });

    // Decrypt through DynamoDB, each key for its own table only.
    const decryptFor = (sid: string, table: dynamodb.Table, key: kms.IKey) =>
      new iam.PolicyStatement({
        sid,
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
        conditions: { StringEquals: { ...throughDynamoDb(this), 'kms:EncryptionContext:aws:dynamodb:tableName': table.tableName } },
      });
    this.caseReaderPolicy = new iam.ManagedPolicy(this, 'CaseReaderPolicy', {
      description: 'trust-notify case: read a narrative and the case, record reads, moves and notes on its timeline',
      statements: [
        new iam.PolicyStatement({
          sid: 'Narratives',
          actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
          resources: [this.narrativeTable.tableArn],
        }),
        new iam.PolicyStatement({
          sid: 'CasesAndTimelines',
          actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [props.dataTable.tableArn],
        }),
        decryptFor('NarrativeKeyThroughDynamoDB', this.narrativeTable, this.narrativeKey),
        decryptFor('DataKeyThroughDynamoDB', props.dataTable, props.dataKey),
        new iam.PolicyStatement({
          sid: 'StackOutputs',
          actions: ['cloudformation:DescribeStacks'],
          resources: [Stack.of(this).stackId],
        }),
      ],
    });
  }

  /** The reports API's URL, ending in "/". */
  get url(): string {
    return this.stage.url;
  }
}
