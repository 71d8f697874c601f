/**
 * The fan-out queue: one message per school (and one for central staff) for each new
 * policy version, so a trust of any size is many small units of work, each retried and
 * dead-lettered on its own (issue: "one event for 10,000 recipients must not be one Lambda
 * doing 10,000 sequential calls").
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { sendMessages } from './sqs-send.ts';

export const fanoutMessageSchema = z.strictObject({
  policyId: z.string().min(1).max(64),
  version: z.number().int().positive(),
  schoolId: z.string().min(1).max(64),
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
