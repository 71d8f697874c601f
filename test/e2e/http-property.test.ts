/**
 * The local web server under generated HTTP requests (issue 12 part 5): at least 10,000
 * requests, one at a time, through the real platform (`trust-notify start`, its own instance
 * with the counting proxies on: test/support/counted-platform.ts), over every route (the
 * template's `GET|POST /ack/{token}`, `POST /reports`, the operator console's `GET /` and
 * `GET /{proxy+}` with the "view as" cookie, and the local server's own /health,
 * /policies/<id>/v<n>, /reports/compliance and /admin/*), with generated paths, methods,
 * headers and bodies (test/support/http-fuzz.ts). For every answer:
 * - never a 5xx;
 * - the security headers (functions/http/pages.ts SECURITY_HEADERS), Node's own answers included;
 * - a 4xx wrote nothing: the functions' DynamoDB writes, SQS sends and SES sends (counted by the
 *   platform's proxies, `GET /admin/requests`) are the same before and after it;
 * - no log line (the platform's stdout/stderr and `<dataDir>/logs/functions.log`) carries the
 *   request's path, query or token (anything of it longer than 12 characters), and no real
 *   acknowledgement token is ever logged.
 *
 * Attribution: requests go one at a time, so a write between the counts before and after a
 * 4xx is that request's, unless asynchronous work started by an earlier success (a case
 * opened, a schedule ticked, an acknowledgement recorded) landed in between. So every 4xx
 * that shows writes is replayed after the run, on a quiet platform: it counts as a write on a
 * 4xx only if the replay (twice) writes again; otherwise it is counted as asynchronous noise
 * (the summary says how many of the suspects were, with examples).
 *
 * Every request gets an answer that is checked: when node:http loses one (a body on an answer
 * to HEAD, or a reset after an early 431/413), the request is sent again on a raw socket
 * (counted as "re-read" in the output). The one exception is CONNECT, which Node closes
 * without any answer when there is no tunnel handler: counted apart, nothing to check.
 *
 * Fixed seed (printed): the same requests on every run. Every request that breaks a rule is
 * recorded; the first of each group (kind and status) is then replayed by fast-check
 * (`seed` + `path`) and shrunk, and the test fails naming the minimised request.
 *
 * `TPN_HTTP_PROPERTY_RUNS` (default 10,000) and `TPN_HTTP_PROPERTY_SEED` change the run for
 * development only.
 */
