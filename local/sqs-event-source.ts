/**
 * What Lambda's SQS event source mapping does, for the local runtime and the tests:
 * receive a batch, hand it to the function as a Lambda-shaped `SQSEvent`, and delete the
 * messages the function did not report in `batchItemFailures` (ReportBatchItemFailures).
 * Messages reported as failed stay on the queue, reappear after the visibility timeout,
 * and move to the dead-letter queue after the queue's maxReceiveCount, as in AWS. A
 * function that throws fails the whole batch.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export type SqsFunction = (event: SQSEvent) => Promise<SQSBatchResponse | undefined | void>;

export interface PollResult {
  received: number;
  deleted: number;
  failed: number;
}

/** Receives one batch (SQS gives at most 10 a call) and runs the function on it. */
export async function pollOnce(
  sqs: SQSClient,
  queue: { url: string; arn: string },
  fn: SqsFunction,
  options: { maxMessages?: number; waitSeconds?: number; region?: string } = {},
): Promise<PollResult> {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: Math.min(options.maxMessages ?? 10, 10),
      WaitTimeSeconds: options.waitSeconds ?? 0,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  const messages = out.Messages ?? [];
  if (messages.length === 0) return { received: 0, deleted: 0, failed: 0 };
  const records: SQSRecord[] = messages.map((m) => ({
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
      SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
      SenderId: m.Attributes?.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: options.region ?? 'eu-west-2',
  }));
  let failedIds: Set<string>;
  try {
    const response = await fn({ Records: records });
    failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch {
    failedIds = new Set(records.map((r) => r.messageId));
  }
  const done = records.filter((r) => !failedIds.has(r.messageId));
  if (done.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );
  }
  return { received: records.length, deleted: done.length, failed: failedIds.size };
}
