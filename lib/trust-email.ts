/**
 * How an email is sent (DESIGN.md "Email"): handlers record the email in the ledger and put
 * its ledger key on the email queue; the email sender takes batches off the queue and
 * sends them through SES v2 with a stored template, at no more than the configured SES
 * send rate. Also here: the SES configuration set, the sender identity and the templates.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { MAX_BULK_DESTINATIONS } from '../functions/domain/emails.ts';
import { loadEmailTemplates } from '../functions/email/load-templates.ts';
import { DeadLetterQueue, SecureQueue } from './secure-queue.ts';
import { TrustFunction } from './trust-function.ts';

/** A message the sender could not deliver after this many receives goes to the email DLQ. */
export const EMAIL_MAX_RECEIVE_COUNT = 5;
/** One SendBulkEmail call takes at most 50 destinations (the SES limit). */
/** Messages per sender invocation at most (each names up to 50 emails). */
export const EMAIL_MAX_BATCH_SIZE = 10;
export const EMAIL_MAX_BATCHING_WINDOW = Duration.seconds(2);
export const EMAIL_SENDER_TIMEOUT = Duration.seconds(30);

/** Each sender invocation sends at most this many emails per second (see emailSenderSizing). */
const SENDS_PER_SECOND_PER_INVOCATION = 50;
/** The SQS event source's maximum concurrency must be between 2 and 1000. */
const MIN_CONCURRENCY = 2;
const MAX_CONCURRENCY = 1000;

export interface EmailSenderSizing {
  /** Concurrent sender invocations the SQS event source may run. */
  maxConcurrency: number;
  /** Emails per second each invocation may send: the configured rate shared out. The handler paces to it. */
  sendRatePerInvocation: number;
  /** Messages per invocation. Each message names up to 50 emails (one SendBulkEmail call). */
  batchSize: number;
}

/**
 * Sizes the email queue's consumer from the SES send rate (recipients per second).
 *
 * - Concurrency caps how many invocations send at once: max(2, ceil(rate / 50)). Two is
 *   the least the SQS event source allows; beyond that one more invocation per 50/s of
 *   rate, so each invocation paces itself to at most 50 emails/s: one SendBulkEmail call
 *   of 50 a second at most, well inside the timeout. Maximum concurrency on the event source,
 *   not reserved concurrency on the function: reserved concurrency below the poller's
 *   concurrency makes Lambda throttle SQS deliveries, which count as receives and push
 *   good messages towards the DLQ.
 * - Each invocation sends at rate / maxConcurrency per second, so together they never
 *   exceed the rate.
 * - Each message names up to 50 emails (one SendBulkEmail call). A batch holds as many
 *   messages as that pace sends in two thirds of the timeout, at least one and at most
 *   10: at 7 emails/s per invocation and 30 s, 2 messages. (At the SES sandbox's 1/s a
 *   full message does not fit; the sender hands back what it cannot send in time, which
 *   then waits for the visibility timeout.)
 */
/** Ledger keys per email-queue message (functions/adapters/email-queue.ts). */
const EMAILS_PER_MESSAGE = MAX_BULK_DESTINATIONS;

export function emailSenderSizing(maxSendRatePerSecond: number, timeout = EMAIL_SENDER_TIMEOUT): EmailSenderSizing {
  const maxConcurrency = Math.min(
    MAX_CONCURRENCY,
    Math.max(MIN_CONCURRENCY, Math.ceil(maxSendRatePerSecond / SENDS_PER_SECOND_PER_INVOCATION)),
  );
  const sendRatePerInvocation = maxSendRatePerSecond / maxConcurrency;
  const emailsInTimeout = sendRatePerInvocation * timeout.toSeconds() * (2 / 3);
  const batchSize = Math.max(1, Math.min(EMAIL_MAX_BATCH_SIZE, Math.floor(emailsInTimeout / EMAILS_PER_MESSAGE)));
  return { maxConcurrency, sendRatePerInvocation, batchSize };
}

export interface TrustEmailProps {
  config: TrustConfig;
  /** The email ledger: the sender moves each row from queued to sending to sent or failed. */
  ledgerTable: dynamodb.Table;
}

