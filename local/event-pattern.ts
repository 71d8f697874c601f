// EventBridge event-pattern matcher for the local bus (no emulator or npm package exists).
//
// Semantics follow the AWS EventBridge user guide pages "Creating event patterns"
// (eb-event-patterns), "Matching null values and empty strings" (eb-event-patterns-null-values),
// "Arrays in event patterns" (eb-event-patterns-arrays), "Content filtering" / "Comparison
// operators" (eb-event-patterns-content-based-filtering, eb-create-pattern-operators). Where the
// docs are silent, we follow aws/event-ruler, the open-source engine EventBridge runs on
// (README.md and JsonRuleCompiler.java), and say so in a comment.
//
// How an event is read (event-ruler flattens events into leaf paths the same way):
// - A pattern field holding an array is a leaf test. The event's values at that path are its
//   scalars (string, number, boolean, null); arrays are transparent (any element may match);
//   objects are not leaf values, so a field holding an object counts as absent for a leaf test
//   ("Exists matching only works on leaf nodes", content-filtering page).
// - A pattern field holding an object descends. If the event holds an array of objects there,
//   one element must satisfy the whole sub-pattern, so fields from different array elements are
//   never combined (event-ruler README, "JSON Array Matching", rulesForJSONEvent).

/** An operator object such as `{ "prefix": "us-" }` or `{ "numeric": [">", 0] }`. */
export type PatternOperator = { readonly [operator: string]: unknown };
export type PatternValue = string | number | boolean | null | PatternOperator;
export interface EventPattern {
  readonly [field: string]: EventPattern | readonly PatternValue[] | readonly EventPattern[];
}

export class InvalidEventPatternError extends Error {
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`Invalid event pattern at ${path}: ${problem}`);
    this.name = 'InvalidEventPatternError';
    this.path = path;
  }
}

type Scalar = string | number | boolean | null;
type ValueTest = (value: Scalar) => boolean;
type EventObject = Readonly<Record<string, unknown>>;
type ObjectMatcher = (event: EventObject) => boolean;
type Operator =
  | { readonly kind: 'exists'; readonly exists: boolean }
  | { readonly kind: 'test'; readonly test: ValueTest };
interface LeafMatcher {
  readonly existsTrue: boolean;
  readonly existsFalse: boolean;
  readonly test: ValueTest;
}

const EMPTY: EventObject = Object.freeze({});

// "Numeric matching works with values that are JSON numbers. It is limited to values between
// -1.0e9 and +1.0e9 inclusive" (content-filtering page). event-ruler itself allows ±5e9.
const NUMERIC_LIMIT = 1e9;

const OPERATOR_NAMES = [
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'anything-but',
  'numeric',
  'exists',
  'cidr',
] as const;
// event-ruler refuses operator names as field names inside "$or" (Constants.java,
// RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP), since they almost always mean a misplaced operator.
const RESERVED_IN_OR = new Set<string>([...OPERATOR_NAMES, 'exactly', '=', '<', '<=', '>', '>=']);

