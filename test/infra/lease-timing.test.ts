/**
 * The email queue's timing against the ledger's lease (issue #11): a sender that crashes
 * between SES and the ledger leaves its row `sending` until the lease runs out (trust
 * configuration `delivery.leaseSeconds`, functions/domain/emails.ts `deliveryTimings`).
 * Meanwhile its message keeps coming back, once per visibility timeout, and each time the
 * sender finds the row within its lease (`wait`) and hands the message back. If the queue
 * dead-lettered it before the lease ran out, the email would wait in the DLQ (or for the
 * sweeper) instead of being resent, flagged, by the queue.
 *
 * Every number comes from the synthesized template (the queue's visibility timeout and
 * maxReceiveCount, the sender's timeout, the event source's batching window) or from the
 * trust configuration (the lease): nothing is hard-coded here. test/faults exercises the same
 * arithmetic for real on a fauxqs queue scaled down by the same factor.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { deliveryTimings } from '../../functions/domain/emails.ts';
import { logicalIdOf, ofType, props, resourceAt, synthesizeForAssertions } from '../support/cdk-assertions.ts';

beforeAll(synthesizeForAssertions);

/** The numbers that decide it, in milliseconds, read from the template and the configuration. */
function timing() {
  const queue = props(resourceAt('Email/Queue')) as { VisibilityTimeout?: number; RedrivePolicy?: { deadLetterTargetArn?: unknown; maxReceiveCount?: number } };
  const sender = props(resourceAt('Email/SenderFunction')) as { Timeout?: number };
  const queueArn = JSON.stringify({ 'Fn::GetAtt': [logicalIdOf('Email/Queue'), 'Arn'] });
  const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(([, m]) => JSON.stringify(props(m).EventSourceArn) === queueArn);
  expect(mappings).toHaveLength(1);
  const mapping = props(mappings[0]?.[1]) as { FunctionName?: unknown; MaximumBatchingWindowInSeconds?: number };
  expect(mapping.FunctionName).toEqual({ Ref: logicalIdOf('Email/SenderFunction') });
  expect(queue.RedrivePolicy?.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': [logicalIdOf('Email/Dlq'), 'Arn'] });
  const t = {
    visibilityMs: (queue.VisibilityTimeout ?? Number.NaN) * 1000,
    maxReceiveCount: queue.RedrivePolicy?.maxReceiveCount ?? Number.NaN,
    timeoutMs: (sender.Timeout ?? Number.NaN) * 1000,
    batchingWindowMs: (mapping.MaximumBatchingWindowInSeconds ?? 0) * 1000,
    leaseMs: deliveryTimings(loadTrustConfig()).leaseMs,
  };
  for (const [name, value] of Object.entries(t)) expect(Number.isFinite(value), name).toBe(true);
  return t;
}

/**
 * Receives of a message while its row is within one lease. The lease starts when the sender
 * claims the row, at most the batching window plus the function's timeout after the
 * message was received (the visibility timeout starts at the receive); the message comes back
 * no sooner than one visibility timeout after each receive.
 */
function receivesWithinLease(t: ReturnType<typeof timing>): number {
  return Math.ceil((t.leaseMs + t.batchingWindowMs + t.timeoutMs) / t.visibilityMs);
}

describe('the email queue against the ledger lease', () => {
  it('hides a received message for at least six times the sender timeout plus the batching window (the AWS rule for SQS event sources)', () => {
    const t = timing();
    expect(t.visibilityMs).toBeGreaterThanOrEqual(6 * t.timeoutMs + t.batchingWindowMs);
  });

  it('the lease outlasts a live invocation, so a sender still running is never taken for a crashed one', () => {
    const t = timing();
    // functions/handlers/email-sender.ts: at least twice the function timeout.
    expect(t.leaseMs).toBeGreaterThanOrEqual(2 * t.timeoutMs);
  });

  it("a crashed sender's message is not dead-lettered before its row's lease runs out: it is received again after the lease", () => {
    const t = timing();
    const within = receivesWithinLease(t);
    // Receive 1 is the crashed one; receives 2..within come back within the lease ('wait', handed
    // back); receive within + 1 comes after the lease and resends the row flagged. It must still be
    // a receive, not a move to the DLQ: within ≤ maxReceiveCount − 1.
    expect(
      within,
      `lease ${t.leaseMs / 1000} s (+ ${t.timeoutMs / 1000} s timeout + ${t.batchingWindowMs / 1000} s window) over visibility ${t.visibilityMs / 1000} s; maxReceiveCount ${t.maxReceiveCount}`,
    ).toBeLessThanOrEqual(t.maxReceiveCount - 1);
  });

  it('even when the flagged resend crashes too, the message lives until the second lease ends and the row is abandoned through the queue', () => {
    const t = timing();
    // Receive 1 crashes; after one lease's worth of receives the row is resent flagged and that
    // sender crashes as well; after a second lease's worth the next receive abandons the row.
    expect(1 + 2 * receivesWithinLease(t)).toBeLessThanOrEqual(t.maxReceiveCount);
  });
});
