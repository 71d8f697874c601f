/**
 * Sends message bodies to a queue ten to a call (the SQS batch limit), sending entries
 * SQS reports as failed again with backoff and jitter. The one way we send to SQS.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { chunk } from '../domain/emails.ts';
import { backoff } from './ledger-repository.ts';

const SQS_BATCH_LIMIT = 10;
const ATTEMPTS = 5;

export async function sendMessages(sqs: SQSClient, queueUrl: string, bodies: readonly string[]): Promise<void> {
  for (const part of chunk(bodies, SQS_BATCH_LIMIT)) {
    let pending = part.map((MessageBody, i) => ({ Id: String(i), MessageBody }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= ATTEMPTS) throw new Error(`SQS refused ${pending.length} messages after ${ATTEMPTS} attempts`);
      if (attempt > 0) await backoff(attempt);
      const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((entry) => failed.has(entry.Id));
    }
  }
}
