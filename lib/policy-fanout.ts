/**
 * Fan-out of a new policy version (DESIGN.md "Events": Policy Updated; issue #4 "Fan-out
 * that scales"): the `Policy Updated` handler queues one message per school and one for
 * central staff; this worker asks or tells that school's audience, in batches, under a
 * lease (functions/handlers/policy-fanout.ts). One school at a time per invocation, so a
 * slow or failing school is retried and dead-lettered on its own.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { DeadLetterQueue, SecureQueue } from './secure-queue.ts';
import { TrustFunction } from './trust-function.ts';

/** A school of a few thousand people is a few dozen batch calls: well inside a minute. */
export const FANOUT_TIMEOUT = Duration.seconds(60);
export const FANOUT_MAX_RECEIVE_COUNT = 5;

export interface PolicyFanoutProps {
  config: TrustConfig;
  dataTable: dynamodb.Table;
  ledgerTable: dynamodb.Table;
  emailQueue: sqs.Queue;
  ackTokenKey: secretsmanager.Secret;
}

export class PolicyFanout extends Construct {
  readonly queue: SecureQueue;
  readonly dlq: DeadLetterQueue;
  readonly worker: TrustFunction;

  constructor(scope: Construct, id: string, props: PolicyFanoutProps) {
    super(scope, id);
    this.dlq = new DeadLetterQueue(this, 'Dlq', {
      holds: `fan-out messages (one school of one policy version) that failed ${FANOUT_MAX_RECEIVE_COUNT} times`,
      targetOfRedrivePolicy: true,
    });
    this.queue = new SecureQueue(this, 'Queue', {
      visibilityTimeout: Duration.seconds(6 * FANOUT_TIMEOUT.toSeconds()),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: FANOUT_MAX_RECEIVE_COUNT },
    });
    this.worker = new TrustFunction(this, 'WorkerFunction', {
      entry: 'functions/handlers/policy-fanout.ts',
      description: 'Asks or tells one school the new version of a policy: requests, ledger rows, queued emails',
      config: props.config,
      timeout: FANOUT_TIMEOUT,
      invocation: 'sync',
    })
      // The lease and completion (UpdateItem), the current version (GetItem), the school's people
      // (gsi1), the requests written in batches (read first on a retry); the ledger likewise.
      .bindTable(
        props.dataTable,
        { actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem'], queries: ['gsi1'] },
        'DATA_TABLE_NAME',
      )
      .bindTable(props.ledgerTable, { actions: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'] }, 'LEDGER_TABLE_NAME')
      .bindQueueSender(props.emailQueue, 'EMAIL_QUEUE_URL')
      .bindSecretReader(props.ackTokenKey, 'ACK_TOKEN_SECRET_ARN');
    this.worker.addEventSource(new SqsEventSource(this.queue, { batchSize: 1, reportBatchItemFailures: true, maxConcurrency: 2 }));
  }
}
