/**
 * Paces sending to a rate (DESIGN.md "Email": the sending rate is capped to the configured
 * SES send rate). Each `take(n)` reserves n sends: it waits until the previous reservations
 * have had their share of time at `ratePerSecond`, so that over any stretch no more than
 * the rate (plus the first call's burst) is sent. Pure: the clock and the sleep are passed in.
 */
export class SendPacer {
  private readonly ratePerSecond: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private nextFreeAt = 0;

  constructor(
    ratePerSecond: number,
    now: () => number = Date.now,
    sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError('the send rate must be a positive number of emails per second');
    this.ratePerSecond = ratePerSecond;
    this.now = now;
    this.sleep = sleep;
  }

  /** How long `take(n)` would wait now, in milliseconds. */
  waitFor(): number {
    return Math.max(0, this.nextFreeAt - this.now());
  }

  async take(n: number): Promise<void> {
    const start = Math.max(this.now(), this.nextFreeAt);
    this.nextFreeAt = start + (n / this.ratePerSecond) * 1000;
    const wait = start - this.now();
    if (wait > 0) await this.sleep(wait);
  }
}
