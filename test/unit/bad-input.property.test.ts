/**
 * Bad input, property-based (issue 6 item 3; DESIGN.md "Reliability rules": bad input gets
 * an error naming the field, never the value). Starting from the valid examples in
 * examples/*.json, fast-check mutates them (wrong types, 100k-character strings, unicode
 * with RTL overrides, emoji and NUL, `__proto__` / `constructor` / `prototype` keys, missing
 * and extra fields, impossible or out-of-range dates) and every contract either accepts the
 * result (it is still valid) or refuses it with errors that each name a field path and
 * never echo a value that was put in. No run pollutes Object.prototype.
 *
 * Fixed seed (test/support/bad-input.ts SEED): the same cases on every run.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { ConfigError, parseTrustConfig, trustConfigSchema } from '../../functions/config/trust-config.ts';
import { parseBreachReport } from '../../functions/contracts/breach-report.ts';
import {
  ContractError,
  DETAIL_TYPE_LIST,
  parseForPublish,
  readDetail,
  toFieldProblems,
} from '../../functions/contracts/events.ts';
import { DIRECTORY_HEADER, DirectoryCsvError, formatRejections, parseDirectoryCsv } from '../../functions/domain/directory-csv.ts';
import { rejectedEventNotice } from '../../functions/domain/rejected-event.ts';
import { anyString, type BadCase, echoCandidates, type JsonObject, mutatedFrom, SEED } from '../support/bad-input.ts';
import { examples } from '../support/examples.ts';

const RUNS = 300;
const options = { seed: SEED, numRuns: RUNS };

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
function attempt(run: () => unknown): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Every problem names a field under `prefix`, and the message echoes no value that was put in. */
function expectFieldNamedRefusal(error: unknown, prefix: string, badCase: BadCase): ContractError {
  expect(error, badCase.steps.join(', ')).toBeInstanceOf(ContractError);
  const refusal = error as ContractError;
  expect(refusal.problems.length).toBeGreaterThan(0);
  for (const p of refusal.problems) {
    expect(p.field === prefix || p.field.startsWith(`${prefix}.`), `${p.field} names a field under ${prefix}`).toBe(true);
    expect(p.problem.length).toBeGreaterThan(0);
  }
  for (const value of echoCandidates(badCase.values, refusal.fields)) {
    expect(refusal.message.includes(value), `${badCase.steps.join(', ')}: the message echoes a value`).toBe(false);
  }
  return refusal;
}

/** An accepted document is a plain object with no prototype key of its own. */
function expectPlain(value: unknown): void {
  expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  expect(Object.hasOwn(value as object, '__proto__')).toBe(false);
}

const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
let nonEmptyAtStart = 0;

beforeAll(() => {
  nonEmptyAtStart = Object.keys(Object.prototype).length;
});

afterAll(() => {
  // Nothing any run did reached Object.prototype.
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
  expect(Object.keys(Object.prototype)).toHaveLength(nonEmptyAtStart);
  const probe: Record<string, unknown> = {};
  expect(probe.polluted).toBeUndefined();
  expect(probe.isAdmin).toBeUndefined();
});

describe('event contracts under random and mutated details', () => {
  for (const detailType of DETAIL_TYPE_LIST) {
    const example = examples[detailType] as JsonObject;

    it(`${detailType}: the publisher's strict parse accepts or refuses with field-named errors, never the value`, () => {
      let refused = 0;
      fc.assert(
        fc.property(mutatedFrom(example), (badCase) => {
          const outcome = attempt(() => parseForPublish(detailType, badCase.input));
          if (outcome.ok) expectPlain(outcome.value);
          else {
            expectFieldNamedRefusal(outcome.error, 'detail', badCase);
            refused++;
          }
        }),
        options,
      );
      // The mutations are mostly fatal: the property is not passing by accepting everything.
      expect(refused).toBeGreaterThan(RUNS / 2);
    });

    it(`${detailType}: the handlers' tolerant read accepts or refuses with field-named errors, never the value`, () => {
      fc.assert(
        fc.property(mutatedFrom(example), (badCase) => {
          const outcome = attempt(() => readDetail(detailType, badCase.input));
          if (outcome.ok) {
            const { detail, unknownKeys } = outcome.value as ReturnType<typeof readDetail>;
            expectPlain(detail);
            for (const key of unknownKeys) expect(key.startsWith('detail.')).toBe(true);
          } else expectFieldNamedRefusal(outcome.error, 'detail', badCase);
        }),
        options,
      );
    });

    it(`${detailType}: the integration contact's notice of a refusal holds no value from the event`, () => {
      fc.assert(
        fc.property(mutatedFrom(example), fc.string({ unit: 'binary', maxLength: 200 }), (badCase, eventId) => {
          const outcome = attempt(() => parseForPublish(detailType, badCase.input));
          if (outcome.ok) return;
          const refusal = outcome.error as ContractError;
          const notice = rejectedEventNotice({ eventId, detailType, problems: refusal.problems }, 'integrations@example.org', 'Trust');
          const text = JSON.stringify(notice.data);
          for (const value of echoCandidates(badCase.values, refusal.fields)) expect(text.includes(value)).toBe(false);
          const texts = [notice.data.eventId, notice.data.detailType, ...notice.data.problems.flatMap((p) => [p.field, p.problem])];
          for (const t of texts) expect(t).not.toMatch(/[<>{}&]/);
          expect(notice.key.startsWith('rejected#')).toBe(true);
        }),
        { seed: SEED, numRuns: 100 },
      );
    });
  }
});

