/**
 * A new policy version fanned out to a few hundred people through the whole local
 * platform (issue #4): everyone in the audience gets exactly one email with their own
 * working link; people outside it, leavers and undeliverable addresses get none; a
 * redelivered event sends nothing new; no SendBulkEmail call has more than 50 destinations.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import { parseKeyRing, verifyToken } from '../../functions/domain/ack-token.ts';
import { runCli } from '../support/e2e-setup.ts';
import { eventually } from '../support/poll.ts';
import { sesStore } from '../support/ses-store.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: config.region, credentials }));
const eventBridge = new EventBridgeClient({ endpoint: ctx.endpoints.bus, region: config.region, credentials, maxAttempts: 1 });
const dataTable = (JSON.parse(readFileSync(join(ctx.dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>).DataTableName ?? '';

const POLICY = 'e2e-fanout-policy';
const schools = config.schools.map((s) => s.id);
type Kind = 'employee' | 'governor' | 'volunteer' | 'trustee' | 'leaver' | 'bounced';
const kinds: Kind[] = [
  ...Array<Kind>(200).fill('employee'),
  ...Array<Kind>(30).fill('governor'),
  ...Array<Kind>(20).fill('volunteer'),
  ...Array<Kind>(20).fill('trustee'),
  ...Array<Kind>(15).fill('leaver'),
  ...Array<Kind>(15).fill('bounced'),
];
const people = kinds.map((kind, i) => ({
  staffId: `FO-${String(i).padStart(4, '0')}`,
  kind,
  email: `fanout.${i}@example.org`,
  schoolId: schools[i % schools.length] ?? 'st-marys',
}));
const inAudience = (kind: Kind) => kind === 'employee' || kind === 'governor' || kind === 'volunteer';

function csv(): string {
  const header = 'staffId,givenName,familyName,email,schoolId,roles,employmentType,startDate,lineManagerStaffId,managesOfficialChannels';
  const rows = people.map((p) => {
    const [roles, type] =
      p.kind === 'governor'
        ? ['governor', 'governor']
        : p.kind === 'volunteer'
          ? ['volunteer', 'volunteer']
          : p.kind === 'trustee'
            ? ['trustee', 'trustee']
            : ['teacher', 'permanent'];
    return `${p.staffId},Fan,Out ${p.staffId},${p.email},${p.schoolId},${roles},${type},2024-09-01,,false`;
  });
  return `${[header, ...rows].join('\n')}\n`;
}

const detail = {
  policyId: POLICY,
  title: 'Fan-out Check Policy',
  version: 1,
  approvedOn: '2026-11-20',
  reviewPeriodMonths: 12,
  ownerRole: 'trust-network-manager',
  governingCommittee: 'trust-board',
  audience: ['employees', 'governors', 'volunteers'],
  documentUrl: 'https://policies.example.org/fanout-check/v1',
  changeSummary: 'A policy used by the fan-out test.',
  change: 'substantive',
  eventId: 'e2e-fanout-v1',
};

async function publishPolicyUpdated(): Promise<void> {
  const out = await eventBridge.send(
    new PutEventsCommand({
      Entries: [{ EventBusName: EVENT_BUS_NAME, Source: 'trust.policies', DetailType: 'Policy Updated', Detail: JSON.stringify(detail) }],
    }),
  );
  expect(out.FailedEntryCount).toBe(0);
}

const sqs = new SQSClient({ endpoint: ctx.endpoints.sqs, region: config.region, credentials, useQueueUrlAsEndpoint: false });
/** True when no message is waiting or in flight on the fan-out and email queues. */
async function queuesIdle(): Promise<boolean> {
  const urls = ((await sqs.send(new ListQueuesCommand({}))).QueueUrls ?? []).filter((u) => /PolicyFanoutQueue|EmailQueue/.test(u));
  for (const url of urls) {
    const a = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    if (Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) > 0) return false;
  }
  return urls.length > 0;
}

async function fanoutEmails() {
  return (await sesStore(ctx.endpoints.ses)).filter((e) => e.subject.includes('Fan-out Check Policy') && e.subject.startsWith('Please read'));
}

