/**
 * The crash suite (`npm run test:crash`; issue #11 part 5): kills the REAL platform process
 * group with SIGKILL at seeded random moments and proves, against independent oracles, that
 * every person a policy applies to is asked once (§1f "all staff are made aware of this
 * policy"; §4a.ii "all staff and volunteers have access to this policy"; §2a its audience).
 *
 *   node test/crash/run.ts [--kills N] [--people N] [--seed S] [--keep]
 *
 * The oracles, none of them written by the system under test:
 * - WHO is intended: computed here from the directory CSV this suite generates and the demo
 *   directory the platform seeds (fixtures/demo-directory.csv), with the audience rule
 *   re-implemented in scenario.ts. Never read from the ledger or the requests.
 * - WHAT was sent: the witness (smtp-witness.ts), a separate SMTP process that is never
 *   killed, to which the local SES forwards every email it accepts; each message is fsynced
 *   before it is acknowledged. ses-durable.ts makes the SES answer wait for that (the stock
 *   aws-ses-v2-local answers before forwarding, so "SES accepted" would not mean "witnessed").
 * The ledger is read (read-only) only to decide when to stop waiting, and for the system's
 * own claim that a duplicate is flagged (`possibleDuplicate`), which is what is checked.
 *
 * Phases a kill targets (cycled in this order; every moment drawn from the seed):
 *   fanout-writing  a new version is published; killed once the fan-out has written a random
 *                   share (10-80 %) of that version's requests (a gsi1 count, polled)
 *   ses-accepted    killed the instant the witness fsyncs the T-th email of the version (T a
 *                   random 20-80 % of intended): that SendBulkEmail call is accepted (some of
 *                   its emails are on disk) and unanswered, so the ledger cannot record it
 *   supersede       the next version is published after the previous one settled; killed once
 *                   a random share (10-90 %) of the previous version's pending requests have
 *                   turned `superseded` (inside the Policy Updated handler's run)
 *   sweep           after the restart that follows the previous kill, once its rows are due
 *                   to the sweeper (the queued grace): the sweeper is fired (POST /admin/tick,
 *                   as `trust-notify tick` does) and the platform killed a random part of a
 *                   sweep's measured duration later. It chains onto the previous kill: the two
 *                   settle together, judged from the later kill
 *   ses-in-flight   killed at a random time (10-70 % of the version's sending time at the SES
 *                   rate) after the first email of the version is witnessed
 * After each kill (or chain): restart on the same data folder, then wait until settled (every
 * intended recipient of the version witnessed, or the ledger holds all of the version's rows
 * and none is queued or sending) within lease + 2 sweep intervals + the restarts' own
 * measured time + the SES pacing of what was still unsent at the kill; a generous margin is
 * waited beyond that before giving up. Before the next version, the previous one must be quiet
 * on the ledger (late, flagged resends arrive before it is superseded).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type AttributeValue, BatchGetItemCommand, DynamoDBClient, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { trustConfigFileSchema } from '../../functions/config/trust-config.ts';
import { killGroup, type PlatformSetup, type RunningPlatform, sleep, startPlatform, waitGroupGone } from './platform.ts';
import { generateDirectory, intendedRecipients, type OraclePerson, readDemoDirectory, rng, uniform } from './scenario.ts';
import type { WitnessNotice, WitnessRecord } from './smtp-witness.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, '../..');
const CLI = join(REPO, 'bin', 'trust-notify.ts');
const POLICY_ID = 'use-of-social-media';
const POLICY_TITLE = 'Use of Social Media Policy';
const SUBJECT = /^Please read and confirm: (.+) \(version (\d+)\)$/;

/**
 * The delivery timings the suite configures (the block `delivery` of the trust configuration).
 * The brief asked for a 60 s lease; the schema's minimum is 90 s (longer than the fan-out
 * worker's 60 s timeout, functions/config/trust-config.ts), so 90.
 */
const DELIVERY = { leaseSeconds: 90, sweepEveryMinutes: 1, queuedGraceSeconds: 60 };
const SES_RATE = 100;
/** Waited beyond a kill's limit before it is declared unsettled. */
const MARGIN_MS = 60_000;

type Phase = 'fanout-writing' | 'ses-accepted' | 'supersede' | 'sweep' | 'ses-in-flight';
const PHASES: Phase[] = ['fanout-writing', 'ses-accepted', 'supersede', 'ses-in-flight', 'sweep'];

interface Kill {
  n: number;
  phase: Phase;
  version: number;
  at: number;
  evidence: string;
  /** The moment did not land inside the phase (printed as a warning, not a failed check). */
  late: boolean;
  /** Unsent emails of the version at the kill, for the pacing allowance. */
  unsentAtKill: number;
  restartMs: number;
  settledAt?: number;
  settledBy?: 'witness' | 'ledger';
  /** Kills settled together (a sweep kill chains onto the kill before it): the last one's index. */
  chainEnd?: number;
  limitMs?: number;
}

