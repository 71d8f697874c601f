import { describe, expect, it } from 'vitest';
import { chunk, decideSend, decideSweep, deliveryTimings, LEDGER_STATES, MAX_BULK_DESTINATIONS } from '../../functions/domain/emails.ts';

const now = new Date('2026-11-25T12:00:00Z');
const lease = 60_000;

describe('email ledger decisions', () => {
  it('sends queued and failed rows, skips sent ones', () => {
    expect(decideSend({ state: 'queued' }, now, lease)).toBe('send');
    expect(decideSend({ state: 'failed' }, now, lease)).toBe('send');
    expect(decideSend({ state: 'sent' }, now, lease)).toBe('skip');
  });

  it('waits while another consumer holds a row within its lease', () => {
    expect(decideSend({ state: 'sending', sendingSince: '2026-11-25T11:59:30Z' }, now, lease)).toBe('wait');
  });

  it('resends a row stuck in sending past its lease once, flagged, and never a third time', () => {
    expect(decideSend({ state: 'sending', sendingSince: '2026-11-25T11:58:00Z' }, now, lease)).toBe('resend-flagged');
    expect(
      decideSend({ state: 'sending', sendingSince: '2026-11-25T11:58:00Z', possibleDuplicate: true }, now, lease),
    ).toBe('abandon');
  });

  // §1f, §4a.ii: everyone is asked, and asked once; an email whose outcome was unknown twice
  // may already have reached the person twice, so nothing sends it a third time.
  it('never sends an abandoned row again: not on redelivery, a redrive or a sweep, at any time, flagged or not', () => {
    const later = [now, new Date('2027-11-25T12:00:00Z'), new Date('2036-01-01T00:00:00Z')];
    for (const at of later) {
      for (const possibleDuplicate of [true, false]) {
        const row = { state: 'abandoned' as const, sendingSince: '2026-11-25T10:00:00Z', possibleDuplicate };
        // A redelivered message and a redriven one both reach the sender, which decides with decideSend.
        expect(decideSend(row, at, lease)).toBe('skip');
        // The sweeper puts nothing back on the queue for it.
        expect(decideSweep(row, at, { leaseMs: lease, queuedGraceMs: 1 })).toEqual({ kind: 'drop' });
      }
    }
  });

  it('abandoned is the only state besides sent that no path sends: failed stays retryable and distinct', () => {
    const sends = LEDGER_STATES.filter((state) => ['send', 'resend-flagged'].includes(decideSend({ state, sendingSince: '2026-11-25T10:00:00Z' }, now, lease)));
    expect(sends.sort()).toEqual(['failed', 'queued', 'sending']);
  });

  it('sweeps queued rows back to the queue and looks again after the grace period', () => {
    const timings = { leaseMs: lease, queuedGraceMs: 600_000 };
    expect(decideSweep({ state: 'queued' }, now, timings)).toEqual({ kind: 'requeue', recheckAt: new Date('2026-11-25T12:10:00Z') });
  });

  it('leaves a sending row to its sender until the lease runs out, then sweeps it', () => {
    const timings = { leaseMs: lease, queuedGraceMs: 600_000 };
    expect(decideSweep({ state: 'sending', sendingSince: '2026-11-25T11:59:30Z' }, now, timings)).toEqual({
      kind: 'later',
      recheckAt: new Date('2026-11-25T12:00:30Z'),
    });
    expect(decideSweep({ state: 'sending', sendingSince: '2026-11-25T11:58:00Z' }, now, timings)).toEqual({
      kind: 'requeue',
      recheckAt: new Date('2026-11-25T12:01:00Z'),
    });
  });

  it('drops rows that are no longer owed (the index was behind the table)', () => {
    for (const state of ['sent', 'failed', 'abandoned'] as const) {
      expect(decideSweep({ state }, now, { leaseMs: lease, queuedGraceMs: 1 })).toEqual({ kind: 'drop' });
    }
  });

  it('reads delivery timings from the configuration, with defaults', () => {
    expect(deliveryTimings({})).toEqual({ leaseMs: 300_000, queuedGraceMs: 900_000, sweepEveryMinutes: 5 });
    expect(deliveryTimings({ delivery: { leaseSeconds: 90, sweepEveryMinutes: 1, queuedGraceSeconds: 60 } })).toEqual({
      leaseMs: 90_000,
      queuedGraceMs: 60_000,
      sweepEveryMinutes: 1,
    });
  });

  it('chunks at the SES bulk limit of 50', () => {
    const parts = chunk(Array.from({ length: 120 }, (_, i) => i), MAX_BULK_DESTINATIONS);
    expect(parts.map((p) => p.length)).toEqual([50, 50, 20]);
    expect(parts.flat()).toHaveLength(120);
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});
