/**
 * Acknowledging a policy from the welcome email's link, end to end through the real
 * handlers against the local servers: the ack function (GET shows, POST records once and
 * emits `Policy Acknowledged` to a local event bus), then the `Policy Acknowledged` handler
 * and the email sender (the receipt). Tokens that are tampered, expired, unknown or
 * replayed get their own page and status and change nothing.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  EventBridgeEvent,
} from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { parseKeyRing, signToken } from '../../functions/domain/ack-token.ts';
import type { BusEvent, LocalEventBus } from '../../local/event-bus.ts';
import { lambdaContext, loadFunction, TEST_ACK_KEYS } from '../support/functions.ts';
import { drainThroughSender, eventBridgeEvent, type EventBridgeHandler, loadEmailSender, localClients, one, type SqsHandler, httpApiEvent, startCapturingBus } from '../support/integration.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo, sesStore } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { db, sqs } = localClients(ctx);
const dataTable = one(ctx.tables, 'DataTable');
const emailQueue = one(ctx.queues, 'EmailQueue');

type Http = (event: APIGatewayProxyEventV2, c: ReturnType<typeof lambdaContext>) => Promise<APIGatewayProxyStructuredResultV2>;
type Eb = EventBridgeHandler;
type Sqs = SqsHandler;
let ack: Http;
let onboard: Eb;
let receipt: Eb;
let sender: Sqs;
let bus: LocalEventBus;
const published: BusEvent[] = [];

const person = {
  staffId: 'ACK-1',
  givenName: 'Siân',
  familyName: 'Morgan',
  email: 'sian.morgan.ack@stjohns.example.org',
  schoolId: 'st-johns',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2027-01-04',
};

const ebEvent = (detailType: string, source: string, detail: unknown) => eventBridgeEvent(detailType, source, detail);

const drain = () => drainThroughSender(sqs, emailQueue, sender, { mustDrain: false });

async function requestRow(policyId: string) {
  const out = await db.send(
    new GetCommand({ TableName: dataTable, Key: { pk: `PERSON#${person.staffId}`, sk: `REQUEST#${policyId}#000001` }, ConsistentRead: true }),
  );
  return out.Item;
}

/** Delivers what the ack function published to the Policy Acknowledged handler, as the rule would. */
async function deliverPublished(): Promise<number> {
  const batch = published.splice(0);
  for (const e of batch) await receipt(e as unknown as EventBridgeEvent<string, unknown>, lambdaContext('PolicyAcknowledged'));
  return batch.length;
}

let links: string[] = [];
const httpEvent = (method: 'GET' | 'POST', token: string) => httpApiEvent(method, `/ack/${token}`, { token });
const tokenOf = (link: string) => link.slice(`${config.publicBaseUrl}/ack/`.length);

beforeAll(async () => {
  bus = await startCapturingBus(ctx, published);
  onboard = (await loadFunction(ctx, 'StaffOnboardedFunction', () => import('../../functions/handlers/staff-onboarded.ts')))
    .handler as unknown as Eb;
  sender = await loadEmailSender(ctx);
  ack = (await loadFunction(ctx, 'AckFunction', () => import('../../functions/handlers/ack-http.ts'))).handler as unknown as Http;
  receipt = (await loadFunction(ctx, 'PolicyAcknowledgedFunction', () => import('../../functions/handlers/policy-acknowledged.ts')))
    .handler as unknown as Eb;

  await onboard(ebEvent('Staff Onboarded', 'trust.hr', person), lambdaContext('StaffOnboarded'));
  await drain();
  const welcome = await eventually(async () => (await emailsTo(ctx.endpoints.ses, person.email))[0], { what: 'the welcome' });
  links = [...(welcome.body.text ?? '').matchAll(/Confirm: (\S+)/g)].map((m) => m[1] ?? '');
});

afterAll(async () => {
  await bus?.close();
});

