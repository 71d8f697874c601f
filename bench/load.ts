#!/usr/bin/env node
/**
 * `npm run load [-- --onboardings N --breaches N --acks N --faults ses:0.05,dynamodb:0.02]`:
 * a mixed stream through the local runtime with faults on (issue #6, item 2).
 *
 * The platform runs as a child (bench/platform.ts) with its requests counted and its
 * counting proxies refusing a share of the functions' SES and DynamoDB requests with the
 * services' throttling errors (TPN_INJECT_FAULTS, local/request-counter.ts: refused before
 * forwarding, so nothing was done). The stream, published at once and bounded:
 * - `Staff Onboarded` for new people across the schools (real EventBridge client, PutEvents
 *   batches of 10);
 * - breach reports through the intake, `POST /reports` (as `trust-notify report-breach`);
 * - two substantive `Policy Updated` with new policy ids, fanned out to everyone;
 * - acknowledgements: `POST` of the ack links in the welcome emails, as people press them.
 * Then it waits until every queue is idle and the functions have stopped, and checks that
 * nothing was lost or sent twice: each new person has one welcome; each case has its notices
 * sent on the ledger; each acknowledgement is stored once with one receipt; no (recipient,
 * subject) appears twice in the SES store unless its ledger row is flagged; no ledger row is
 * left unsent; every DLQ is empty. Prints a table and writes bench/results/load.json.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import { CATALOGUE, EVENT_BUS_NAME } from '../functions/contracts/events.ts';
import { benchEnv, printTable, sleep, startBenchPlatform, treeRss } from './platform.ts';

const { values } = parseArgs({
  options: {
    onboardings: { type: 'string', default: '1500' },
    breaches: { type: 'string', default: '300' },
    acks: { type: 'string', default: '250' },
    faults: { type: 'string', default: 'ses:0.05,dynamodb:0.02' },
  },
});
const count = (name: string, raw: string | undefined) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number`);
  return n;
};
const ONBOARDINGS = count('onboardings', values.onboardings);
const BREACHES = count('breaches', values.breaches);
const ACKS = Math.min(count('acks', values.acks), ONBOARDINGS);
const POLICY_UPDATES = 2;
const SCHOOLS = 10;
const IN_FLIGHT = 4;
const TIMEOUT_MS = 7 * 60_000;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const say = (line: string) => process.stderr.write(`${line}\n`);

const work = mkdtempSync(join(tmpdir(), 'tpn-load-'));
const dataDir = join(work, 'data');
mkdirSync(dataDir);

// The load trust: the real configuration (its demo people are seeded into its schools, so
// breach reports have heads and DSLs to reach) with more schools and a high SES rate.
const base = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'trust.json'), 'utf8'));
const configured = base.schools as { id: string; name: string }[];
const schools = [
  ...configured,
  ...Array.from({ length: SCHOOLS - configured.length }, (_, i) => ({ id: `load-school-${i + 1}`, name: `Load School ${i + 1}` })),
];
const configPath = join(work, 'trust.json');
writeFileSync(configPath, JSON.stringify({ ...base, schools, ses: { ...base.ses, maxSendRatePerSecond: 1000 }, officialChannels: [] }, null, 2));

// Reporters and subjects for breach reports: the demo directory's staff of each configured school.
const demo = readFileSync(join(REPO_ROOT, 'fixtures', 'demo-directory.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
const staffOf = (schoolId: string) => demo.filter((r) => r[4] === schoolId).map((r) => r[0] as string);

/** Runs `work` over `items` with at most `limit` in flight. */
async function bounded<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

type StoredEmail = { destination: { to: string[] }; subject: string; body?: { text?: string; html?: string } };

