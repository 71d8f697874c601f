import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { emailSenderSizing } from '../../lib/trust-email.ts';

describe('email sender sizing from the SES send rate', () => {
  it('uses the smallest concurrency the SQS event source allows for a small rate', () => {
    // Prepare / act
    const sizing = emailSenderSizing(14);

    // Assess: two invocations at 7 emails/s each; 7/s for 20 s is 140 emails, two messages of 50
    expect(sizing).toEqual({ maxConcurrency: 2, sendRatePerInvocation: 7, batchSize: 2 });
  });

  it('adds one invocation per 50 emails/s beyond that, never exceeding the rate in total', () => {
    for (const rate of [125, 200, 499, 1250]) {
      const sizing = emailSenderSizing(rate);
      expect(sizing.maxConcurrency).toBe(Math.ceil(rate / 50));
      expect(sizing.sendRatePerInvocation * sizing.maxConcurrency).toBeCloseTo(rate, 9);
      expect(sizing.sendRatePerInvocation).toBeLessThanOrEqual(50);
    }
  });

  it('caps concurrency at 1000, the SQS event source maximum', () => {
    expect(emailSenderSizing(100_000).maxConcurrency).toBe(1000);
    expect(emailSenderSizing(100_000).sendRatePerInvocation).toBe(100);
  });

  it('sizes the batch in messages of 50 emails that a paced invocation sends in two thirds of the timeout', () => {
    // 1/s shared by two invocations is 0.5/s each: not even one full message fits; one at least.
    expect(emailSenderSizing(1)).toEqual({ maxConcurrency: 2, sendRatePerInvocation: 0.5, batchSize: 1 });
    expect(emailSenderSizing(0.1).batchSize).toBe(1);
    // 10/s per invocation for 40 s (two thirds of 60 s) is 400 emails: 8 messages.
    expect(emailSenderSizing(20, Duration.seconds(60)).batchSize).toBe(8);
    // 50/s per invocation for 20 s is 1,000 emails: capped at 10 messages (500 emails).
    expect(emailSenderSizing(400).batchSize).toBe(10);
    // Never more than 10 messages.
    expect(emailSenderSizing(10_000, Duration.seconds(900)).batchSize).toBe(10);
  });
});
