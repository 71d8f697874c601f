/**
 * Which DynamoDB actions a handler can send, on which table and index, read from the code
 * (test/infra/least-privilege.test.ts compares them with each function's IAM in the template).
 *
 * A static walk, method by method, not file by file: every handler imports pipeline.ts,
 * and with it the ledger repository, and most import repositories of which they call a few
 * methods, so a file-level import graph would allow far more than any function calls.
 *
 * 1. Each file reached from the handler is compiled with esbuild (types and comments gone,
 *    one line) and its strings, template texts and regular expressions are blanked, so that
 *    braces and names are code only.
 * 2. The file is cut into units: top-level functions and constants, class members, and the
 *    rest of its top level (which runs on import).
 * 3. From the handler file's units, edges follow: a name imported from a relative file or
 *    declared in the same file; `this.m(...)`; and `x.m(...)` where `x` names an instance
 *    of one of our classes (`x = new C(...)`, `x = f(...)` with `f` building a `C`, or a
 *    TypeScript annotation `x: C` in that file); `new C(...).m(...)` and `f(...).m(...)` too.
 *    A member call whose receiver cannot be told is recorded, not guessed
 *    (`unresolved`): the test fails on any that names a method of a class that talks to
 *    DynamoDB.
 * 4. Each reached unit contributes the commands it builds (`new GetCommand(...)`,
 *    `paginateQuery(...)`, the `Put`/`Update`/`Delete`/`ConditionCheck` items of a
 *    transaction: IAM checks each item's action), with the index it names (`IndexName`)
 *    and the table: the narrative table where the command names `narratives()`, else the
 *    table the class was built with (`new C(db, <table>)`: ledger or narrative by that
 *    argument's name, the data table otherwise), or, in a free function that takes the
 *    table as an argument (functions/adapters/batch.ts), the table of the class calling it.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { transformSync } from 'esbuild';

export type TableKind = 'data' | 'ledger' | 'narrative';

/** Command classes and paginators of the AWS SDK v3 (lib-dynamodb and client-dynamodb) → the IAM action. */
const COMMAND_ACTIONS: Record<string, string> = {
  GetCommand: 'dynamodb:GetItem',
  GetItemCommand: 'dynamodb:GetItem',
  PutCommand: 'dynamodb:PutItem',
  PutItemCommand: 'dynamodb:PutItem',
  UpdateCommand: 'dynamodb:UpdateItem',
  UpdateItemCommand: 'dynamodb:UpdateItem',
  DeleteCommand: 'dynamodb:DeleteItem',
  DeleteItemCommand: 'dynamodb:DeleteItem',
  QueryCommand: 'dynamodb:Query',
  ScanCommand: 'dynamodb:Scan',
  BatchGetCommand: 'dynamodb:BatchGetItem',
  BatchGetItemCommand: 'dynamodb:BatchGetItem',
  BatchWriteCommand: 'dynamodb:BatchWriteItem',
  BatchWriteItemCommand: 'dynamodb:BatchWriteItem',
  paginateQuery: 'dynamodb:Query',
  paginateScan: 'dynamodb:Scan',
};
/** A transaction is authorized item by item: each item's own action (there is no TransactWriteItems action). */
const TRANSACTION_ITEM_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
};
const DYNAMODB_PACKAGES = new Set(['@aws-sdk/lib-dynamodb', '@aws-sdk/client-dynamodb']);
/** Receivers that are never one of our classes (a `Promise.resolve(...)` is not LedgerRepository.resolve). */
const GLOBALS = new Set(['Promise', 'Math', 'JSON', 'Object', 'Array', 'Date', 'Number', 'String', 'console', 'process', 'Buffer', 'Reflect', 'Symbol', 'BigInt', 'URL', 'crypto']);

/** One DynamoDB request a unit builds; `table` is resolved when the unit's class (or caller) is known. */
interface Op {
  action: string;
  table: 'narrative' | 'main' | 'param';
  index: string | undefined;
}

