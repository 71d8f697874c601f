/**
 * The whole local platform end to end (issue 3, DESIGN.md "Local runtime"): one
 * `trust-notify start` child process on free ports (test/support/e2e-setup.ts), driven
 * through the real EventBridge, SQS and DynamoDB clients and the CLI. Every asynchronous
 * effect is awaited by polling with a deadline; nothing sleeps for a fixed time.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { isSchoolOfTrust } from '../../functions/config/trust-config.ts';
import { CATALOGUE, DETAIL_TYPE_LIST, EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import { parseDirectoryCsv } from '../../functions/domain/directory-csv.ts';
import { type CfnTemplate, resourcesOfType, synthTemplate } from '../../local/cloud-template.ts';
import { LocalResources } from '../../local/provision.ts';
import { matchingRules, rulesFromTemplate } from '../../local/router.ts';
import { runCli } from '../support/e2e-setup.ts';
import { examples } from '../support/examples.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const eventBridge = new EventBridgeClient({ endpoint: ctx.endpoints.bus, region: config.region, credentials, maxAttempts: 1 });
const sqs = new SQSClient({ endpoint: ctx.endpoints.sqs, region: config.region, credentials, useQueueUrlAsEndpoint: false });
const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: config.region, credentials }));
const outputs = JSON.parse(readFileSync(join(ctx.dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>;

/** The seeded demo directory: who the Head of School of each school is. */
const demo = parseDirectoryCsv(readFileSync(join(REPO_ROOT, 'fixtures', 'demo-directory.csv')), {
  isSchool: (id) => isSchoolOfTrust(config, id),
}).rows.map((r) => r.detail);
function headOfSchool(schoolId: string): string {
  const heads = demo.filter((p) => p.schoolId === schoolId && p.roles.includes('head-of-school'));
  if (heads.length !== 1 || !heads[0]) throw new Error(`the demo trust should have one Head of School at ${schoolId}`);
  return heads[0].email;
}