function fail(path: string, problem: string): never {
  throw new InvalidEventPatternError(path, problem);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function join(path: string, key: string): string {
  return path === '(root)' ? key : `${path}.${key}`;
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// Pattern compilation (validation happens on the way: every rejection names the path)

export function compileEventPattern(pattern: unknown): (event: unknown) => boolean {
  if (!isPlainObject(pattern)) {
    fail('(root)', `a pattern must be a JSON object, got ${Array.isArray(pattern) ? 'an array' : describe(pattern)}`);
  }
  const root = compileObject(pattern, '(root)', false);
  return (event) => root(isPlainObject(event) ? event : EMPTY);
}

export function validateEventPattern(pattern: unknown): asserts pattern is EventPattern {
  compileEventPattern(pattern);
}

export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  return compileEventPattern(pattern)(event);
}

function compileObject(pattern: Record<string, unknown>, path: string, insideOr: boolean): ObjectMatcher {
  const keys = Object.keys(pattern);
  // event-ruler: "Empty objects are not allowed".
  if (keys.length === 0) fail(path, 'empty objects are not allowed');
  const checks: ObjectMatcher[] = [];
  for (const key of keys) {
    const value = pattern[key];
    const fieldPath = join(path, key);
    if (key === '$or') {
      checks.push(compileOr(value, fieldPath));
      continue;
    }
    if (insideOr && RESERVED_IN_OR.has(key)) {
      fail(fieldPath, `"${key}" is an operator name and cannot be a field name inside "$or"`);
    }
    if (Array.isArray(value)) {
      const leaf = compileLeaf(value, fieldPath);
      checks.push((event) => matchLeaf(leaf, ownField(event, key)));
    } else if (isPlainObject(value)) {
      const nested = compileObject(value, fieldPath, insideOr);
      checks.push((event) => matchNested(nested, ownField(event, key)));
    } else {
      fail(
        fieldPath,
        `a field must hold an array of values or a nested object, got ${describe(value)} (operators go inside the array, e.g. [{"prefix": "x"}])`,
      );
    }
  }
  return checks.length === 1 && checks[0] ? checks[0] : (event) => checks.every((check) => check(event));
}

// "$or" takes at least two pattern objects, each matched against the same level of the event
// (comparison-operators page: "$or": [{"Location": [...]}, {"Day": [...]}]; event-ruler:
// "There must have at least 2 Objects in $or relationship").
function compileOr(value: unknown, path: string): ObjectMatcher {
  if (!Array.isArray(value) || value.length < 2) {
    fail(path, `"$or" needs an array of at least two pattern objects, got ${describe(value)}`);
  }
  const branches = value.map((branch, index) => {
    const branchPath = `${path}[${index}]`;
    if (!isPlainObject(branch)) fail(branchPath, `each "$or" entry must be a pattern object, got ${describe(branch)}`);
    return compileObject(branch, branchPath, true);
  });
  return (event) => branches.some((branch) => branch(event));
}

function compileLeaf(values: readonly unknown[], path: string): LeafMatcher {
  if (values.length === 0) fail(path, 'empty arrays are not allowed; list at least one value');
  const exact = new Set<Scalar>();
  const tests: ValueTest[] = [];
  let existsTrue = false;
  let existsFalse = false;
  for (const value of values) {
    if (isPlainObject(value)) {
      const operator = compileOperator(value, path);
      if (operator.kind === 'test') tests.push(operator.test);
      else if (operator.exists) existsTrue = true;
      else existsFalse = true;
    } else if (isScalar(value) && (typeof value !== 'number' || Number.isFinite(value))) {
      // Exact matching: strings character by character, numbers, true, false and null; a Set
      // keeps types apart ("5" never equals 5; null never equals "" per the null-values page).
      exact.add(value);
    } else {
      fail(path, `values must be strings, numbers, booleans, null or operator objects, got ${describe(value)}`);
    }
  }
  if (exact.size > 0) tests.unshift((value) => exact.has(value));
  const test: ValueTest = tests.length === 1 && tests[0] ? tests[0] : (value) => tests.some((t) => t(value));
  return { existsTrue, existsFalse, test };
}

function compileOperator(expression: Record<string, unknown>, path: string): Operator {
  const names = Object.keys(expression);
  const [name] = names;
  if (name === undefined || names.length !== 1) {
    fail(path, `an operator object takes exactly one operator, got ${describe(expression)}`);
  }
  const argument = expression[name];
  switch (name) {
    case 'prefix':
    case 'suffix':
      return { kind: 'test', test: compileAffix(name, argument, path) };
    case 'equals-ignore-case': {
      const expected = requireString(argument, path, name).toLowerCase();
      return { kind: 'test', test: (v) => typeof v === 'string' && v.toLowerCase() === expected };
    }
    case 'wildcard':
      return { kind: 'test', test: compileWildcard(requireString(argument, path, name), path) };
    case 'anything-but':
      return { kind: 'test', test: compileAnythingBut(argument, path) };
    case 'numeric':
      return { kind: 'test', test: compileNumeric(argument, path) };
    case 'cidr':
      return { kind: 'test', test: compileCidr(argument, path) };
    case 'exists':
      if (typeof argument !== 'boolean') fail(path, `"exists" must be true or false, got ${describe(argument)}`);
      return { kind: 'exists', exists: argument };
    default:
      return fail(path, `unknown operator "${name}" (expected one of ${OPERATOR_NAMES.join(', ')})`);
  }
}

function requireString(value: unknown, path: string, operator: string): string {
  if (typeof value !== 'string') fail(path, `"${operator}" needs a string, got ${describe(value)}`);
  return value;
}

// Prefix and suffix work on string values only; either form may wrap equals-ignore-case:
// {"prefix": {"equals-ignore-case": "EventB"}} (content-filtering page).
function compileAffix(name: 'prefix' | 'suffix', argument: unknown, path: string): ValueTest {
  let affix: string;
  let ignoreCase = false;
  if (isPlainObject(argument)) {
    const keys = Object.keys(argument);
    if (keys.length !== 1 || keys[0] !== 'equals-ignore-case') {
      fail(path, `"${name}" takes a string or {"equals-ignore-case": string}, got ${describe(argument)}`);
    }
    affix = requireString(argument['equals-ignore-case'], path, `${name}.equals-ignore-case`).toLowerCase();
    ignoreCase = true;
  } else {
    affix = requireString(argument, path, name);
  }
  const has = name === 'prefix' ? (s: string) => s.startsWith(affix) : (s: string) => s.endsWith(affix);
  return (v) => typeof v === 'string' && has(ignoreCase ? v.toLowerCase() : v);
}

// Wildcard: "*" matches zero or more characters. Per event-ruler (README "Wildcard matching",
// WildcardParser.java): consecutive "*" are not allowed, "\*" is a literal asterisk, "\\" a literal
// backslash, and a backslash before anything else is an error.
function compileWildcard(source: string, path: string): ValueTest {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === '*') {
      if (source[i + 1] === '*') fail(path, `"wildcard" must not contain consecutive "*" (at position ${i})`);
      segments.push(current);
      current = '';
    } else if (char === '\\') {
      const next = source[i + 1];
      if (next !== '*' && next !== '\\') fail(path, `"wildcard" may only escape "*" or "\\" (at position ${i})`);
      current += next;
      i++;
    } else {
      current += char;
    }
  }
  segments.push(current);
  const first = segments[0] ?? '';
  if (segments.length === 1) return (v) => v === first;
  const last = segments[segments.length - 1] ?? '';
  const middle = segments.slice(1, -1);
  // Greedy leftmost search is exact for "*"-only globs and linear in the value's length.
  return (v) => {
    if (typeof v !== 'string' || v.length < first.length + last.length) return false;
    if (!v.startsWith(first) || !v.endsWith(last)) return false;
    const end = v.length - last.length;
    let position = first.length;
    for (const segment of middle) {
      const found = v.indexOf(segment, position);
      if (found < 0 || found + segment.length > end) return false;
      position = found + segment.length;
    }
    return true;
  };
}

