// EventBridge rule ScheduleExpression: parser, evaluator and a drift-free local scheduler.
//
// Grammar and meaning follow the EventBridge user guide, "Creating an Amazon EventBridge rule
// that runs on a schedule" (eb-create-rule-schedule: the cron field/wildcard table, its examples
// and the rate expression limits). Where the guide is silent we follow Quartz, whose dialect it
// is (`?`, `L`, `W`, `#`, 1 = SUNDAY), and say so. Everything is UTC: no time zones, no DST.

const MINUTE_MS = 60_000;
const MIN_YEAR = 1970;
const MAX_YEAR = 2199;
/** The scheduler's longest single timer: it re-reads the clock at least this often. */
export const SCHEDULER_MAX_SLEEP_MS = 60_000;
/** Missed firings of one rule run after a late wake-up, at most; the rest are logged and skipped. */
export const SCHEDULER_MAX_CATCH_UP = 5;

export class InvalidScheduleError extends Error {
  readonly expression: string;
  readonly field: string | undefined;
  readonly problem: string;
  constructor(expression: string, problem: string, field?: string) {
    const where = field === undefined ? '' : `${field} field: `;
    super(`Parameter ScheduleExpression is not valid. ${where}${problem} (in "${expression}")`);
    this.name = 'InvalidScheduleError';
    this.expression = expression;
    this.field = field;
    this.problem = problem;
  }
}

export type DayOfMonth =
  | { readonly kind: 'any' } // ?
  | { readonly kind: 'days'; readonly days: ReadonlySet<number> }
  | { readonly kind: 'last' } // L
  | { readonly kind: 'lastWeekday' } // LW
  | { readonly kind: 'nearestWeekday'; readonly day: number }; // 3W
export type DayOfWeek =
  | { readonly kind: 'any' } // ?
  | { readonly kind: 'days'; readonly days: ReadonlySet<number> } // 1 = SUNDAY ... 7 = SATURDAY
  | { readonly kind: 'last'; readonly day: number } // 6L: last Friday of the month
  | { readonly kind: 'nth'; readonly day: number; readonly nth: number }; // 2#1: first Monday
export type CronSchedule = {
  readonly kind: 'cron';
  readonly expression: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly dayOfMonth: DayOfMonth;
  readonly months: ReadonlySet<number>;
  readonly dayOfWeek: DayOfWeek;
  readonly years: ReadonlySet<number>;
};
export type RateSchedule = { readonly kind: 'rate'; readonly expression: string; readonly everyMs: number };
export type Schedule = CronSchedule | RateSchedule;

// ---------------------------------------------------------------------------------- parsing

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[]; // names[i] stands for min + i
  readonly slash: boolean; // whether `/` is in the field's wildcard column
}
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MINUTES: FieldSpec = { name: 'minutes', min: 0, max: 59, slash: true };
const HOURS: FieldSpec = { name: 'hours', min: 0, max: 23, slash: true };
const DAY_OF_MONTH: FieldSpec = { name: 'day-of-month', min: 1, max: 31, slash: true };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTHS, slash: true };
const DAY_OF_WEEK: FieldSpec = { name: 'day-of-week', min: 1, max: 7, names: DAYS, slash: false };
const YEAR: FieldSpec = { name: 'year', min: MIN_YEAR, max: MAX_YEAR, slash: true };

const RATE_UNITS: Readonly<Record<string, number>> = { minute: MINUTE_MS, hour: 60 * MINUTE_MS, day: 1440 * MINUTE_MS };

export function parseSchedule(expression: string): Schedule {
  const match = /^(cron|rate)\((.*)\)$/s.exec(expression);
  if (!match) throw new InvalidScheduleError(expression, 'expected cron(fields) or rate(value unit)');
  const body = (match[2] ?? '').trim();
  return match[1] === 'rate' ? parseRate(expression, body) : parseCron(expression, body);
}

