/**
 * The email queue: each SQS message names up to 50 ledger rows (one SendBulkEmail call's
 * worth), nothing more: no addresses or names travel on the queue. Messages go ten to a
 * call, the SQS batch limit; entries SQS reports as failed are sent again with backoff.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { chunk, MAX_BULK_DESTINATIONS } from '../domain/emails.ts';
import { sendMessages } from './sqs-send.ts';

export const emailMessageSchema = z.strictObject({
  ledgerKeys: z.array(z.string().min(1).max(1024)).min(1).max(MAX_BULK_DESTINATIONS),
});
export type EmailMessage = z.infer<typeof emailMessageSchema>;


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
    await sendMessages(
      this.sqs,
      this.queueUrl,
      messages.map((keys) => JSON.stringify({ ledgerKeys: keys } satisfies EmailMessage)),
    );
    return messages.length;
  }
}
