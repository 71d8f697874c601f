/**
 * trust-policy-notify in AWS (DESIGN.md): the `trust-events` bus, the tables, the email
 * pipeline, the acknowledgement endpoint, and one function per event type. Read top to bottom:
 *
 *   HR system / CLI ──▶ trust-events ──rule──▶ handler function ──▶ DataTable, LedgerTable
 *                            ▲                        │
 *                            │                        └──▶ EmailQueue ──▶ EmailSender ──▶ SES
 *   staff (email link) ──▶ HTTP API ──▶ AckFunction ──▶ DataTable
 *                            └─ Policy Acknowledged ──rule──▶ PolicyAcknowledgedFunction (the receipt)
 *
 * Every asynchronous hop has retries and a dead-letter queue; every function gets only
 * the access it is bound to, and a table binding names exactly the DynamoDB actions and
 * indexes the handler's code uses (test/infra/least-privilege.test.ts reads them from the code).
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { DETAIL_TYPES, type DetailType } from '../functions/contracts/events.ts';
import { deliveryTimings } from '../functions/domain/emails.ts';
import { AckEndpoint } from './ack-endpoint.ts';
import { AckTokenKey } from './ack-token-key.ts';
import { CaseIntake } from './case-intake.ts';
import { DataTables } from './data-tables.ts';
import { EvidenceKey } from './evidence-key.ts';
import { deadLetterQueuesIn, OperationsAlarms } from './operations-alarms.ts';
import { OperatorConsole } from './operator-console.ts';
import { PolicyFanout } from './policy-fanout.ts';
import { SesFeedback } from './ses-feedback.ts';
import { TrustEmail } from './trust-email.ts';
import { TrustEventBus } from './trust-event-bus.ts';
import { type TableAccess, TrustFunction } from './trust-function.ts';

/**
 * The ledger as an event handler uses it: one conditional PutItem per intended email
 * (functions/adapters/ledger-repository.ts `recordIntended`), also for the rejected-event
 * notice of functions/handlers/pipeline.ts. Nothing is read or updated there.
 */
const RECORD_EMAILS: TableAccess = { actions: ['dynamodb:PutItem'] };

export interface TrustPolicyNotifyStackProps extends StackProps {
  /** The resolved trust configuration (functions/config/load-trust-config.ts). */
  config: TrustConfig;
}

interface EventHandler {
  /** Construct ids: `<name>Function` and `<name>Rule`. */
  name: string;
  /** The one detail-type it handles; the rule also matches that type's source. */
  on: DetailType;
  entry: string;
  description: string;
  /** The function's timeout, when its work grows with the trust (default 30 s). */
  timeout?: Duration;
}

export class TrustPolicyNotifyStack extends Stack {
  readonly events: TrustEventBus;
  readonly tables: DataTables;
  readonly email: TrustEmail;
  readonly ackTokenKey: AckTokenKey;
  readonly ackEndpoint: AckEndpoint;
  /** Breach and concern intake: the narrative table and its key, POST /reports, the intake function. */
  readonly caseIntake: CaseIntake;
  /** Every function, by name: the event handlers, the email sender and the acknowledgement endpoint. */
  readonly functions = new Map<string, TrustFunction>();