// ------------------------------------------------------------------------------ arguments

const { values: args } = parseArgs({
  options: {
    kills: { type: 'string', default: '3' },
    people: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '20261203' },
    keep: { type: 'boolean', default: false },
  },
  allowPositionals: false,
});
const positiveInt = (name: string, raw: string, min: number) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`crash: --${name} must be a whole number of at least ${min}\n`);
    process.exit(2);
  }
  return n;
};
let KILLS = positiveInt('kills', args.kills, 1);
if (process.env.CI === 'true' && KILLS < 3) KILLS = 3; // CI runs at least 3 kills
const PEOPLE = positiveInt('people', args.people, 10);
const SEED = positiveInt('seed', args.seed, 0);
if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(`crash: needs Node 24 (the project's devDependency); this is ${process.version}: run it with npm run test:crash\n`);
  process.exit(2);
}

const log = (line: string) => process.stdout.write(`[crash ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ------------------------------------------------------------------------------ the witness

/** Per version: recipient → copies, as the witness reported them live (the file is the record). */
const live = new Map<number, Map<string, number>>();
const firstWitnessed = new Map<number, number>();
type Trigger = { version: number; count: number; fire: () => void };
let trigger: Trigger | undefined;

function startWitness(file: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(HERE, 'smtp-witness.ts'), [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execPath: process.execPath });
  return new Promise((resolvePort, reject) => {
    child.once('exit', (code) => reject(new Error(`the witness exited (${code}) before it was ready`)));
    child.on('message', (notice: WitnessNotice) => {
      if (notice.type === 'ready') {
        resolvePort({ child, port: notice.port });
        return;
      }
      const version = versionOf(notice.subject);
      if (version === undefined) return;
      const copies = live.get(version) ?? new Map<string, number>();
      live.set(version, copies);
      for (const r of notice.rcpt) copies.set(r.toLowerCase(), (copies.get(r.toLowerCase()) ?? 0) + 1);
      if (!firstWitnessed.has(version)) firstWitnessed.set(version, notice.ms);
      if (trigger && trigger.version === version && messagesOf(version) >= trigger.count) {
        const fire = trigger.fire;
        trigger = undefined;
        fire();
      }
    });
  });
}

function versionOf(subject: string): number | undefined {
  const m = SUBJECT.exec(subject);
  return m && m[1] === POLICY_TITLE ? Number(m[2]) : undefined;
}
const messagesOf = (version: number) => [...(live.get(version)?.values() ?? [])].reduce((a, b) => a + b, 0);
const distinctIntendedOf = (version: number, intended: Map<string, OraclePerson>) =>
  [...(live.get(version)?.keys() ?? [])].filter((r) => intended.has(r)).length;

// ------------------------------------------------------------------------------ the CLI

function cli(setup: PlatformSetup, cliArgs: string[], timeoutMs = 180_000): Promise<{ code: number | null; out: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [CLI, ...cliArgs], {
      cwd: REPO,
      env: { ...process.env, TPN_DATA_DIR: setup.dataDir, TRUST_CONFIG_PATH: setup.configPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trust-notify ${cliArgs[0]} did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code, out });
    });
  });
}

// ------------------------------------------------------------------------------ read-only DynamoDB probes

interface Tables {
  data: string;
  ledger: string;
}
let db: DynamoDBClient;
let tables: Tables;

function connect(platform: RunningPlatform, dataDir: string, region: string) {
  db = new DynamoDBClient({ endpoint: platform.endpoints.dynamodb, region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 2 });
  const outputs = JSON.parse(readFileSync(join(dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>;
  const data = outputs.DataTableName;
  const ledger = outputs.LedgerTableName;
  if (!data || !ledger) throw new Error('stack-outputs.json has no DataTableName / LedgerTableName');
  tables = { data, ledger };
}

/** Requests of a version (the data table's gsi1), optionally only those with a status. */
async function countRequests(version: number, status?: string): Promise<number> {
  let count = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await db.send(
      new QueryCommand({
        TableName: tables.data,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :v',
        ...(status ? { FilterExpression: '#s = :s', ExpressionAttributeNames: { '#s': 'status' } } : {}),
        ExpressionAttributeValues: { ':v': { S: `POLICYVERSION#${POLICY_ID}#${version}` }, ...(status ? { ':s': { S: status } } : {}) },
        Select: 'COUNT',
        ExclusiveStartKey: start,
      }),
    );
    count += out.Count ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return count;
}