async function main() {
  const faults = values.faults ?? '';
  say(`load: ${ONBOARDINGS} onboardings, ${BREACHES} breach reports, ${POLICY_UPDATES} policy updates, ${ACKS} acknowledgements; faults ${faults || 'off'}; working folder ${work}`);
  const env = benchEnv(dataDir, configPath, { TPN_INJECT_FAULTS: faults, TPN_ASYNC_RETRY_DELAY_MS: '500', TPN_DELIVERY_RETRY_BASE_MS: '200' });
  const platform = await startBenchPlatform(env, dataDir);
  try {
    const { urls } = platform;
    const web = urls.web ?? '';
    const outputs = JSON.parse(readFileSync(join(dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>;
    const region = base.region as string;
    const eventBridge = new EventBridgeClient({ endpoint: urls.bus, region, credentials });
    const sqs = new SQSClient({ endpoint: urls.sqs, region, credentials, useQueueUrlAsEndpoint: false });
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: urls.dynamodb, region, credentials }));
    const sesStore = async () => ((await (await fetch(`${urls.ses}/store`)).json()) as { emails: StoredEmail[] }).emails;
    await fetch(`${web}/admin/requests/reset`, { method: 'POST' });
    say('load: platform ready; streaming');

    let peakRss = treeRss(platform.child.pid ?? 0);
    const rssTimer = setInterval(() => {
      peakRss = Math.max(peakRss, treeRss(platform.child.pid ?? 0));
    }, 1_000);
    const started = Date.now();
    const published = { onboardings: 0, policyUpdates: 0, breaches: 0, acks: 0, putEventsCalls: 0, failedEntries: 0 };

    const putEvents = async (entries: PutEventsRequestEntry[]) => {
      for (let attempt = 0; ; attempt++) {
        published.putEventsCalls++;
        const out = await eventBridge.send(new PutEventsCommand({ Entries: entries }));
        const failed = (out.Entries ?? []).map((e, i) => (e.EventId ? null : entries[i])).filter((e) => e !== null && e !== undefined);
        if (failed.length === 0) return;
        published.failedEntries += failed.length;
        if (attempt >= 5) throw new Error(`${failed.length} entries refused by the event bus`);
        entries = failed as PutEventsRequestEntry[];
      }
    };

    // 1. Onboardings, in PutEvents batches of 10; the policy updates half way through.
    const people = Array.from({ length: ONBOARDINGS }, (_, i) => ({
      staffId: `L${i}`,
      givenName: 'Load',
      familyName: `Person ${i}`,
      email: `load.${i}@example.org`,
      schoolId: schools[i % schools.length]?.id ?? '',
      roles: ['teacher'],
      employmentType: 'permanent',
      startDate: '2026-09-01',
      managesOfficialChannels: false,
      eventId: `load-onboard-${i}`,
      occurredAt: new Date().toISOString(),
    }));
    const batches = Array.from({ length: Math.ceil(people.length / 10) }, (_, b) => people.slice(b * 10, b * 10 + 10));
    const policyUpdate = (n: number) => ({
      policyId: `load-policy-${n}`,
      title: `Load Policy ${n}`,
      version: 1,
      approvedOn: '2026-11-20',
      reviewPeriodMonths: 12,
      ownerRole: 'trust-network-manager',
      governingCommittee: 'trust-board',
      audience: ['employees', 'governors', 'volunteers'],
      documentUrl: `https://policies.example.org/load-${n}/v1`,
      changeSummary: 'Load run: a new policy for everyone.',
      change: 'substantive',
    });
    const onboard = bounded(batches, IN_FLIGHT, async (batch, b) => {
      await putEvents(
        batch.map((p) => ({ EventBusName: EVENT_BUS_NAME, Source: CATALOGUE['Staff Onboarded'].source, DetailType: 'Staff Onboarded', Detail: JSON.stringify(p) })),
      );
      published.onboardings += batch.length;
      if (b === Math.floor(batches.length / 2)) {
        await putEvents(
          Array.from({ length: POLICY_UPDATES }, (_, n) => ({
            EventBusName: EVENT_BUS_NAME,
            Source: CATALOGUE['Policy Updated'].source,
            DetailType: 'Policy Updated',
            Detail: JSON.stringify(policyUpdate(n + 1)),
          })),
        );
        published.policyUpdates += POLICY_UPDATES;
      }
    });

    // 2. Breach reports through the intake (POST /reports), across the configured schools.
    const caseIds: string[] = [];
    const intake = bounded(
      Array.from({ length: BREACHES }, (_, i) => i),
      IN_FLIGHT,
      async (i) => {
        const school = configured[i % configured.length]?.id ?? '';
        const staff = staffOf(school);
        const report = {
          schoolId: school,
          category: 'staff-abused-online',
          reportedByStaffId: staff[i % staff.length],
          subject: { kind: 'staff', staffId: staff[(i + 1) % staff.length] },
          occurredOn: '2026-11-19',
          narrative: `Load run report ${i}: abusive comments about a member of staff in a parents' group.`,
        };
        for (let attempt = 0; ; attempt++) {
          const response = await fetch(`${web}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(report) });
          const answer = (await response.json().catch(() => ({}))) as { caseId?: string };
          if (response.ok && answer.caseId) {
            caseIds.push(answer.caseId);
            published.breaches++;
            return;
          }
          // The intake refused or failed (e.g. a throttled write): the reporter tries again.
          if (attempt >= 5) throw new Error(`the intake answered HTTP ${response.status} for report ${i}`);
          await sleep(200 * (attempt + 1));
        }
      },
    );

    // 3. Acknowledgements: the first ack link of each of the first people to get a welcome.
    const acked: { staffId: string; email: string; path: string }[] = [];
    const ackStatuses: Record<string, number> = {};
    const acks = (async () => {
      const taken = new Set<string>();
      while (acked.length < ACKS) {
        if (Date.now() - started > TIMEOUT_MS) throw new Error(`timed out with ${acked.length} acknowledgements`);
        await sleep(1_000);
        const fresh: { staffId: string; email: string; path: string }[] = [];
        for (const e of await sesStore()) {
          const to = e.destination.to[0] ?? '';
          if (!to.startsWith('load.') || !e.subject.startsWith('Welcome to') || taken.has(to)) continue;
          const link = /https?:\/\/[^\s"<]+\/ack\/[A-Za-z0-9._~-]+/.exec(e.body?.text ?? e.body?.html ?? '')?.[0];
          if (!link) continue;
          taken.add(to);
          fresh.push({ staffId: `L${to.slice(5, to.indexOf('@'))}`, email: to, path: new URL(link).pathname });
        }
        await bounded(fresh.slice(0, ACKS - acked.length), IN_FLIGHT, async (a) => {
          for (let attempt = 0; ; attempt++) {
            const response = await fetch(`${web}${a.path}`, { method: 'POST' });
            await response.arrayBuffer();
            ackStatuses[response.status] = (ackStatuses[response.status] ?? 0) + 1;
            if (response.status < 500) break;
            if (attempt >= 5) throw new Error(`the ack link answered HTTP ${response.status}`);
            await sleep(200 * (attempt + 1));
          }
          acked.push(a);
          published.acks++;
        });
      }
    })();
    await Promise.all([onboard, intake, acks]);
    const streamedMs = Date.now() - started;
    say(`load: stream published in ${(streamedMs / 1000).toFixed(1)} s; waiting for the platform to go idle`);

    // Idle: every queue empty (visible and in flight) and no function invoked, three polls running.
    const queueUrls = (await sqs.send(new ListQueuesCommand({}))).QueueUrls ?? [];
    const depth = async (url: string) => {
      const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
      return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
    };
    const invocations = async () =>
      Object.values((await (await fetch(`${web}/admin/functions`)).json()) as Record<string, { invocations: number }>).reduce((s, f) => s + f.invocations, 0);
    let quiet = 0;
    let lastInvocations = -1;
    while (quiet < 3) {
      if (Date.now() - started > TIMEOUT_MS) throw new Error('timed out waiting for the platform to go idle');
      await sleep(1_000);
      const depths = await Promise.all(queueUrls.filter((u) => !/dlq/i.test(u)).map(depth));
      const now = await invocations();
      quiet = depths.every((d) => d === 0) && now === lastInvocations ? quiet + 1 : 0;
      lastInvocations = now;
    }
    const wallMs = Date.now() - started - 3_000;
    clearInterval(rssTimer);
    const counts = (await (await fetch(`${web}/admin/requests`)).json()) as Record<string, number>;

    // Nothing lost, nothing twice.
    const emails = await sesStore();
    const ledger: Record<string, unknown>[] = [];
    for (let start: Record<string, unknown> | undefined; ; ) {
      const page = await db.send(new ScanCommand({ TableName: outputs.LedgerTableName, ExclusiveStartKey: start }));
      ledger.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
      if (!start) break;
    }
    const problems: string[] = [];
    // An email sent twice has the same recipient, subject and body (its ledger row's template
    // data). The subject alone is not enough: a head gets one induction notice per new
    // starter (§1f), all with the same subject and a different body.
    const byKey = new Map<string, number>();
    const bySubject = new Map<string, number>();
    for (const e of emails) {
      const body = createHash('sha256').update(e.body?.text ?? e.body?.html ?? '').digest('hex');
      for (const to of e.destination.to) {
        byKey.set(`${to}\n${e.subject}\n${body}`, (byKey.get(`${to}\n${e.subject}\n${body}`) ?? 0) + 1);
        bySubject.set(`${to}\n${e.subject}`, (bySubject.get(`${to}\n${e.subject}`) ?? 0) + 1);
      }
    }
    const sameSubject = [...bySubject].filter(([, n]) => n > 1);
    const sameSubjectOther = sameSubject.filter(([k]) => !k.split('\n')[1]?.startsWith('New at ')).length;
    if (sameSubjectOther > 0) problems.push(`${sameSubjectOther} (recipient, subject) pairs other than induction notices in the SES store more than once`);
    const flagged = ledger.filter((r) => r.possibleDuplicate === true);
    const flaggedKeys = new Set(flagged.map((r) => String(r.recipient)));
    const duplicates = [...byKey].filter(([, n]) => n > 1);
    const unflagged = duplicates.filter(([k]) => !flaggedKeys.has(k.split('\n')[0] ?? ''));
    if (unflagged.length > 0) {
      const subjects = [...new Set(unflagged.map(([k]) => k.split('\n')[1]))].slice(0, 5);
      problems.push(`${unflagged.length} unflagged duplicate (recipient, subject) pairs in the SES store, subjects e.g. ${JSON.stringify(subjects)}`);
    }

    const welcomes = new Map<string, number>();
    for (const e of emails) if (e.subject.startsWith('Welcome to')) for (const to of e.destination.to) welcomes.set(to, (welcomes.get(to) ?? 0) + 1);
    const withoutWelcome = people.filter((p) => welcomes.get(p.email) !== 1).length;
    if (withoutWelcome > 0) problems.push(`${withoutWelcome} onboarded people without exactly one welcome`);

    const noticesByCase = new Map<string, { sent: number; other: number }>();
    for (const r of ledger) {
      const m = /^case#([^#]+)#.*#notice$/.exec(String(r.pk));
      if (!m?.[1]) continue;
      const c = noticesByCase.get(m[1]) ?? { sent: 0, other: 0 };
      if (r.state === 'sent') c.sent++;
      else c.other++;
      noticesByCase.set(m[1], c);
    }
    const casesWithoutNotices = caseIds.filter((id) => (noticesByCase.get(id)?.sent ?? 0) === 0 || (noticesByCase.get(id)?.other ?? 0) > 0).length;
    if (new Set(caseIds).size !== BREACHES) problems.push(`${BREACHES} reports opened ${new Set(caseIds).size} distinct cases`);
    if (casesWithoutNotices > 0) problems.push(`${casesWithoutNotices} cases without all their notices sent`);

    let acksNotStored = 0;
    let receiptsWrong = 0;
    await bounded(acked, 8, async (a) => {
      // The token names the policy and version; the person's requests say which one was acknowledged.
      const query = new QueryCommand({
        TableName: outputs.DataTableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :req)',
        ExpressionAttributeValues: { ':pk': `PERSON#${a.staffId}`, ':req': 'REQUEST#' },
      });
      const rows = (await db.send(query)).Items ?? [];
      const acknowledged = rows.filter((r) => r.status === 'acknowledged');
      if (acknowledged.length !== 1) acksNotStored++;
      const receipts = emails.filter((e) => e.destination.to.includes(a.email) && e.subject.startsWith('Receipt: you confirmed')).length;
      if (receipts !== 1) receiptsWrong++;
    });
    if (acksNotStored > 0) problems.push(`${acksNotStored} acknowledgements not stored exactly once`);
    if (receiptsWrong > 0) problems.push(`${receiptsWrong} acknowledgements without exactly one receipt`);

    const ledgerStates: Record<string, number> = {};
    for (const r of ledger) ledgerStates[String(r.state)] = (ledgerStates[String(r.state)] ?? 0) + 1;
    const unsent = ledger.length - (ledgerStates.sent ?? 0);
    if (unsent > 0) problems.push(`${unsent} ledger rows not sent (${JSON.stringify(ledgerStates)})`);

    const dlqs = Object.fromEntries(await Promise.all(queueUrls.filter((u) => /dlq/i.test(u)).map(async (u) => [u.split('/').pop() ?? u, await depth(u)] as const)));
    const deadLettered = Object.values(dlqs).reduce((s, n) => s + n, 0);
    if (deadLettered > 0) problems.push(`${deadLettered} messages dead-lettered: ${JSON.stringify(Object.fromEntries(Object.entries(dlqs).filter(([, n]) => n > 0)))}`);
    // Every new person is asked to confirm each new policy once, by the fan-out or (if they
    // arrived after it) by their welcome: one request row per person per new policy.
    const askedPerPolicy: Record<string, number> = {};
    for (let n = 1; n <= POLICY_UPDATES; n++) {
      let asked = 0;
      for (let start: Record<string, unknown> | undefined; ; ) {
        const page = await db.send(
          new QueryCommand({
            TableName: outputs.DataTableName,
            IndexName: 'gsi1',
            KeyConditionExpression: 'gsi1pk = :pv AND begins_with(gsi1sk, :new)',
            ExpressionAttributeValues: { ':pv': `POLICYVERSION#load-policy-${n}#1`, ':new': 'PERSON#L' },
            Select: 'COUNT',
            ExclusiveStartKey: start,
          }),
        );
        asked += page.Count ?? 0;
        start = page.LastEvaluatedKey;
        if (!start) break;
      }
      askedPerPolicy[`load-policy-${n}`] = asked;
      if (asked !== ONBOARDINGS) problems.push(`load-policy-${n}: ${asked} of ${ONBOARDINGS} new people asked to confirm it`);
    }

    const sum = (prefix: string) => Object.entries(counts).filter(([k]) => k.startsWith(prefix)).reduce((s, [, v]) => s + v, 0);
    const events = published.onboardings + published.policyUpdates + published.breaches + published.acks;
    const result = {
      events: { total: events, onboardings: published.onboardings, policyUpdates: published.policyUpdates, breaches: published.breaches, acknowledgements: published.acks },
      putEventsCalls: published.putEventsCalls,
      putEventsEntriesRetried: published.failedEntries,
      ackResponses: ackStatuses,
      emails: emails.length,
      ledgerRows: ledger.length,
      ledgerStates,
      wallSeconds: wallMs / 1000,
      streamSeconds: streamedMs / 1000,
      eventsPerSecond: events / (wallMs / 1000),
      emailsPerSecond: emails.length / (wallMs / 1000),
      faultsInjected: Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith('fault:')).map(([k, v]) => [k.slice(6), v])),
      faultRates: faults,
      requests: { dynamodb: sum('dynamodb:'), sqs: sum('sqs:'), ses: sum('ses:') - (counts['ses:destinations'] ?? 0) },
      requestsByOperation: counts,
      duplicatesInSesStore: duplicates.length,
      sameRecipientAndSubject: { pairs: sameSubject.length, otherThanInductionNotices: sameSubjectOther },
      flaggedPossibleDuplicates: flagged.length,
      unflaggedDuplicates: unflagged.length,
      newPeopleAskedPerPolicy: askedPerPolicy,
      cases: new Set(caseIds).size,
      casesWithNoticesSent: caseIds.length - casesWithoutNotices,
      deadLettered: dlqs,
      peakMemoryMiB: peakRss / 2 ** 20,
      lost: problems.length === 0 ? 0 : null,
      problems,
      machine: { cores: cpus().length, node: process.version },
      at: new Date().toISOString(),
    };
    printTable([
      ['events (onboard / policy / breach / ack)', `${events} (${published.onboardings} / ${published.policyUpdates} / ${published.breaches} / ${published.acks})`],
      ['emails in the SES store', String(emails.length)],
      ['wall time, first event → idle', `${result.wallSeconds.toFixed(1)} s (stream published in ${result.streamSeconds.toFixed(1)} s)`],
      ['events per second', result.eventsPerSecond.toFixed(1)],
      ['emails per second', result.emailsPerSecond.toFixed(1)],
      ['faults injected', `${Object.entries(result.faultsInjected).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'} (rates ${faults || 'off'})`],
      ['DynamoDB / SQS / SES requests (refused ones included)', `${result.requests.dynamodb} / ${result.requests.sqs} / ${result.requests.ses}`],
      ['new people asked per new policy', Object.entries(askedPerPolicy).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['ledger rows (states)', `${ledger.length} ${JSON.stringify(ledgerStates)}`],
      ['cases with notices sent', `${result.casesWithNoticesSent} / ${result.cases}`],
      ['duplicates in SES store (flagged / unflagged)', `${duplicates.length} (${flagged.length} / ${unflagged.length})`],
      ['same (recipient, subject) twice', `${sameSubject.length} pairs, all induction notices: ${sameSubjectOther === 0 ? 'yes' : 'no'}`],
      ['dead-lettered', String(deadLettered)],
      ['peak memory (platform tree)', `${result.peakMemoryMiB.toFixed(0)} MiB`],
      ['nothing lost', problems.length === 0 ? 'yes' : `NO: ${problems.join('; ')}`],
    ]);
    const outDir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const outFile = join(outDir, 'load.json');
    writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    say(`load: wrote ${outFile}`);
    if (problems.length > 0) process.exitCode = 1;
  } catch (error) {
    say(`load: platform log tail:\n${platform.stderr().slice(-3000)}`);
    throw error;
  } finally {
    await platform.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`load failed: ${(error as Error).message}\n`);
  process.exit(1);
});
