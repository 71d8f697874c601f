/**
 * `trust-notify redrive` against the running local platform (issue 6 "Operations",
 * local/redrive-command.ts): a malformed Staff Onboarded dead-letters in StaffOnboarded's
 * on-failure DLQ; a dry run reports it and moves nothing; redrive re-publishes the original
 * event to trust-events, where it fails again and comes back once (moved, not copied). An
 * event in the delivery DLQ is re-published and handled (the person is onboarded), and a
 * second redrive moves nothing; an AWS-sourced event is left in place. Polls with deadlines.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { CATALOGUE, EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import { runCli } from '../support/e2e-setup.ts';
import { examples } from '../support/examples.ts';
import { eventually } from '../support/poll.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const eventBridge = new EventBridgeClient({ endpoint: ctx.endpoints.bus, region: config.region, credentials, maxAttempts: 1 });
const sqs = new SQSClient({ endpoint: ctx.endpoints.sqs, region: config.region, credentials, useQueueUrlAsEndpoint: false });
const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: config.region, credentials }));
const outputs = JSON.parse(readFileSync(join(ctx.dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>;
const failureDlq = outputs.StaffOnboardedFailureDlqUrl ?? '';
const deliveryDlq = outputs.EventDeliveryDlqUrl ?? '';

function newStarter(label: string, overrides: Record<string, unknown> = {}) {
  const suffix = `${label}-${randomUUID().slice(0, 8)}`;
  return {
    ...examples['Staff Onboarded'],
    staffId: `E2E-${suffix}`,
    email: `e2e.${suffix.toLowerCase()}@stmarys.example.org`,
    familyName: `Tester-${label}`,
    eventId: `e2e-${suffix}`,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Visible and in-flight messages (a redrive in progress hides what it holds). */
async function depth(url: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** Reads every visible message without deleting it (visible again at once). */
async function peek(url: string): Promise<{ body: Record<string, unknown> }[]> {
  const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 1 }));
  return (out.Messages ?? []).map((m) => ({ body: JSON.parse(m.Body ?? '{}') as Record<string, unknown> }));
}

async function drain(url: string) {
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!out.Messages?.length) return;
    for (const m of out.Messages) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
  }
}

const line = (stdout: string, queue: string) => stdout.split('\n').find((l) => l.trimStart().startsWith(`${queue} →`)) ?? '';

// Other files may have left messages in these DLQs: start from empty, leave them empty.
beforeAll(async () => {
  expect(failureDlq).not.toBe('');
  expect(deliveryDlq).not.toBe('');
  await Promise.all([drain(failureDlq), drain(deliveryDlq)]);
});
afterAll(async () => {
  await Promise.all([drain(failureDlq), drain(deliveryDlq)]);
});

