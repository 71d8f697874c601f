/**
 * Bounces and complaints (DESIGN.md "Email": "SES delivers bounce and complaint events only
 * to the default bus: a rule there forwards them to trust-events"):
 *
 *   SES configuration set ──event destination (BOUNCE, COMPLAINT)──▶ default bus
 *     ──ForwardRule (aws.ses, Email Bounced | Email Complaint Received)──▶ trust-events
 *     ──Rule (the same)──▶ SES feedback function ──▶ person marked undeliverable,
 *                                                    notices to HR and the line manager
 *
 * Forwarding rather than handling on the default bus keeps every handler on trust-events,
 * with the same delivery retries and DLQ, and puts the SES events in its archive.
 *
 * Retries: the forwarding target is an event bus, for which EventBridge (and CDK's
 * `targets.EventBus`) takes no retry policy of its own; EventBridge's default applies (24
 * hours, 185 attempts), then the delivery DLQ. The rule to the function retries as every
 * other rule does (8 attempts within 24 hours), then the same DLQ; the function's own
 * async retries and failure DLQ come from TrustFunction.
 */
import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ses from 'aws-cdk-lib/aws-ses';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { EVENT_BUS_NAME } from '../functions/contracts/events.ts';
import { SES_FEEDBACK_DETAIL_TYPES, SES_SOURCE } from '../functions/contracts/ses-events.ts';
import { DELIVERY_MAX_EVENT_AGE, DELIVERY_RETRY_ATTEMPTS, type TrustEventBus } from './trust-event-bus.ts';
import { TrustFunction } from './trust-function.ts';

export interface SesFeedbackProps {
  config: TrustConfig;
  /** The configuration set every email is sent through (lib/trust-email.ts). */
  configurationSet: ses.IConfigurationSet;
  /** trust-events, and the delivery DLQ its rules share. */
  events: TrustEventBus;
  dataTable: dynamodb.Table;
  ledgerTable: dynamodb.Table;
  emailQueue: sqs.Queue;
}

export class SesFeedback extends Construct {
  /** SES publishes only to the default bus of the account and region. */
  readonly defaultBus: events.IEventBus;
  readonly eventDestination: ses.ConfigurationSetEventDestination;
  /** On the default bus: forwards SES bounces and complaints to trust-events. */
  readonly forwardRule: events.Rule;
  /** The role EventBridge assumes to put the forwarded events on trust-events (PutEvents there only). */
  readonly forwardRole: iam.Role;
  /** On trust-events: delivers them to the handler. */
  readonly rule: events.Rule;
  readonly handler: TrustFunction;

  constructor(scope: Construct, id: string, props: SesFeedbackProps) {
    super(scope, id);
    const pattern: events.EventPattern = { source: [SES_SOURCE], detailType: [...SES_FEEDBACK_DETAIL_TYPES] };

    this.defaultBus = events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.eventDestination = new ses.ConfigurationSetEventDestination(this, 'EventDestination', {
      configurationSet: props.configurationSet,
      destination: ses.EventDestination.eventBus(this.defaultBus),
      events: [ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT],
    });

    this.forwardRole = new iam.Role(this, 'ForwardRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'EventBridge forwards SES bounces and complaints from the default bus to trust-events',
    });
    this.forwardRule = new events.Rule(this, 'ForwardRule', {
      description: `SES bounces and complaints → ${EVENT_BUS_NAME} (SES publishes them only to the default bus)`,
      eventPattern: pattern,
      targets: [
        new targets.EventBus(props.events.bus, { role: this.forwardRole, deadLetterQueue: props.events.deliveryDlq }),
      ],
    });

    this.handler = new TrustFunction(this, 'HandlerFunction', {
      entry: 'functions/handlers/ses-feedback.ts',
      description: 'SES bounces and complaints: marks the address undeliverable, tells HR and (for a notice to act on) the line manager',
      config: props.config,
    })
      .bindTable(props.dataTable, { actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], queries: ['gsi1'] }, 'DATA_TABLE_NAME')
      .bindTable(props.ledgerTable, { actions: ['dynamodb:PutItem'] }, 'LEDGER_TABLE_NAME')
      .bindQueueSender(props.emailQueue, 'EMAIL_QUEUE_URL');

    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.events.bus,
      description: `SES bounces and complaints → ${this.handler.node.id}`,
      eventPattern: pattern,
      targets: [
        new targets.LambdaFunction(this.handler, {
          retryAttempts: DELIVERY_RETRY_ATTEMPTS,
          maxEventAge: DELIVERY_MAX_EVENT_AGE,
          deadLetterQueue: props.events.deliveryDlq,
        }),
      ],
    });
  }
}