import { openSync, readSync, closeSync, fstatSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { SECURITY_HEADERS } from '../../functions/http/pages.ts';
import type { JsonObject } from '../support/bad-input.ts';
import { type CountedPlatform, startCountedPlatform } from '../support/counted-platform.ts';
import { runCli } from '../support/e2e-setup.ts';
import { examples } from '../support/examples.ts';
import { caseAgent, type FuzzContext, type HttpCase, httpCaseArb, type Outcome, send } from '../support/http-fuzz.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo } from '../support/ses-store.ts';

const SEED = Number(process.env.TPN_HTTP_PROPERTY_SEED ?? 20_261_203);
const RUNS = Number(process.env.TPN_HTTP_PROPERTY_RUNS ?? 10_000);
const config = loadTrustConfig();

/** What the functions can change: DynamoDB writes, queue sends, emails. */
const WRITES = new Set([
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:TransactWriteItems',
  'dynamodb:ExecuteStatement',
  'dynamodb:BatchExecuteStatement',
  'dynamodb:ExecuteTransaction',
  'sqs:SendMessage',
  'sqs:SendMessageBatch',
  'ses:SendEmail',
  'ses:SendBulkEmail',
]);

type Counts = Record<string, number>;
type ProblemKind = '5xx' | 'security headers' | 'write on a 4xx' | 'log leak' | 'no answer';
interface Problem {
  kind: ProblemKind;
  /** Problems of one group share a cause (kind and status): the first of each group is minimised. */
  group: string;
  detail: string;
}
interface Recorded {
  index: number;
  problem: Problem;
  request: string;
}

let platform: CountedPlatform;
let port = 0;
let context: FuzzContext;
const controlAgent = new Agent({ keepAlive: true, maxSockets: 1 });

// ---------------------------------------------------------------------------------
// The platform's own counts and logs

function getJson(path: string, method = 'GET'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: controlAgent, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(new Error(`${path} answered ${res.statusCode} with no JSON: ${(error as Error).message}`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const counts = async () => (await getJson('/admin/requests')) as Counts;
const writeTotal = (c: Counts) => Object.entries(c).reduce((n, [k, v]) => (WRITES.has(k) ? n + v : n), 0);

/** The write operations that grew between two snapshots (a reset in between shows as nothing grown). */
function grown(before: Counts, after: Counts): Counts {
  return Object.fromEntries(Object.entries(after).filter(([k, v]) => WRITES.has(k) && v > (before[k] ?? 0)).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/**
 * Waits until no write has been counted for 400 ms (asynchronous work finished: the local
 * SQS event sources poll an empty queue every 200 ms).
 */
async function settle(timeoutMs = 30_000): Promise<void> {
  lastAfter = null;
  const deadline = Date.now() + timeoutMs;
  let last = writeTotal(await counts());
  let quiet = 0;
  while (quiet < 4 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = writeTotal(await counts());
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}

/** Reads what was appended to the platform's logs since the last read. */
class LogTail {
  private readonly files: string[];
  private readonly offsets: number[];
  constructor(files: string[]) {
    this.files = files;
    this.offsets = files.map(() => 0);
  }
  skipToEnd(): void {
    this.files.forEach((file, i) => {
      this.offsets[i] = this.size(file);
    });
  }
  private size(file: string): number {
    try {
      const fd = openSync(file, 'r');
      try {
        return fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    } catch {
      return 0;
    }
  }
  read(): string {
    let text = '';
    this.files.forEach((file, i) => {
      const from = this.offsets[i] ?? 0;
      const size = this.size(file);
      if (size <= from) return;
      const buffer = Buffer.alloc(size - from);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, from);
      } finally {
        closeSync(fd);
      }
      this.offsets[i] = size;
      text += buffer.toString('utf8');
    });
    return text;
  }
}

// ---------------------------------------------------------------------------------
// One request and its checks

const securityProblems = (headers: Record<string, string | string[] | undefined>) =>
  Object.entries(SECURITY_HEADERS)
    .filter(([name, value]) => headers[name.toLowerCase()] !== value)
    .map(([name]) => name);

/** A CONNECT with no tunnel handler is closed by Node without an answer: nothing to check, counted apart. */
const closedByDesign = (c: HttpCase, outcome: Outcome) => 'error' in outcome && c.method === 'CONNECT' && outcome.error === 'closed without an answer';

/** A 4xx that showed writes during the run: replayed when the platform is quiet (asynchronous work from earlier successes lands anywhere). */
interface Suspect {
  index: number;
  c: HttpCase;
  status: number;
  wrote: Counts;
}

interface Stats {
  sent: number;
  suspects: Suspect[];
  byClass: Record<string, number>;
  byKind: Record<string, number>;
  closedCONNECT: number;
  noiseReplays: number;
  noise: string[];
  slowest: { ms: number; request: string }[];
  /** Milliseconds spent sending the generated requests, reading counts, and waiting for quiet. */
  ms: { send: number; counts: number; settle: number; logs: number };
  /** Per route or path kind (the first note): requests, milliseconds sending them, and answers by status. */
  byNote: Record<string, { n: number; ms: number; statuses: Record<string, number> }>;
  /** Bytes of log text read (and checked) during the run. */
  logBytes: number;
}

const newStats = (): Stats => ({ sent: 0, suspects: [], byClass: {}, byKind: {}, closedCONNECT: 0, noiseReplays: 0, noise: [], slowest: [], ms: { send: 0, counts: 0, settle: 0, logs: 0 }, byNote: {}, logBytes: 0 });

/**
 * The counts after the last request, when nothing else ran since: the next request's counts
 * before (one request fewer per request). Anything that waits or replays clears it.
 */
let lastAfter: Counts | null = null;

/**
 * Sends one request and checks its answer and the writes around it; log leaks are checked by
 * the caller. With `stats` (the run), a 4xx that showed writes is kept as a suspect for
 * {@link replaySuspects}; without (minimising), it is replayed at once.
 */
async function exercise(c: HttpCase, stats: Stats | null, index = -1): Promise<Problem[]> {
  const t0 = performance.now();
  const before = lastAfter ?? (await counts());
  const t1 = performance.now();
  const outcome = await send(port, c);
  const t2 = performance.now();
  const after = await counts();
  lastAfter = after;
  const t3 = performance.now();
  if (stats) {
    stats.ms.counts += t1 - t0 + (t3 - t2);
    stats.ms.send += t2 - t1;
    const note = c.kind === 'route' ? (c.notes[0] ?? '') : (c.notes[0] ?? '').replace(/:.*/, '').replace(/ \(.*/, '');
    const entry = stats.byNote[note] ?? { n: 0, ms: 0, statuses: {} };
    entry.n++;
    entry.ms += t2 - t1;
    const status = 'answer' in outcome ? String(outcome.answer.status) : 'none';
    entry.statuses[status] = (entry.statuses[status] ?? 0) + 1;
    stats.byNote[note] = entry;
  }
  const problems: Problem[] = [];
  const bump = (bag: Record<string, number>, key: string) => {
    bag[key] = (bag[key] ?? 0) + 1;
  };
  if (stats) {
    stats.sent++;
    bump(stats.byKind, c.kind);
    if (outcome.reread) bump(stats.byKind, `re-read on a raw socket (${outcome.reread})`);
  }
  if ('error' in outcome) {
    if (closedByDesign(c, outcome)) {
      if (stats) stats.closedCONNECT++;
      return problems;
    }
    if (stats) bump(stats.byClass, 'none');
    problems.push({ kind: 'no answer', group: `no answer (${outcome.error})`, detail: outcome.error });
    return problems;
  }
  const { status, headers, ms } = outcome.answer;
  if (stats) {
    bump(stats.byClass, `${Math.floor(status / 100)}xx`);
    stats.slowest.push({ ms, request: fc.stringify(c) });
    stats.slowest.sort((a, b) => b.ms - a.ms).splice(5);
  }
  if (status >= 500) problems.push({ kind: '5xx', group: `${status}`, detail: `answered ${status}` });
  const missing = securityProblems(headers);
  if (missing.length > 0) problems.push({ kind: 'security headers', group: `security headers missing on a ${status}`, detail: `status ${status} without ${missing.join(', ')}` });
  if (status >= 400 && status < 500) {
    const wrote = grown(before, after);
    if (Object.keys(wrote).length > 0) {
      if (stats) stats.suspects.push({ index, c, status, wrote });
      else {
        quiet = false;
        const confirmed = await replayWrites(c, null);
        if (confirmed) problems.push(writeProblem(status, wrote, confirmed));
      }
    }
  }
  return problems;
}

const writeProblem = (status: number, wrote: Counts, again: Counts): Problem => ({
  kind: 'write on a 4xx',
  group: `write on a ${status}`,
  detail: `status ${status}; writes ${JSON.stringify(wrote)}, and again when replayed on a quiet platform: ${JSON.stringify(again)}`,
});

/**
 * Replays a 4xx that showed writes once the platform is quiet, twice if need be: its writes
 * if every replay writes again (a write of its own), else null (asynchronous noise).
 */
async function replayWrites(c: HttpCase, stats: Stats | null): Promise<Counts | null> {
  lastAfter = null;
  let wrote: Counts = {};
  for (let attempt = 0; attempt < 2; attempt++) {
    const t0 = performance.now();
    // Quiet already, unless the last replay wrote (then wait for its work to finish too).
    if (attempt > 0 || !quiet) await settle();
    quiet = false;
    if (stats) stats.ms.settle += performance.now() - t0;
    const before = await counts();
    const outcome = await send(port, c);
    const after = await counts();
    if (stats) stats.noiseReplays++;
    const status = 'answer' in outcome ? outcome.answer.status : 0;
    wrote = grown(before, after);
    if (status < 400 || status >= 500 || Object.keys(wrote).length === 0) {
      quiet = true;
      return null;
    }
  }
  return wrote;
}

/** True right after a replay that wrote nothing: the platform was quiet and still is. */
let quiet = false;

/** Replays every suspect on a quiet platform: a write on a 4xx is one that writes again; the others were asynchronous noise. */
async function replaySuspects(stats: Stats, record: (index: number, c: HttpCase, problem: Problem) => void): Promise<void> {
  quiet = false;
  for (const { index, c, status, wrote } of stats.suspects) {
    const again = await replayWrites(c, stats);
    if (again) record(index, c, writeProblem(status, wrote, again));
    else stats.noise.push(`${status} ${JSON.stringify(wrote)}: ${fc.stringify(c).slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------------------------
// Set-up: a platform of its own, two people onboarded (their acknowledgement links), a case

function staffOnboarded(label: string) {
  const id = `${label}-${Math.random().toString(36).slice(2, 8)}`;
  return {
    ...examples['Staff Onboarded'],
    staffId: `HTTP-${id}`,
    givenName: 'Property',
    familyName: `Tester${label}`,
    email: `http.${id}@stmarys.example.org`,
    schoolId: 'st-marys',
    managesOfficialChannels: true,
    eventId: `http-property-${id}`,
  };
}

async function tokensFor(detail: ReturnType<typeof staffOnboarded>): Promise<string[]> {
  const file = join(platform.workDir, `${detail.staffId}.json`);
  writeFileSync(file, JSON.stringify(detail));
  const published = await runCli(platform.dataDir, ['publish', 'staff-onboarded', file]);
  expect(published.stderr).toBe('');
  expect(published.code).toBe(0);
  const welcome = await eventually(async () => (await emailsTo(platform.endpoints.ses, detail.email))[0], { timeoutMs: 60_000, what: 'the welcome email' });
  const tokens = [...(welcome.body.text ?? '').matchAll(/\/ack\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/g)].map((m) => m[1] ?? '');
  expect(tokens.length).toBeGreaterThan(0);
  return tokens;
}

beforeAll(async () => {
  platform = await startCountedPlatform();
  port = Number(new URL(platform.endpoints.web).port);
  const tokens = [...(await tokensFor(staffOnboarded('a'))), ...(await tokensFor(staffOnboarded('b')))];
  const report = JSON.parse(readFileSync(join(REPO_ROOT, 'examples', 'breach-report.json'), 'utf8')) as JsonObject;
  const sesBounce = JSON.parse(readFileSync(join(REPO_ROOT, 'examples', 'ses-bounce.json'), 'utf8')) as JsonObject;
  const opened = await fetch(`${platform.endpoints.web}/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...report, schoolId: 'holy-trinity', reportedByStaffId: 'HT-T1', subject: { kind: 'parent' } }),
  });
  expect(opened.status).toBe(201);
  const { caseId } = (await opened.json()) as { caseId: string };
  context = {
    port,
    tokens,
    caseId,
    // Holy Trinity's DSL has a role on the case (the narrative is shown); the others do not.
    viewers: ['emma.wright@holytrinity.example.org', 'michael.oneill@allsaints-mat.example.org', 'amira.oconnor@stmarys.example.org', 'nobody@example.org'],
    policies: config.policies.map((p) => ({ policyId: p.policyId, version: p.version })),
    schools: config.schools.map((s) => s.id),
    report,
    sesBounce,
  };
  await settle();
}, 240_000);

afterAll(async () => {
  caseAgent.destroy();
  controlAgent.destroy();
  await platform?.stop();
}, 60_000);

// ---------------------------------------------------------------------------------

describe('the local web server under generated requests', () => {
  it(`answers ${RUNS} generated requests with no 5xx, the security headers, no write on a 4xx and nothing of the request in a log`, async () => {
    const logs = new LogTail([platform.logFile, platform.functionsLog]);
    logs.skipToEnd();
    const arbitrary = httpCaseArb(context);
    const stats = newStats();
    const recorded: Recorded[] = [];
    /** The last requests' secrets: a log line can be written just after its answer. */
    const recent: { index: number; c: HttpCase }[] = [];
    const leakChecked = new Set<string>();
    const checkLogs = () => {
      const text = logs.read();
      if (!text) return;
      stats.logBytes += Buffer.byteLength(text);
      for (const { index, c } of recent) {
        for (const secret of c.secrets) {
          const key = `${index}:${secret}`;
          if (leakChecked.has(key) || !text.includes(secret)) continue;
          leakChecked.add(key);
          const line = text.split('\n').find((l) => l.includes(secret)) ?? '';
          recorded.push({ index, problem: { kind: 'log leak', group: 'log leak', detail: `a log line carries ${JSON.stringify(secret.slice(0, 80))}: ${JSON.stringify(line.slice(0, 200))}` }, request: fc.stringify(c) });
        }
      }
    };

    const started = performance.now();
    let index = 0;
    await fc.check(
      fc.asyncProperty(arbitrary, async (c) => {
        const at = index++;
        for (const problem of await exercise(c, stats, at)) recorded.push({ index: at, problem, request: fc.stringify(c) });
        recent.push({ index: at, c });
        if (recent.length > 32) recent.shift();
        const t0 = performance.now();
        checkLogs();
        stats.ms.logs += performance.now() - t0;
        return true;
      }),
      { seed: SEED, numRuns: RUNS },
    );
    await replaySuspects(stats, (at, c, problem) => recorded.push({ index: at, problem, request: fc.stringify(c) }));
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 200));
    checkLogs();
    const seconds = (performance.now() - started) / 1000;

    // Over the whole logs (set-up included): no real token, no acknowledgement path, nothing shaped like a token.
    const everything = `${readFileSync(platform.logFile, 'utf8')}\n${readFileSync(platform.functionsLog, 'utf8')}`;
    const tokenParts = context.tokens.flatMap((t) => [t, ...t.split('.')]);
    const wholeLogLeaks = [
      ...tokenParts.filter((part) => everything.includes(part)).map((part) => `a real token (part) ${part.slice(0, 12)}… is in a log`),
      ...[...everything.matchAll(/\/ack\/(?!\{token\})[^\s"'<>]+/g)].map((m) => `an acknowledgement path is in a log: ${m[0].slice(0, 40)}…`),
      ...[...everything.matchAll(/[A-Za-z0-9_-]{40,}\.[A-Za-z0-9_-]{20,}/g)].map((m) => `something shaped like a token is in a log: ${m[0].slice(0, 16)}…`),
    ];

    const count = (kind: ProblemKind) => recorded.filter((r) => r.problem.kind === kind).length;
    const summary = [
      `http-property seed=${SEED}`,
      `requests=${stats.sent}`,
      ...['2xx', '3xx', '4xx', '5xx', 'none'].map((k) => `${k}=${stats.byClass[k] ?? 0}`),
      `CONNECT-closed=${stats.closedCONNECT}`,
      `5xx answers=${count('5xx')}`,
      `missing headers=${count('security headers')}`,
      `writes on 4xx=${count('write on a 4xx')}`,
      `async noise re-checked=${stats.noise.length}/${stats.suspects.length}`,
      `log leaks=${count('log leak') + wholeLogLeaks.length}`,
      `no answer=${count('no answer')}`,
      `time=${seconds.toFixed(1)}s`,
    ].join(' ');
    console.log(summary);
    const ms = Object.fromEntries(Object.entries(stats.ms).map(([k, v]) => [k, Math.round(v)]));
    const byNote = Object.entries(stats.byNote)
      .sort((a, b) => b[1].n - a[1].n)
      .map(([note, { n, ms: t, statuses }]) => `  ${note}: ${n} requests, ${Math.round(t)} ms; ${Object.entries(statuses).sort().map(([k, v]) => `${k}×${v}`).join(' ')}`)
      .join('\n');
    console.log(`time (ms): ${JSON.stringify(ms)}; log text checked: ${stats.logBytes} bytes; by route or path kind:\n${byNote}`);
    console.log(`kinds: ${JSON.stringify(stats.byKind)}; slowest: ${stats.slowest.map((s) => `${s.ms} ms ${s.request.slice(0, 90)}`).join(' || ')}`);
    for (const n of stats.noise.slice(0, 5)) console.log(`async noise (a replay wrote nothing): ${n}`);

    // The first request of each kind of problem, replayed and shrunk by fast-check.
    const reports: string[] = [];
    for (const group of [...new Set(recorded.map((r) => r.problem.group))]) {
      const all = recorded.filter((r) => r.problem.group === group);
      const first = all[0];
      if (!first) continue;
      let minimised = '(the replay did not fail again)';
      const replay = await fc.check(
        fc.asyncProperty(arbitrary, async (c) => {
          if (group === 'log leak') {
            lastAfter = null;
            logs.read();
            await send(port, c);
            await new Promise((resolve) => setTimeout(resolve, 100));
            const text = logs.read();
            return !c.secrets.some((s) => text.includes(s));
          }
          return !(await exercise(c, null)).some((p) => p.group === group);
        }),
        { seed: SEED, path: String(first.index), interruptAfterTimeLimit: 90_000 },
      );
      if (replay.failed && replay.counterexample) minimised = `${fc.stringify(replay.counterexample[0])} (replay: seed ${SEED}, path ${replay.counterexamplePath})`;
      reports.push(
        [
          `${group}: ${all.length} request(s); the first (run ${first.index}): ${first.problem.detail}`,
          `  sent: ${first.request.slice(0, 600)}`,
          `  minimised: ${minimised.slice(0, 800)}`,
          ...all.slice(1, 4).map((r) => `  also (run ${r.index}): ${r.problem.detail} :: ${r.request.slice(0, 300)}`),
        ].join('\n'),
      );
    }
    for (const leak of wholeLogLeaks.slice(0, 5)) reports.push(`log leak (whole logs): ${leak}`);

    expect(stats.sent).toBe(RUNS);
    expect(reports, `${summary}\n${reports.join('\n')}`).toEqual([]);
  }, 900_000);
});