interface Unit {
  key: string;
  file: string;
  /** Class name for a class member. */
  owner: string | undefined;
  name: string;
  code: string;
  masked: string;
  isFreeFunction: boolean;
}

interface ParsedFile {
  file: string;
  tsSource: string;
  code: string;
  masked: string;
  /** local name → [resolved file or package, imported name] */
  imports: Map<string, [string, string]>;
  /** exported name → local name */
  exports: Map<string, string>;
  /** top-level name → unit keys (a destructuring declares several names with one unit). */
  topLevel: Map<string, string[]>;
  classes: Map<string, Map<string, string>>;
  units: Map<string, Unit>;
  topUnit: string;
  /** `const NAME = "text"` at the top level (to resolve `IndexName: OWED_INDEX`). */
  stringConstants: Map<string, string>;
}

// ---------------------------------------------------------------------------------
// Lexing: blank out string contents, template texts, regular expressions and comments.

const REGEX_AFTER_WORDS = new Set(['return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'yield', 'await', 'instanceof']);

export function maskCode(src: string): string {
  const out = src.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  /** Brace depth inside each open `${ ... }` of a template literal. */
  const templates: number[] = [];
  let prevChar = '';
  let prevWord = '';
  let i = 0;
  /** Scans template text from `j`; returns the index after the closing backtick or after `${`. */
  const templateText = (j: number): number => {
    const start = j;
    while (j < src.length) {
      if (src[j] === '\\') {
        j += 2;
        continue;
      }
      if (src[j] === '`') {
        blank(start, j);
        prevChar = 'x';
        prevWord = '';
        return j + 1;
      }
      if (src[j] === '$' && src[j + 1] === '{') {
        blank(start, j);
        templates.push(0);
        prevChar = '{';
        prevWord = '';
        return j + 2;
      }
      j++;
    }
    throw new Error('unterminated template literal');
  };
  while (i < src.length) {
    const c = src[i] ?? '';
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      blank(i + 1, j);
      i = j + 1;
      prevChar = 'x';
      prevWord = '';
      continue;
    }
    if (c === '`') {
      i = templateText(i + 1);
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && src[i + 1] === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && (prevChar === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prevChar) || REGEX_AFTER_WORDS.has(prevWord))) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length) {
        const d = src[j];
        if (d === '\\') {
          j += 2;
          continue;
        }
        if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        j++;
      }
      blank(i + 1, j);
      i = j + 1;
      while (i < src.length && /[a-z]/.test(src[i] ?? '')) i++;
      prevChar = 'x';
      prevWord = '';
      continue;
    }
    if (c === '{' && templates.length > 0) templates[templates.length - 1] = (templates[templates.length - 1] ?? 0) + 1;
    if (c === '}' && templates.length > 0) {
      const depth = templates[templates.length - 1] ?? 0;
      if (depth === 0) {
        templates.pop();
        i = templateText(i + 1);
        continue;
      }
      templates[templates.length - 1] = depth - 1;
    }
    if (/[\w$]/.test(c)) {
      let j = i;
      while (j < src.length && /[\w$]/.test(src[j] ?? '')) j++;
      prevWord = src.slice(i, j);
      prevChar = 'x';
      i = j;
      continue;
    }
    if (!/\s/.test(c)) {
      prevChar = c;
      prevWord = '';
    }
    i++;
  }
  return out.join('');
}

/** The index of the bracket matching the one at `open` (`(`, `[` or `{`) in masked code. */
function matching(masked: string, open: number): number {
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  const stack: string[] = [];
  for (let i = open; i < masked.length; i++) {
    const c = masked[i] ?? '';
    if (c in pairs) stack.push(pairs[c] ?? '');
    else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) throw new Error(`unbalanced ${c} at ${i}`);
      if (stack.length === 0) return i;
    }
  }
  throw new Error(`no match for the bracket at ${open}`);
}