/** The version's ask rows on the ledger: how many, and how many still queued or sending. */
async function ledgerOfVersion(version: number): Promise<{ rows: number; inFlight: number; states: Record<string, number> }> {
  const states: Record<string, number> = {};
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await db.send(
      new ScanCommand({
        TableName: tables.ledger,
        FilterExpression: 'begins_with(pk, :p) AND contains(pk, :ask)',
        ProjectionExpression: '#s',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':p': { S: `policy#${POLICY_ID}#v${version}#` }, ':ask': { S: '#ask' } },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of out.Items ?? []) {
      const state = item.state?.S ?? '?';
      states[state] = (states[state] ?? 0) + 1;
    }
    start = out.LastEvaluatedKey;
  } while (start);
  const rows = Object.values(states).reduce((a, b) => a + b, 0);
  return { rows, inFlight: (states.queued ?? 0) + (states.sending ?? 0), states };
}

/** `possibleDuplicate` on the ask rows of these people (the system's own claim about them). */
async function flaggedOf(version: number, staffIds: string[]): Promise<Set<string>> {
  const flagged = new Set<string>();
  for (let i = 0; i < staffIds.length; i += 100) {
    let keys = staffIds.slice(i, i + 100).map((id) => ({ pk: { S: `policy#${POLICY_ID}#v${version}#${id}#ask` } }));
    while (keys.length > 0) {
      const out = await db.send(
        new BatchGetItemCommand({ RequestItems: { [tables.ledger]: { Keys: keys, ProjectionExpression: 'pk, possibleDuplicate', ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[tables.ledger] ?? []) {
        if (item.possibleDuplicate?.BOOL) flagged.add(String(item.pk?.S).split('#')[3] ?? '');
      }
      keys = (out.UnprocessedKeys?.[tables.ledger]?.Keys ?? []) as typeof keys;
    }
  }
  return flagged;
}

// ------------------------------------------------------------------------------ the run

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'tpn-crash-'));
  const dataDir = join(root, 'data');
  const witnessFile = join(root, 'witness.jsonl');
  const configPath = join(root, 'trust.json');
  const random = rng(SEED);
  const killRandom = rng(SEED ^ 0x5eed);

  // The trust configuration: the shipped one, SES paced at ~100/s (2,000 emails ≈ 20 s), the delivery timings.
  const base = JSON.parse(readFileSync(join(REPO, 'config', 'trust.json'), 'utf8')) as Record<string, unknown> & {
    ses: Record<string, unknown>;
    schools: { id: string }[];
    region: string;
    policies: { policyId: string; audience?: string[] }[];
  };
  const config: Record<string, unknown> = { ...base, ses: { ...base.ses, maxSendRatePerSecond: SES_RATE }, delivery: DELIVERY };
  const check = trustConfigFileSchema.safeParse(config);
  let deliveryNote = `lease ${DELIVERY.leaseSeconds} s, sweep every ${DELIVERY.sweepEveryMinutes} min, queued grace ${DELIVERY.queuedGraceSeconds} s`;
  if (!check.success) {
    const problems = check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    if (check.error.issues.every((i) => i.path[0] === 'delivery' || (i.code === 'unrecognized_keys' && i.keys.includes('delivery')))) {
      delete config.delivery;
      deliveryNote = `NOTE: the configuration schema refuses "delivery" (${problems.join('; ')}): left out, the platform's defaults apply; limits still use ${deliveryNote}`;
    } else throw new Error(`the crash suite's trust configuration is invalid: ${problems.join('; ')}`);
  }
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const leaseMs = DELIVERY.leaseSeconds * 1000;
  const sweepMs = DELIVERY.sweepEveryMinutes * 60_000;
  const graceMs = DELIVERY.queuedGraceSeconds * 1000;

  // The directory and the oracle.
  const schools = base.schools.map((s) => s.id);
  const runTag = SEED.toString(36).toUpperCase();
  const directory = generateDirectory(PEOPLE, schools, random, runTag);
  const peopleCsv = join(root, 'people.csv');
  writeFileSync(peopleCsv, directory.csv);
  const demo = readDemoDirectory(join(REPO, 'fixtures', 'demo-directory.csv'));
  const audience = base.policies.find((p) => p.policyId === POLICY_ID)?.audience ?? ['employees', 'governors', 'volunteers'];
  const everyone = [...directory.people, ...demo];
  const intended = intendedRecipients(everyone, audience);
  const byEmail = new Map(everyone.map((p) => [p.email.toLowerCase(), p]));
  const demoIntended = [...intended.values()].filter((p) => p.source === 'demo').length;

  log(`seed ${SEED} (--seed ${SEED} repeats these people and moments), ${KILLS} kill(s), ${PEOPLE} people + ${demo.length} demo people`);
  log(`audience ${audience.join(', ')}: ${intended.size} intended per version (${intended.size - demoIntended} from the CSV, ${demoIntended} demo), ${everyone.length - intended.size} not in it`);
  log(`SES ${SES_RATE}/s; ${deliveryNote}`);
  log(`data folder ${root}${args.keep ? ' (kept)' : ''}`);

  const witness = await startWitness(witnessFile);
  log(`witness (pid ${witness.child.pid}) on 127.0.0.1:${witness.port}, writing ${witnessFile}`);
  const setup: PlatformSetup = {
    repoRoot: REPO,
    dataDir,
    configPath,
    smtpPort: witness.port,
    logDir: root,
    preload: join(HERE, 'ses-durable.ts'),
  };

  let platform: RunningPlatform | undefined;
  const cleanup = () => {
    if (platform) killGroup(platform.pid);
  };
  process.once('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup();
      process.stderr.write(`crash: stopped by ${signal}\n`);
      process.exit(130);
    });
  }

  const kills: Kill[] = [];
  const published = new Map<number, number>(); // version → publish time
  let current = 1; // version 1 is registered by the platform, and asks nobody
  let summary = { passed: 0, failed: 1 };
  try {
    platform = await startPlatform(setup, 600_000);
    connect(platform, dataDir, base.region);
    log(`platform (pgid ${platform.pid}) ready in ${seconds(platform.readyMs)} (first start synthesizes)`);
    const imported = await cli(setup, ['import', peopleCsv, '--silent']);
    if (imported.code !== 0) throw new Error(`import failed (${imported.code}): ${imported.out.trim().split('\n').slice(-3).join(' | ')}`);
    log(`imported: ${imported.out.trim().split('\n').pop()}`);

    const publish = async (version: number) => {
      const detail = {
        policyId: POLICY_ID,
        title: POLICY_TITLE,
        version,
        approvedOn: new Date().toISOString().slice(0, 10),
        reviewPeriodMonths: 12,
        ownerRole: 'trust-network-manager',
        governingCommittee: 'trust-board',
        audience,
        documentUrl: `https://policies.example.org/social-media/v${version}.pdf`,
        changeSummary: `Crash suite version ${version}: substantive changes to sections 6 and 8.`,
        change: 'substantive',
        acknowledgementDueDays: 21,
      };
      const file = join(root, `policy-v${version}.json`);
      writeFileSync(file, JSON.stringify(detail, null, 2));
      const at = Date.now();
      const out = await cli(setup, ['publish', 'policy-updated', file]);
      if (out.code !== 0) throw new Error(`publish v${version} failed: ${out.out.trim()}`);
      published.set(version, at);
      current = version;
      log(`published v${version}: ${out.out.trim()}`);
    };

    /**
     * Kills the group, restarts it and waits for readiness. `afterRestart` reads what the kill
     * left (the data survive it) before anything is likely to have moved on: a phase that had
     * already finished at the kill shows there (`done`), and the kill is marked late.
     */
    const kill = async (
      phase: Phase,
      version: number,
      evidence: string,
      late: boolean,
      killedAt?: number,
      afterRestart?: () => Promise<{ text: string; done: boolean }>,
    ) => {
      const at = killedAt ?? Date.now();
      if (!platform) throw new Error('no platform to kill');
      killGroup(platform.pid);
      const unsent = Math.max(0, intended.size - distinctIntendedOf(version, intended));
      const k: Kill = { n: kills.length + 1, phase, version, at, evidence, late, unsentAtKill: unsent, restartMs: 0 };
      k.evidence += `; ${intended.size - unsent}/${intended.size} of v${version} witnessed at the kill`;
      kills.push(k);
      log(`KILL #${k.n} (${phase}, v${version}): ${k.evidence}${late ? ' [LATE: the phase had passed]' : ''}`);
      await waitGroupGone(platform.pid);
      const restarted = await startPlatform(setup);
      platform = restarted;
      connect(restarted, dataDir, base.region);
      k.restartMs = Date.now() - at;
      const left = afterRestart ? await afterRestart().catch((error: Error) => ({ text: `(could not read: ${error.message})`, done: false })) : undefined;
      if (left) {
        k.evidence += `; after the restart ${left.text}`;
        if (left.done) k.late = true;
      }
      log(`restarted (pgid ${restarted.pid}) ${seconds(k.restartMs)} after the kill (ready in ${seconds(restarted.readyMs)})${left ? `; ${left.text}${left.done ? ' [LATE]' : ''}` : ''}`);
      return k;
    };

    /** Polls `probe` every `everyMs` until it returns a value or `deadline`. */
    const until = async <T>(probe: () => Promise<T | undefined>, everyMs: number, deadline: number): Promise<T | undefined> => {
      for (;;) {
        const value = await probe().catch(() => undefined);
        if (value !== undefined) return value;
        if (Date.now() > deadline) return undefined;
        await sleep(everyMs);
      }
    };

    /** Settled: every intended recipient witnessed, or all the version's rows on the ledger and none queued or sending. */
    const settle = async (chain: Kill[]) => {
      const lastKill = chain[chain.length - 1] as Kill;
      const version = lastKill.version;
      const pacing = Math.max(...chain.map((k) => k.unsentAtKill)) / SES_RATE * 1000;
      // Judged from the last kill of the chain; the earlier ones' limits run up to it.
      const limitFromLast = leaseMs + 2 * sweepMs + lastKill.restartMs + pacing;
      for (const k of chain) k.limitMs = lastKill.at - k.at + limitFromLast;
      const deadline = lastKill.at + limitFromLast + MARGIN_MS;
      let lastLedgerLook = 0;
      let saidExited = false;
      const how = await until<'witness' | 'ledger'>(async () => {
        if (!saidExited && platform?.exited()) {
          saidExited = true; // not restarted: a platform that dies on its own is a finding, see its log
          log(`the platform exited by itself while settling; see ${platform.logFile}`);
        }
        if (distinctIntendedOf(version, intended) >= intended.size) return 'witness';
        if (Date.now() - lastLedgerLook >= 5_000) {
          lastLedgerLook = Date.now();
          const l = await ledgerOfVersion(version);
          if (l.rows >= intended.size && l.inFlight === 0) return 'ledger';
        }
        return undefined;
      }, 500, deadline);
      const at = Date.now();
      for (const k of chain) {
        k.chainEnd = lastKill.n;
        if (how) {
          k.settledAt = at;
          k.settledBy = how;
        }
      }
      const l = await ledgerOfVersion(version).catch(() => undefined);
      log(
        how
          ? `settled (${how}) ${seconds(at - lastKill.at)} after kill #${lastKill.n}; v${version} witnessed ${distinctIntendedOf(version, intended)}/${intended.size}; ledger ${JSON.stringify(l?.states ?? {})}`
          : `NOT settled ${seconds(at - lastKill.at)} after kill #${lastKill.n}: v${version} witnessed ${distinctIntendedOf(version, intended)}/${intended.size}; ledger ${JSON.stringify(l?.states ?? {})}`,
      );
    };

    /** Quiet: the version's rows all on the ledger, none queued or sending (late resends have gone). */
    const quiet = async (version: number, waitMs: number) => {
      // A version whose kill never settled will not be quiet either: no point waiting again.
      if (kills.some((k) => k.version === version && k.chainEnd !== undefined && k.settledAt === undefined)) return false;
      const ok = await until(async () => {
        const l = await ledgerOfVersion(version);
        return l.rows >= intended.size && l.inFlight === 0 ? l : undefined;
      }, 3_000, Date.now() + waitMs);
      if (!ok) log(`v${version} not quiet on the ledger after ${seconds(waitMs)}: ${JSON.stringify((await ledgerOfVersion(version).catch(() => undefined))?.states ?? {})}`);
      return ok !== undefined;
    };

    const fanoutWindowDeadline = () => Date.now() + 120_000;

    let chain: Kill[] = [];
    for (let i = 0; i < KILLS; i++) {
      const phase = PHASES[i % PHASES.length] as Phase;
      if (phase !== 'sweep' && chain.length > 0) {
        await settle(chain);
        chain = [];
      }
      if (phase !== 'sweep' && current > 1) await quiet(current, leaseMs + 2 * sweepMs);

      if (phase === 'fanout-writing') {
        const version = current + 1;
        const target = Math.max(1, Math.floor(intended.size * uniform(killRandom, 0.1, 0.8)));
        await publish(version);
        const seen = await until(async () => {
          const n = await countRequests(version);
          return n >= target ? n : undefined;
        }, 50, fanoutWindowDeadline());
        const n = seen ?? (await countRequests(version).catch(() => -1));
        chain.push(
          await kill(phase, version, `${n}/${intended.size} v${version} requests written (target ${target})`, n >= intended.size, undefined, async () => {
            const written = await countRequests(version);
            return { text: `${written}/${intended.size} v${version} requests on record`, done: written >= intended.size };
          }),
        );
      } else if (phase === 'ses-accepted') {
        const version = current + 1;
        const target = Math.max(1, Math.floor(intended.size * uniform(killRandom, 0.2, 0.8)));
        let fired = 0;
        const firedPromise = new Promise<void>((resolveFire) => {
          trigger = {
            version,
            count: target,
            fire: () => {
              // Synchronously, in the witness's notice: the SES call that carried this email is still unanswered.
              if (platform) killGroup(platform.pid);
              fired = Date.now();
              resolveFire();
            },
          };
        });
        await publish(version);
        const ok = await Promise.race([firedPromise.then(() => true), sleep(180_000).then(() => false)]);
        trigger = undefined;
        const witnessed = messagesOf(version);
        chain.push(
          await kill(
            phase,
            version,
            ok ? `killed as the witness fsynced email ${target} of v${version} (${witnessed} of v${version} on disk by then)` : `the witness never reached ${target} emails of v${version} (had ${witnessed})`,
            !ok,
            fired || undefined,
          ),
        );
      } else if (phase === 'ses-in-flight') {
        const version = current + 1;
        const sendingMs = (intended.size / SES_RATE) * 1000;
        const delay = uniform(killRandom, 0.1, 0.7) * sendingMs;
        await publish(version);
        const first = await until(async () => (firstWitnessed.has(version) ? true : undefined), 20, Date.now() + 180_000);
        await sleep(delay);
        const witnessed = distinctIntendedOf(version, intended);
        chain.push(
          await kill(
            phase,
            version,
            `${first ? `${Math.round(delay)} ms after the first v${version} email` : `no v${version} email witnessed in 180 s`}: ${witnessed}/${intended.size} witnessed`,
            !first || witnessed >= intended.size,
          ),
        );
      } else if (phase === 'supersede') {
        if (current < 2) {
          // Nothing to supersede yet: a version first, unkilled, settled.
          await publish(2);
          await until(async () => (distinctIntendedOf(2, intended) >= intended.size ? true : undefined), 1_000, Date.now() + 600_000);
          await quiet(2, leaseMs + 2 * sweepMs);
        }
        const older = current;
        const pending = await countRequests(older, 'pending');
        const version = older + 1;
        const target = Math.max(1, Math.floor(pending * uniform(killRandom, 0.1, 0.9)));
        await publish(version);
        const seen = await until(async () => {
          const n = await countRequests(older, 'superseded');
          return n >= target ? n : undefined;
        }, 50, fanoutWindowDeadline());
        const n = seen ?? (await countRequests(older, 'superseded').catch(() => -1));
        chain.push(
          await kill(phase, version, `${n}/${pending} v${older} requests superseded (target ${target})`, n >= pending, undefined, async () => {
            const superseded = await countRequests(older, 'superseded');
            const asked = await countRequests(version);
            return {
              text: `${superseded}/${pending} v${older} superseded, ${asked} v${version} requests on record`,
              done: superseded >= pending,
            };
          }),
        );
      } else {
        // sweep: during the recovery from the kill before (or, first of all, on whatever is owed).
        const before = chain[chain.length - 1];
        if (before) await sleep(Math.max(0, before.at + graceMs + 2_000 - Date.now()));
        const logFile = join(dataDir, 'logs', 'functions.log');
        const sweeps = readSweeps(logFile, 0);
        const typical = Math.max(150, ...sweeps.slice(-5).map((s) => s.durationMs));
        const offset = statSync(logFile, { throwIfNoEntry: false })?.size ?? 0;
        const delay = uniform(killRandom, 0.1, 0.9) * typical;
        const tickAt = Date.now();
        const fired = await fetch(`${platform.endpoints.web}/admin/tick`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }).catch(() => undefined);
        await sleep(delay);
        const done = readSweeps(logFile, offset);
        const version = current;
        chain.push(
          await kill(
            phase,
            version,
            `sweeper fired (tick ${fired?.status ?? 'failed'}) and killed ${Date.now() - tickAt} ms later (typical sweep ${typical} ms); ${
              done.length > 0 ? `a sweep finished first: ${done.map((d) => d.summary).join('; ')}` : 'no sweep had finished'
            }`,
            done.length > 0,
          ),
        );
      }
    }
    if (chain.length > 0) await settle(chain);

    // Final: every counted version quiet on the ledger, then a moment for the last emails.
    for (const version of published.keys()) await quiet(version, leaseMs + 2 * sweepMs);
    let last = -1;
    while (last !== witnessLines(witnessFile)) {
      last = witnessLines(witnessFile);
      await sleep(3_000);
    }

    // ---------------------------------------------------------------------- counting, from the witness's file
    const records = readFileSync(witnessFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as WitnessRecord);
    const otherSubjects = new Map<string, number>();
    const versions = [...published.keys()].sort((a, b) => a - b);
    const rows: VersionCount[] = [];
    for (const version of versions) {
      const copies = new Map<string, number>();
      const stale = new Set<string>();
      const supersededAt = published.get(version + 1);
      for (const record of records) {
        if (versionOf(record.subject) !== version) continue;
        for (const r of record.rcpt.map((x) => x.toLowerCase())) {
          copies.set(r, (copies.get(r) ?? 0) + 1);
          if (supersededAt !== undefined && record.ms > supersededAt) stale.add(r);
        }
      }
      const delivered = [...intended.keys()].filter((r) => copies.has(r)).length;
      const duplicated = [...copies.entries()].filter(([r, n]) => n > 1 && intended.has(r)).map(([r]) => r);
      const dupIds = duplicated.map((r) => byEmail.get(r)?.staffId).filter((id): id is string => id !== undefined);
      const flagged = await flaggedOf(version, dupIds);
      const notIntended = [...copies.keys()].filter((r) => !intended.has(r));
      rows.push({
        version,
        intended: intended.size,
        delivered,
        lost: intended.size - delivered,
        duplicated: duplicated.length,
        flagged: dupIds.filter((id) => flagged.has(id)).length,
        maxCopies: Math.max(0, ...copies.values()),
        unexpected: new Set([...notIntended, ...stale]).size,
        notes: [
          ...(notIntended.length > 0 ? [`${notIntended.length} not in the audience (e.g. ${notIntended.slice(0, 2).join(', ')})`] : []),
          ...(stale.size > 0 ? [`${stale.size} asked for v${version} after v${version + 1} was published`] : []),
        ],
      });
    }
    for (const record of records) if (versionOf(record.subject) === undefined) otherSubjects.set(record.subject.replace(/\d+/g, 'N'), (otherSubjects.get(record.subject.replace(/\d+/g, 'N')) ?? 0) + 1);
    const forwardFailures = countInLogs(root, 'crash-suite ses-durable: the witness did not take');

    // Stop the platform (kept data for --keep) and the witness.
    const stopping = platform;
    platform = undefined;
    try {
      process.kill(stopping.pid, 'SIGINT');
      const deadline = Date.now() + 30_000;
      while (!stopping.exited() && Date.now() < deadline) await sleep(200);
    } finally {
      killGroup(stopping.pid);
      await waitGroupGone(stopping.pid).catch(() => undefined);
    }
    if (witness.child.connected) witness.child.disconnect();

    summary = report(rows, kills, { records: records.length, otherSubjects, forwardFailures });
  } catch (error) {
    process.stderr.write(`crash: the suite itself failed: ${(error as Error).stack ?? (error as Error).message}\n`);
    summary = { passed: 0, failed: 1 };
    if (platform) killGroup(platform.pid);
    if (witness.child.connected) witness.child.disconnect();
  }
  // The data folder goes unless asked to keep it or something failed (it holds the witness's file and every log).
  if (!args.keep && summary.failed === 0) rmSync(root, { recursive: true, force: true });
  else process.stdout.write(`  data kept in ${root}\n`);
  process.stdout.write(`crash: ${summary.passed} passed, ${summary.failed} failed\n`);
  process.exit(summary.failed === 0 ? 0 : 1);
}

