import { describe, expect, it } from 'vitest';
import { chunk, decideSend, MAX_BULK_DESTINATIONS } from '../../functions/domain/emails.ts';

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

  it('chunks at the SES bulk limit of 50', () => {
    const parts = chunk(Array.from({ length: 120 }, (_, i) => i), MAX_BULK_DESTINATIONS);
    expect(parts.map((p) => p.length)).toEqual([50, 50, 20]);
    expect(parts.flat()).toHaveLength(120);
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});