// anything-but: a string, a number, or a list of only strings or only numbers; or one of
// prefix / suffix / wildcard / equals-ignore-case with a string or a list of strings
// (content-filtering and comparison-operators pages). It only ever tests a value that is present:
// "the event must contain all the field names listed in the event pattern" (eb-create-pattern),
// so an absent field never matches. A value of another type than the excluded ones is "anything
// but" them (event-ruler compares the JSON text, so 5 is not "initializing" and "100" is not 100).
function compileAnythingBut(argument: unknown, path: string): ValueTest {
  if (typeof argument === 'string') return (v) => v !== argument;
  if (typeof argument === 'number') {
    const excluded = requireNumber(argument, path, '"anything-but" needs a finite number');
    return (v) => v !== excluded;
  }
  if (Array.isArray(argument)) {
    const allStrings = argument.every((v) => typeof v === 'string');
    const allNumbers = argument.every((v) => typeof v === 'number');
    if (argument.length === 0 || !(allStrings || allNumbers)) {
      fail(path, `"anything-but" lists must be non-empty and hold only strings or only numbers, got ${describe(argument)}`);
    }
    if (allNumbers) for (const n of argument) requireNumber(n, path, '"anything-but" needs finite numbers');
    const excluded = new Set<Scalar>(argument);
    return (v) => !excluded.has(v);
  }
  if (isPlainObject(argument)) {
    const keys = Object.keys(argument);
    const [name] = keys;
    const inner = argument[name ?? ''];
    if (keys.length !== 1 || (name !== 'prefix' && name !== 'suffix' && name !== 'wildcard' && name !== 'equals-ignore-case')) {
      fail(path, `"anything-but" takes one of prefix, suffix, wildcard or equals-ignore-case, got ${describe(argument)}`);
    }
    const list = Array.isArray(inner) ? inner : [inner];
    if (list.length === 0) fail(path, `"anything-but.${name}" needs a string or a non-empty list of strings`);
    const tests = list.map((item): ValueTest => {
      const text = requireString(item, path, `anything-but.${name}`);
      if ((name === 'prefix' || name === 'suffix') && text === '') fail(path, `"anything-but.${name}" must not be empty`);
      if (name === 'wildcard') return compileWildcard(text, path);
      if (name === 'equals-ignore-case') {
        const lower = text.toLowerCase();
        return (v) => typeof v === 'string' && v.toLowerCase() === lower;
      }
      return compileAffix(name, text, path);
    });
    return (v) => typeof v !== 'string' || !tests.some((test) => test(v));
  }
  return fail(path, `"anything-but" takes a string, a number, a list or an operator object, got ${describe(argument)}`);
}

