#!/usr/bin/env node
/**
 * `npm run bench [-- --people N]`: the policy fan-out at trust scale on the local runtime
 * (issue #4). Seeds N synthetic people (default 10,000) across 50 schools, publishes one
 * substantive `Policy Updated`, and measures until every email is in the SES store:
 * wall time, recipients per second, SES calls per recipient, DynamoDB and SQS requests per
 * recipient (by operation, counted by proxies in front of the local servers), peak memory
 * of the platform's processes. Then the floor: how long DynamoDB Local takes for the
 * minimum writes this work needs (a request row and a ledger row per person,
 * BatchWriteItem of 25, 8 in flight), and the ratio. Prints a table and writes JSON to
 * bench/results/.
 *
 * The bench trust configuration is config/trust.json with 50 schools and an SES send rate
 * of 1,000 emails/s, so the run measures this system rather than the SES quota's pacing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchPut } from '../functions/adapters/batch.ts';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
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
    const detailFile = join(work, 'policy-updated.json');
    writeFileSync(
      detailFile,
      JSON.stringify({
        policyId: 'use-of-social-media',
        title: 'Use of Social Media Policy',
        version: 2,
        approvedOn: '2026-11-20',
        reviewPeriodMonths: 12,
        ownerRole: 'trust-network-manager',
        governingCommittee: 'trust-board',
        audience: ['employees', 'governors', 'volunteers'],
        documentUrl: 'https://policies.example.org/social-media/v2',
        changeSummary: 'Benchmark: a substantive change for everyone.',
        change: 'substantive',
      }),
    );
    let peakRss = treeRss(platform.pid ?? 0);
    const started = Date.now();
    execFileSync(process.execPath, [cli, 'publish', 'policy-updated', detailFile], { env, stdio: 'ignore' });
    // Done when SES has taken a destination for every bench person, as counted by the
    // proxy (the demo trust's people and the committee are told too); then the store is
    // read to check who got what.
    type Store = { emails: { destination: { to: string[] }; subject: string }[] };
    let counts: Record<string, number> = {};
    let asked: Store['emails'] = [];
    let wallMs = 0;
    for (;;) {
      await sleep(500);
      peakRss = Math.max(peakRss, treeRss(platform.pid ?? 0));
      counts = (await (await fetch(`${web}/admin/requests`)).json()) as Record<string, number>;
      const sent = counts['ses:destinations'] ?? 0;
      if (Date.now() - started > 30 * 60_000) throw new Error(`timed out: ${sent} destinations sent`);
      if (sent < N) continue;
      wallMs = Date.now() - started;
      const store = (await (await fetch(`${urls.ses}/store`)).json()) as Store;
      asked = store.emails.filter(
        (e) => e.subject.startsWith('Please read and confirm: Use of Social Media Policy (version 2)') && e.destination.to[0]?.startsWith('bench.'),
      );
      if (asked.length >= N) break;
    }
    const unique = new Set(asked.flatMap((e) => e.destination.to));

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

    const per = (key: string) => (counts[key] ?? 0) / N;
    const dynamo = Object.entries(counts).filter(([k]) => k.startsWith('dynamodb:'));
    const dynamoTotal = dynamo.reduce((a, [, v]) => a + v, 0);
    const sqsTotal = Object.entries(counts)
      .filter(([k]) => k.startsWith('sqs:'))
      .reduce((a, [, v]) => a + v, 0);
    const result = {
      people: N,
      schools: SCHOOLS,
      wallSeconds: wallMs / 1000,
      recipientsPerSecond: N / (wallMs / 1000),
      emailsInStore: asked.length,
      uniqueRecipients: unique.size,
      sesCallsPerRecipient: per('ses:SendBulkEmail'),
      dynamodbRequestsPerRecipient: dynamoTotal / N,
      dynamodbByOperation: Object.fromEntries(dynamo.map(([k, v]) => [k.slice('dynamodb:'.length), { requests: v, perRecipient: v / N }])),
      sqsRequestsPerRecipient: sqsTotal / N,
      sqsByOperation: Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith('sqs:')).map(([k, v]) => [k.slice(4), v])),
      peakMemoryMiB: peakRss / 2 ** 20,
      floorSeconds: floorMs / 1000,
      ratioToFloor: wallMs / floorMs,
      consoleMs,
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
    ];
    printTable(table);
    const outDir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const outFile = join(outDir, `fanout-${N}.json`);
    writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    say(`bench: wrote ${outFile}`);
    if (unique.size !== N || asked.length !== N) throw new Error(`expected ${N} emails to ${N} people, got ${asked.length} to ${unique.size}`);
  } finally {
    await running.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).message}\n`);
  process.exit(1);
});