function parseRate(expression: string, body: string): RateSchedule {
  const fail = (problem: string): never => {
    throw new InvalidScheduleError(expression, problem);
  };
  const [value = '', unit = '', ...extra] = body.split(/\s+/);
  if (extra.length > 0 || unit === '') fail('rate needs exactly two fields, a value and a unit');
  if (!/^\d+$/.test(value) || Number(value) < 1) fail(`rate value "${value}" must be a positive whole number`);
  const singular = unit.endsWith('s') ? unit.slice(0, -1) : unit;
  const unitMs = RATE_UNITS[singular];
  if (unitMs === undefined) fail(`rate unit "${unit}" must be minute(s), hour(s) or day(s)`);
  const count = Number(value);
  if (count === 1 && unit !== singular) fail(`a value of 1 needs the singular unit: rate(1 ${singular})`);
  if (count > 1 && unit === singular) fail(`a value above 1 needs the plural unit: rate(${value} ${unit}s)`);
  return { kind: 'rate', expression, everyMs: count * (unitMs ?? 0) };
}

function parseCron(expression: string, body: string): CronSchedule {
  const fields = body.split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 6) {
    throw new InvalidScheduleError(
      expression,
      `cron needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`,
    );
  }
  const [minutes = '', hours = '', dom = '', month = '', dow = '', year = ''] = fields;
  if ((dom === '?') === (dow === '?')) {
    throw new InvalidScheduleError(
      expression,
      dom === '?'
        ? 'day-of-month and day-of-week cannot both be ?; give one of them a value'
        : "you can't specify both day-of-month and day-of-week; one of them must be ?",
    );
  }
  return {
    kind: 'cron',
    expression,
    minutes: parseList(expression, MINUTES, minutes),
    hours: parseList(expression, HOURS, hours),
    dayOfMonth: parseDayOfMonth(expression, dom),
    months: parseList(expression, MONTH, month),
    dayOfWeek: parseDayOfWeek(expression, dow),
    years: parseList(expression, YEAR, year),
  };
}

function parseDayOfMonth(expression: string, text: string): DayOfMonth {
  if (text === '?') return { kind: 'any' };
  if (text === 'L') return { kind: 'last' };
  if (text === 'LW') return { kind: 'lastWeekday' };
  const weekday = /^(\d+)W$/.exec(text);
  if (weekday) return { kind: 'nearestWeekday', day: parseValue(expression, DAY_OF_MONTH, weekday[1] ?? '') };
  if (/[LW]/.test(text)) {
    // The guide shows L and W only on their own; Quartz rejects them inside lists and ranges.
    throw new InvalidScheduleError(expression, `"${text}": L and W stand alone (L, LW or dayW, e.g. 3W)`, 'day-of-month');
  }
  return { kind: 'days', days: parseList(expression, DAY_OF_MONTH, text) };
}

function parseDayOfWeek(expression: string, text: string): DayOfWeek {
  if (text === '?') return { kind: 'any' };
  if (text === 'L') return { kind: 'days', days: new Set([7]) }; // Quartz: L alone = last day of the week, SAT
  const last = /^(\w+)L$/.exec(text);
  if (last) return { kind: 'last', day: parseValue(expression, DAY_OF_WEEK, last[1] ?? '') };
  const nth = /^(\w+)#(\d+)$/.exec(text);
  if (nth) {
    const count = Number(nth[2]);
    if (count < 1 || count > 5) {
      throw new InvalidScheduleError(expression, `"${text}": the instance after # must be 1-5`, 'day-of-week');
    }
    return { kind: 'nth', day: parseValue(expression, DAY_OF_WEEK, nth[1] ?? ''), nth: count };
  }
  if (text.includes('#')) {
    // "If you use a '#' character, you can define only one expression in the day-of-week field."
    throw new InvalidScheduleError(expression, `"${text}": # allows only one expression, like 3#2`, 'day-of-week');
  }
  return { kind: 'days', days: parseList(expression, DAY_OF_WEEK, text) };
}

