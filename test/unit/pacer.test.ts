import { describe, expect, it } from 'vitest';
import { SendPacer } from '../../functions/domain/pacer.ts';

function fakeClock() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    sleeps,
  };
}

describe('send pacer (the configured SES send rate)', () => {
  it('lets the first call through, then spaces calls by their recipients at the rate', async () => {
    const clock = fakeClock();
    const pacer = new SendPacer(10, clock.now, clock.sleep);
    await pacer.take(50); // 50 emails at 10/s use the next 5 s
    await pacer.take(20);
    await pacer.take(1);
    expect(clock.sleeps).toEqual([5_000, 2_000]);
    expect(clock.now()).toBe(7_000);
  });

  it('never sends more than the rate over a long run', async () => {
    const clock = fakeClock();
    const pacer = new SendPacer(7, clock.now, clock.sleep);
    let sent = 0;
    for (let i = 0; i < 40; i++) {
      await pacer.take(50);
      sent += 50;
    }
    // All but the first call's burst were spread at 7 per second: 1,950 emails took at least 1,950/7 s.
    expect(clock.now()).toBeGreaterThanOrEqual(((sent - 50) / 7) * 1000 - 1);
  });

  it('does not wait when time has passed since the last reservation', async () => {
    const clock = fakeClock();
    const pacer = new SendPacer(10, clock.now, clock.sleep);
    await pacer.take(10);
    clock.advance(5_000);
    expect(pacer.waitFor()).toBe(0);
    await pacer.take(10);
    expect(clock.sleeps).toEqual([]);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new SendPacer(0)).toThrow(RangeError);
  });
});
