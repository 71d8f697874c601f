/**
 * The fan-out queue: one message per school (and one for central staff) for each new
 * policy version, so a trust of any size is many small units of work, each retried and
 * dead-lettered on its own (issue: "one event for 10,000 recipients must not be one Lambda
 * doing 10,000 sequential calls").
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { sendMessages } from './sqs-send.ts';

/**
 * Policy and school ids are slugs, as in the Policy Updated contract (functions/contracts/events.ts):
 * a body that is not one of our messages is refused before anything is read, written or logged.
 */
const slug = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/);

export const fanoutMessageSchema = z.strictObject({
  policyId: slug,
  version: z.number().int().positive(),
  schoolId: slug,
  /** The Policy Updated event's id, for the ledger rows' origin. */
  eventId: z.string().min(1).max(128),
});
export type FanoutMessage = z.infer<typeof fanoutMessageSchema>;

export class FanoutQueue {
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;
  constructor(sqs: SQSClient, queueUrl: string) {
    this.sqs = sqs;
    this.queueUrl = queueUrl;
  }

  async enqueue(messages: readonly FanoutMessage[]): Promise<void> {
    await sendMessages(this.sqs, this.queueUrl, messages.map((m) => JSON.stringify(m)));
  }
}