/** A `,`-separated list of `*`, `n`, `a-b` (wrapping past the maximum when a > b), each optionally `/step`. */
function parseList(expression: string, spec: FieldSpec, text: string): ReadonlySet<number> {
  const fail = (problem: string): never => {
    throw new InvalidScheduleError(expression, `"${text}": ${problem}`, spec.name);
  };
  const special = /[?#]/.exec(text);
  if (special) fail(`the ${special[0]} wildcard is not allowed in this field`);
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [range = '', step, ...extra] = item.split('/');
    if (extra.length > 0) fail(`"${item}" has more than one /`);
    if (step !== undefined && !spec.slash) fail('the / wildcard is not allowed in this field');
    let from = spec.min;
    let to = spec.max;
    if (range !== '*') {
      const [a = '', b, ...more] = range.split('-');
      if (more.length > 0) fail(`"${item}" is not a value or a range`);
      from = parseValue(expression, spec, a);
      // Quartz: "5/15" runs from 5 to the end of the field; a bare value is itself.
      to = b !== undefined ? parseValue(expression, spec, b) : step !== undefined ? spec.max : from;
    }
    const size = spec.max - spec.min + 1;
    const by = step === undefined ? 1 : Number(step);
    if (step !== undefined && (!/^\d+$/.test(step) || by < 1 || by > size)) fail(`step "${step}" must be 1-${size}`);
    const span = (to - from + size) % size; // a range like 20-2 (hours) wraps: 20..23, 0..2
    for (let i = 0; i <= span; i += by) values.add(spec.min + ((from - spec.min + i) % size));
  }
  return values;
}

function parseValue(expression: string, spec: FieldSpec, token: string): number {
  const named = spec.names?.indexOf(token.toUpperCase()) ?? -1;
  const value = named >= 0 ? spec.min + named : /^\d+$/.test(token) ? Number(token) : Number.NaN;
  if (Number.isNaN(value) || value < spec.min || value > spec.max) {
    const wildcard = /^\d*([LW])$/.exec(token);
    if (wildcard) {
      throw new InvalidScheduleError(expression, `the ${wildcard[1]} wildcard is not allowed in this field`, spec.name);
    }
    const names = spec.names ? ` or ${spec.names[0]}-${spec.names.at(-1)}` : '';
    throw new InvalidScheduleError(expression, `"${token}" is not in ${spec.min}-${spec.max}${names}`, spec.name);
  }
  return value;
}

// ------------------------------------------------------------------------------- evaluation

/** The first firing time strictly after `after` (UTC), or null if none (e.g. a past year). For rate: after + every (anchored to `anchor`, the time the rule was created/started). */
export function nextFiring(schedule: Schedule, after: Date, anchor: Date = after): Date | null {
  const time = after.getTime();
  if (Number.isNaN(time)) throw new RangeError('nextFiring: invalid date');
  if (schedule.kind === 'rate') {
    // "A rate expression starts when you create the scheduled event rule": anchor + k × every, k ≥ 1.
    const start = anchor.getTime();
    const k = Math.max(1, Math.floor((time - start) / schedule.everyMs) + 1);
    return new Date(start + k * schedule.everyMs);
  }
  return nextCron(schedule, time);
}

/** All firing times in (from, to], in order, capped at `limit`. A rate is anchored at `anchor` (default `from`). */
export function firingsBetween(schedule: Schedule, from: Date, to: Date, limit = 1000, anchor: Date = from): Date[] {
  const out: Date[] = [];
  for (let at = nextFiring(schedule, from, anchor); at && at.getTime() <= to.getTime(); ) {
    if (out.length >= limit) break;
    out.push(at);
    at = nextFiring(schedule, at, anchor);
  }
  return out;
}

function nextCron(cron: CronSchedule, after: number): Date | null {
  const lastYear = Math.max(...cron.years);
  // Walk from the next whole minute, jumping to the start of the next year/month/day/hour
  // whenever a larger field does not match: a few hundred steps at most per year scanned.
  let t = Math.floor(after / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  for (;;) {
    const d = new Date(t);
    const [y, mo, day, h] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours()];
    if (y > lastYear) return null;
    if (y < MIN_YEAR) t = Date.UTC(MIN_YEAR, 0, 1);
    else if (!cron.years.has(y)) t = Date.UTC(y + 1, 0, 1);
    else if (!cron.months.has(mo)) t = Date.UTC(y, mo, 1);
    else if (!dayMatches(cron, y, mo, day)) t = Date.UTC(y, mo - 1, day + 1);
    else if (!cron.hours.has(h)) t = Date.UTC(y, mo - 1, day, h + 1);
    else if (!cron.minutes.has(d.getUTCMinutes())) t += MINUTE_MS;
    else return d;
  }
}

/** 1 = SUNDAY ... 7 = SATURDAY, as in the day-of-week field. */
function weekday(y: number, month: number, day: number): number {
  return new Date(Date.UTC(y, month - 1, day)).getUTCDay() + 1;
}

