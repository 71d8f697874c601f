/**
 * fast-check generators of bad input (issue 6 item 3 "Bad input"), shared by
 * test/unit/bad-input.property.test.ts and test/integration/bad-input.test.ts: values of
 * the wrong type, huge strings (100k characters), unicode (RTL overrides, emoji, NUL, lone
 * surrogates), `__proto__` / `constructor` / `prototype` keys, missing and extra fields,
 * dates out of range or impossible. Every mutated document is passed through
 * `JSON.stringify` + `JSON.parse`, as it would arrive over the wire, so a `__proto__` key
 * is an own property of the parsed object (JSON.parse defines it, never sets the prototype).
 *
 * Each case carries the string values it put in (`values`), so a test can check that no
 * error message echoes them.
 */
import fc from 'fast-check';

/** One seed for every property: the runs are the same on every machine and every run. */
export const SEED = 20_261_125;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface BadCase {
  /** The document as it arrives (JSON-parsed). */
  input: unknown;
  /** String values the mutations put in; an error message must never contain any of them (length ≥ 4). */
  values: string[];
  /** What was done, for the failure report. */
  steps: string[];
}

export const HUGE = 100_000;

/** Keys that pollute a prototype when code merges objects carelessly. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

const nastyStrings = fc.constantFrom(
  'x'.repeat(HUGE),
  '\u202E'.repeat(HUGE),
  '😀'.repeat(HUGE / 2),
  `${'a'.repeat(HUGE - 1)}\u0000`,
  'evil\u202Etxt.exe',
  '\u200F\u202Bمرحبا\u202C',
  '👩‍👩‍👧‍👦🏳️‍🌈',
  'nul\u0000in\u0000the\u0000middle',
  '\uD800\uDFFFlone\uD800',
  '<script>alert(document.cookie)</script>',
  '"><img src=x onerror=alert(1)>',
  '{{trustName}}{{{raw}}}',
  "'; DROP TABLE people; --",
  '=HYPERLINK("http://evil.example")',
  '   \t\r\n  ',
  'Ｆｕｌｌｗｉｄｔｈ',
  'e\u0301e\u0301e\u0301',
);

/** Strings that break date rules: impossible days, out-of-range years, wrong forms. */
export const badDateStrings = fc.constantFrom(
  '2026-02-30',
  '2026-02-29',
  '2023-13-01',
  '2026-00-10',
  '2026-11-31',
  '0000-00-00',
  '+275760-09-13',
  '-000001-01-01',
  '99999-12-31',
  '2026-1-1',
  '2026/11/25',
  '25/11/2026',
  '２０２６-11-25',
  '2026-11-25T25:00:00Z',
  '2026-11-25T10:61:00Z',
  '2026-11-25T10:00:00',
  '2026-11-25T10:00:00+25:00',
  'Invalid Date',
  'yesterday',
);

/** Strings that might or might not be valid dates: far past, far future, leap days. */
const edgeDateStrings = fc.oneof(
  badDateStrings,
  fc.constantFrom('1900-02-29', '2000-02-29', '2024-02-29', '9999-12-31', '0001-01-01', '1970-01-01T00:00:00Z'),
  fc
    .date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true })
    .map((d) => d.toISOString())
    .chain((iso) => fc.constantFrom(iso, iso.slice(0, 10))),
);

/** Any string: random (any code unit), nasty, date-like. */
export const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 0, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 4, maxLength: 20 }) },
  { weight: 3, arbitrary: nastyStrings },
  { weight: 2, arbitrary: edgeDateStrings },
);

/** A value of any JSON type: the wrong type for most fields. */
export const anyValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: anyString },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(anyString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom<Json>({}, [], [[]], { polluted: 'yes' }, { __proto__: null } as unknown as Json) },
);

/** Keys for extra fields: prototype keys and random ones. */
export const extraKey = fc.oneof(fc.constantFrom(...PROTO_KEYS, 'toString', 'hasOwnProperty', 'isAdmin', ''), fc.string({ maxLength: 12 }));

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