function witnessLines(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').length;
  } catch {
    return 0;
  }
}

/** "Ledger sweep done" lines in the functions' log from `offset` on: the sweeper's own report. */
function readSweeps(file: string, offset: number): { durationMs: number; summary: string }[] {
  let text = '';
  try {
    const size = statSync(file).size;
    if (size <= offset) return [];
    const fd = openSync(file, 'r');
    const buffer = Buffer.alloc(size - offset);
    readSync(fd, buffer, 0, buffer.length, offset);
    closeSync(fd);
    text = buffer.toString('utf8');
  } catch {
    return [];
  }
  const out: { durationMs: number; summary: string }[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('Ledger sweep done')) continue;
    try {
      const entry = JSON.parse(line) as Record<string, number>;
      out.push({
        durationMs: Number(entry.durationMs ?? 0),
        summary: `examined ${entry.examined ?? '?'}, requeued ${entry.requeued ?? '?'}, later ${entry.later ?? '?'}, fan-outs requeued ${entry.fanoutsRequeued ?? '?'} in ${entry.durationMs ?? '?'} ms`,
      });
    } catch {
      // a line cut by the kill
    }
  }
  return out;
}

function countInLogs(root: string, needle: string): number {
  let count = 0;
  for (let n = 1; ; n++) {
    let text: string;
    try {
      text = readFileSync(join(root, `platform-${n}.log`), 'utf8');
    } catch {
      break;
    }
    count += text.split(needle).length - 1;
  }
  return count;
}