/** The index of the bracket opening the one that closes at `close`, scanning backwards. */
function matchingBackwards(masked: string, close: number): number {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  for (let i = close; i >= 0; i--) {
    const c = masked[i] ?? '';
    if (c in pairs) stack.push(pairs[c] ?? '');
    else if (c === '(' || c === '[' || c === '{') {
      if (stack.pop() !== c) throw new Error(`unbalanced ${c} at ${i}`);
      if (stack.length === 0) return i;
    }
  }
  throw new Error(`no match for the bracket at ${close}`);
}

/** Splits masked[from, to) at top-level (bracket depth 0) occurrences of `separator`. */
function splitTopLevel(masked: string, from: number, to: number, separator: string): [number, number][] {
  const parts: [number, number][] = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    const c = masked[i] ?? '';
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === separator && depth === 0) {
      parts.push([start, i]);
      start = i + 1;
    }
  }
  parts.push([start, to]);
  return parts;
}

// ---------------------------------------------------------------------------------
// Files and units.

const cache = new Map<string, ParsedFile>();

function parseFile(file: string): ParsedFile {
  const cached = cache.get(file);
  if (cached) return cached;
  const tsSource = readFileSync(file, 'utf8');
  const code = transformSync(tsSource, { loader: 'ts', format: 'esm', target: 'esnext', minifyWhitespace: true, legalComments: 'none' }).code;
  const masked = maskCode(code);
  const parsed: ParsedFile = {
    file,
    tsSource,
    code,
    masked,
    imports: new Map(),
    exports: new Map(),
    topLevel: new Map(),
    classes: new Map(),
    units: new Map(),
    topUnit: `${file}#<top>`,
    stringConstants: new Map(),
  };
  const addUnit = (name: string, owner: string | undefined, from: number, to: number, isFreeFunction: boolean): string => {
    const key = `${file}#${owner ? `${owner}.` : ''}${name}`;
    parsed.units.set(key, { key, file, owner, name, code: code.slice(from, to), masked: masked.slice(from, to), isFreeFunction });
    return key;
  };
  const declare = (name: string, key: string) => parsed.topLevel.set(name, [...(parsed.topLevel.get(name) ?? []), key]);

  let top = '';
  let topMasked = '';
  let i = 0;
  while (i < masked.length) {
    const rest = masked.slice(i);
    let m: RegExpMatchArray | null;
    m = rest.match(/^import\s*/);
    if (m) {
      const end = masked.indexOf(';', i);
      const statement = code.slice(i, end < 0 ? masked.length : end);
      const from = statement.match(/from\s*"([^"]+)"\s*$/) ?? statement.match(/^import\s*"([^"]+)"/);
      const source = from?.[1] ?? '';
      const target = source.startsWith('.') ? resolve(dirname(file), source) : source;
      const clause = statement.replace(/^import\s*/, '').replace(/\s*from\s*"[^"]+"\s*$/, '');
      const named = clause.match(/\{([^}]*)\}/)?.[1];
      for (const spec of named ? named.split(',') : []) {
        const [imported, local] = spec.trim().split(/\s+as\s+/);
        if (imported) parsed.imports.set(local ?? imported, [target, imported]);
      }
      const namespace = clause.match(/\*\s*as\s+([\w$]+)/)?.[1];
      if (namespace) parsed.imports.set(namespace, [target, '*']);
      const defaultName = clause.match(/^([\w$]+)/)?.[1];
      if (defaultName) parsed.imports.set(defaultName, [target, 'default']);
      i = end < 0 ? masked.length : end + 1;
      continue;
    }
    m = rest.match(/^export\s*\{([^}]*)\}\s*(?:from\s*"([^"]*)")?;?/);
    if (m) {
      const reexportFrom = m[2] ? code.slice(i, i + (m[0]?.length ?? 0)).match(/from\s*"([^"]+)"/)?.[1] : undefined;
      for (const spec of (m[1] ?? '').split(',')) {
        const [local, exported] = spec.trim().split(/\s+as\s+/);
        if (!local) continue;
        if (reexportFrom) {
          const alias = `<reexport>${exported ?? local}`;
          parsed.imports.set(alias, [reexportFrom.startsWith('.') ? resolve(dirname(file), reexportFrom) : reexportFrom, local]);
          parsed.exports.set(exported ?? local, alias);
        } else parsed.exports.set(exported ?? local, local);
      }
      i += m[0]?.length ?? 1;
      continue;
    }
    m = rest.match(/^export\s+(?:default\s+)?/);
    if (m) {
      // `export const` / `export function` / `export class`: the declaration follows; its name is exported as is.
      const declared = rest.slice(m[0].length).match(/^(?:async\s*)?(?:function\s*\*?\s*|class\s+|(?:const|let|var)\s+)([\w$]+)/)?.[1];
      if (declared) parsed.exports.set(m[0].includes('default') ? 'default' : declared, declared);
      i += m[0].length;
      continue;
    }
    m = rest.match(/^(async\s*)?function\s*(\*)?\s*([\w$]+)\s*\(/);
    if (m) {
      const name = m[3] ?? '';
      const paramsOpen = i + (m[0]?.length ?? 0) - 1;
      const bodyOpen = masked.indexOf('{', matching(masked, paramsOpen));
      const end = matching(masked, bodyOpen) + 1;
      declare(name, addUnit(name, undefined, i, end, true));
      i = end;
      continue;
    }
    m = rest.match(/^class\s+([\w$]+)[^{]*\{/);
    if (m) {
      const name = m[1] ?? '';
      const bodyOpen = i + (m[0]?.length ?? 0) - 1;
      const end = matching(masked, bodyOpen);
      const members = new Map<string, string>();
      let j = bodyOpen + 1;
      while (j < end) {
        const member = masked.slice(j, end).match(/^\s*(?:static\s+)?(?:async\s*)?(\*)?\s*(?:(?:get|set)\s+)?(#?[\w$]+)\s*([(=;]|$)/);
        if (!member) throw new Error(`${file}: cannot read the member of ${name} at ${code.slice(j, j + 60)}`);
        const memberName = member[2] ?? '';
        const after = j + (member[0]?.length ?? 0) - 1;
        let stop: number;
        if (member[3] === '(') {
          const bodyStart = masked.indexOf('{', matching(masked, after));
          stop = matching(masked, bodyStart) + 1;
        } else if (member[3] === '=') {
          const [first] = splitTopLevel(masked, after + 1, end, ';');
          stop = (first?.[1] ?? end) + 1;
        } else stop = after + 1;
        members.set(memberName, addUnit(memberName, name, j, Math.min(stop, end), false));
        j = stop;
        while (j < end && (masked[j] === ';' || /\s/.test(masked[j] ?? ''))) j++;
      }
      parsed.classes.set(name, members);
      declare(name, addUnit('<class>', name, i, end + 1, false));
      i = end + 1;
      continue;
    }
    m = rest.match(/^(?:const|let|var)\s+/);
    if (m) {
      const start = i + (m[0]?.length ?? 0);
      const [statement] = splitTopLevel(masked, start, masked.length, ';');
      const stop = statement?.[1] ?? masked.length;
      for (const [from, to] of splitTopLevel(masked, start, stop, ',')) {
        const eq = masked.indexOf('=', from);
        const target = masked.slice(from, eq < 0 || eq > to ? to : eq);
        const names = [...target.matchAll(/[\w$]+/g)].map((n) => n[0]).filter((n) => !/^\d/.test(n));
        const single = /^\s*[\w$]+\s*$/.test(target) ? target.trim() : undefined;
        const key = addUnit(single ?? `<${names.join(',')}>`, undefined, from, to, false);
        for (const n of names) declare(n, key);
        const literal = code.slice(from, to).match(/^\s*([\w$]+)\s*=\s*"([^"]*)"\s*$/);
        if (literal?.[1] && literal[2] !== undefined) parsed.stringConstants.set(literal[1], literal[2]);
      }
      i = stop + 1;
      continue;
    }
    // Anything else at the top level runs on import: one statement (up to `;` at depth 0).
    const [statement] = splitTopLevel(masked, i, masked.length, ';');
    const stop = statement?.[1] ?? masked.length;
    top += `${code.slice(i, stop)};`;
    topMasked += `${masked.slice(i, stop)};`;
    i = stop + 1;
  }
  parsed.units.set(parsed.topUnit, { key: parsed.topUnit, file, owner: undefined, name: '<top>', code: top, masked: topMasked, isFreeFunction: false });
  cache.set(file, parsed);
  return parsed;
}

/** The unit keys an exported name of `file` stands for. */
function exportedUnits(file: string, name: string): string[] {
  if (!file.startsWith('/')) return [];
  const parsed = parseFile(file);
  const local = parsed.exports.get(name) ?? name;
  const imported = parsed.imports.get(local);
  if (imported) return exportedUnits(imported[0], imported[1]);
  return parsed.topLevel.get(local) ?? [];
}

/** The DynamoDB requests one unit builds. */
function opsOf(unit: Unit, parsed: ParsedFile): Op[] {
  const ops: Op[] = [];
  const isDynamo = (local: string) => DYNAMODB_PACKAGES.has(parsed.imports.get(local)?.[0] ?? '');
  const tableOf = (text: string): Op['table'] => (/narratives\(\)|narrativeTable/.test(text) ? 'narrative' : unit.isFreeFunction ? 'param' : 'main');
  for (const m of unit.masked.matchAll(/(?:new\s+)?([\w$]+)\s*\(/g)) {
    const local = m[1] ?? '';
    const imported = parsed.imports.get(local)?.[1] ?? local;
    const action = COMMAND_ACTIONS[imported];
    if (!action || !isDynamo(local)) continue;
    const open = (m.index ?? 0) + (m[0]?.length ?? 0) - 1;
    const args = unit.code.slice(open, matching(unit.masked, open) + 1);
    const indexName = args.match(/IndexName:(?:"([^"]*)"|([\w$]+))/);
    const index = indexName ? (indexName[1] ?? parsed.stringConstants.get(indexName[2] ?? '') ?? `<${indexName[2]}>`) : undefined;
    ops.push({ action, table: tableOf(args), index });
  }
  const importsAny = (names: string[]) => [...parsed.imports].some(([local, [, name]]) => names.includes(name) && isDynamo(local));
  const itemKinds = [
    ...(importsAny(['TransactWriteCommand', 'TransactWriteItemsCommand']) ? ['Put', 'Update', 'Delete', 'ConditionCheck'] : []),
    ...(importsAny(['TransactGetCommand', 'TransactGetItemsCommand']) ? ['Get'] : []),
  ];
  if (itemKinds.length > 0) {
    for (const m of unit.masked.matchAll(new RegExp(`(?<![\\w$.])(${itemKinds.join('|')}):`, 'g'))) {
      const at = (m.index ?? 0) + (m[0]?.length ?? 0);
      const item = unit.masked[at] === '{' ? unit.code.slice(at, matching(unit.masked, at) + 1) : unit.code.slice(at, at + 80);
      ops.push({ action: TRANSACTION_ITEM_ACTIONS[m[1] ?? ''] ?? '', table: tableOf(item), index: undefined });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------
// Receivers: which of our classes a name stands for in a file.

function classesBuiltBy(unitKeys: string[], known: Set<string>): Set<string> {
  const found = new Set<string>();
  for (const key of unitKeys) {
    const unit = unitOf(key);
    for (const m of unit.masked.matchAll(/new\s+([\w$]+)\s*\(/g)) {
      const parsed = parseFile(unit.file);
      const local = m[1] ?? '';
      const imported = parsed.imports.get(local);
      const name = imported ? imported[1] : local;
      if (known.has(name)) found.add(name);
    }
  }
  return found;
}

function unitOf(key: string): Unit {
  const file = key.slice(0, key.indexOf('#'));
  const unit = parseFile(file).units.get(key);
  if (!unit) throw new Error(`no unit ${key}`);
  return unit;
}

interface Receivers {
  /** name → our classes it holds somewhere in the file. */
  ours: Map<string, Set<string>>;
  /** Names that hold something else somewhere in the file (a Map, a method's result, a package's object). */
  foreign: Set<string>;
}

/**
 * What a name holds, for one file: ours from `x = new C(`, `x = f(` (f builds a C) and
 * TypeScript annotations `x: C`; foreign from `x = new Map(`, `x = await y.m(`, `x = g(` (g
 * builds none of ours), annotations naming another type, and imports from packages.
 */
function receivers(parsed: ParsedFile, known: Set<string>): Receivers {
  const ours = new Map<string, Set<string>>();
  const foreign = new Set<string>();
  const add = (name: string, classes: Iterable<string>) => {
    for (const c of classes) ours.set(name, new Set([...(ours.get(name) ?? []), c]));
  };
  const className = (local: string) => parsed.imports.get(local)?.[1] ?? local;
  for (const m of parsed.masked.matchAll(/(?<![\w$.])([\w$]+)\s*=\s*new\s+([\w$]+)/g)) {
    if (known.has(className(m[2] ?? ''))) add(m[1] ?? '', [className(m[2] ?? '')]);
    else foreign.add(m[1] ?? '');
  }
  for (const m of parsed.masked.matchAll(/(?<![\w$.])([\w$]+)\s*=\s*(?:await\s+)?([\w$]+)\s*\(/g)) {
    const callee = m[2] ?? '';
    const imported = parsed.imports.get(callee);
    const units = parsed.topLevel.get(callee) ?? (imported ? exportedUnits(imported[0], imported[1]) : []);
    const built = classesBuiltBy(
      units.filter((u) => !u.endsWith('.<class>')),
      known,
    );
    if (built.size > 0) add(m[1] ?? '', built);
    else if (callee !== 'new') foreign.add(m[1] ?? '');
  }
  for (const m of parsed.masked.matchAll(/(?<![\w$.])([\w$]+)\s*=\s*(?:await\s+)?[\w$.]+\.[\w$]+\s*\(/g)) foreign.add(m[1] ?? '');
  const source = parsed.tsSource.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const m of source.matchAll(/(?<![\w$.])([\w$]+)\??\s*:\s*(?:readonly\s+)?(?:Pick<\s*|Omit<\s*)?([A-Za-z_$][\w$]*)/g)) {
    if (known.has(m[2] ?? '')) add(m[1] ?? '', [m[2] ?? '']);
    else foreign.add(m[1] ?? '');
  }
  for (const [local, [source]] of parsed.imports) if (!source.startsWith('/')) foreign.add(local);
  return { ours, foreign };
}

// ---------------------------------------------------------------------------------
// The walk.

export interface DynamoCalls {
  /** `dynamodb:<Action> <table>` or `dynamodb:Query <table>/index/<name>`, sorted. */
  calls: string[];
  /** Member calls `x.m(` whose receiver could not be told, where `m` is a method of one of our classes that sends DynamoDB requests. */
  unresolved: string[];
  /** The units reached (file relative to `root`, then the unit), for failure messages. */
  reached: string[];
}

export function dynamoCallsFrom(entry: string, root: string): DynamoCalls {
  const reached = new Set<string>();
  const queue: string[] = [];
  /** Free function or member unit → the units that reference it (for the table of a `param` op). */
  const callers = new Map<string, Set<string>>();
  const visitFile = (file: string): ParsedFile => {
    const parsed = parseFile(file);
    if (!reached.has(parsed.topUnit)) {
      reached.add(parsed.topUnit);
      queue.push(parsed.topUnit);
    }
    return parsed;
  };
  const edge = (from: string | undefined, to: string) => {
    if (from) callers.set(to, new Set([...(callers.get(to) ?? []), from]));
    if (reached.has(to)) return;
    reached.add(to);
    queue.push(to);
    visitFile(to.slice(0, to.indexOf('#')));
  };
  const entryFile = visitFile(entry);
  for (const key of entryFile.units.keys()) edge(undefined, key);

  interface MemberCall {
    unit: Unit;
    receiver: string;
    /** 'this', the classes a call result is, or undefined: look the receiver's name up in its file. */
    classes: Set<string> | 'this' | undefined;
    method: string;
  }
  const memberCalls: MemberCall[] = [];
  const knownClasses = () => {
    const known = new Set<string>();
    for (const parsed of cache.values()) for (const name of parsed.classes.keys()) known.add(name);
    return known;
  };
  const namesIn = (unit: Unit) => {
    const parsed = parseFile(unit.file);
    for (const m of unit.masked.matchAll(/(?<![\w$.#])([\w$]+)/g)) {
      const name = m[1] ?? '';
      const imported = parsed.imports.get(name);
      const targets = [...(parsed.topLevel.get(name) ?? []), ...(imported ? exportedUnits(imported[0], imported[1]) : [])];
      for (const target of targets) {
        if (target === unit.key) continue;
        if (!target.endsWith('.<class>')) {
          edge(unit.key, target);
          continue;
        }
        // A class named (built): its constructor and field initializers run; its methods only when called.
        const file = target.slice(0, target.indexOf('#'));
        const className = target.slice(target.indexOf('#') + 1, -'.<class>'.length);
        for (const [memberName, memberKey] of parseFile(file).classes.get(className) ?? []) {
          const member = unitOf(memberKey);
          if (memberName === 'constructor' || member.masked.trim().startsWith(`${memberName}=`)) edge(unit.key, memberKey);
        }
      }
    }
  };
  const memberCallsIn = (unit: Unit) => {
    const parsed = parseFile(unit.file);
    for (const m of unit.masked.matchAll(/(\?\.|\.)\s*(#?[\w$]+)\s*\(/g)) {
      const method = m[2] ?? '';
      let before = (m.index ?? 0) - 1;
      while (before >= 0 && /\s/.test(unit.masked[before] ?? '')) before--;
      const last = unit.masked[before] ?? '';
      if (/[\w$]/.test(last)) {
        let start = before;
        while (start > 0 && /[\w$]/.test(unit.masked[start - 1] ?? '')) start--;
        const receiver = unit.masked.slice(start, before + 1);
        if (receiver === 'this') memberCalls.push({ unit, receiver, classes: 'this', method });
        else if (!GLOBALS.has(receiver) && !/^\d/.test(receiver)) memberCalls.push({ unit, receiver, classes: undefined, method });
      } else if (last === ')') {
        const open = matchingBackwards(unit.masked, before);
        const callee = unit.masked.slice(0, open).match(/(new\s+)?([\w$]+)\s*$/);
        const name = callee?.[2];
        if (!name) continue;
        const imported = parsed.imports.get(name);
        if (callee[1]) {
          memberCalls.push({ unit, receiver: `new ${name}(…)`, classes: new Set([imported?.[1] ?? name]), method });
          continue;
        }
        const targets = [...(parsed.topLevel.get(name) ?? []), ...(imported ? exportedUnits(imported[0], imported[1]) : [])];
        memberCalls.push({ unit, receiver: `${name}(…)`, classes: classesBuiltBy(targets, knownClasses()), method });
      }
    }
  };

  let unresolvedCalls: MemberCall[] = [];
  for (;;) {
    while (queue.length > 0) {
      const unit = unitOf(queue.shift() as string);
      namesIn(unit);
      memberCallsIn(unit);
    }
    // Member calls: resolved once no unit is left to read, since a receiver's class may be in a file read late.
    const known = knownClasses();
    unresolvedCalls = [];
    for (const call of memberCalls) {
      const classes =
        call.classes === 'this'
          ? new Set(call.unit.owner ? [call.unit.owner] : [])
          : (call.classes ?? receivers(parseFile(call.unit.file), known).ours.get(call.receiver) ?? new Set<string>());
      let found = false;
      for (const className of classes) {
        for (const parsed of cache.values()) {
          const target = parsed.classes.get(className)?.get(call.method);
          if (target) {
            found = true;
            edge(call.unit.key, target);
          }
        }
      }
      if (!found && !(call.classes === undefined && receivers(parseFile(call.unit.file), known).foreign.has(call.receiver))) unresolvedCalls.push(call);
    }
    if (queue.length === 0) break;
  }

  // Class → the tables it was built with, from every `new C(db, <table>, …)` reached.
  const known = knownClasses();
  const builtWith = new Map<string, Set<TableKind>>();
  for (const key of reached) {
    const unit = unitOf(key);
    const parsed = parseFile(unit.file);
    for (const m of unit.masked.matchAll(/new\s+([\w$]+)\s*\(/g)) {
      const className = parsed.imports.get(m[1] ?? '')?.[1] ?? m[1] ?? '';
      if (!known.has(className)) continue;
      const open = (m.index ?? 0) + (m[0]?.length ?? 0) - 1;
      const args = splitTopLevel(unit.masked, open + 1, matching(unit.masked, open), ',').map(([from, to]) => unit.code.slice(from, to));
      const table = args[1];
      if (table === undefined) continue;
      const kind: TableKind = /ledger/i.test(table) ? 'ledger' : /narrative/i.test(table) ? 'narrative' : 'data';
      builtWith.set(className, new Set([...(builtWith.get(className) ?? []), kind]));
    }
  }
  /** The tables a `param` op of a free function stands for: those of the classes calling it, through free functions. */
  const paramTables = (key: string, seen = new Set<string>()): Set<TableKind> => {
    const kinds = new Set<TableKind>();
    if (seen.has(key)) return kinds;
    seen.add(key);
    for (const caller of callers.get(key) ?? []) {
      const unit = unitOf(caller);
      if (unit.owner) for (const k of builtWith.get(unit.owner) ?? []) kinds.add(k);
      else if (unit.isFreeFunction) for (const k of paramTables(caller, seen)) kinds.add(k);
    }
    return kinds;
  };

  const calls = new Set<string>();
  const sendsRequests = new Set<string>();
  for (const key of reached) {
    const unit = unitOf(key);
    for (const op of opsOf(unit, parseFile(unit.file))) {
      const tables: Set<TableKind> =
        op.table === 'narrative'
          ? new Set(['narrative'])
          : op.table === 'param'
            ? paramTables(key)
            : unit.owner
              ? (builtWith.get(unit.owner) ?? new Set())
              : new Set();
      if (tables.size === 0) throw new Error(`${relative(root, unit.file)} ${unit.name}: cannot tell which table ${op.action} is sent to`);
      for (const table of tables) calls.add(`${op.action} ${table}${op.index ? `/index/${op.index}` : ''}`);
      if (unit.owner) sendsRequests.add(unit.owner);
    }
  }

  // A receiver not told apart matters when the method is one of a class that sends DynamoDB requests.
  const dynamoMethods = new Set<string>();
  for (const parsed of cache.values()) {
    for (const [className, members] of parsed.classes) {
      const direct = [...members.values()].some((key) => opsOf(unitOf(key), parsed).length > 0);
      if (direct || sendsRequests.has(className)) for (const name of members.keys()) if (name !== 'constructor') dynamoMethods.add(name);
    }
  }
  const unresolved = unresolvedCalls
    .filter((c) => dynamoMethods.has(c.method))
    .map((c) => `${relative(root, c.unit.file)} ${c.unit.owner ? `${c.unit.owner}.` : ''}${c.unit.name}: ${c.receiver}.${c.method}(…)`);
  return {
    calls: [...calls].sort(),
    unresolved: [...new Set(unresolved)].sort(),
    reached: [...reached].map((k) => `${relative(root, k.slice(0, k.indexOf('#')))}${k.slice(k.indexOf('#'))}`).sort(),
  };
}
