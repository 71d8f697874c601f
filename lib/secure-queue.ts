/**
 * Every SQS queue in the stack is one of these: encrypted at rest and reachable over TLS
 * only (DESIGN.md "Reliability rules"; cdk-nag AwsSolutions-SQS2 and -SQS4).
 *
 * Encryption is SQS-managed (SSE-SQS) rather than a KMS key: messages carry ledger keys
 * and event envelopes, and SSE-SQS needs no key policy for EventBridge and Lambda to
 * deliver into a dead-letter queue, a policy that is easy to get subtly wrong.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export class SecureQueue extends sqs.Queue {
  constructor(scope: Construct, id: string, props: Omit<sqs.QueueProps, 'encryption' | 'enforceSSL'> = {}) {
    super(scope, id, { ...props, encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
  }
}

export interface DeadLetterQueueProps {
  /** What ends up here, for the acknowledgement below and for operators. */
  holds: string;
  /**
   * True when another queue's redrive policy names this one. cdk-nag recognises that case
   * itself; for the other dead-letter queues (a Lambda on-failure destination, an
   * EventBridge target's DLQ) it cannot, and AwsSolutions-SQS3 is acknowledged here.
   */
  targetOfRedrivePolicy?: boolean;
}

/** A dead-letter queue: messages are kept 14 days (the SQS maximum) to inspect and redrive. */
export class DeadLetterQueue extends SecureQueue {
  constructor(scope: Construct, id: string, props: DeadLetterQueueProps) {
    super(scope, id, { retentionPeriod: Duration.days(14) });
    if (!props.targetOfRedrivePolicy) {
      Validations.of(this).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: `This queue is itself a dead-letter queue (${props.holds}); cdk-nag only recognises DLQs named by a redrive policy, and a DLQ of a DLQ would only move the problem.`,
      });
    }
    Validations.of(this).acknowledge({
      id: 'Serverless-SQSRedrivePolicy',
      reason: `This queue is itself a dead-letter queue (${props.holds}): a redrive policy would only move failures on to yet another queue; an alarm watches its depth and \`trust-notify redrive\` moves messages back to their source.`,
    });
  }
}