describe('acknowledgement links (DESIGN.md "Acknowledgement links")', () => {
  it('GET shows the policy and a confirm button, with security headers, and changes nothing', async () => {
    const [link] = links;
    if (!link) throw new Error('no link in the welcome email');
    const res = await ack(httpEvent('GET', tokenOf(link)), lambdaContext('Ack'));
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Use of Social Media Policy (version 1)');
    expect(res.body).toContain('<form method="post"');
    expect(res.body).not.toContain('<script');
    expect(res.headers?.['Content-Security-Policy']).toContain("default-src 'none'");
    expect(res.headers?.['X-Frame-Options']).toBe('DENY');
    expect((await requestRow('use-of-social-media'))?.status).toBe('pending');
    expect(published).toHaveLength(0);
  });

  it('POST records the acknowledgement once, emits Policy Acknowledged, and the receipt arrives', async () => {
    const link = links[0] ?? '';
    const res = await ack(httpEvent('POST', tokenOf(link)), lambdaContext('Ack'));
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Thank you');
    const row = await requestRow('use-of-social-media');
    expect(row).toMatchObject({ status: 'acknowledged' });
    expect(row?.ackTokenId).toEqual(expect.any(String));
    expect(published.map((e) => [e.source, e['detail-type'], e.detail.staffId, e.detail.policyId, e.detail.version])).toEqual([
      ['trust.policies', 'Policy Acknowledged', 'ACK-1', 'use-of-social-media', 1],
    ]);
    expect(await deliverPublished()).toBe(1);
    await drain();
    const receipts = (await emailsTo(ctx.endpoints.ses, person.email)).filter((e) => e.subject.startsWith('Receipt'));
    expect(receipts).toHaveLength(1);
    expect(receipts[0]?.subject).toBe('Receipt: you confirmed the Use of Social Media Policy (version 1)');
    // Issue #7: from their Trust, naming their school (header and sign-off).
    expect(receipts[0]?.body.html).toContain("St John's Church of England Primary School");
    expect(receipts[0]?.body.text).toContain(`${config.trust.name}, St John's Church of England Primary School`);
  });

  it('a replayed POST of the same link gets 409, records nothing new and sends no second receipt', async () => {
    const before = await requestRow('use-of-social-media');
    const count = (await sesStore(ctx.endpoints.ses)).length;
    const res = await ack(httpEvent('POST', tokenOf(links[0] ?? '')), lambdaContext('Ack'));
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('already confirmed');
    expect(await requestRow('use-of-social-media')).toEqual(before);
    // The replay re-emits (repairing a lost emit); the receipt's ledger key keeps it to one email.
    expect(await deliverPublished()).toBe(1);
    await drain();
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(count);
  });

  it('a tampered link gets 400 and changes nothing', async () => {
    const link = links[0] ?? '';
    const token = tokenOf(link);
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    const res = await ack(httpEvent('POST', tampered), lambdaContext('Ack'));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('not valid');
    expect(published).toHaveLength(0);
  });

  it('an expired link gets 410 and changes nothing', async () => {
    const keys = parseKeyRing(TEST_ACK_KEYS, 'test');
    const expired = signToken(
      { staffId: 'ACK-1', policyId: 'use-of-social-media', version: 1, purpose: 'ack', expiresAt: new Date(Date.now() - 1000) },
      keys,
    );
    const res = await ack(httpEvent('POST', expired), lambdaContext('Ack'));
    expect(res.statusCode).toBe(410);
    expect(res.body).toContain('expired');
  });

  it('a well-signed link for a request that does not exist gets 404', async () => {
    const keys = parseKeyRing(TEST_ACK_KEYS, 'test');
    const token = signToken(
      { staffId: 'NOBODY-1', policyId: 'use-of-social-media', version: 1, purpose: 'ack', expiresAt: new Date(Date.now() + 60_000) },
      keys,
    );
    const res = await ack(httpEvent('POST', token), lambdaContext('Ack'));
    expect(res.statusCode).toBe(404);
    expect(published).toHaveLength(0);
  });

  it('a redelivered Policy Acknowledged event sends no second receipt', async () => {
    const count = (await sesStore(ctx.endpoints.ses)).length;
    const event = ebEvent('Policy Acknowledged', 'trust.policies', {
      policyId: 'use-of-social-media',
      version: 1,
      staffId: 'ACK-1',
      acknowledgedAt: new Date().toISOString(),
    });
    await receipt(event, lambdaContext('PolicyAcknowledged'));
    await receipt(event, lambdaContext('PolicyAcknowledged'));
    await drain();
    expect((await sesStore(ctx.endpoints.ses)).length).toBe(count);
  });
});