/** A `Staff Onboarded` detail (the README's example) for a new person of our own. */
function newStarter(label: string, overrides: Record<string, unknown> = {}) {
  const suffix = `${label}-${randomUUID().slice(0, 8)}`;
  const example = examples['Staff Onboarded'];
  return {
    ...example,
    givenName: String(example.givenName),
    schoolId: String(example.schoolId),
    staffId: `E2E-${suffix}`,
    email: `e2e.${suffix.toLowerCase()}@stmarys.example.org`,
    familyName: `Tester-${label}`,
    eventId: `e2e-${suffix}`,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

/** One PutEvents entry; `bus: null` leaves EventBusName out (the default bus). */
function entry(detailType: string, detail: unknown, source = 'trust.hr', bus: string | null = EVENT_BUS_NAME): PutEventsRequestEntry {
  return { ...(bus === null ? {} : { EventBusName: bus }), Source: source, DetailType: detailType, Detail: JSON.stringify(detail) };
}

async function putEvents(entries: PutEventsRequestEntry[]): Promise<string[]> {
  const out = await eventBridge.send(new PutEventsCommand({ Entries: entries }));
  expect(out.FailedEntryCount ?? 0).toBe(0);
  return (out.Entries ?? []).map((e) => e.EventId ?? '');
}

type FunctionStats = Record<string, { name: string; invocations: number; errors: number; timeouts: number; asyncRetries: number; sentToDestination: number }>;
async function functionStats(): Promise<FunctionStats> {
  const response = await fetch(`${ctx.endpoints.web}/admin/functions`);
  expect(response.status).toBe(200);
  return (await response.json()) as FunctionStats;
}
function delta(before: FunctionStats, after: FunctionStats, field: 'invocations' | 'errors' | 'asyncRetries' | 'sentToDestination') {
  return Object.fromEntries(Object.entries(after).map(([id, s]) => [id, s[field] - (before[id]?.[field] ?? 0)]));
}

async function firstEmail(to: string, match: (e: StoredEmail) => boolean = () => true, timeoutMs = 30_000): Promise<StoredEmail> {
  return eventually(async () => (await emailsTo(ctx.endpoints.ses, to)).find(match), { timeoutMs, intervalMs: 50, what: `an email to ${to}` });
}

/** The welcome and the Head of School's induction notice for one new starter. */
async function onboardingEmails(detail: { email: string; givenName: string; familyName: string; schoolId: string }) {
  const welcome = await firstEmail(detail.email);
  const notice = await firstEmail(headOfSchool(detail.schoolId), (e) =>
    (e.body.text ?? '').includes(`${detail.givenName} ${detail.familyName}`),
  );
  return { welcome, notice };
}

let template: CfnTemplate;
let staffOnboardedFn: string;

beforeAll(() => {
  // The template the platform routes by, synthesized from the same lib/ (without bundling).
  template = synthTemplate(config);
  const ids = resourcesOfType(template, 'AWS::Lambda::Function')
    .map(([id]) => id)
    .filter((id) => id.startsWith('StaffOnboardedFunction'));
  expect(ids).toHaveLength(1);
  staffOnboardedFn = ids[0] ?? '';
});

describe('the local platform, end to end', () => {
  it('a Staff Onboarded event published with the real EventBridge client ends in the welcome email and the Head of School notice', async () => {
    const detail = newStarter('sdk');
    const sent = Date.now();
    const [eventId] = await putEvents([entry('Staff Onboarded', detail)]);
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);

    const welcome = await firstEmail(detail.email);
    const toFirstEmail = Date.now() - sent;
    const { notice } = await onboardingEmails(detail);
    console.log(`time to ready ${(ctx.readyMs / 1000).toFixed(1)} s; time from PutEvents to the first email ${toFirstEmail} ms`);

    expect(welcome.subject).toContain('please read and confirm our policies');
    expect(welcome.body.text).toContain(`Dear ${detail.givenName},`);
    expect(welcome.body.text).toMatch(/Confirm: \S+\/ack\/\S+/);
    expect(notice.subject).toContain('please cover the Use of Social Media Policy at induction');
    expect(notice.body.text).not.toContain('/ack/');
    const person = await db.send(
      new GetCommand({ TableName: outputs.DataTableName, Key: { pk: `PERSON#${detail.staffId}`, sk: 'PROFILE' } }),
    );
    expect(person.Item).toMatchObject({ staffId: detail.staffId, email: detail.email, status: 'active' });
  });

  it('trust-notify publish validates, publishes to the running platform and prints the event id', async () => {
    const detail = newStarter('cli');
    const file = join(ctx.workDir, 'cli-staff-onboarded.json');
    writeFileSync(file, JSON.stringify(detail));

    const result = await runCli(ctx.dataDir, ['publish', 'staff-onboarded', file]);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^published staff-onboarded as event [0-9a-f-]{36}\n$/);
    await onboardingEmails(detail);
  });

  it('trust-notify publish refuses a malformed detail: exit 1, one line naming each bad field, never the value', async () => {
    const secret = 'leaky-value-9f3c';
    const badValues = join(ctx.workDir, 'cli-bad-values.json');
    writeFileSync(badValues, JSON.stringify(newStarter('bad', { email: `${secret}-not-an-address`, startDate: '2026-02-30' })));
    const unknownKey = join(ctx.workDir, 'cli-unknown-key.json');
    writeFileSync(unknownKey, JSON.stringify(newStarter('bad', { favouriteColour: secret })));
    const before = await functionStats();

    for (const [file, fields] of [
      [badValues, ['detail.email', 'detail.startDate']],
      [unknownKey, ['detail.favouriteColour']],
    ] as const) {
      const result = await runCli(ctx.dataDir, ['publish', 'staff-onboarded', file]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      const lines = result.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      for (const field of fields) expect(lines[0]).toContain(field);
      expect(result.stderr).not.toContain(secret);
      expect(result.stderr).not.toContain('2026-02-30');
    }
    // Refused before publishing: no function ran.
    expect(Object.values(delta(before, await functionStats(), 'invocations')).every((d) => d === 0)).toBe(true);
  });

  it("a target that throws is retried per the template's async settings and its invocation record lands in the on-failure queue", async () => {
    // prepare: what the template says about StaffOnboardedFunction's asynchronous invocations
    const invokeConfig = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig').find(
      ([, c]) => (c.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref === staffOnboardedFn,
    )?.[1].Properties;
    const maxRetries = invokeConfig?.MaximumRetryAttempts;
    expect(typeof maxRetries).toBe('number');
    const attempts = 1 + Number(maxRetries);
    const destination = (invokeConfig?.DestinationConfig as { OnFailure?: { Destination?: { 'Fn::GetAtt'?: [string, string] } } })
      ?.OnFailure?.Destination?.['Fn::GetAtt']?.[0];
    expect(destination).toMatch(/^StaffOnboardedFunctionFailureDlq/);
    const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'StaffOnboardedFunctionFailureDlq' }));
    expect(listed.QueueUrls).toHaveLength(1);
    const failureQueue = listed.QueueUrls?.[0] ?? '';
    expect(failureQueue.endsWith(`/${destination}`)).toBe(true);
    const before = await functionStats();
    const secret = 'bad-address-7c1e';
    const detail = newStarter('throws', { email: secret });

    // act: published raw (the CLI would refuse it), so the handler's own parsing throws
    const [eventId] = await putEvents([entry('Staff Onboarded', detail)]);

    // assess
    const record = await eventually(
      async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: failureQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 5 }),
        );
        for (const message of out.Messages ?? []) {
          const body = JSON.parse(message.Body ?? '{}') as {
            requestContext?: { condition?: string; approximateInvokeCount?: number; functionArn?: string };
            requestPayload?: { id?: string; detail?: { staffId?: string } };
            responsePayload?: { errorType?: string; errorMessage?: string };
          };
          if (body.requestPayload?.id !== eventId) continue;
          await sqs.send(new DeleteMessageCommand({ QueueUrl: failureQueue, ReceiptHandle: message.ReceiptHandle }));
          return body;
        }
        return undefined;
      },
      { timeoutMs: 30_000, what: 'the invocation record in the on-failure queue' },
    );
    expect(record.requestContext?.condition).toBe('RetriesExhausted');
    expect(record.requestContext?.approximateInvokeCount).toBe(attempts);
    expect(record.requestContext?.functionArn).toContain(`:function:${before[staffOnboardedFn]?.name}`);
    expect(record.requestPayload?.detail?.staffId).toBe(detail.staffId);
    expect(record.responsePayload?.errorMessage).toContain('detail.email');
    expect(record.responsePayload?.errorMessage).not.toContain(secret);

    const after = await functionStats();
    expect(delta(before, after, 'invocations')[staffOnboardedFn]).toBe(attempts);
    expect(delta(before, after, 'errors')[staffOnboardedFn]).toBe(attempts);
    expect(delta(before, after, 'asyncRetries')[staffOnboardedFn]).toBe(attempts - 1);
    expect(delta(before, after, 'sentToDestination')[staffOnboardedFn]).toBe(1);
    // The invoke itself was accepted, so nothing went to the rule target's delivery DLQ; nothing was written.
    const deliveryDlq = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: outputs.EventDeliveryDlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    expect(deliveryDlq.Attributes?.ApproximateNumberOfMessages).toBe('0');
    const person = await db.send(
      new GetCommand({ TableName: outputs.DataTableName, Key: { pk: `PERSON#${detail.staffId}`, sk: 'PROFILE' } }),
    );
    expect(person.Item).toBeUndefined();
  });

  it('an event no rule matches reaches no handler', async () => {
    // prepare: near misses of the Staff Onboarded rule, and every catalogue event no rule routes yet
    const rules = rulesFromTemplate(new LocalResources(template, config.region));
    const unrouted = DETAIL_TYPE_LIST.filter(
      (type) =>
        matchingRules(rules, EVENT_BUS_NAME, {
          source: CATALOGUE[type].source,
          'detail-type': type,
          detail: examples[type],
          account: '000000000000',
          region: config.region,
        }).length === 0,
    );
    const nearMiss = newStarter('nearmiss');
    const strays: PutEventsRequestEntry[] = [
      entry('Staff Onboarded ', nearMiss), // trailing space
      entry('staff onboarded', nearMiss), // case
      entry('Staff Onboarded', nearMiss, 'trust.hr.sandbox'), // another source
      entry('Staff Onboarded', nearMiss, 'trust.hr', null), // the default bus
      ...unrouted.map((type) => entry(type, examples[type], CATALOGUE[type].source)),
    ];
    const control = newStarter('control');
    const before = await functionStats();

    // act: the strays first, then a control event; the bus delivers in order, so once the
    // control event has had its effect every stray has been routed
    for (let i = 0; i < strays.length; i += 10) await putEvents(strays.slice(i, i + 10));
    await putEvents([entry('Staff Onboarded', control)]);
    await onboardingEmails(control);

    // assess: only the control event ran a handler (and the emails it sent)
    const after = await functionStats();
    const invoked = delta(before, after, 'invocations');
    const emailSender = Object.keys(after).find((id) => id.startsWith('EmailSenderFunction')) ?? '';
    for (const [id, count] of Object.entries(invoked)) {
      if (id === staffOnboardedFn) expect(count, id).toBe(1);
      else if (id === emailSender) expect(count, id).toBeGreaterThanOrEqual(1);
      else expect(count, id).toBe(0);
    }
    expect(Object.values(delta(before, after, 'errors')).every((d) => d === 0)).toBe(true);
    expect(await emailsTo(ctx.endpoints.ses, nearMiss.email)).toEqual([]);
    const person = await db.send(
      new GetCommand({ TableName: outputs.DataTableName, Key: { pk: `PERSON#${nearMiss.staffId}`, sk: 'PROFILE' } }),
    );
    expect(person.Item).toBeUndefined();
  });

  it('GET /health is 200 and names every part of the platform', async () => {
    const response = await fetch(`${ctx.endpoints.web}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; parts: Record<string, boolean> };
    expect(body.status).toBe('ok');
    expect(Object.keys(body.parts)).toEqual(expect.arrayContaining(['dynamodb', 'ses', 'sqs', 'eventBus', 'functions', 'scheduler']));
    expect(Object.values(body.parts).every((up) => up === true)).toBe(true);
  });

  it('serves the seed policy as a page with security headers and no script', async () => {
    const policy = config.policies.find((p) => p.policyId === 'use-of-social-media');
    expect(policy).toBeDefined();
    const response = await fetch(`${ctx.endpoints.web}/policies/use-of-social-media/v${policy?.version}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await response.text();
    expect(html).toContain('Use of Social Media Policy');
    expect(html).toContain('Introduction');
    expect(html.toLowerCase()).not.toContain('<script');
    // A version that was never published is a 404, not the current one.
    expect((await fetch(`${ctx.endpoints.web}/policies/use-of-social-media/v999`)).status).toBe(404);
  });
});
