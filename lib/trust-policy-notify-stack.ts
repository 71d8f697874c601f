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
 * the access it is bound to.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { DETAIL_TYPES, type DetailType } from '../functions/contracts/events.ts';
import { AckEndpoint } from './ack-endpoint.ts';
import { AckTokenKey } from './ack-token-key.ts';
import { DataTables } from './data-tables.ts';
import { TrustEmail } from './trust-email.ts';
import { TrustEventBus } from './trust-event-bus.ts';
import { TrustFunction } from './trust-function.ts';

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
}

export class TrustPolicyNotifyStack extends Stack {
  readonly events: TrustEventBus;
  readonly tables: DataTables;
  readonly email: TrustEmail;
  readonly ackTokenKey: AckTokenKey;
  readonly ackEndpoint: AckEndpoint;
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
      .bindTable(this.tables.dataTable, 'readWrite', 'DATA_TABLE_NAME')
      .bindTable(this.tables.ledgerTable, 'readWrite', 'LEDGER_TABLE_NAME')
      .bindQueueSender(this.email.queue, 'EMAIL_QUEUE_URL')
      .bindSecretReader(this.ackTokenKey, 'ACK_TOKEN_SECRET_ARN');

    this.onEvent(config, {
      name: 'PolicyAcknowledged',
      on: DETAIL_TYPES.policyAcknowledged,
      entry: 'functions/handlers/policy-acknowledged.ts',
      description: 'Policy Acknowledged: queues the receipt email, once per person and policy version',
    })
      .bindTable(this.tables.dataTable, 'read', 'DATA_TABLE_NAME')
      .bindTable(this.tables.ledgerTable, 'readWrite', 'LEDGER_TABLE_NAME')
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
      .bindTable(this.tables.dataTable, 'readWrite', 'DATA_TABLE_NAME')
      .bindSecretReader(this.ackTokenKey, 'ACK_TOKEN_SECRET_ARN')
      .bindEventBus(this.events.bus, 'EVENT_BUS_NAME');
    this.functions.set('Ack', ack);
    // config.publicBaseUrl must be this API's URL (output AckApiUrl) or a custom domain
    // mapped to it before deploying: the emailed links are built from publicBaseUrl.
    this.ackEndpoint = new AckEndpoint(this, 'AckEndpoint', { handler: ack });

    this.outputs();
  }

  /**
   * A function run on a schedule (UTC cron, e.g. `cron(0 6 * * ? *)` for 06:00 daily): the
   * daily scanners. Domain code works out "today" in Europe/London from the event's time.
   */
  private onSchedule(config: TrustConfig, job: { name: string; schedule: string; entry: string; description: string }): TrustFunction {
    const fn = new TrustFunction(this, `${job.name}Function`, { entry: job.entry, description: job.description, config });
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
