/**
 * The email queue: SQS messages that name a ledger row, nothing more (no addresses or
 * names travel on the queue). Sent ten to a call, the SQS batch limit; entries SQS
 * reports as failed are sent again with backoff.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { chunk } from '../domain/emails.ts';
import { backoff } from './ledger-repository.ts';

export const emailMessageSchema = z.strictObject({ ledgerKey: z.string().min(1).max(1024) });
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

  async enqueue(ledgerKeys: readonly string[]): Promise<void> {
    for (const part of chunk(ledgerKeys, SQS_BATCH_LIMIT)) {
      let pending = part.map((ledgerKey, i) => ({ Id: String(i), MessageBody: JSON.stringify({ ledgerKey } satisfies EmailMessage) }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= ATTEMPTS) throw new Error(`SQS refused ${pending.length} email messages after ${ATTEMPTS} attempts`);
        if (attempt > 0) await backoff(attempt);
        const out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
        const failed = new Set((out.Failed ?? []).map((f) => f.Id));
        pending = pending.filter((entry) => failed.has(entry.Id));
      }
    }
  }
}