export class TrustEmail extends Construct {
  readonly configurationSet: ses.ConfigurationSet;
  readonly senderIdentity: ses.EmailIdentity;
  readonly templates: ses.CfnTemplate[];
  /** Messages `{ "ledgerKey": "..." }`, one per email to send. */
  readonly queue: SecureQueue;
  readonly dlq: DeadLetterQueue;
  readonly sender: TrustFunction;
  readonly sizing: EmailSenderSizing;

  constructor(scope: Construct, id: string, props: TrustEmailProps) {
    super(scope, id);
    const { config } = props;

    // No open or click tracking: statutory notices carry no tracking pixel (DESIGN.md).
    // TLS is required to the recipient's mail server: these emails carry personal data.
    this.configurationSet = new ses.ConfigurationSet(this, 'ConfigurationSet', {
      configurationSetName: config.ses.configurationSetName,
      reputationMetrics: true,
      sendingEnabled: true,
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
      tlsPolicy: ses.ConfigurationSetTlsPolicy.REQUIRE,
    });
    this.senderIdentity = new ses.EmailIdentity(this, 'SenderIdentity', {
      identity: ses.Identity.email(config.sender.address),
      configurationSet: this.configurationSet,
    });

    // Stored templates (SES v1 and v2 share the store): SendBulkEmail personalises only
    // through them. Their text is the versioned files under templates/.
    const templateFiles = loadEmailTemplates(config.ses.templatePrefix);
    this.templates = templateFiles.map(
      (t) =>
        new ses.CfnTemplate(this, `Template-${t.id}`, {
          template: { templateName: t.name, subjectPart: t.subject, htmlPart: t.html, textPart: t.text },
        }),
    );

    this.sizing = emailSenderSizing(config.ses.maxSendRatePerSecond);

    this.dlq = new DeadLetterQueue(this, 'Dlq', {
      holds: `email messages the sender could not deliver after ${EMAIL_MAX_RECEIVE_COUNT} receives`,
      targetOfRedrivePolicy: true,
    });
    this.queue = new SecureQueue(this, 'Queue', {
      // AWS: at least six times the function timeout plus the batching window, so that a
      // message is not received again while an invocation may still be working on it.
      visibilityTimeout: Duration.seconds(6 * EMAIL_SENDER_TIMEOUT.toSeconds()).plus(EMAIL_MAX_BATCHING_WINDOW),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: EMAIL_MAX_RECEIVE_COUNT },
    });

    this.sender = new TrustFunction(this, 'SenderFunction', {
      entry: 'functions/handlers/email-sender.ts',
      description: 'Sends queued emails through SES (SendBulkEmail, stored templates) and records them in the ledger',
      config,
      timeout: EMAIL_SENDER_TIMEOUT,
      // Invoked by its SQS event source, which polls and invokes synchronously: async retries
      // and an on-failure destination would never be used. A message that keeps failing goes
      // to EmailDlq through the queue's redrive policy (maxReceiveCount) instead.
      invocation: 'sync',
    });
    // The queued rows (BatchGetItem) and every move of their state (UpdateItem, alone or as the
    // items of a transaction): the sender never creates or deletes a row.
    this.sender.bindTable(props.ledgerTable, { actions: ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'] }, 'LEDGER_TABLE_NAME');
    this.sender.addEnvironment('EMAIL_SEND_RATE_PER_INVOCATION', String(this.sizing.sendRatePerInvocation));
    this.sender.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: this.sizing.batchSize,
        maxBatchingWindow: EMAIL_MAX_BATCHING_WINDOW,
        reportBatchItemFailures: true,
        maxConcurrency: this.sizing.maxConcurrency,
      }),
    );

    // Sending only as our sender identity, through our configuration set, with our templates.
    const stack = Stack.of(this);
    this.sender.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail', 'ses:SendBulkEmail'],
        resources: [
          this.senderIdentity.emailIdentityArn,
          stack.formatArn({
            service: 'ses',
            resource: 'configuration-set',
            resourceName: this.configurationSet.configurationSetName,
          }),
          ...templateFiles.map((t) => stack.formatArn({ service: 'ses', resource: 'template', resourceName: t.name })),
        ],
      }),
    );
  }
}
