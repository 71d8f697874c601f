import { afterEach, beforeAll, afterAll, describe, expect, it, vi } from 'vitest';
import {
  firingsBetween,
  InvalidScheduleError,
  nextFiring,
  parseSchedule,
  SCHEDULER_MAX_CATCH_UP,
  startScheduler,
} from '../../local/schedule.ts';

// Expected times are worked out by hand from a calendar (2025-06-01 is a Sunday, 2025-07-01 a
// Tuesday, 2019-01-01 a Tuesday, 2022-12-01 a Thursday). Expressions come from the EventBridge user
// guide, "Creating an Amazon EventBridge rule that runs on a schedule" (eb-create-rule-schedule).

const at = (iso: string): Date => new Date(iso);
const next = (expression: string, after: string): string | undefined =>
  nextFiring(parseSchedule(expression), at(after))?.toISOString();
const between = (expression: string, from: string, to: string, limit?: number): string[] =>
  firingsBetween(parseSchedule(expression), at(from), at(to), limit).map((d) => d.toISOString());

function rejection(expression: string): InvalidScheduleError {
  try {
    parseSchedule(expression);
  } catch (error) {
    if (error instanceof InvalidScheduleError) return error;
    throw error;
  }
  throw new Error(`${expression} was accepted`);
}

// Run the calendar tests under a zone with daylight saving, so any local-time slip shows.
let savedTz: string | undefined;
beforeAll(() => {
  savedTz = process.env.TZ;
  process.env.TZ = 'Europe/London';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

describe('cron: the guide example table', () => {
  it('0 10 * * ? * runs at 10:00 every day', () => {
    expect(next('cron(0 10 * * ? *)', '2025-06-11T09:59:59Z')).toBe('2025-06-11T10:00:00.000Z');
    // strictly after: a firing exactly at `after` is not returned again
    expect(next('cron(0 10 * * ? *)', '2025-06-11T10:00:00Z')).toBe('2025-06-12T10:00:00.000Z');
  });

  it('15 12 * * ? * runs at 12:15 every day', () => {
    expect(next('cron(15 12 * * ? *)', '2025-06-11T12:15:30Z')).toBe('2025-06-12T12:15:00.000Z');
    expect(next('cron(15 12 * * ? *)', '2025-06-11T12:14:59Z')).toBe('2025-06-11T12:15:00.000Z');
  });

  it('0 18 ? * MON-FRI * runs at 18:00 Monday to Friday', () => {
    expect(next('cron(0 18 ? * MON-FRI *)', '2025-06-13T18:00:00Z')).toBe('2025-06-16T18:00:00.000Z'); // Fri → Mon
    expect(next('cron(0 18 ? * MON-FRI *)', '2025-06-11T18:00:00Z')).toBe('2025-06-12T18:00:00.000Z'); // Wed → Thu
  });

  it('0 8 1 * ? * runs at 08:00 on the 1st of each month', () => {
    expect(next('cron(0 8 1 * ? *)', '2025-06-11T00:00:00Z')).toBe('2025-07-01T08:00:00.000Z');
    expect(next('cron(0 8 1 * ? *)', '2025-12-01T08:00:00Z')).toBe('2026-01-01T08:00:00.000Z');
  });

  it('0/15 * * * ? * runs every 15 minutes', () => {
    expect(next('cron(0/15 * * * ? *)', '2025-06-11T10:07:00Z')).toBe('2025-06-11T10:15:00.000Z');
    expect(between('cron(0/15 * * * ? *)', '2025-06-11T10:00:00Z', '2025-06-11T11:00:00Z')).toEqual([
      '2025-06-11T10:15:00.000Z',
      '2025-06-11T10:30:00.000Z',
      '2025-06-11T10:45:00.000Z',
      '2025-06-11T11:00:00.000Z',
    ]);
    expect(next('cron(0/15 * * * ? *)', '2025-12-31T23:50:00Z')).toBe('2026-01-01T00:00:00.000Z');
  });

  it('0/10 * ? * MON-FRI * runs every 10 minutes Monday to Friday', () => {
    expect(next('cron(0/10 * ? * MON-FRI *)', '2025-06-13T23:55:00Z')).toBe('2025-06-16T00:00:00.000Z');
    expect(between('cron(0/10 * ? * MON-FRI *)', '2025-06-09T00:00:00Z', '2025-06-16T00:00:00Z', 10_000)).toHaveLength(
      5 * 24 * 6, // Mon 00:10 .. Fri 23:50, plus Mon 16th 00:00
    );
  });

  it('0/5 8-17 ? * MON-FRI * runs every 5 minutes Monday to Friday, 08:00 to 17:55', () => {
    expect(next('cron(0/5 8-17 ? * MON-FRI *)', '2025-06-11T17:55:00Z')).toBe('2025-06-12T08:00:00.000Z');
    const wednesday = between('cron(0/5 8-17 ? * MON-FRI *)', '2025-06-11T00:00:00Z', '2025-06-12T00:00:00Z');
    expect(wednesday).toHaveLength(10 * 12);
    expect([wednesday[0], wednesday.at(-1)]).toEqual(['2025-06-11T08:00:00.000Z', '2025-06-11T17:55:00.000Z']);
    expect(next('cron(0/5 8-17 ? * MON-FRI *)', '2025-06-13T17:55:00Z')).toBe('2025-06-16T08:00:00.000Z');
  });

  it('0/30 20-2 ? * MON-FRI * wraps the hour range past midnight, each firing on a weekday', () => {
    const expression = 'cron(0/30 20-2 ? * MON-FRI *)';
    const friday = between(expression, '2025-06-12T23:59:00Z', '2025-06-14T00:00:00Z');
    expect(friday).toEqual(
      ['00', '01', '02', '20', '21', '22', '23'].flatMap((h) => [`2025-06-13T${h}:00:00.000Z`, `2025-06-13T${h}:30:00.000Z`]),
    );
    expect(next(expression, '2025-06-13T02:30:00Z')).toBe('2025-06-13T20:00:00.000Z');
    // Saturday and Sunday mornings are not MON-FRI: Friday 23:30 is followed by Monday 00:00
    expect(next(expression, '2025-06-13T23:30:00Z')).toBe('2025-06-16T00:00:00.000Z');
  });

  it('0 9 ? * 2#1 * runs at 09:00 on the first Monday of the month', () => {
    expect(next('cron(0 9 ? * 2#1 *)', '2025-06-01T00:00:00Z')).toBe('2025-06-02T09:00:00.000Z');
    expect(next('cron(0 9 ? * 2#1 *)', '2025-06-11T00:00:00Z')).toBe('2025-07-07T09:00:00.000Z');
  });

  it('the put-rule examples: 0 12 * * ? *, 5,35 14 * * ? *, 15 10 ? * 6L 2019-2022', () => {
    expect(next('cron(0 12 * * ? *)', '2025-06-11T12:00:00Z')).toBe('2025-06-12T12:00:00.000Z');
    expect(next('cron(5,35 14 * * ? *)', '2025-06-11T14:05:00Z')).toBe('2025-06-11T14:35:00.000Z');
    expect(next('cron(5,35 14 * * ? *)', '2025-06-11T14:35:00Z')).toBe('2025-06-12T14:05:00.000Z');
    // last Friday of each month in 2019-2022: January 2019 ends on Thursday the 31st
    expect(next('cron(15 10 ? * 6L 2019-2022)', '2019-01-01T00:00:00Z')).toBe('2019-01-25T10:15:00.000Z');
    expect(next('cron(15 10 ? * 6L 2019-2022)', '2022-12-01T00:00:00Z')).toBe('2022-12-30T10:15:00.000Z');
    expect(next('cron(15 10 ? * 6L 2019-2022)', '2022-12-30T10:15:00Z')).toBeUndefined();
    expect(between('cron(15 10 ? * 6L 2019-2022)', '2018-01-01T00:00:00Z', '2030-01-01T00:00:00Z')).toHaveLength(48);
  });

  it('1/10 in minutes is the 1st, 11th, 21st ... minute (the guide text)', () => {
    expect(between('cron(1/10 * * * ? *)', '2025-06-11T10:00:00Z', '2025-06-11T11:00:00Z').map((d) => d.slice(14, 16))).toEqual(
      ['01', '11', '21', '31', '41', '51'],
    );
  });
});

describe('cron: wildcards, names and the calendar', () => {
  it('L in day-of-month is the last day: 30-day months, February, leap years', () => {
    expect(next('cron(0 0 L * ? *)', '2025-06-11T00:00:00Z')).toBe('2025-06-30T00:00:00.000Z');
    expect(next('cron(0 0 L * ? *)', '2025-06-30T00:00:00Z')).toBe('2025-07-31T00:00:00.000Z');
    expect(next('cron(0 0 L * ? *)', '2024-02-01T00:00:00Z')).toBe('2024-02-29T00:00:00.000Z');
    expect(next('cron(0 0 L * ? *)', '2025-02-01T00:00:00Z')).toBe('2025-02-28T00:00:00.000Z');
    expect(next('cron(0 0 L * ? *)', '2100-02-01T00:00:00Z')).toBe('2100-02-28T00:00:00.000Z'); // not a leap year
    expect(next('cron(0 0 L * ? *)', '2000-02-01T00:00:00Z')).toBe('2000-02-29T00:00:00.000Z'); // is one
  });

  it('29 FEB fires only in leap years; 31 skips the short months', () => {
    expect(next('cron(0 0 29 2 ? *)', '2025-01-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(next('cron(0 0 29 FEB ? *)', '2024-02-29T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(next('cron(0 0 31 * ? *)', '2025-04-01T00:00:00Z')).toBe('2025-05-31T00:00:00.000Z');
    expect(next('cron(0 0 30 2 ? *)', '2025-01-01T00:00:00Z')).toBeUndefined(); // valid, never fires
  });

  it('W is the nearest weekday inside the month; LW the last weekday', () => {
    expect(next('cron(0 9 3W * ? *)', '2025-06-01T00:00:00Z')).toBe('2025-06-03T09:00:00.000Z'); // Tue 3rd
    expect(next('cron(0 9 3W * ? *)', '2025-05-01T00:00:00Z')).toBe('2025-05-02T09:00:00.000Z'); // Sat 3rd → Fri
    expect(next('cron(0 9 15W * ? *)', '2025-06-01T00:00:00Z')).toBe('2025-06-16T09:00:00.000Z'); // Sun 15th → Mon
    expect(next('cron(0 9 1W * ? *)', '2025-10-31T00:00:00Z')).toBe('2025-11-03T09:00:00.000Z'); // Sat 1st → Mon 3rd
    expect(next('cron(0 9 31W * ? *)', '2025-08-01T00:00:00Z')).toBe('2025-08-29T09:00:00.000Z'); // Sun 31st → Fri 29th
    expect(next('cron(0 9 31W * ? *)', '2025-09-01T00:00:00Z')).toBe('2025-10-31T09:00:00.000Z'); // no 31 Sep
    expect(next('cron(0 9 LW * ? *)', '2025-08-01T00:00:00Z')).toBe('2025-08-29T09:00:00.000Z');
    expect(next('cron(0 9 LW * ? *)', '2025-06-01T00:00:00Z')).toBe('2025-06-30T09:00:00.000Z'); // Mon 30th
  });

  it('L alone in day-of-week is Saturday; nL is the last such day; n#k the k-th', () => {
    expect(next('cron(0 0 ? * L *)', '2025-06-11T00:00:00Z')).toBe('2025-06-14T00:00:00.000Z');
    expect(next('cron(0 0 ? * 2L *)', '2025-06-01T00:00:00Z')).toBe('2025-06-30T00:00:00.000Z'); // last Monday
    expect(next('cron(0 0 ? * MONL *)', '2025-06-01T00:00:00Z')).toBe('2025-06-30T00:00:00.000Z');
    expect(next('cron(0 0 ? * 3#2 *)', '2025-06-01T00:00:00Z')).toBe('2025-06-10T00:00:00.000Z'); // 2nd Tuesday
    expect(next('cron(0 0 ? * 1#5 *)', '2025-06-01T00:00:00Z')).toBe('2025-06-29T00:00:00.000Z'); // 5th Sunday
    expect(next('cron(0 0 ? * 2#5 *)', '2025-07-01T00:00:00Z')).toBe('2025-09-29T00:00:00.000Z'); // next 5th Monday
  });

  it('1 = SUNDAY, names and numbers mix, day and month ranges', () => {
    expect(next('cron(0 0 ? * 1 *)', '2025-06-11T00:00:00Z')).toBe('2025-06-15T00:00:00.000Z');
    expect(next('cron(0 0 ? * SUN *)', '2025-06-11T00:00:00Z')).toBe('2025-06-15T00:00:00.000Z');
    expect(next('cron(0 0 ? * 7 *)', '2025-06-11T00:00:00Z')).toBe('2025-06-14T00:00:00.000Z');
    expect(next('cron(0 12 ? * SAT-SUN *)', '2025-06-14T12:00:00Z')).toBe('2025-06-15T12:00:00.000Z');
    expect(next('cron(0 12 ? * FRI-MON *)', '2025-06-16T12:00:00Z')).toBe('2025-06-20T12:00:00.000Z'); // wraps
    expect(next('cron(0 0 1 JAN,APR,JUL,OCT ? *)', '2025-06-11T00:00:00Z')).toBe('2025-07-01T00:00:00.000Z');
    expect(next('cron(0 0 1 NOV-FEB ? *)', '2025-03-01T00:00:00Z')).toBe('2025-11-01T00:00:00.000Z');
    expect(next('cron(0 0 1-15/7 * ? *)', '2025-06-01T00:00:00Z')).toBe('2025-06-08T00:00:00.000Z');
    expect(next('cron(0 0 ? * * *)', '2025-06-11T00:00:00Z')).toBe('2025-06-12T00:00:00.000Z');
  });

  it('years: a list, a step, a past year never fires', () => {
    expect(next('cron(0 0 1 1 ? 2020)', '2025-06-11T00:00:00Z')).toBeUndefined();
    expect(next('cron(0 0 1 1 ? 2030,2040)', '2031-01-01T00:00:00Z')).toBe('2040-01-01T00:00:00.000Z');
    expect(next('cron(0 0 1 1 ? 2025/5)', '2025-01-01T00:00:00Z')).toBe('2030-01-01T00:00:00.000Z');
    expect(next('cron(59 23 31 12 ? 2199)', '2199-12-31T23:58:00Z')).toBe('2199-12-31T23:59:00.000Z');
  });

  it('a daily cron(0 6 * * ? *) fires once per UTC day across the UK clock changes', () => {
    const spring = between('cron(0 6 * * ? *)', '2025-03-28T00:00:00Z', '2025-04-02T00:00:00Z'); // BST from 30 Mar
    expect(spring).toEqual(['28', '29', '30', '31'].map((d) => `2025-03-${d}T06:00:00.000Z`).concat('2025-04-01T06:00:00.000Z'));
    const autumn = between('cron(0 6 * * ? *)', '2025-10-24T00:00:00Z', '2025-10-29T00:00:00Z'); // GMT from 26 Oct
    expect(autumn).toEqual(['24', '25', '26', '27', '28'].map((d) => `2025-10-${d}T06:00:00.000Z`));
  });

  it('firingsBetween is (from, to] and honours the limit', () => {
    expect(between('cron(0 * * * ? *)', '2025-06-11T10:00:00Z', '2025-06-11T12:00:00Z')).toEqual([
      '2025-06-11T11:00:00.000Z',
      '2025-06-11T12:00:00.000Z',
    ]);
    expect(between('cron(* * * * ? *)', '2025-06-11T10:00:00Z', '2025-06-12T10:00:00Z', 3)).toHaveLength(3);
  });
});

describe('rate expressions', () => {
  it('the guide examples: 1 minute, 5 minutes, 1 hour, 1 day', () => {
    expect(parseSchedule('rate(1 minute)')).toMatchObject({ kind: 'rate', everyMs: 60_000 });
    expect(parseSchedule('rate(5 minutes)')).toMatchObject({ kind: 'rate', everyMs: 300_000 });
    expect(parseSchedule('rate(1 hour)')).toMatchObject({ kind: 'rate', everyMs: 3_600_000 });
    expect(parseSchedule('rate(1 day)')).toMatchObject({ kind: 'rate', everyMs: 86_400_000 });
    expect(parseSchedule('rate(7 days)')).toMatchObject({ kind: 'rate', everyMs: 7 * 86_400_000 });
  });

  it('fires every period from the anchor, without drifting', () => {
    const rate = parseSchedule('rate(5 minutes)');
    const anchor = at('2025-06-11T10:00:30Z');
    expect(nextFiring(rate, at('2025-06-11T10:02:00Z'))?.toISOString()).toBe('2025-06-11T10:07:00.000Z');
    expect(nextFiring(rate, at('2025-06-11T10:07:31Z'), anchor)?.toISOString()).toBe('2025-06-11T10:10:30.000Z');
    expect(nextFiring(rate, at('2025-06-11T10:10:30Z'), anchor)?.toISOString()).toBe('2025-06-11T10:15:30.000Z');
    expect(nextFiring(rate, at('2025-06-11T09:00:00Z'), anchor)?.toISOString()).toBe('2025-06-11T10:05:30.000Z');
    const hours = firingsBetween(parseSchedule('rate(1 hour)'), at('2025-06-11T10:00:00Z'), at('2025-06-11T13:00:00Z'));
    expect(hours.map((d) => d.toISOString())).toEqual([
      '2025-06-11T11:00:00.000Z',
      '2025-06-11T12:00:00.000Z',
      '2025-06-11T13:00:00.000Z',
    ]);
  });
});

describe('invalid expressions are rejected as PutRule would', () => {
  it.each([
    ['cron(0 10 * * ?)', /6 fields.*got 5/],
    ['cron(0 10 * * ? * *)', /got 7/],
    ['cron(0 10 * * * *)', /both day-of-month and day-of-week/],
    ['cron(0 10 1 * MON *)', /both day-of-month and day-of-week/],
    ['cron(0 10 ? * ? *)', /cannot both be \?/],
    ['cron(? 10 * * ? *)', /minutes field.*\? wildcard/],
    ['cron(0 10 * ? ? *)', /month field.*\? wildcard|both/],
    ['cron(0 10 ? * MON ?)', /year field.*\? wildcard/],
    ['cron(60 10 * * ? *)', /minutes field: "60" is not in 0-59/],
    ['cron(0 24 * * ? *)', /hours field: "24" is not in 0-23/],
    ['cron(0 0 0 * ? *)', /day-of-month field: "0" is not in 1-31/],
    ['cron(0 0 32 * ? *)', /day-of-month field: "32"/],
    ['cron(0 0 1 13 ? *)', /month field: "13" is not in 1-12 or JAN-DEC/],
    ['cron(0 0 1 JANUARY ? *)', /month field: "JANUARY"/],
    ['cron(0 0 ? * 0 *)', /day-of-week field: "0" is not in 1-7 or SUN-SAT/],
    ['cron(0 0 ? * 8 *)', /day-of-week field: "8"/],
    ['cron(0 0 1 1 ? 1969)', /year field: "1969" is not in 1970-2199/],
    ['cron(0 0 1 1 ? 2200)', /year field: "2200"/],
    ['cron(0 0 ? * 3#1,6#3 *)', /day-of-week field.*only one expression/],
    ['cron(0 0 ? * 2#6 *)', /1-5/],
    ['cron(0 0 ? * 2W *)', /day-of-week field.*W wildcard/],
    ['cron(L 0 * * ? *)', /minutes field.*L wildcard/],
    ['cron(0 0 1#2 * ? *)', /day-of-month field.*# wildcard/],
    ['cron(0 0 1,L * ? *)', /day-of-month field.*stand alone/],
    ['cron(0 0 ? * 1/2 *)', /day-of-week field.*\/ wildcard/],
    ['cron(0/0 * * * ? *)', /step "0"/],
    ['cron(0/61 * * * ? *)', /step "61"/],
    ['cron(1-2-3 * * * ? *)', /not a value or a range/],
    ['cron(, * * * ? *)', /minutes field/],
    ['cron 0 10 * * ? *', /expected cron\(fields\) or rate/],
    ['', /expected cron/],
    ['rate(1 minutes)', /singular unit: rate\(1 minute\)/],
    ['rate(5 hour)', /plural unit: rate\(5 hours\)/],
    ['rate(1 hours)', /singular/],
    ['rate(0 hours)', /positive whole number/],
    ['rate(-1 hours)', /positive whole number/],
    ['rate(1.5 hours)', /positive whole number/],
    ['rate(2 weeks)', /minute\(s\), hour\(s\) or day\(s\)/],
    ['rate(30 seconds)', /unit "seconds"/],
    ['rate(5)', /two fields/],
    ['rate(5 minutes extra)', /two fields/],
  ])('%s', (expression, detail) => {
    const error = rejection(expression);
    expect(error.name).toBe('InvalidScheduleError');
    expect(error.message).toMatch(/^Parameter ScheduleExpression is not valid\./);
    expect(error.message).toMatch(detail);
  });
});

describe('startScheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires each rule at its times, once, with the scheduled time', async () => {
    vi.useFakeTimers({ now: at('2025-06-11T09:58:30Z') });
    const fired: string[] = [];
    const scheduler = startScheduler(
      [
        { id: 'daily', expression: 'cron(0 10 * * ? *)' },
        { id: 'every5', expression: 'rate(5 minutes)' },
      ],
      (id, time) => {
        fired.push(`${id}@${time.toISOString()}`);
      },
      { log: () => {} },
    );
    await vi.advanceTimersByTimeAsync(89_999); // 09:59:59.999
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1); // 10:00:00
    expect(fired).toEqual(['daily@2025-06-11T10:00:00.000Z']);
    await vi.advanceTimersByTimeAsync(11 * 60_000); // to 10:11:00
    expect(fired).toEqual([
      'daily@2025-06-11T10:00:00.000Z',
      'every5@2025-06-11T10:03:30.000Z', // anchored at the start, 09:58:30
      'every5@2025-06-11T10:08:30.000Z',
    ]);
    await vi.advanceTimersByTimeAsync(24 * 3_600_000); // a day later: one more daily, no repeats
    expect(fired.filter((f) => f.startsWith('daily'))).toEqual([
      'daily@2025-06-11T10:00:00.000Z',
      'daily@2025-06-12T10:00:00.000Z',
    ]);
    expect(new Set(fired).size).toBe(fired.length);
    scheduler.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(fired.filter((f) => f.startsWith('daily'))).toHaveLength(2);
  });

  it('sleeps at most 60 s, so a clock jump forward is noticed and the missed time fires once', async () => {
    vi.useFakeTimers({ now: at('2025-06-11T09:00:00Z') });
    const fired: string[] = [];
    const scheduler = startScheduler([{ id: 'daily', expression: 'cron(0 10 * * ? *)' }], (id, time) => {
      fired.push(`${id}@${time.toISOString()}`);
    });
    vi.setSystemTime(at('2025-06-11T10:00:20Z')); // wall clock corrected; timers not advanced
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fired).toEqual(['daily@2025-06-11T10:00:00.000Z']);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(fired).toHaveLength(1);
    scheduler.stop();
  });

  it('catches up missed times after a late wake-up, up to the cap, and logs the rest', async () => {
    vi.useFakeTimers({ now: at('2025-06-11T10:00:30Z') });
    const fired: string[] = [];
    const logs: string[] = [];
    const scheduler = startScheduler(
      [{ id: 'minutely', expression: 'cron(* * * * ? *)' }],
      (_id, time) => {
        fired.push(time.toISOString().slice(11, 16));
      },
      { log: (line) => logs.push(line) },
    );
    vi.setSystemTime(at('2025-06-11T10:02:40Z')); // the 10:01 timer runs late, at 10:03:10
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fired).toEqual(['10:01', '10:02', '10:03']);
    expect(logs).toEqual([]);
    vi.setSystemTime(at('2025-06-11T10:20:10Z')); // suspended: the 10:04 timer runs at 10:21:00
    await vi.advanceTimersByTimeAsync(120_000);
    expect(fired.slice(3)).toEqual(['10:04', '10:05', '10:06', '10:07', '10:08', '10:22']);
    expect(SCHEDULER_MAX_CATCH_UP).toBe(5);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/minutely skipped 13 missed firing\(s\) from 2025-06-11T10:09:00.000Z to 2025-06-11T10:21:00.000Z/);
    scheduler.stop();
  });

  it('never fires a time twice when the clock goes backwards (injected clock)', async () => {
    vi.useFakeTimers();
    let clock = at('2025-06-11T09:59:50Z');
    const fired: string[] = [];
    const scheduler = startScheduler(
      [{ id: 'daily', expression: 'cron(0 10 * * ? *)' }],
      (_id, time) => {
        fired.push(time.toISOString());
      },
      { now: () => clock, log: () => {} },
    );
    clock = at('2025-06-11T10:00:00Z');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fired).toEqual(['2025-06-11T10:00:00.000Z']);
    clock = at('2025-06-11T09:59:00Z'); // NTP steps the clock back a minute
    await vi.advanceTimersByTimeAsync(60_000);
    clock = at('2025-06-11T10:00:05Z');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(fired).toEqual(['2025-06-11T10:00:00.000Z']);
    scheduler.stop();
  });

  it('logs a failing target and keeps going; rejects an invalid rule naming it', async () => {
    vi.useFakeTimers({ now: at('2025-06-11T10:00:30Z') });
    const logs: string[] = [];
    let calls = 0;
    const scheduler = startScheduler(
      [{ id: 'flaky', expression: 'rate(1 minute)' }],
      async () => {
        calls += 1;
        throw new Error('boom');
      },
      { log: (line) => logs.push(line) },
    );
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    expect(calls).toBe(2);
    expect(logs).toEqual([
      'scheduler: rule flaky (2025-06-11T10:01:30.000Z) failed: boom',
      'scheduler: rule flaky (2025-06-11T10:02:30.000Z) failed: boom',
    ]);
    scheduler.stop();
    expect(() => startScheduler([{ id: 'bad', expression: 'rate(1 minutes)' }], () => {})).toThrow(
      /not valid.*\(rule bad\)/,
    );
  });
});