/** Every path to a field (objects only; arrays are a value of their own, or one element of them). */
function pathsOf(value: Json, prefix: string[] = []): string[][] {
  if (!value || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.map((_, i) => [...prefix, String(i)]);
  return Object.entries(value).flatMap(([key, v]) => [[...prefix, key], ...pathsOf(v, [...prefix, key])]);
}

function containerAt(root: Json, path: readonly string[]): Record<string, Json> | Json[] | undefined {
  let node: Json = root;
  for (const key of path) {
    if (!node || typeof node !== 'object') return undefined;
    node = Array.isArray(node) ? (node[Number(key)] ?? null) : (node[key] ?? null);
  }
  return node && typeof node === 'object' ? node : undefined;
}

/** Sets an own, enumerable property: `__proto__` included, as JSON.parse would. */
function define(target: Record<string, Json> | Json[], key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

type Mutation = (doc: Json, values: string[]) => string;

const DATE_KEY = /(Date|On|At|date|time)$/;

/** One mutation of a document: set a field to a bad value, delete it, add an extra or prototype key, break a date. */
function mutation(example: JsonObject): fc.Arbitrary<Mutation> {
  const paths = pathsOf(example);
  const datePaths = paths.filter((p) => DATE_KEY.test(p[p.length - 1] ?? ''));
  const pathArb = paths.length > 0 ? fc.constantFrom(...paths) : fc.constant<string[]>([]);
  const set = fc.tuple(pathArb, anyValue).map(([path, value]): Mutation => (doc, values) => {
    const parent = containerAt(doc, path.slice(0, -1));
    const key = path[path.length - 1];
    if (!parent || key === undefined) return 'set (no field)';
    define(parent, key, value);
    values.push(...stringsIn(value));
    return `set ${path.join('.')}`;
  });
  const remove = pathArb.map((path): Mutation => (doc) => {
    const parent = containerAt(doc, path.slice(0, -1));
    const key = path[path.length - 1];
    if (!parent || key === undefined || Array.isArray(parent)) return 'delete (no field)';
    delete parent[key];
    return `delete ${path.join('.')}`;
  });
  const containers = [[], ...paths.filter((p) => containerAt(example, p) && !Array.isArray(containerAt(example, p)))];
  const extra = fc.tuple(fc.constantFrom(...containers), extraKey, anyValue).map(([path, key, value]): Mutation => (doc, values) => {
    const target = containerAt(doc, path);
    if (!target || Array.isArray(target)) return 'extra (no object)';
    define(target, key, value);
    values.push(...stringsIn(value));
    return `extra ${[...path, key].join('.')}`;
  });
  const date =
    datePaths.length === 0
      ? set
      : fc.tuple(fc.constantFrom(...datePaths), edgeDateStrings).map(([path, value]): Mutation => (doc, values) => {
          const parent = containerAt(doc, path.slice(0, -1));
          const key = path[path.length - 1];
          if (!parent || key === undefined) return 'date (no field)';
          define(parent, key, value);
          values.push(value);
          return `date ${path.join('.')}`;
        });
  return fc.oneof(set, remove, extra, date);
}

const clone = (value: Json): Json => JSON.parse(JSON.stringify(value)) as Json;

/** Through the wire: what a handler receives (a `__proto__` key stays an own property). */
const overTheWire = (value: Json): unknown => JSON.parse(JSON.stringify(value));

/**
 * Random and mutated inputs from a valid example: 1-4 mutations of it, or (one case in
 * ten) a document of the wrong shape altogether.
 */
export function mutatedFrom(example: JsonObject): fc.Arbitrary<BadCase> {
  const mutated = fc.array(mutation(example), { minLength: 1, maxLength: 4 }).map((mutations): BadCase => {
    const doc = clone(example);
    const values: string[] = [];
    const steps = mutations.map((m) => m(doc, values));
    return { input: overTheWire(doc), values, steps };
  });
  const wrongShape = anyValue.map((value): BadCase => ({ input: overTheWire(value), values: stringsIn(value), steps: ['whole document'] }));
  const protoDoc = fc.constantFrom(...PROTO_KEYS).map(
    (key): BadCase => ({
      input: JSON.parse(`{"${key}": {"polluted": "yes", "isAdmin": true}, "toString": "boom"}`),
      values: ['boom'],
      steps: [`prototype document ${key}`],
    }),
  );
  return fc.oneof({ weight: 8, arbitrary: mutated }, { weight: 1, arbitrary: wrongShape }, { weight: 1, arbitrary: protoDoc });
}

/**
 * Inputs that are certainly invalid, for the handlers: one required field broken (the
 * wrong type, removed, or an impossible date), plus 0-2 extra keys (prototype keys
 * included) that a tolerant reader strips. `required` are the example's required fields.
 */
export function certainlyBadFrom(example: JsonObject, required: readonly string[]): fc.Arbitrary<BadCase> {
  const wrongTypeFor = (original: Json): fc.Arbitrary<Json> => {
    if (typeof original === 'string')
      return fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant<Json>([]), fc.constant<Json>({}), fc.constantFrom('\u202E'.repeat(HUGE), `<script>${'x'.repeat(HUGE)}</script>`));
    if (typeof original === 'number') return fc.oneof(anyString, fc.constant(null), fc.constantFrom(0, -1, 1.5));
    if (Array.isArray(original)) return fc.oneof(anyString.filter((s) => s.length > 0), fc.constant(null), fc.constant<Json>({}));
    return fc.oneof(anyString, fc.constant(null), fc.integer());
  };
  const field = fc.constantFrom(...required);
  const breakIt = field.chain((key) => {
    const original = example[key] ?? null;
    const choices: fc.Arbitrary<{ key: string; value: Json | undefined }>[] = [
      wrongTypeFor(original).map((value) => ({ key, value })),
      fc.constant({ key, value: undefined }),
    ];
    if (typeof original === 'string' && DATE_KEY.test(key)) choices.push(badDateStrings.map((value) => ({ key, value })));
    return fc.oneof(...choices);
  });
  const extras = fc.array(fc.tuple(extraKey.filter((k) => !Object.hasOwn(example, k)), anyValue), { maxLength: 2 });
  return fc.tuple(breakIt, extras).map(([{ key, value }, extra]): BadCase => {
    const doc = clone(example) as JsonObject;
    const values: string[] = [];
    if (value === undefined) delete doc[key];
    else {
      doc[key] = value;
      values.push(...stringsIn(value));
    }
    for (const [k, v] of extra) {
      define(doc, k, v);
      values.push(...stringsIn(v));
    }
    return { input: overTheWire(doc), values, steps: [`${value === undefined ? 'delete' : 'break'} ${key}`, ...extra.map(([k]) => `extra ${k}`)] };
  });
}

/** The string values worth checking for echoes: long enough not to match a rule's wording by chance. */
export function echoCandidates(values: readonly string[], fields: readonly string[] = []): string[] {
  return values.filter((v) => v.trim().length >= 4 && !fields.some((f) => f.includes(v)));
}
