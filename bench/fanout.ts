#!/usr/bin/env node
/**
 * `npm run bench [-- --people N]`: the policy fan-out at trust scale on the local runtime
 * (issue #4). Seeds N synthetic people (default 10,000) across 50 schools, publishes one
 * substantive `Policy Updated`, and measures until every email is in the SES store:
 * wall time, recipients per second, SES calls per recipient, DynamoDB and SQS requests per
 * recipient (by operation, counted by proxies in front of the local servers), peak memory
 * of the platform's processes. Then the floor: how long DynamoDB Local takes for the
 * minimum writes this work needs (a request row and a ledger row per person,
 * BatchWriteItem of 25, 8 in flight), and the ratio. Then a SECOND substantive version
 * (issue #11 part 3, "Supersede at scale"): its Policy Updated run supersedes every pending
 * request of the first (10,000 at the default size), and the bench prints how long that
 * took, the function's duration against its timeout (the headroom, target >= 3x, with no
 * async retry), and the second version's fan-out time and requests per recipient. Prints a
 * table and writes JSON to bench/results/.
 *
 * The bench trust configuration is config/trust.json with 50 schools and an SES send rate
 * of 1,000 emails/s, so the run measures this system rather than the SES quota's pacing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { batchPut } from '../functions/adapters/batch.ts';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import { publishDetail } from '../local/cli-commands.ts';
import { benchEnv, CLI as cli, printTable, sleep, startBenchPlatform, treeRss } from './platform.ts';

const { values } = parseArgs({ options: { people: { type: 'string', default: '10000' } } });
const N = Number(values.people);
if (!Number.isInteger(N) || N < 1) throw new Error('--people must be a positive whole number');
const SCHOOLS = 50;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const say = (line: string) => process.stderr.write(`${line}\n`);

const work = mkdtempSync(join(tmpdir(), 'tpn-bench-'));
const dataDir = join(work, 'data');
mkdirSync(dataDir);

// The bench trust: the real configuration with 50 schools and a high SES rate.
const base = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'trust.json'), 'utf8'));
// The configured schools (the demo trust is seeded into them) and more, 50 in all.
const schools = [
  ...base.schools,
  ...Array.from({ length: SCHOOLS - base.schools.length }, (_, i) => ({ id: `school-${String(i + 1).padStart(2, '0')}`, name: `Bench School ${i + 1}` })),
] as { id: string; name: string }[];
const configPath = join(work, 'trust.json');
writeFileSync(
  configPath,
  JSON.stringify({ ...base, schools, ses: { ...base.ses, maxSendRatePerSecond: 1000 }, officialChannels: [] }, null, 2),
);

// N people: employees, with a few governors and volunteers; all in the seed policy's audience.
const csvPath = join(work, 'people.csv');
const header = 'staffId,givenName,familyName,email,schoolId,roles,employmentType,startDate,lineManagerStaffId,managesOfficialChannels';
const rows = Array.from({ length: N }, (_, i) => {
  const type = i % 20 === 0 ? ['governor', 'governor'] : i % 25 === 0 ? ['volunteer', 'volunteer'] : ['teacher', 'permanent'];
  return `B${i},Bench,Person ${i},bench.${i}@example.org,${schools[i % SCHOOLS]?.id},${type[0]},${type[1]},2024-09-01,,false`;
});
writeFileSync(csvPath, `${[header, ...rows].join('\n')}\n`);

const env = benchEnv(dataDir, configPath);

async function main() {
  say(`bench: ${N} people across ${SCHOOLS} schools; working folder ${work}`);
  const running = await startBenchPlatform(env, dataDir);
  const platform = running.child;
  try {
    const urls = running.urls;
    say('bench: platform ready; seeding people (import --silent)');
    const seeded = Date.now();
    execFileSync(process.execPath, [cli, 'import', csvPath, '--silent'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    say(`bench: seeded ${N} people in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

    const web = urls.web ?? '';
    await fetch(`${web}/admin/requests/reset`, { method: 'POST' });
    const policyDetail = (version: number, approvedOn: string) => ({
      policyId: 'use-of-social-media',
      title: 'Use of Social Media Policy',
      version,
      approvedOn,
      reviewPeriodMonths: 12,
      ownerRole: 'trust-network-manager',
      governingCommittee: 'trust-board',
      audience: ['employees', 'governors', 'volunteers'],
      documentUrl: `https://policies.example.org/social-media/v${version}`,
      changeSummary: 'Benchmark: a substantive change for everyone.',
      change: 'substantive',
    });
    const detailFile = join(work, 'policy-updated.json');
    writeFileSync(detailFile, JSON.stringify(policyDetail(2, '2026-11-20')));
    let peakRss = treeRss(platform.pid ?? 0);
    type Store = { emails: { destination: { to: string[] }; subject: string }[] };
    /**
     * Done when SES has taken a destination for every bench person, as counted by the
     * proxy (the demo trust's people and the committee are told too); then the store is
     * read to check who got what.
     */
    const untilAllAsked = async (version: number, started: number) => {
      let counts: Record<string, number> = {};
      let asked: Store['emails'] = [];
      for (;;) {
        await sleep(500);
        peakRss = Math.max(peakRss, treeRss(platform.pid ?? 0));
        counts = (await (await fetch(`${web}/admin/requests`)).json()) as Record<string, number>;
        const sent = counts['ses:destinations'] ?? 0;
        if (Date.now() - started > 30 * 60_000) throw new Error(`timed out: ${sent} destinations sent`);
        if (sent < N) continue;
        const wallMs = Date.now() - started;
        const store = (await (await fetch(`${urls.ses}/store`)).json()) as Store;
        asked = store.emails.filter(
          (e) =>
            e.subject.startsWith(`Please read and confirm: Use of Social Media Policy (version ${version})`) && e.destination.to[0]?.startsWith('bench.'),
        );
        if (asked.length >= N) return { counts, asked, wallMs, unique: new Set(asked.flatMap((e) => e.destination.to)) };
      }
    };
    const started = Date.now();
    execFileSync(process.execPath, [cli, 'publish', 'policy-updated', detailFile], { env, stdio: 'ignore' });
    const { counts, asked, wallMs, unique } = await untilAllAsked(2, started);
    const firstPeakRss = peakRss;

    // The operator console at this size: each page's response time, the best of three
    // (the ledger page scans the ledger; the dashboard and the drill-down use queries).
    const pageMs = async (path: string): Promise<number> => {
      let best = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const t = Date.now();
        const response = await fetch(`${web}${path}`);
        await response.text();
        if (!response.ok) throw new Error(`console ${path} answered ${response.status}`);
        best = Math.min(best, Date.now() - t);
      }
      return best;
    };
    const consoleMs = {
      dashboard: await pageMs('/'),
      schoolOutstanding: await pageMs('/compliance/use-of-social-media/v2/school-01'),
      ledger: await pageMs('/ledger'),
      queues: await pageMs('/queues'),
    };

    // The floor: the minimum writes, straight to DynamoDB Local.
    const ddb = new DynamoDBClient({ endpoint: urls.dynamodb, region: 'eu-west-2', credentials });
    const db = DynamoDBDocumentClient.from(ddb);
    const floorTable = 'bench-floor';
    await ddb.send(
      new CreateTableCommand({
        TableName: floorTable,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const items = Array.from({ length: N }, (_, i) => [
      { pk: `PERSON#B${i}`, sk: 'REQUEST#use-of-social-media#000002', status: 'pending', dueOn: '2026-12-09' },
      { pk: `policy#use-of-social-media#v2#B${i}#ask`, sk: 'LEDGER', state: 'queued', recipient: `bench.${i}@example.org` },
    ]).flat();
    const floorStarted = Date.now();
    await batchPut(db, floorTable, items);
    const floorMs = Date.now() - floorStarted;
    await ddb.send(new DeleteTableCommand({ TableName: floorTable }));

    // A second substantive version, now that the first has fanned out: its Policy Updated run
    // supersedes every pending request of version 2 (nobody has acknowledged one), then the
    // fan-out asks everyone again. Published in-process (no CLI start in the timing), so the
    // time from PutEvents to the function's last log line bounds its duration from above.
    const policyUpdatedId = policyUpdatedLogicalId(running.stderr());
    const timeoutSeconds = functionTimeoutSeconds(running.stderr(), policyUpdatedId);
    const statsBefore = await functionStats(web, policyUpdatedId);
    await fetch(`${web}/admin/requests/reset`, { method: 'POST' });
    say('bench: publishing a second substantive version (3)');
    const secondStarted = Date.now();
    await publishDetail('policy-updated', policyDetail(3, '2026-11-27'), {
      kind: 'local',
      bus: urls.bus ?? '',
      dynamodb: urls.dynamodb ?? '',
      sqs: urls.sqs ?? '',
      web,
    });
    const run = await policyUpdatedRun(join(dataDir, 'logs', 'functions.log'), 3, secondStarted);
    const second = await untilAllAsked(3, secondStarted);
    const statsAfter = await functionStats(web, policyUpdatedId);
    const delta = (k: keyof FunctionStats) => statsAfter[k] - statsBefore[k];
    const durationMs = run.liveAt - secondStarted;
    const headroom = (timeoutSeconds * 1000) / durationMs;
    const versionTwo = await statusesOfVersion(db, env, 2);

    const figures = (c: Record<string, number>) => {
      const dynamo = Object.entries(c).filter(([k]) => k.startsWith('dynamodb:'));
      const sqs = Object.entries(c).filter(([k]) => k.startsWith('sqs:'));
      return {
        dynamo,
        sesCallsPerRecipient: (c['ses:SendBulkEmail'] ?? 0) / N,
        dynamodbRequestsPerRecipient: dynamo.reduce((a, [, v]) => a + v, 0) / N,
        dynamodbByOperation: Object.fromEntries(dynamo.map(([k, v]) => [k.slice('dynamodb:'.length), { requests: v, perRecipient: v / N }])),
        sqsRequestsPerRecipient: sqs.reduce((a, [, v]) => a + v, 0) / N,
        sqsByOperation: Object.fromEntries(sqs.map(([k, v]) => [k.slice(4), v])),
      };
    };
    const first = figures(counts);
    const later = figures(second.counts);
    const { dynamo } = first;
    const result = {
      people: N,
      schools: SCHOOLS,
      wallSeconds: wallMs / 1000,
      recipientsPerSecond: N / (wallMs / 1000),
      emailsInStore: asked.length,
      uniqueRecipients: unique.size,
      sesCallsPerRecipient: first.sesCallsPerRecipient,
      dynamodbRequestsPerRecipient: first.dynamodbRequestsPerRecipient,
      dynamodbByOperation: first.dynamodbByOperation,
      sqsRequestsPerRecipient: first.sqsRequestsPerRecipient,
      sqsByOperation: first.sqsByOperation,
      peakMemoryMiB: firstPeakRss / 2 ** 20,
      floorSeconds: floorMs / 1000,
      ratioToFloor: wallMs / floorMs,
      consoleMs,
      secondVersion: {
        version: 3,
        supersededRequests: run.superseded,
        versionTwoStatuses: versionTwo,
        supersedeSeconds: run.supersedeMs / 1000,
        policyUpdatedSeconds: durationMs / 1000,
        policyUpdatedTimeoutSeconds: timeoutSeconds,
        headroom,
        policyUpdated: { invocations: delta('invocations'), errors: delta('errors'), timeouts: delta('timeouts'), asyncRetries: delta('asyncRetries') },
        wallSeconds: second.wallMs / 1000,
        recipientsPerSecond: N / (second.wallMs / 1000),
        emailsInStore: second.asked.length,
        uniqueRecipients: second.unique.size,
        sesCallsPerRecipient: later.sesCallsPerRecipient,
        dynamodbRequestsPerRecipient: later.dynamodbRequestsPerRecipient,
        dynamodbByOperation: later.dynamodbByOperation,
        sqsRequestsPerRecipient: later.sqsRequestsPerRecipient,
        sqsByOperation: later.sqsByOperation,
        peakMemoryMiB: peakRss / 2 ** 20,
      },
      machine: { cores: (await import('node:os')).cpus().length, node: process.version },
      at: new Date().toISOString(),
    };
    const table: [string, string][] = [
      ['people (schools)', `${N} (${SCHOOLS})`],
      ['wall time, publish → all in SES', `${result.wallSeconds.toFixed(1)} s`],
      ['recipients per second', result.recipientsPerSecond.toFixed(0)],
      ['emails in the SES store / unique', `${asked.length} / ${unique.size}`],
      ['SES calls per recipient', result.sesCallsPerRecipient.toFixed(4)],
      ['DynamoDB requests per recipient', result.dynamodbRequestsPerRecipient.toFixed(4)],
      ...dynamo.map(([k, v]): [string, string] => [`  ${k.slice(9)}`, `${v} (${(v / N).toFixed(4)})`]),
      ['SQS requests per recipient', result.sqsRequestsPerRecipient.toFixed(4)],
      ['peak memory (platform + DynamoDB Local)', `${result.peakMemoryMiB.toFixed(0)} MiB`],
      ['floor: minimum writes in DynamoDB Local', `${result.floorSeconds.toFixed(1)} s (${2 * N} rows, BatchWriteItem 25, 8 in flight)`],
      ['ratio to the floor', `${result.ratioToFloor.toFixed(2)}x`],
      ['console: dashboard / a school\'s outstanding', `${consoleMs.dashboard} ms / ${consoleMs.schoolOutstanding} ms`],
      ['console: ledger (scan) / queues', `${consoleMs.ledger} ms / ${consoleMs.queues} ms`],
      ['second version (3): v2 requests superseded', `${run.superseded} (v2 now: ${JSON.stringify(versionTwo)})`],
      ['  supersede time (in Policy Updated)', `${(run.supersedeMs / 1000).toFixed(2)} s`],
      ['  Policy Updated duration / timeout', `${(durationMs / 1000).toFixed(2)} s / ${timeoutSeconds} s (PutEvents → its last log line)`],
      [
        '  headroom (timeout / duration)',
        `${headroom.toFixed(2)}x (target >= 3x: ${headroom >= 3 ? 'met' : 'NOT met'}); ` +
          `invocations ${delta('invocations')}, async retries ${delta('asyncRetries')}, timeouts ${delta('timeouts')}, errors ${delta('errors')}`,
      ],
      ['  wall time, publish → all in SES', `${(second.wallMs / 1000).toFixed(1)} s (in-process PutEvents; the first version's includes the CLI's start)`],
      ['  emails in the SES store / unique', `${second.asked.length} / ${second.unique.size}`],
      ['  SES calls per recipient', later.sesCallsPerRecipient.toFixed(4)],
      ['  DynamoDB requests per recipient', later.dynamodbRequestsPerRecipient.toFixed(4)],
      ...later.dynamo.map(([k, v]): [string, string] => [`    ${k.slice(9)}`, `${v} (${(v / N).toFixed(4)})`]),
      ['  SQS requests per recipient', later.sqsRequestsPerRecipient.toFixed(4)],
    ];
    printTable(table);
    const outDir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const outFile = join(outDir, `fanout-${N}.json`);
    writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    say(`bench: wrote ${outFile}`);
    if (unique.size !== N || asked.length !== N) throw new Error(`expected ${N} emails to ${N} people, got ${asked.length} to ${unique.size}`);
    if (second.unique.size !== N || second.asked.length !== N) {
      throw new Error(`version 3: expected ${N} emails to ${N} people, got ${second.asked.length} to ${second.unique.size}`);
    }
    if (run.superseded < N || (versionTwo.pending ?? 0) > 0 || versionTwo.superseded !== run.superseded) {
      throw new Error(`version 3: superseded ${run.superseded}, version 2 now ${JSON.stringify(versionTwo)}`);
    }
    if (delta('invocations') !== 1 || delta('asyncRetries') > 0 || delta('timeouts') > 0) {
      throw new Error(`version 3: Policy Updated ran ${delta('invocations')} times (${delta('asyncRetries')} async retries, ${delta('timeouts')} timeouts)`);
    }
  } finally {
    await running.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

interface FunctionStats {
  invocations: number;
  errors: number;
  timeouts: number;
  asyncRetries: number;
}

/** The Policy Updated function's logical id (its stats and template entry are keyed by it), from the template the platform synthesized. */
function policyUpdatedLogicalId(platformLog: string): string {
  const id = Object.entries(platformTemplate(platformLog).Resources).find(
    ([k, r]) => k.startsWith('PolicyUpdatedFunction') && r.Type === 'AWS::Lambda::Function',
  )?.[0];
  if (!id) throw new Error('the template has no PolicyUpdatedFunction');
  return id;
}

/** A function's timeout, from the template the platform runs: its log names the synthesis (`synthesis cached (<key>)`). */
function functionTimeoutSeconds(platformLog: string, logicalId: string): number {
  // Lambda's default is 3 s when the template sets none.
  return Number(platformTemplate(platformLog).Resources[logicalId]?.Properties?.Timeout ?? 3);
}

function platformTemplate(platformLog: string): { Resources: Record<string, { Type: string; Properties?: { Timeout?: number } }> } {
  const key = /synthe\S* .*\(([0-9a-f]{16})\)/.exec(platformLog)?.[1];
  const dir = key ? join(REPO_ROOT, '.cache', 'synth', key) : '';
  const file = dir && existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.template.json')) : undefined;
  if (!file) throw new Error('the platform log names no synthesized template');
  return JSON.parse(readFileSync(join(dir, file), 'utf8'));
}

/** One function's invocation counts (`GET /admin/functions`). */
async function functionStats(web: string, logicalId: string): Promise<FunctionStats> {
  const all = (await (await fetch(`${web}/admin/functions`)).json()) as Record<string, FunctionStats>;
  const stats = all[logicalId];
  if (!stats) throw new Error(`no ${logicalId} in /admin/functions`);
  return stats;
}

/**
 * The Policy Updated run for `version`, from the functions' log: when it logged 'Policy
 * version live' (its last line), and its 'Older pending requests superseded' line (same
 * request id): how many, and how long superseding took inside the function.
 */
async function policyUpdatedRun(logFile: string, version: number, since: number): Promise<{ liveAt: number; superseded: number; supersedeMs: number }> {
  type Line = { message?: string; timestamp?: string; version?: number; function_request_id?: string; superseded?: number; durationMs?: number };
  for (;;) {
    const lines = (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Line;
        } catch {
          return {} as Line;
        }
      });
    const live = lines.find((l) => l.message === 'Policy version live' && l.version === version);
    const step = lines.find((l) => l.message === 'Older pending requests superseded' && l.function_request_id === live?.function_request_id);
    if (live?.timestamp && step) return { liveAt: Date.parse(live.timestamp), superseded: step.superseded ?? 0, supersedeMs: step.durationMs ?? 0 };
    if (Date.now() - since > 10 * 60_000) throw new Error(`no 'Policy version live' line for version ${version} in ${logFile}`);
    await sleep(200);
  }
}

/** How many of a version's requests are in each status (read straight from DynamoDB Local, after the counts are taken). */
async function statusesOfVersion(db: DynamoDBDocumentClient, env: NodeJS.ProcessEnv, version: number): Promise<Record<string, number>> {
  const outputsFile = join(env.TPN_DATA_DIR ?? '', 'stack-outputs.json');
  const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, string>;
  const table = outputs.DataTableName;
  if (!table) throw new Error(`no data table in ${outputsFile}`);
  const counts: Record<string, number> = {};
  let start: Record<string, unknown> | undefined;
  do {
    const out = await db.send(
      new QueryCommand({
        TableName: table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :v',
        ProjectionExpression: '#status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':v': `POLICYVERSION#use-of-social-media#${version}` },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of out.Items ?? []) counts[String(item.status)] = (counts[String(item.status)] ?? 0) + 1;
    start = out.LastEvaluatedKey;
  } while (start);
  return counts;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).message}\n`);
  process.exit(1);
});
