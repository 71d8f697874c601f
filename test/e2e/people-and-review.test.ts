/**
 * People changes and the review cycle through the whole local platform, starting from
 * their events (issue #5): a leaver's official channel gets a credential-rotation notice
 * naming it (§8a.ii) and a late `Staff Updated` does not revive them; the daily review
 * scanner (fired with `trust-notify tick`) finds the seed policy overdue, once, and a
 * `Policy Reviewed` stops its notices for that cycle.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { londonDate } from '../../functions/domain/dates.ts';
import { runCli } from '../support/e2e-setup.ts';
import { eventually } from '../support/poll.ts';
import { sesStore } from '../support/ses-store.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: config.region, credentials }));
const dataTable = (JSON.parse(readFileSync(join(ctx.dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>).DataTableName ?? '';
const today = londonDate(new Date());
const sqs = new SQSClient({ endpoint: ctx.endpoints.sqs, region: config.region, credentials, useQueueUrlAsEndpoint: false });

async function publish(type: string, detail: unknown): Promise<void> {
  const file = join(ctx.workDir, `${type}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(detail));
  const out = await runCli(ctx.dataDir, ['publish', type, file]);
  expect(out.code, out.stderr).toBe(0);
}

const seedReviewEmails = async () =>
  (await sesStore(ctx.endpoints.ses)).filter((e) => /: Use of Social Media Policy \(version 1\)$/.test(e.subject) && /review/i.test(e.subject));

describe('the review cycle, from the daily scanner', () => {
  it('the first scan finds the seed policy overdue (review due 2023) and tells the owner and the Trust Board, once', async () => {
    const tick = await runCli(ctx.dataDir, ['tick', '--today', today]);
    expect(tick.code, tick.stderr).toBe(0);
    const emails = await eventually(
      async () => {
        const got = await seedReviewEmails();
        // The Trust Network Manager, the chair of trustees and the two trustees of the demo trust.
        return got.length >= 4 ? got : undefined;
      },
      { timeoutMs: 30_000, what: 'the overdue review notices' },
    );
    const to = emails.flatMap((e) => e.destination.to).sort();
    expect(to).toEqual(
      [
        'aisha.bello@allsaints-mat.example.org',
        'daniel.mensah@allsaints-mat.example.org',
        'margaret.whitfield@allsaints-mat.example.org',
        'robert.fenwick@allsaints-mat.example.org',
      ].sort(),
    );
    expect(emails[0]?.body.text).toMatch(/overdue/i);
    await settle();
    expect(await seedReviewEmails()).toHaveLength(4);

    // The same day again: nothing new.
    const again = await runCli(ctx.dataDir, ['tick', '--today', today]);
    expect(again.code).toBe(0);
    await settle();
    expect((await seedReviewEmails()).length).toBe(emails.length);
  });

  it('Policy Reviewed sets the next review date and stops this cycle’s notices', async () => {
    await publish('policy-reviewed', { policyId: 'use-of-social-media', version: 1, reviewedOn: today, note: 'No change needed.' });
    const current = await eventually(
      async () => {
        const out = await db.send(
          new GetCommand({ TableName: dataTable, Key: { pk: 'POLICY#use-of-social-media', sk: 'CURRENT' }, ConsistentRead: true }),
        );
        return out.Item && out.Item.reviewDueBy !== '2023-12-31' ? out.Item : undefined;
      },
      { what: 'the next review date' },
    );
    expect(String(current.reviewDueBy) > today).toBe(true);
    const before = (await seedReviewEmails()).length;
    // A week on, the seed policy is not overdue any more: no notice for it.
    const nextWeek = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    expect((await runCli(ctx.dataDir, ['tick', '--today', nextWeek])).code).toBe(0);
    await settle();
    expect((await seedReviewEmails()).length).toBe(before);
  });
});

describe('a leaver, from Staff Left', () => {
  it('leadership are told to change the login details of the channel they managed, naming it (§8a.ii); a late update does not revive them', async () => {
    // SM-T1 (Oliver Hughes) manages St Mary's Facebook page in the register (config/trust.json).
    await publish('staff-left', { staffId: 'SM-T1', leftOn: today, occurredAt: new Date().toISOString() });
    const notices = await eventually(
      async () => {
        const got = (await sesStore(ctx.endpoints.ses)).filter((e) => e.subject.includes("St Mary's Facebook page"));
        return got.length > 0 ? got : undefined;
      },
      { timeoutMs: 30_000, what: 'the credential-rotation notice' },
    );
    expect(notices[0]?.subject).toBe("Please change the login details of St Mary's Facebook page (facebook)");
    expect(notices.flatMap((e) => e.destination.to)).toContain('grace.okafor@stmarys.example.org');

    // An update that happened before the leave arrives late: ignored.
    await publish('staff-updated', { staffId: 'SM-T1', email: 'oliver.new@stmarys.example.org', occurredAt: '2020-01-01T00:00:00Z' });
    await settle();
    const person = await db.send(new GetCommand({ TableName: dataTable, Key: { pk: 'PERSON#SM-T1', sk: 'PROFILE' }, ConsistentRead: true }));
    expect(person.Item?.email).toBe('oliver.hughes@stmarys.example.org');
    expect(person.Item?.leftOn).toBe(today);
  });
});

/**
 * Waits until the platform has settled: no function invocation started for a while and no
 * message waiting or in flight on any queue. Then "nothing new was sent" can be checked.
 */
async function settle(): Promise<void> {
  const snapshot = async () => {
    const stats = await (await fetch(`${ctx.endpoints.web}/admin/functions`)).text();
    const urls = (await sqs.send(new ListQueuesCommand({}))).QueueUrls ?? [];
    let depth = 0;
    for (const url of urls.filter((u) => !/Dlq/i.test(u))) {
      const a = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      depth += Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    }
    return { stats, depth };
  };
  let last = await snapshot();
  await eventually(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 750));
      const now = await snapshot();
      const quiet = now.depth === 0 && now.stats === last.stats;
      last = now;
      return quiet ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 10, what: 'the platform to settle' },
  );
}
