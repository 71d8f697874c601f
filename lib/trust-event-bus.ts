/**
 * The custom bus `trust-events`, its archive, and how an event type is routed to the
 * function that handles it (DESIGN.md "Events", "Reliability rules").
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { CATALOGUE, type DetailType, EVENT_BUS_NAME, SOURCES } from '../functions/contracts/events.ts';
import { DeadLetterQueue } from './secure-queue.ts';

/** Delivery from a rule to its function: 8 retries over at most 24 hours, then the delivery DLQ. */
export const DELIVERY_RETRY_ATTEMPTS = 8;
export const DELIVERY_MAX_EVENT_AGE = Duration.hours(24);

/**
 * A year of events to replay after a bug is fixed: long enough to rebuild a school year's
 * onboarding. Safeguarding events never enter the archive (their routing facts are
 * special-category data; the intake keeps the case).
 */
export const ARCHIVE_RETENTION = Duration.days(365);

export class TrustEventBus extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;
  /** Events a rule could not deliver to its function after every retry. */
  readonly deliveryDlq: DeadLetterQueue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: EVENT_BUS_NAME,
      description: 'Trust HR, policy and safeguarding events',
    });
    this.archive = this.bus.archive('Archive', {
      // Nor SES feedback forwarded from the default bus: it carries bounced addresses and
      // SES's diagnostic text, and the person's record already says what matters.
      description: `Every event on ${EVENT_BUS_NAME} except ${SOURCES.safeguarding} and aws.ses`,
      eventPattern: { source: events.Match.anythingBut(SOURCES.safeguarding, 'aws.ses') },
      retention: ARCHIVE_RETENTION,
    });
    // aws-cdk-lib renders `KmsKeyIdentifier: ""` for an archive without a key, which some
    // regions refuse at deployment (aws/aws-cdk#37847). Absent means the AWS-owned key.
    (this.archive.node.defaultChild as events.CfnArchive).addPropertyDeletionOverride('KmsKeyIdentifier');
    this.deliveryDlq = new DeadLetterQueue(this, 'DeliveryDlq', {
      holds: 'events a rule could not deliver to its function after every retry',
    });
  }

  /**
   * Routes one detail-type to `handler`: a rule matching exactly its source and
   * detail-type, with bounded delivery retries and the shared delivery DLQ.
   */
  route(id: string, detailType: DetailType, handler: lambda.IFunction): events.Rule {
    return new events.Rule(this, id, {
      eventBus: this.bus,
      description: `${detailType} → ${handler.node.id}`,
      eventPattern: { source: [CATALOGUE[detailType].source], detailType: [detailType] },
      targets: [
        new targets.LambdaFunction(handler, {
          retryAttempts: DELIVERY_RETRY_ATTEMPTS,
          maxEventAge: DELIVERY_MAX_EVENT_AGE,
          deadLetterQueue: this.deliveryDlq,
        }),
      ],
    });
  }

  /**
   * Runs `handler` on a schedule (UTC): a rule on the default bus (scheduled rules live
   * there), with the same bounded delivery retries and the delivery DLQ. The handler takes
   * "now" from the event's `time`, so `trust-notify tick --today` can simulate a date.
   */
  schedule(id: string, schedule: events.Schedule, handler: lambda.IFunction, description: string): events.Rule {
    return new events.Rule(this, id, {
      description,
      schedule,
      targets: [
        new targets.LambdaFunction(handler, {
          retryAttempts: DELIVERY_RETRY_ATTEMPTS,
          maxEventAge: DELIVERY_MAX_EVENT_AGE,
          deadLetterQueue: this.deliveryDlq,
        }),
      ],
    });
  }
}
