/**
 * The email queue: each SQS message names up to 50 ledger rows (one SendBulkEmail call's
 * worth), nothing more: no addresses or names travel on the queue. Messages go ten to a
 * call, the SQS batch limit; entries SQS reports as failed are sent again with backoff.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { chunk, MAX_BULK_DESTINATIONS } from '../domain/emails.ts';
import { backoff } from './ledger-repository.ts';

export const emailMessageSchema = z.strictObject({
  ledgerKeys: z.array(z.string().min(1).max(1024)).min(1).max(MAX_BULK_DESTINATIONS),
});
export type EmailMessage = z.infer<typeof emailMessageSchema>;

const SQS_BATCH_LIMIT = 10;
const ATTEMPTS = 5;

export class EmailQueue {
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;
  constructor(sqs: SQSClient, queueUrl: string) {
    this.sqs = sqs;
    this.queueUrl = queueUrl;
  }

  /** Queues the rows, 50 keys to a message. Returns how many messages were sent. */
  async enqueue(ledgerKeys: readonly string[]): Promise<number> {
    const messages = chunk(ledgerKeys, MAX_BULK_DESTINATIONS);
    for (const part of chunk(messages, SQS_BATCH_LIMIT)) {
      let pending = part.map((keys, i) => ({ Id: String(i), MessageBody: JSON.stringify({ ledgerKeys: keys } satisfies EmailMessage) }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= ATTEMPTS) throw new Error(`SQS refused ${pending.length} email messages after ${ATTEMPTS} attempts`);
        if (attempt > 0) await backoff(attempt);
        const out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
        const failed = new Set((out.Failed ?? []).map((f) => f.Id));
        pending = pending.filter((entry) => failed.has(entry.Id));
      }
    }
    return messages.length;
  }
}