function requireNumber(value: unknown, path: string, problem: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, problem);
  if (Math.abs(value) > NUMERIC_LIMIT) fail(path, `numbers must lie between -1e9 and 1e9, got ${value}`);
  return value;
}

// numeric: ["=", n], ["<" | "<=" | ">" | ">=", n], or a range [">" | ">=", low, "<" | "<=", high].
// Numeric matching only works on JSON numbers (content-filtering page).
function compileNumeric(argument: unknown, path: string): ValueTest {
  const shape = '"numeric" needs an operator and a number, e.g. [">", 0] or [">", 0, "<=", 5]';
  if (!Array.isArray(argument) || (argument.length !== 2 && argument.length !== 4)) fail(path, shape);
  const bound = (operator: unknown, operand: unknown, allowed: readonly string[]) => {
    if (typeof operator !== 'string' || !allowed.includes(operator)) {
      fail(path, `"numeric" operator must be one of ${allowed.join(' ')}, got ${describe(operator)}`);
    }
    return { operator, n: requireNumber(operand, path, shape) };
  };
  const compare = ({ operator, n }: { operator: string; n: number }): ((v: number) => boolean) => {
    if (operator === '=') return (v) => v === n;
    if (operator === '<') return (v) => v < n;
    if (operator === '<=') return (v) => v <= n;
    if (operator === '>') return (v) => v > n;
    return (v) => v >= n;
  };
  const inRange = (v: Scalar): v is number => typeof v === 'number' && Math.abs(v) <= NUMERIC_LIMIT;
  if (argument.length === 2) {
    const only = compare(bound(argument[0], argument[1], ['=', '<', '<=', '>', '>=']));
    return (v) => inRange(v) && only(v);
  }
  const low = bound(argument[0], argument[1], ['>', '>=']);
  const high = bound(argument[2], argument[3], ['<', '<=']);
  if (!(low.n < high.n)) fail(path, `"numeric" range needs its lower bound below its upper bound, got ${describe(argument)}`);
  const lower = compare(low);
  const upper = compare(high);
  return (v) => inRange(v) && lower(v) && upper(v);
}