describe('trust-notify redrive', () => {
  it('a failed Staff Onboarded: --dry-run reports it and moves nothing; redrive re-publishes it once, it fails again and comes back once', async () => {
    // prepare: published raw (the CLI would refuse it), so the handler's parsing throws until its DLQ
    const detail = newStarter('redrive', { email: 'not-an-address' });
    const put = await eventBridge.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: EVENT_BUS_NAME, Source: CATALOGUE['Staff Onboarded'].source, DetailType: 'Staff Onboarded', Detail: JSON.stringify(detail) }],
      }),
    );
    const firstId = put.Entries?.[0]?.EventId;
    await eventually(async () => ((await depth(failureDlq)) === 1 ? true : undefined), { timeoutMs: 30_000, what: 'the record in the DLQ' });

    // act + assess: dry run
    const dry = await runCli(ctx.dataDir, ['redrive', '--queue', 'StaffOnboardedFailureDlq', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(line(dry.stdout, 'StaffOnboardedFailureDlq')).toMatch(/→ trust-events \(re-published\)\s+would move 1$/);
    expect(dry.stdout).toContain('dry run: 1 message(s) would move; nothing was moved');
    expect(await depth(failureDlq)).toBe(1);

    // act + assess: redrive (the output names no personal value)
    const moved = await runCli(ctx.dataDir, ['redrive', '--queue', 'StaffOnboardedFailureDlq']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(line(moved.stdout, 'StaffOnboardedFailureDlq')).toMatch(/moved 1$/);
    expect(moved.stdout).toContain('moved 1 message(s)');
    expect(`${moved.stdout}${moved.stderr}`).not.toContain(detail.staffId);

    // It went back to its source (a new event, the same detail), failed again and returned: once.
    const back = await eventually(
      async () => {
        const [message] = await peek(failureDlq);
        const payload = message?.body.requestPayload as { id?: string; detail?: { staffId?: string } } | undefined;
        return payload?.detail?.staffId === detail.staffId ? payload : undefined;
      },
      { timeoutMs: 30_000, what: 'the re-published event back in the DLQ' },
    );
    expect(back.id).not.toBe(firstId);
    await eventually(async () => ((await depth(failureDlq)) === 1 ? true : undefined), { what: 'exactly one record in the DLQ' });
  });

  it('the delivery DLQ: its event is re-published and handled; a second redrive moves nothing; an aws.* event is left', async () => {
    // prepare: what EventBridge puts in a target's DLQ is the event itself
    const detail = newStarter('delivery');
    const event = (source: string, detailType: string, d: unknown) => ({
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source,
      account: '000000000000',
      time: new Date().toISOString(),
      region: config.region,
      resources: [],
      detail: d,
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: deliveryDlq, MessageBody: JSON.stringify(event(CATALOGUE['Staff Onboarded'].source, 'Staff Onboarded', detail)) }));
    await sqs.send(new SendMessageCommand({ QueueUrl: deliveryDlq, MessageBody: JSON.stringify(event('aws.ses', 'Email Bounced', { eventType: 'Bounce' })) }));
    await eventually(async () => ((await depth(deliveryDlq)) === 2 ? true : undefined), { what: 'two messages in the delivery DLQ' });

    // act
    const first = await runCli(ctx.dataDir, ['redrive', '--queue', 'EventDeliveryDlqUrl']);

    // assess: the onboarding event moved and took effect; the SES event stayed
    expect(first.code, first.stderr).toBe(0);
    expect(line(first.stdout, 'EventDeliveryDlq')).toMatch(/moved 1, left 1 \(an AWS event source \(aws\.\*\) cannot be re-published\)$/);
    const person = await eventually(
      async () =>
        (await db.send(new GetCommand({ TableName: outputs.DataTableName, Key: { pk: `PERSON#${detail.staffId}`, sk: 'PROFILE' } }))).Item,
      { timeoutMs: 30_000, what: 'the person onboarded by the re-published event' },
    );
    expect(person.staffId).toBe(detail.staffId);
    expect(await depth(deliveryDlq)).toBe(1);

    // act + assess: idempotent
    const second = await runCli(ctx.dataDir, ['redrive', '--queue', 'EventDeliveryDlq']);
    expect(second.code, second.stderr).toBe(0);
    expect(line(second.stdout, 'EventDeliveryDlq')).toMatch(/moved 0, left 1 /);
    expect(second.stdout).toContain('moved 0 message(s)');
    expect(await depth(deliveryDlq)).toBe(1);
  });

  it('without --queue, a dry run lists every DLQ of the template, each with its destination', async () => {
    const all = await runCli(ctx.dataDir, ['redrive', '--dry-run']);
    expect(all.code, all.stderr).toBe(0);
    expect(line(all.stdout, 'EmailDlq')).toMatch(/→ EmailQueue\s+would move \d+$/);
    expect(line(all.stdout, 'PolicyFanoutDlq')).toMatch(/→ PolicyFanoutQueue\s+would move \d+$/);
    expect(line(all.stdout, 'EventDeliveryDlq')).toMatch(/→ trust-events \(re-published\)\s+would move 1$/);
    expect(all.stdout.split('\n').filter((l) => l.includes(' → ')).length).toBe(
      Object.keys(outputs).filter((k) => /Dlq/.test(k)).length + 1, // + the fan-out DLQ, which has no output
    );
  });

  it('an unknown --queue is a one-line error, exit 1', async () => {
    const bad = await runCli(ctx.dataDir, ['redrive', '--queue', 'NoSuchDlq']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(/^trust-notify: --queue: no dead-letter queue is called that; use one of /);
    expect(bad.stdout).toBe('');
  });
});