function dayMatches(cron: CronSchedule, y: number, month: number, day: number): boolean {
  const lastDay = new Date(Date.UTC(y, month, 0)).getUTCDate();
  const dom = cron.dayOfMonth;
  if (dom.kind === 'days') return dom.days.has(day);
  if (dom.kind === 'last') return day === lastDay;
  if (dom.kind === 'lastWeekday') return day === nearestWeekday(y, month, lastDay, lastDay);
  if (dom.kind === 'nearestWeekday') return dom.day <= lastDay && day === nearestWeekday(y, month, dom.day, lastDay);
  const dow = cron.dayOfWeek;
  const wd = weekday(y, month, day);
  if (dow.kind === 'days') return dow.days.has(wd);
  if (dow.kind === 'last') return wd === dow.day && day + 7 > lastDay;
  if (dow.kind === 'nth') return wd === dow.day && Math.ceil(day / 7) === dow.nth;
  return true; // both '?' is rejected by the parser
}

/** The weekday closest to `day`, never leaving the month (Quartz: 1W on a Saturday is Monday the 3rd). */
function nearestWeekday(y: number, month: number, day: number, lastDay: number): number {
  const wd = weekday(y, month, day);
  if (wd === 7) return day === 1 ? 3 : day - 1;
  if (wd === 1) return day === lastDay ? day - 2 : day + 1;
  return day;
}

// -------------------------------------------------------------------------------- scheduler

export interface Scheduler {
  stop(): void;
}

/** Runs `fire(ruleId, scheduledTime)` at each firing; uses setTimeout with a cap (e.g. re-check at most every 60 s, to survive clock changes and long timers), never drifts, never fires twice for one scheduled time, and skips nothing when timers run late (fires once per missed time up to a small cap, logging what was skipped beyond it). */
export function startScheduler(
  rules: { id: string; expression: string }[],
  fire: (ruleId: string, scheduledTime: Date) => void | Promise<void>,
  options: { now?: () => Date; log?: (line: string) => void } = {},
): Scheduler {
  const now = options.now ?? (() => new Date());
  const log = options.log ?? ((line: string) => console.log(line));
  const started = now();
  const states = rules.map(({ id, expression }) => {
    try {
      const schedule = parseSchedule(expression);
      return { id, schedule, next: nextFiring(schedule, started, started) };
    } catch (error) {
      if (!(error instanceof InvalidScheduleError)) throw error;
      throw new InvalidScheduleError(expression, `${error.problem} (rule ${id})`, error.field);
    }
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const run = (id: string, at: Date): void => {
    const failed = (error: unknown) =>
      log(`scheduler: rule ${id} (${at.toISOString()}) failed: ${error instanceof Error ? error.message : String(error)}`);
    try {
      Promise.resolve(fire(id, at)).catch(failed);
    } catch (error) {
      failed(error);
    }
  };

  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const current = now();
    for (const state of states) {
      // `next` only ever moves forward, so a scheduled time fires at most once, even if the
      // clock is set back; every due time up to now fires in order, up to the catch-up cap.
      let fired = 0;
      while (state.next && state.next.getTime() <= current.getTime() && fired < SCHEDULER_MAX_CATCH_UP) {
        run(state.id, state.next);
        fired += 1;
        state.next = nextFiring(state.schedule, state.next, started);
      }
      if (state.next && state.next.getTime() <= current.getTime()) {
        const skipped = firingsBetween(state.schedule, new Date(state.next.getTime() - 1), current, 10_000, started);
        log(
          `scheduler: rule ${state.id} skipped ${skipped.length >= 10_000 ? '10000+' : skipped.length} missed firing(s) ` +
            `from ${state.next.toISOString()} to ${skipped.at(-1)?.toISOString()} (clock jump or suspended process); ` +
            `ran the first ${SCHEDULER_MAX_CATCH_UP} only`,
        );
        state.next = nextFiring(state.schedule, current, started);
      }
    }
    arm();
  };

  const arm = (): void => {
    const soonest = Math.min(...states.map((s) => s.next?.getTime() ?? Number.POSITIVE_INFINITY));
    if (stopped || soonest === Number.POSITIVE_INFINITY) return; // nothing will ever fire again
    const delay = Math.min(Math.max(soonest - now().getTime(), 0), SCHEDULER_MAX_SLEEP_MS);
    timer = setTimeout(tick, delay);
    timer.unref?.(); // the servers keep the process alive, not the scheduler
  };

  arm();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
