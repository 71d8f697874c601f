/**
 * A child process for test/integration/local-durability.test.ts: the local servers
 * (local/servers.ts) with SQS persisted in `DURABILITY_SQS_DIR`. It creates a queue with a
 * dead-letter queue (maxReceiveCount 2), sends five messages (one SendMessage, a batch of
 * four), receives one without deleting it (visibility timeout `DURABILITY_VISIBILITY_S`),
 * prints what it did as one JSON line and waits to be killed.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { startLocalServers } from '../../local/servers.ts';

export const QUEUE_ATTRIBUTES = { VisibilityTimeout: '30', MessageRetentionPeriod: '1209600' };
export const DLQ_ATTRIBUTES = { MessageRetentionPeriod: '1209600' };

export interface SqsChildReport {
  sqs: string;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
  sent: string[];
  inFlight: { messageId: string; body: string; receivedAt: number };
}

if (process.env.DURABILITY_SQS_DIR) {
  const servers = await startLocalServers({ sqsDataDir: process.env.DURABILITY_SQS_DIR });
  const sqs = new SQSClient({
    endpoint: servers.endpoints.sqs,
    region: 'eu-west-2',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: 'durable-dlq', Attributes: DLQ_ATTRIBUTES }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'durable', Attributes: QUEUE_ATTRIBUTES }));
  const arnOf = async (url: string | undefined) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn ?? '';
  const [queueArn, dlqArn] = await Promise.all([arnOf(queue.QueueUrl), arnOf(dlq.QueueUrl)]);
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: queue.QueueUrl,
      Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) },
    }),
  );
  await sqs.send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: 'message 0' }));
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queue.QueueUrl,
      Entries: [1, 2, 3, 4].map((n) => ({ Id: String(n), MessageBody: `message ${n}` })),
    }),
  );
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.QueueUrl,
      MaxNumberOfMessages: 1,
      VisibilityTimeout: Number(process.env.DURABILITY_VISIBILITY_S ?? 30),
    }),
  );
  const message = received.Messages?.[0];
  const report: SqsChildReport = {
    sqs: servers.endpoints.sqs,
    queueUrl: queue.QueueUrl ?? '',
    queueArn,
    dlqUrl: dlq.QueueUrl ?? '',
    dlqArn,
    sent: ['message 0', 'message 1', 'message 2', 'message 3', 'message 4'],
    inFlight: { messageId: message?.MessageId ?? '', body: message?.Body ?? '', receivedAt: Date.now() },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  // Killed by the test (SIGKILL of the process group), never stopped.
  setInterval(() => {}, 60_000);
}