describe('the breach report contract (POST /reports, trust-notify report-breach)', () => {
  const example = JSON.parse(readFileSync(`${REPO_ROOT}/examples/breach-report.json`, 'utf8')) as JsonObject;

  it('accepts or refuses with errors naming report fields, never the value', () => {
    let refused = 0;
    fc.assert(
      fc.property(mutatedFrom(example), (badCase) => {
        const outcome = attempt(() => parseBreachReport(badCase.input));
        if (outcome.ok) expectPlain(outcome.value);
        else {
          expectFieldNamedRefusal(outcome.error, 'report', badCase);
          refused++;
        }
      }),
      options,
    );
    expect(refused).toBeGreaterThan(RUNS / 2);
  });
});

describe('the directory CSV (trust-notify import)', () => {
  const SCHOOLS = new Set(['st-marys', 'st-johns', 'holy-trinity', 'all-saints-high']);
  const parseOptions = { isSchool: (id: string) => SCHOOLS.has(id) };
  const goodRow = ['HR-10234', 'Amira', "O'Connor", 'amira.oconnor@stmarys.example.org', 'st-marys', 'teacher;dsl', 'permanent', '2026-09-01', 'SM-HEAD', 'true'];
  const quote = (cell: string) => `"${cell.replaceAll('"', '""')}"`;
  const cellValue = fc.oneof(anyString, fc.constantFrom('', ',', '"', '\r\n', 'a"b', 'TRUE', 'yes', 'teacher;;dsl', 'head-of-school;nobody'));
  const mutatedRow = fc
    .array(fc.tuple(fc.integer({ min: 0, max: DIRECTORY_HEADER.length - 1 }), cellValue), { minLength: 1, maxLength: 4 })
    .map((changes) => {
      const cells = [...goodRow];
      for (const [i, value] of changes) cells[i] = value;
      return { cells, values: changes.map(([, v]) => v) };
    });

  it('each row is loaded or rejected by line and column, never with the value; a broken file is refused as a whole', () => {
    fc.assert(
      fc.property(fc.array(mutatedRow, { minLength: 1, maxLength: 3 }), fc.boolean(), (rows, quoted) => {
        const lines = [DIRECTORY_HEADER.join(','), goodRow.join(','), ...rows.map((r) => r.cells.map((c) => (quoted ? quote(c) : c)).join(','))];
        const values = rows.flatMap((r) => r.values);
        const outcome = attempt(() => parseDirectoryCsv(lines.join('\r\n'), parseOptions));
        if (!outcome.ok) {
          expect(outcome.error).toBeInstanceOf(DirectoryCsvError);
          for (const v of echoCandidates(values)) expect((outcome.error as Error).message.includes(v)).toBe(false);
          return;
        }
        const result = outcome.value as ReturnType<typeof parseDirectoryCsv>;
        expect(result.rows.map((r) => r.line)).toContain(2);
        for (const row of result.rows) expectPlain(row.detail);
        for (const problem of result.rejected) {
          expect(['(row)', ...DIRECTORY_HEADER]).toContain(problem.field);
          expect(problem.line).toBeGreaterThanOrEqual(3);
        }
        const report = formatRejections(result.rejected).join('\n');
        for (const v of echoCandidates(values, DIRECTORY_HEADER)) expect(report.includes(v)).toBe(false);
      }),
      options,
    );
  });
});

describe('the trust configuration', () => {
  const config = loadTrustConfig() as unknown as JsonObject;

  it('a mutated configuration is accepted or refused with config field paths, never the value', () => {
    let refused = 0;
    fc.assert(
      fc.property(mutatedFrom(config), (badCase) => {
        const outcome = attempt(() => parseTrustConfig(badCase.input, 'test config'));
        if (outcome.ok) {
          expectPlain(outcome.value);
          return;
        }
        refused++;
        expect(outcome.error, badCase.steps.join(', ')).toBeInstanceOf(ConfigError);
        const parsed = trustConfigSchema.safeParse(badCase.input, { reportInput: false });
        expect(parsed.success).toBe(false);
        const problems = parsed.success ? [] : toFieldProblems(parsed.error.issues, 'config');
        expect(problems.length).toBeGreaterThan(0);
        for (const p of problems) expect(p.field === 'config' || p.field.startsWith('config.')).toBe(true);
        const message = (outcome.error as Error).message;
        for (const v of echoCandidates(badCase.values, problems.map((p) => p.field))) {
          expect(message.includes(v), `${badCase.steps.join(', ')}: the message echoes a value`).toBe(false);
        }
      }),
      options,
    );
    expect(refused).toBeGreaterThan(RUNS / 2);
  });
});