// ---------------------------------------------------------------------------------------------
// IP addresses for "cidr" (IPv4 and IPv6, content-filtering page "IP address matching")

interface IpAddress {
  readonly bits: 32 | 128;
  readonly value: bigint;
}

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIPv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined): string[] => (half ? half.split(':') : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const words: number[] = [];
  const pushGroups = (list: string[], isLast: boolean): boolean => {
    for (const [i, group] of list.entries()) {
      if (isLast && i === list.length - 1 && group.includes('.')) {
        const v4 = parseIPv4(group);
        if (v4 === undefined) return false;
        words.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
        words.push(Number.parseInt(group, 16));
      } else {
        return false;
      }
    }
    return true;
  };
  if (!pushGroups(head, halves.length === 1)) return undefined;
  const headLength = words.length;
  if (!pushGroups(tail, true)) return undefined;
  if (halves.length === 2) {
    if (words.length > 7) return undefined;
    words.splice(headLength, 0, ...new Array<number>(8 - words.length).fill(0));
  }
  if (words.length !== 8) return undefined;
  return words.reduce((acc, word) => (acc << 16n) | BigInt(word), 0n);
}

function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { bits: 32, value: v4 };
  const v6 = text.includes(':') ? parseIPv6(text) : undefined;
  return v6 === undefined ? undefined : { bits: 128, value: v6 };
}

function compileCidr(argument: unknown, path: string): ValueTest {
  const text = requireString(argument, path, 'cidr');
  const [address, maskText, extra] = text.split('/');
  const ip = address === undefined ? undefined : parseIp(address);
  const mask = maskText !== undefined && /^\d{1,3}$/.test(maskText) ? Number(maskText) : Number.NaN;
  if (extra !== undefined || ip === undefined || !(mask >= 0 && mask <= ip.bits)) {
    fail(path, `"cidr" needs an IPv4 or IPv6 block such as "10.0.0.0/24" or "2001:db8::/32", got ${describe(text)}`);
  }
  const hostBits = BigInt(ip.bits - mask);
  const low = (ip.value >> hostBits) << hostBits;
  const high = low | ((1n << hostBits) - 1n);
  return (v) => {
    if (typeof v !== 'string') return false;
    const candidate = parseIp(v);
    return candidate !== undefined && candidate.bits === ip.bits && candidate.value >= low && candidate.value <= high;
  };
}

// ---------------------------------------------------------------------------------------------
// Reading the event

function ownField(event: EventObject, key: string): unknown {
  return Object.hasOwn(event, key) ? event[key] : undefined;
}

function collectScalars(value: unknown, into: Scalar[]): void {
  if (Array.isArray(value)) for (const item of value) collectScalars(item, into);
  else if (isScalar(value)) into.push(value);
}

function collectObjects(value: unknown, into: EventObject[]): void {
  if (Array.isArray(value)) for (const item of value) collectObjects(item, into);
  else if (isPlainObject(value)) into.push(value);
}

// "If the value in the event is an array, then the event pattern matches if the intersection of
// the event pattern array and the event array is non-empty" (arrays page). No leaf value at all
// (missing, {}, [] or an object) is an absent field: only {"exists": false} matches it.
function matchLeaf(leaf: LeafMatcher, value: unknown): boolean {
  if (isScalar(value)) return leaf.existsTrue || leaf.test(value);
  const values: Scalar[] = [];
  collectScalars(value, values);
  if (values.length === 0) return leaf.existsFalse;
  return leaf.existsTrue || values.some(leaf.test);
}

function matchNested(nested: ObjectMatcher, value: unknown): boolean {
  if (isPlainObject(value)) return nested(value);
  const objects: EventObject[] = [];
  collectObjects(value, objects);
  // A missing or scalar value has no sub-fields: match it as an empty object, so that
  // {"detail": {"x": [{"exists": false}]}} still matches an event without "detail".
  return objects.length === 0 ? nested(EMPTY) : objects.some(nested);
}