interface VersionCount {
  version: number;
  intended: number;
  delivered: number;
  lost: number;
  duplicated: number;
  flagged: number;
  maxCopies: number;
  unexpected: number;
  notes: string[];
}

/** Prints the table and the evidence; returns the checks' counts (the caller prints the final line). */
function report(
  rows: VersionCount[],
  kills: Kill[],
  extra: { records: number; otherSubjects: Map<string, number>; forwardFailures: number },
): { passed: number; failed: number } {
  const settleOf = (k: Kill) => (k.settledAt === undefined ? undefined : k.settledAt - k.at);
  const table: string[][] = [
    ['kill', 'phase', 'version', 'intended', 'delivered', 'lost', 'duplicated', 'dup+flagged', 'max copies', 'unexpected', 'restart', 'settle', 'limit'],
  ];
  const covered = new Set<number>();
  const versionCells = (v: VersionCount | undefined, first: boolean) =>
    v && first
      ? [String(v.intended), String(v.delivered), String(v.lost), String(v.duplicated), String(v.flagged), String(v.maxCopies), String(v.unexpected)]
      : ['〃', '', '', '', '', '', ''];
  for (const v of rows) {
    const ks = kills.filter((k) => k.version === v.version);
    if (ks.length === 0) table.push(['-', '(no kill)', `v${v.version}`, ...versionCells(v, true), '', '', '']);
    ks.forEach((k, i) => {
      const settled = settleOf(k);
      table.push([
        `#${k.n}`,
        k.phase + (k.late ? ' (late)' : ''),
        `v${k.version}`,
        ...versionCells(v, i === 0),
        seconds(k.restartMs),
        settled === undefined ? 'NOT settled' : `${seconds(settled)} (${k.settledBy})`,
        k.limitMs === undefined ? '' : seconds(k.limitMs),
      ]);
      covered.add(k.n);
    });
  }
  const sum = (f: (v: VersionCount) => number) => rows.reduce((a, v) => a + f(v), 0);
  const settles = kills.map(settleOf).filter((s): s is number => s !== undefined);
  table.push([
    'all',
    `${kills.length} kills, ${new Set(kills.map((k) => k.phase)).size} phases`,
    rows.map((v) => `v${v.version}`).join(','),
    String(sum((v) => v.intended)),
    String(sum((v) => v.delivered)),
    String(sum((v) => v.lost)),
    String(sum((v) => v.duplicated)),
    String(sum((v) => v.flagged)),
    String(Math.max(0, ...rows.map((v) => v.maxCopies))),
    String(sum((v) => v.unexpected)),
    seconds(Math.max(0, ...kills.map((k) => k.restartMs))),
    settles.length === kills.length ? `max ${seconds(Math.max(0, ...settles))}` : `${kills.length - settles.length} NOT settled`,
    '',
  ]);
  const widths = table[0]?.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length))) ?? [];
  process.stdout.write('\n');
  for (const r of table) process.stdout.write(`${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()}\n`);
  process.stdout.write('\n');
  for (const k of kills) process.stdout.write(`  kill #${k.n} ${k.phase}: ${k.evidence}\n`);
  for (const v of rows) for (const note of v.notes) process.stdout.write(`  v${v.version} unexpected: ${note}\n`);
  process.stdout.write(
    `  witness: ${extra.records} messages in all; other subjects: ${[...extra.otherSubjects].map(([s, n]) => `${n}× "${s}"`).join(', ') || 'none'}\n`,
  );

  // The checks.
  const checks: { name: string; ok: boolean; why: string }[] = [];
  for (const v of rows) {
    checks.push({ name: `v${v.version} nobody lost`, ok: v.lost === 0, why: `v${v.version}: ${v.lost} of ${v.intended} intended recipients never witnessed` });
    checks.push({
      name: `v${v.version} every duplicate flagged`,
      ok: v.flagged === v.duplicated,
      why: `v${v.version}: ${v.duplicated - v.flagged} recipients got a second copy their ledger row does not flag`,
    });
    checks.push({ name: `v${v.version} at most 2 copies`, ok: v.maxCopies <= 2, why: `v${v.version}: a recipient got ${v.maxCopies} copies` });
    checks.push({ name: `v${v.version} nothing unexpected`, ok: v.unexpected === 0, why: `v${v.version}: ${v.unexpected} unexpected recipients (${v.notes.join('; ')})` });
  }
  for (const k of kills) {
    const settled = settleOf(k);
    checks.push({
      name: `kill #${k.n} settled in time`,
      ok: settled !== undefined && k.limitMs !== undefined && settled <= k.limitMs,
      why:
        settled === undefined
          ? `kill #${k.n} (${k.phase}) did not settle within ${seconds((k.limitMs ?? 0) + MARGIN_MS)}`
          : `kill #${k.n} (${k.phase}) settled in ${seconds(settled)}, over its limit ${seconds(k.limitMs ?? 0)} (lease + 2 sweeps + restarts + pacing)`,
    });
  }
  checks.push({ name: 'the witness took every email SES accepted', ok: extra.forwardFailures === 0, why: `${extra.forwardFailures} forwards to the witness failed (see platform-*.log)` });
  const lateKills = kills.filter((k) => k.late);
  if (lateKills.length > 0) process.stdout.write(`  warning: kill(s) ${lateKills.map((k) => `#${k.n}`).join(', ')} landed after their phase had passed (see the evidence above)\n`);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) process.stdout.write(`crash: FAIL: ${failed.map((c) => c.why).join('; ')}\n`);
  return { passed: checks.length - failed.length, failed: failed.length };
}

await main();
