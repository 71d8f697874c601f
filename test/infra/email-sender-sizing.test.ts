import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { emailSenderSizing } from '../../lib/trust-email.ts';

describe('email sender sizing from the SES send rate', () => {
  it('uses the smallest concurrency the SQS event source allows for a small rate', () => {
    // Prepare / act
    const sizing = emailSenderSizing(14);

    // Assess: two invocations at 7 emails/s each, full SendBulkEmail batches
    expect(sizing).toEqual({ maxConcurrency: 2, sendRatePerInvocation: 7, batchSize: 50 });
  });

  it('adds one invocation per 10 emails/s beyond that, never exceeding the rate in total', () => {
    for (const rate of [25, 40, 99, 250]) {
      const sizing = emailSenderSizing(rate);
      expect(sizing.maxConcurrency).toBe(Math.ceil(rate / 10));
      expect(sizing.sendRatePerInvocation * sizing.maxConcurrency).toBeCloseTo(rate, 9);
      expect(sizing.sendRatePerInvocation).toBeLessThanOrEqual(10);
    }
  });

  it('caps concurrency at 1000, the SQS event source maximum', () => {
    expect(emailSenderSizing(10_000).maxConcurrency).toBe(1000);
    expect(emailSenderSizing(10_000).sendRatePerInvocation).toBe(10);
  });

  it('shrinks the batch so that a paced batch fits in the timeout (SES sandbox: 1 email/s)', () => {
    // 1/s shared by two invocations is 0.5/s each; 20 s (two thirds of 30 s) sends 10.
    expect(emailSenderSizing(1)).toEqual({ maxConcurrency: 2, sendRatePerInvocation: 0.5, batchSize: 10 });
    expect(emailSenderSizing(0.1).batchSize).toBe(1);
    expect(emailSenderSizing(4, Duration.seconds(60)).batchSize).toBe(50);
  });
});