  constructor(scope: Construct, id: string, props: TrustPolicyNotifyStackProps) {
    // Region from the trust configuration (eu-west-2: UK personal data); the account is
    // left to the deployment's credentials, so the template synthesizes without one.
    super(scope, id, { ...props, env: { region: props.config.region, ...props.env } });
    const { config } = props;

    this.events = new TrustEventBus(this, 'Events');
    this.tables = new DataTables(this, 'Tables');
    this.ackTokenKey = new AckTokenKey(this, 'AckTokenKey');
    this.email = new TrustEmail(this, 'Email', { config, ledgerTable: this.tables.ledgerTable });
    this.functions.set('EmailSender', this.email.sender);

    // Which function reacts to which event. A new handler is one entry here plus its bindings.
    this.onEvent(config, {
      name: 'StaffOnboarded',
      on: DETAIL_TYPES.staffOnboarded,
      entry: 'functions/handlers/staff-onboarded.ts',
      description: 'Staff Onboarded: records the person, requests acknowledgements, queues the welcome and induction emails',
    })
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], queries: ['gsi1'] }, 'DATA_TABLE_NAME')
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL')
      .bindSecretReader(this.ackTokenKey, 'ACK_TOKEN_SECRET_ARN');

    // People changes (functions/domain/people-changes.ts).
    this.onEvent(config, {
      name: 'StaffUpdated',
      on: DETAIL_TYPES.staffUpdated,
      entry: 'functions/handlers/staff-updated.ts',
      description: 'Staff Updated: applies the changed fields, requests only newly applicable policies, queues one policies-to-confirm email',
    })
      .bindTable(
        this.tables.dataTable,
        { actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], queries: ['gsi1'] },
        'DATA_TABLE_NAME',
      )
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL')
      .bindSecretReader(this.ackTokenKey, 'ACK_TOKEN_SECRET_ARN');
    this.onEvent(config, {
      name: 'StaffLeft',
      on: DETAIL_TYPES.staffLeft,
      entry: 'functions/handlers/staff-left.ts',
      description: 'Staff Left: marks the person left, cancels their pending requests, asks leadership to rotate the credentials of the channels they managed',
    })
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], queries: ['gsi1'] }, 'DATA_TABLE_NAME')
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL');

    this.onEvent(config, {
      name: 'PolicyAcknowledged',
      on: DETAIL_TYPES.policyAcknowledged,
      entry: 'functions/handlers/policy-acknowledged.ts',
      description: 'Policy Acknowledged: queues the receipt email, once per person and policy version',
    })
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:GetItem'] }, 'DATA_TABLE_NAME')
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL');

    // The acknowledgement endpoint: staff open their signed link (GET), confirm (POST); the
    // function records the acknowledgement and emits Policy Acknowledged on the bus.
    // Invoked synchronously by API Gateway, so no async retries or failure DLQ; 10 s, well
    // inside API Gateway's 29 s integration timeout, so a slow call fails in the function
    // (logged) rather than at the gateway.
    const ack = new TrustFunction(this, 'AckFunction', {
      entry: 'functions/handlers/ack-http.ts',
      description: 'Acknowledgement links: GET shows the policy, POST records the acknowledgement and emits Policy Acknowledged',
      config,
      timeout: Duration.seconds(10),
      invocation: 'sync',
    })
      // The request and the current policy (GetItem), the policy's versions (Query), the
      // acknowledgement (a conditional UpdateItem). Nothing else: it is the public endpoint.
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'] }, 'DATA_TABLE_NAME')
      .bindSecretReader(this.ackTokenKey, 'ACK_TOKEN_SECRET_ARN')
      .bindEventBus(this.events.bus, 'EVENT_BUS_NAME');
    this.functions.set('Ack', ack);
    // config.publicBaseUrl must be this API's URL (output AckApiUrl) or a custom domain
    // mapped to it before deploying: the emailed links are built from publicBaseUrl.
    this.ackEndpoint = new AckEndpoint(this, 'AckEndpoint', { handler: ack });

    // A new policy version: stored, then fanned out school by school (lib/policy-fanout.ts).
    const fanout = new PolicyFanout(this, 'PolicyFanout', {
      config,
      dataTable: this.tables.dataTable,
      ledgerTable: this.tables.ledgerTable,
      emailQueue: this.email.queue,
      ackTokenKey: this.ackTokenKey,
    });
    this.functions.set('PolicyFanout', fanout.worker);

    // The ledger sweeper (functions/services/sweep-owed.ts): every few minutes, what the ledger
    // and the fan-out index say is owed and nobody is delivering (a lost message, a sender or
    // worker that died) goes back on its queue. Two minutes: at most 10,000 rows a run.
    const { sweepEveryMinutes } = deliveryTimings(config);
    this.onSchedule(config, {
      name: 'LedgerSweep',
      schedule: sweepEveryMinutes === 1 ? 'rate(1 minute)' : `rate(${sweepEveryMinutes} minutes)`,
      entry: 'functions/handlers/ledger-sweep.ts',
      description: 'Ledger sweeper: queues again emails still queued after the grace period or sending past the lease, and fan-outs whose worker died',
      timeout: Duration.minutes(2),
    })
      // The owed index, the rows it lists (BatchGetItem) and their place in it (UpdateItem); the
      // owed fan-outs in gsi2 and their place there. Never a Scan.
      .bindTable(this.tables.ledgerTable, { actions: ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'], queries: ['owed'] }, 'LEDGER_TABLE_NAME')
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:UpdateItem'], queries: ['gsi2'] }, 'DATA_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL')
      .bindQueueSender(fanout.queue, 'FANOUT_QUEUE_URL');
    this.onEvent(config, {
      name: 'PolicyUpdated',
      on: DETAIL_TYPES.policyUpdated,
      entry: 'functions/handlers/policy-updated.ts',
      description: 'Policy Updated: stores the version, supersedes older requests, tells the committee, queues the fan-out',
      // Superseding is one conditional write per pending request of the older versions: the
      // whole trust after a substantive change. 10,000 took 10-12 s on DynamoDB Local on 2 cores
      // (npm run bench); two minutes keeps at least 3x in hand without a retry.
      timeout: Duration.minutes(2),
    })
      // The version stored (Put, in a transaction), the older versions' pending requests found
      // (gsi1) and superseded (Update, alone or in transactions), the schools' owed fan-outs
      // (BatchWriteItem for a new version, none of whose items can exist yet; Update on a resume).
      .bindTable(
        this.tables.dataTable,
        {
          actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'],
          queries: ['gsi1'],
        },
        'DATA_TABLE_NAME',
      )
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL')
      .bindQueueSender(fanout.queue, 'FANOUT_QUEUE_URL');

    // The review cycle (functions/domain/review-cycle.ts): a daily scan at 06:00 UTC (07:00 in
    // British Summer Time; "today" is the London date either way) publishes Policy Review Due
    // at each configured stage, once per cycle; its handler tells the person responsible and
    // the governing committee; Policy Reviewed (no change) opens the next cycle.
    this.onSchedule(config, {
      name: 'ReviewScanner',
      schedule: 'cron(0 6 * * ? *)',
      entry: 'functions/handlers/review-scanner.ts',
      description: 'Daily review scanner: publishes Policy Review Due for each policy at its current review stage, once per cycle',
    })
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'], queries: ['gsi2'] }, 'DATA_TABLE_NAME')
      .bindEventBus(this.events.bus, 'EVENT_BUS_NAME');
    this.onEvent(config, {
      name: 'PolicyReviewDue',
      on: DETAIL_TYPES.policyReviewDue,
      entry: 'functions/handlers/policy-review-due.ts',
      description: 'Policy Review Due: queues the review notice to the person responsible and the governing committee',
    })
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:GetItem'], queries: ['gsi1'] }, 'DATA_TABLE_NAME')
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL');
    this.onEvent(config, {
      name: 'PolicyReviewed',
      on: DETAIL_TYPES.policyReviewed,
      entry: 'functions/handlers/policy-reviewed.ts',
      description: 'Policy Reviewed: records the review and sets the next review date; notices of the closed cycle stop',
    }).bindTable(this.tables.dataTable, { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] }, 'DATA_TABLE_NAME');

    // Chasing (functions/domain/reminders.ts, refreshers.ts): a daily scan at 07:00 UTC (08:00
    // in British Summer Time; "today" is the London date either way) reminds people with
    // overdue acknowledgements, then lists them in one digest per Head of School and a
    // trust-wide roll-up, reports undeliverable addresses to HR and the line manager, and
    // opens refresher cycles (§6a). It queries the pending and acknowledged indexes (never a
    // scan), signs fresh links, and sends nothing on the bus. Five minutes, because a
    // refresher day for a large trust touches every person once.
    this.onSchedule(config, {
      name: 'ReminderScanner',
      schedule: 'cron(0 7 * * ? *)',
      entry: 'functions/handlers/reminder-scanner.ts',
      description: 'Daily reminder scanner: reminders for overdue acknowledgements, Head of School digests, trust roll-up, undeliverable notices, refreshers',
      timeout: Duration.minutes(5),
    })
      .bindTable(
        this.tables.dataTable,
        { actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], queries: ['gsi1', 'gsi2'] },
        'DATA_TABLE_NAME',
      )
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL')
      .bindSecretReader(this.ackTokenKey, 'ACK_TOKEN_SECRET_ARN');


    // Breach and concern cases (DESIGN.md "Breach and concern intake and routing",
    // functions/domain/breach-routing.ts): the intake stores the narrative in its own
    // KMS-encrypted table and publishes Breach Reported without it; the handler routes the
    // case and emails each person told; an hourly job escalates cases not triaged in time.
    this.caseIntake = new CaseIntake(this, 'CaseIntake', {
      config,
      dataTable: this.tables.dataTable,
      dataKey: this.tables.key,
      bus: this.events.bus,
    });
    this.functions.set('ReportIntake', this.caseIntake.intake);
    this.onEvent(config, {
      name: 'BreachReported',
      on: DETAIL_TYPES.breachReported,
      entry: 'functions/handlers/breach-reported.ts',
      description: 'Breach Reported: routes the case, records who is told and why on its timeline, queues the case notices',
    })
      .bindTable(this.tables.dataTable, { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], queries: ['gsi1'] }, 'DATA_TABLE_NAME')
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL');
    this.onSchedule(config, {
      name: 'TriageEscalation',
      schedule: 'cron(0 * * * ? *)',
      entry: 'functions/handlers/triage-escalation.ts',
      description: 'Hourly: escalates cases not triaged in time (Head of School, then Executive Headteacher) and re-announces unrouted ones',
    })
      .bindTable(
        this.tables.dataTable,
        { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], queries: ['gsi1', 'gsi2'] },
        'DATA_TABLE_NAME',
      )
      .bindTable(this.tables.ledgerTable, RECORD_EMAILS, 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL')
      .bindEventBus(this.events.bus, 'EVENT_BUS_NAME');
    new CfnOutput(this, 'NarrativeTableName', {
      value: this.caseIntake.narrativeTable.tableName,
      description: 'Breach and concern narratives (read with trust-notify case --show)',
    });
    new CfnOutput(this, 'ReportsApiUrl', { value: this.caseIntake.url, description: 'The breach and concern intake: POST /reports, signed with SigV4' });
    new CfnOutput(this, 'ReportSubmitterPolicyArn', {
      value: this.caseIntake.submitterPolicy.managedPolicyArn,
      description: 'Attach to the role of a system that submits breach reports',
    });
    new CfnOutput(this, 'CaseReaderPolicyArn', {
      value: this.caseIntake.caseReaderPolicy.managedPolicyArn,
      description: 'Attach to the role safeguarding operators use for trust-notify case',
    });

    // Bounces and complaints (lib/ses-feedback.ts, functions/domain/email-feedback.ts): SES
    // publishes them to the default bus only; a rule there forwards them to trust-events, where
    // a handler marks the address undeliverable and tells HR and, for a notice the person must
    // act on, their line manager.
    const sesFeedback = new SesFeedback(this, 'SesFeedback', {
      config,
      configurationSet: this.email.configurationSet,
      events: this.events,
      dataTable: this.tables.dataTable,
      ledgerTable: this.tables.ledgerTable,
      emailQueue: this.email.queue,
    });
    this.functions.set('SesFeedback', sesFeedback.handler);

    // The operator console (lib/operator-console.ts): GET / and GET /{proxy+} on the acknowledgement
    // API (so the case links in emails open it), behind a Cognito user pool; after every DLQ,
    // whose depths it shows.
    const operatorConsole = new OperatorConsole(this, 'OperatorConsole', {
      config,
      dataTable: this.tables.dataTable,
      ledgerTable: this.tables.ledgerTable,
      narrativeTable: this.caseIntake.narrativeTable,
      deadLetterQueues: deadLetterQueuesIn(this),
      api: this.ackEndpoint.api,
    });
    this.functions.set('Console', operatorConsole.handler);
    new CfnOutput(this, 'ConsoleUrl', { value: operatorConsole.url, description: 'The operator console: publicBaseUrl, or the API URL while publicBaseUrl is not https (sign-in returns there)' });
    new CfnOutput(this, 'ConsoleUserPoolId', {
      value: operatorConsole.userPool.userPoolId,
      description: 'The console user pool: create accounts with aws cognito-idp admin-create-user',
    });

    // Operator alarms on every DLQ's depth and the SES reputation (lib/operations-alarms.ts): last, so it finds every DLQ.
    new OperationsAlarms(this, 'Operations', { config });

    // Evidence packs are signed with a KMS asymmetric key (lib/evidence-key.ts, trust-notify evidence).
    new EvidenceKey(this, 'EvidenceKey');

    this.outputs();
  }

  /**
   * A function run on a schedule (UTC cron, e.g. `cron(0 6 * * ? *)` for 06:00 daily): the
   * daily scanners. Domain code works out "today" in Europe/London from the event's time.
   */
  private onSchedule(
    config: TrustConfig,
    job: { name: string; schedule: string; entry: string; description: string; timeout?: Duration },
  ): TrustFunction {
    const fn = new TrustFunction(this, `${job.name}Function`, {
      entry: job.entry,
      description: job.description,
      config,
      ...(job.timeout ? { timeout: job.timeout } : {}),
    });
    this.events.schedule(`${job.name}Schedule`, events.Schedule.expression(job.schedule), fn, job.description);
    this.functions.set(job.name, fn);
    return fn;
  }

  /** A function for one event type, and the rule that delivers that type to it. */
  private onEvent(config: TrustConfig, handler: EventHandler): TrustFunction {
    const fn = new TrustFunction(this, `${handler.name}Function`, {
      entry: handler.entry,
      description: handler.description,
      config,
      ...(handler.timeout ? { timeout: handler.timeout } : {}),
    });
    this.events.route(`${handler.name}Rule`, handler.on, fn);
    this.functions.set(handler.name, fn);
    return fn;
  }

  /** What operators and the CLI (`--stack`) look up: names, queue URLs and the endpoint's URL. */
  private outputs(): void {
    const out = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    out('EventBusName', this.events.bus.eventBusName, 'The custom event bus');
    out('DataTableName', this.tables.dataTable.tableName, 'People, policies and acknowledgement requests');
    out('LedgerTableName', this.tables.ledgerTable.tableName, 'The email ledger');
    out('EmailQueueUrl', this.email.queue.queueUrl, 'Emails waiting to be sent');
    out('EmailDlqUrl', this.email.dlq.queueUrl, 'Emails the sender gave up on');
    out('EventDeliveryDlqUrl', this.events.deliveryDlq.queueUrl, 'Events a rule could not deliver');
    out('AckApiUrl', this.ackEndpoint.url, 'The acknowledgement endpoint: set the trust configuration publicBaseUrl to it (without the trailing "/") or to a custom domain mapped to it');
    for (const [name, fn] of this.functions) {
      if (fn.failureDlq) out(`${name}FailureDlqUrl`, fn.failureDlq.queueUrl, `Failed asynchronous invocations of ${name}`);
    }
  }
}