describe('Policy Updated fan-out through the local platform', () => {
  it('asks everyone in the audience once, with their own working link, and nobody else', async () => {
    const file = join(ctx.workDir, 'fanout-people.csv');
    writeFileSync(file, csv());
    const imported = await runCli(ctx.dataDir, ['import', file, '--silent']);
    expect(imported.code, imported.stderr).toBe(0);
    for (const p of people.filter((x) => x.kind === 'leaver' || x.kind === 'bounced')) {
      await db.send(
        new UpdateCommand({
          TableName: dataTable,
          Key: { pk: `PERSON#${p.staffId}`, sk: 'PROFILE' },
          UpdateExpression: p.kind === 'leaver' ? 'SET #s = :left' : 'SET emailDeliverable = :f',
          ...(p.kind === 'leaver'
            ? { ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':left': 'left' } }
            : { ExpressionAttributeValues: { ':f': false } }),
        }),
      );
    }

    const started = Date.now();
    await publishPolicyUpdated();
    const expected = people.filter((p) => inAudience(p.kind));
    const expectedEmails = new Set(expected.map((p) => p.email));
    const emails = await eventually(
      async () => {
        const got = (await fanoutEmails()).filter((e) => expectedEmails.has(e.destination.to[0] ?? ''));
        return got.length >= expected.length ? got : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: `${expected.length} fan-out emails` },
    );
    process.stderr.write(`[fan-out] ${expected.length} test recipients emailed in ${Date.now() - started} ms\n`);

    const all = await fanoutEmails();
    const perAddress = new Map<string, number>();
    for (const e of all) for (const to of e.destination.to) perAddress.set(to, (perAddress.get(to) ?? 0) + 1);
    for (const p of people) expect(perAddress.get(p.email) ?? 0, `${p.kind} ${p.staffId}`).toBe(inAudience(p.kind) ? 1 : 0);

    // Each link is that person's own, for this policy and version, and verifies.
    const keys = parseKeyRing(readFileSync(join(ctx.dataDir, 'ack-token-keys.json'), 'utf8'), 'local keys');
    const byEmail = new Map(people.map((p) => [p.email, p]));
    for (const e of emails) {
      const link = /Confirm: (\S+)/.exec(e.body.text ?? '')?.[1] ?? '';
      const claims = verifyToken(link.slice(link.indexOf('/ack/') + 5), keys, 'ack', new Date());
      expect(claims).toMatchObject({ staffId: byEmail.get(e.destination.to[0] ?? '')?.staffId, policyId: POLICY, version: 1 });
    }
  });

  it('a redelivered Policy Updated sends nothing new', async () => {
    // First let the first delivery finish for everyone (the demo trust's people too).
    await eventually(async () => ((await queuesIdle()) ? true : undefined), { timeoutMs: 60_000, what: 'every queue to be empty' });
    const before = (await fanoutEmails()).length;
    await publishPolicyUpdated();
    // The fan-out of the first delivery is complete; wait until the redelivery has been
    // handled (its invocation counted) and every queue is empty, then count again.
    await eventually(
      async () => {
        const stats = (await (await fetch(`${ctx.endpoints.web}/admin/functions`)).json()) as Record<string, { invocations: number }>;
        const id = Object.keys(stats).find((k) => k.startsWith('PolicyUpdatedFunction')) ?? '';
        return (stats[id]?.invocations ?? 0) >= 2 ? true : undefined;
      },
      { what: 'the redelivered event to be handled' },
    );
    await eventually(async () => ((await queuesIdle()) ? true : undefined), { what: 'every queue to be empty' });
    expect((await fanoutEmails()).length).toBe(before);
  });

  it('no SendBulkEmail call had more than 50 destinations, and large batches were used', () => {
    const lines = readFileSync(join(ctx.dataDir, 'logs', 'functions.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"Email batch done"'))
      .map((l) => JSON.parse(l) as { maxDestinations?: number; bulkCalls?: number });
    const max = Math.max(...lines.map((l) => l.maxDestinations ?? 0));
    expect(max).toBeLessThanOrEqual(50);
    expect(max).toBeGreaterThan(10);
  });
});
