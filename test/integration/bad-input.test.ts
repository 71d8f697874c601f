/**
 * Bad input through the real handlers against the local servers (issue 6 item 3; DESIGN.md
 * "Reliability rules": bad input gets an error naming the field, never the value; nothing is
 * written for it; no input makes a handler lose the rest of its batch).
 *
 * (a) every EventBridge handler of our catalogue: fast-check details that certainly break
 *     the contract (test/support/bad-input.ts, fixed seed) are refused with field-named
 *     errors, and nothing is written: no item names the test's ids, no ledger row but the
 *     integration contact's notice;
 * (b) the email sender and the fan-out worker: a batch mixing bad bodies with one good
 *     message reports only the bad ones as failed and handles the good one;
 * (c) the HTTP endpoints: GET/POST /ack/{token} with random tokens answer 400/404 pages that
 *     never reflect the token unescaped and change nothing; POST /reports with random bodies
 *     answers 400 naming fields and stores nothing;
 * (d) a refused event tells the integration contact once which event (id, type, fields) was
 *     refused, with no personal value; a redelivery tells nobody again.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { LedgerRepository } from '../../functions/adapters/ledger-repository.ts';
import { parseBreachReport } from '../../functions/contracts/breach-report.ts';
import { CATALOGUE, ContractError, type DetailType, readDetail } from '../../functions/contracts/events.ts';
import { rejectedEventNotice } from '../../functions/domain/rejected-event.ts';
import { anyString, anyValue, certainlyBadFrom, echoCandidates, type JsonObject, mutatedFrom, SEED } from '../support/bad-input.ts';
import { examples } from '../support/examples.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { drainThroughSender,
  eventBridgeEvent,
  type EventBridgeHandler,
  localClients,
  one,
  sequentialEventIds,
  type SqsHandler, httpApiEvent as httpEvent } from '../support/integration.ts';
import { sesStore } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { db, sqs } = localClients(ctx);
const dataTable = one(ctx.tables, 'DataTable');
const ledgerTable = one(ctx.tables, 'LedgerTable');
const narrativeTable = one(ctx.tables, 'Narrative');
const emailQueue = one(ctx.queues, 'EmailQueue');

type Http = (event: APIGatewayProxyEventV2, c: ReturnType<typeof lambdaContext>) => Promise<APIGatewayProxyStructuredResultV2>;

/** Every test id carries this marker, so a scan can prove nothing of this file was written. */
const MARK = 'BADIN';
const mark = 'badin';

/** The examples, with this file's own ids. */
const bases: Record<Exclude<DetailType, 'Policy Review Due'>, JsonObject> = {
  'Staff Onboarded': { ...(examples['Staff Onboarded'] as JsonObject), staffId: `${MARK}-ONB`, email: `${mark}.onb@stmarys.example.org`, eventId: `${mark}-1` },
  'Staff Updated': { ...(examples['Staff Updated'] as JsonObject), staffId: `${MARK}-UPD` },
  'Staff Left': { ...(examples['Staff Left'] as JsonObject), staffId: `${MARK}-LFT` },
  'Policy Updated': { ...(examples['Policy Updated'] as JsonObject), policyId: `${mark}-policy` },
  'Policy Reviewed': { ...(examples['Policy Reviewed'] as JsonObject), policyId: `${mark}-policy` },
  'Breach Reported': { ...(examples['Breach Reported'] as JsonObject), caseId: `CASE-${MARK}-000001` },
  'Policy Acknowledged': { ...(examples['Policy Acknowledged'] as JsonObject), staffId: `${MARK}-ACK`, policyId: `${mark}-policy` },
};

/** The logical id prefix of each handler's function in the synthesized template. */
const FUNCTIONS: Record<keyof typeof bases, { prefix: string; load: () => Promise<{ handler: unknown }> }> = {
  'Staff Onboarded': { prefix: 'StaffOnboardedFunction', load: () => import('../../functions/handlers/staff-onboarded.ts') },
  'Staff Updated': { prefix: 'StaffUpdatedFunction', load: () => import('../../functions/handlers/staff-updated.ts') },
  'Staff Left': { prefix: 'StaffLeftFunction', load: () => import('../../functions/handlers/staff-left.ts') },
  'Policy Updated': { prefix: 'PolicyUpdatedFunction', load: () => import('../../functions/handlers/policy-updated.ts') },
  'Policy Reviewed': { prefix: 'PolicyReviewedFunction', load: () => import('../../functions/handlers/policy-reviewed.ts') },
  'Breach Reported': { prefix: 'BreachReportedFunction', load: () => import('../../functions/handlers/breach-reported.ts') },
  'Policy Acknowledged': { prefix: 'PolicyAcknowledgedFunction', load: () => import('../../functions/handlers/policy-acknowledged.ts') },
};
const HANDLED = Object.keys(bases) as (keyof typeof bases)[];
/** Functions with no ledger or email queue binding (lib/trust-policy-notify-stack.ts) skip the notice, and log why. */
const WITHOUT_NOTICE = new Set<DetailType>(['Policy Reviewed']);

const handlers = new Map<DetailType, EventBridgeHandler>();
let sender: SqsHandler;
let fanout: SqsHandler;
let ack: Http;
let intake: Http;

const RUNS = 24;
const nextEventId = sequentialEventIds('baad');

/** The keys each function's template gives it, so a later load does not leak an earlier one's bindings. */
const BINDINGS = ['DATA_TABLE_NAME', 'LEDGER_TABLE_NAME', 'EMAIL_QUEUE_URL', 'FANOUT_QUEUE_URL', 'EVENT_BUS_NAME', 'NARRATIVE_TABLE_NAME', 'ACK_TOKEN_SECRET_ARN'];
async function load<M>(prefix: string, importIt: () => Promise<M>): Promise<M> {
  for (const key of BINDINGS) delete process.env[key];
  return loadFunction(ctx, prefix, importIt);
}

async function scanAll(table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await db.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

const mentionsMarker = (item: unknown) => {
  const text = JSON.stringify(item);
  return text.includes(MARK) || text.includes(mark);
};

function sqsRecord(body: string, n: number, queueArn: string): SQSRecord {
  return {
    messageId: `baad-${n}-${crypto.randomUUID()}`,
    receiptHandle: `rh-${n}`,
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'local', ApproximateFirstReceiveTimestamp: String(Date.now()) },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: ctx.region,
  };
}

/** Bodies no consumer can take: not JSON, the wrong shape, huge, prototype keys. */
const badBody = fc.oneof(
  anyString.filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
  anyValue.map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '',
    '{',
    'null',
    '{"ledgerKeys": []}',
    '{"ledgerKeys": "person#x#welcome"}',
    `{"ledgerKeys": ["${'k'.repeat(200_000)}"]}`,
    '{"__proto__": {"ledgerKeys": ["x"]}}',
    '{"constructor": {"prototype": {"polluted": true}}}',
    JSON.stringify({ policyId: 'x'.repeat(100), version: 1, schoolId: 'st-marys', eventId: 'e' }),
    JSON.stringify({ policyId: 'p', version: -1, schoolId: 'st-marys', eventId: 'e' }),
  ),
);

beforeAll(async () => {
  for (const type of HANDLED) {
    const { prefix, load: importIt } = FUNCTIONS[type];
    handlers.set(type, (await load(prefix, importIt)).handler as EventBridgeHandler);
  }
  sender = (await load('EmailSenderFunction', () => import('../../functions/handlers/email-sender.ts'))).handler as unknown as SqsHandler;
  fanout = (await load('PolicyFanoutWorkerFunction', () => import('../../functions/handlers/policy-fanout.ts'))).handler as unknown as SqsHandler;
  ack = (await load('AckFunction', () => import('../../functions/handlers/ack-http.ts'))).handler as unknown as Http;
  intake = (await load('CaseIntakeReportIntakeFunction', () => import('../../functions/handlers/report-intake.ts'))).handler as unknown as Http;
});

/** The fields a detail cannot do without: removing each one alone makes the tolerant read refuse it. */
function requiredFields(type: DetailType, base: JsonObject): string[] {
  return Object.keys(base).filter((key) => {
    const { [key]: _gone, ...rest } = base;
    try {
      readDetail(type, rest);
      return false;
    } catch {
      return true;
    }
  });
}

describe('(a) the EventBridge handlers refuse bad details by field, write nothing, and tell the integration contact', () => {
  for (const type of HANDLED) {
    it(`${type}: ${RUNS} certainly-bad details are refused with field-named errors and change nothing`, async () => {
      const base = bases[type];
      const handler = handlers.get(type);
      if (!handler) throw new Error(`no handler for ${type}`);
      const required = requiredFields(type, base);
      expect(required.length).toBeGreaterThan(0);
      const ids: string[] = [];
      await fc.assert(
        fc.asyncProperty(certainlyBadFrom(base, required), async (badCase) => {
          const id = nextEventId();
          ids.push(id);
          const error = await handler(eventBridgeEvent(type, CATALOGUE[type].source, badCase.input, { id }), lambdaContext(type)).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, badCase.steps.join(', ')).toBeInstanceOf(ContractError);
          const refusal = error as ContractError;
          expect(refusal.problems.length).toBeGreaterThan(0);
          for (const p of refusal.problems) expect(p.field.startsWith('detail')).toBe(true);
          for (const v of echoCandidates(badCase.values, refusal.fields)) expect(refusal.message.includes(v)).toBe(false);
        }),
        { seed: SEED, numRuns: RUNS },
      );
      // Nothing in the data table names this file's people, policies or cases.
      expect((await scanAll(dataTable)).filter(mentionsMarker)).toEqual([]);
      // The only ledger rows of these events are the integration contact's notices (one per event).
      const rows = (await scanAll(ledgerTable)).filter((row) => ids.includes(String((row.origin as { eventId?: string } | undefined)?.eventId)));
      const expected = WITHOUT_NOTICE.has(type) ? [] : ids.map((id) => `rejected#${id}`).sort();
      expect(rows.map((r) => String(r.pk)).sort()).toEqual(expected);
      for (const row of rows) {
        expect(row.recipient).toBe(config.integrationContact);
        expect(mentionsMarker(row.templateData)).toBe(false);
      }
    });
  }
});

describe('(b) no input makes a queue consumer lose the rest of its batch', () => {
  it('the email sender: bad bodies are reported failed, the one good message is delivered', async () => {
    const ledger = new LedgerRepository(db, ledgerTable);
    await fc.assert(
      fc.asyncProperty(fc.array(badBody, { minLength: 1, maxLength: 5 }), fc.nat(), async (bodies, where) => {
        const goodId = nextEventId();
        const notice = rejectedEventNotice(
          { eventId: goodId, detailType: 'Staff Onboarded', problems: [{ field: 'detail.email', problem: 'must be a valid email address' }] },
          `${mark}.good@example.org`,
          config.trust.name,
        );
        const [key] = await ledger.recordIntended([notice], { detailType: 'test', eventId: goodId }, new Date());
        expect(key).toBe(notice.key);
        const records = bodies.map((b, i) => sqsRecord(b, i, emailQueue.arn));
        const good = sqsRecord(JSON.stringify({ ledgerKeys: [notice.key] }), 99, emailQueue.arn);
        records.splice(where % (records.length + 1), 0, good);
        const event: SQSEvent = { Records: records };
        const result = await sender(event, lambdaContext('EmailSender'));
        const failed = result.batchItemFailures.map((f) => f.itemIdentifier).sort();
        expect(failed).toEqual(records.filter((r) => r !== good).map((r) => r.messageId).sort());
        const row = await ledger.get(notice.key);
        expect(row?.state).toBe('sent');
      }),
      { seed: SEED, numRuns: 12 },
    );
    const delivered = (await sesStore(ctx.endpoints.ses)).filter((e) => e.destination.to.includes(`${mark}.good@example.org`));
    expect(delivered).toHaveLength(12);
  });

  it('the fan-out worker: bad bodies are reported failed, the one good message is handled', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(badBody, { minLength: 1, maxLength: 5 }), fc.nat(), async (bodies, where) => {
        const records = bodies.map((b, i) => sqsRecord(b, i, 'arn:aws:sqs:eu-west-2:000000000000:fanout'));
        // A version that is not current: handled by recording the school as skipped, not failed.
        const good = sqsRecord(JSON.stringify({ policyId: `${mark}-fanout`, version: 1 + where, schoolId: 'st-marys', eventId: nextEventId() }), 99, 'arn:aws:sqs:eu-west-2:000000000000:fanout');
        records.splice(where % (records.length + 1), 0, good);
        const result = await fanout({ Records: records }, lambdaContext('PolicyFanout'));
        const failed = result.batchItemFailures.map((f) => f.itemIdentifier).sort();
        expect(failed).toEqual(records.filter((r) => r !== good).map((r) => r.messageId).sort());
      }),
      { seed: SEED, numRuns: 12 },
    );
  });
});

describe('(c) the HTTP endpoints', () => {
  const token = fc.oneof(
    anyString,
    fc.constantFrom(
      '<script>alert(1)</script>',
      '"><svg onload=alert(1)>',
      `${'A'.repeat(100_000)}.${'B'.repeat(43)}`,
      'eyJhbGciOiJub25lIn0.eyJzdGFmZklkIjoiPHNjcmlwdD4ifQ.',
      '../../etc/passwd',
      '%3Cscript%3E',
      '\u202Egnp.exe',
      '😀😀😀😀',
      'a\u0000b\u0000c\u0000d',
    ),
    fc.tuple(fc.base64String({ minLength: 4, maxLength: 60 }), fc.base64String({ minLength: 4, maxLength: 60 })).map(([a, b]) => `${a}.${b}`),
  );

  it('GET and POST /ack/{token} with random tokens: 400 or 404, the token never reflected unescaped, nothing changed', async () => {
    const before = { data: (await scanAll(dataTable)).length, ledger: (await scanAll(ledgerTable)).length };
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(token, fc.constantFrom<'GET' | 'POST'>('GET', 'POST'), async (t, method) => {
        tried++;
        const res = await ack(httpEvent(method, `/ack/${t}`, { token: t }), lambdaContext('Ack'));
        expect([400, 404]).toContain(res.statusCode);
        const body = String(res.body ?? '');
        expect(body).not.toMatch(/<script|<svg|onerror=|onload=/i);
        if (/[<>"'&]/.test(t)) expect(body.includes(t)).toBe(false);
        expect(res.headers?.['Content-Type']).toContain('text/html');
      }),
      { seed: SEED, numRuns: 150 },
    );
    expect(tried).toBe(150);
    expect({ data: (await scanAll(dataTable)).length, ledger: (await scanAll(ledgerTable)).length }).toEqual(before);
  });

  it('POST /reports with random and mutated bodies: 400 naming report fields (413 naming the body past 256 KB), never a value; nothing stored', async () => {
    const { caseId: _assignedByTheIntake, ...fields } = examples['Breach Reported'] as JsonObject;
    const example: JsonObject = { ...fields, narrative: `${MARK} narrative: a parent posted abuse about a teacher.` };
    const before = { data: (await scanAll(dataTable)).length, narratives: (await scanAll(narrativeTable)).length };
    const bodies = fc.oneof(
      mutatedFrom(example)
        // Only the refused ones: a still-valid report would (rightly) open a case.
        .filter((c) => intakeRefuses(c.input))
        .map((c) => ({ body: JSON.stringify(c.input), values: c.values })),
      badBody.map((b) => ({ body: b, values: [b] })),
      fc.constant({ body: `{"narrative": "${'x'.repeat(300_000)}"}`, values: ['x'.repeat(300_000)] }),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async ({ body, values }) => {
        const res = await intake(httpEvent('POST', '/reports', { body }), lambdaContext('ReportIntake'));
        const oversize = Buffer.byteLength(body) > 256 * 1024;
        expect(res.statusCode).toBe(oversize ? 413 : 400);
        const answer = JSON.parse(String(res.body)) as { error: string; fields: string[] };
        expect(answer.fields.length).toBeGreaterThan(0);
        for (const f of answer.fields) expect(oversize ? f === 'body' : f === 'report' || f.startsWith('report.')).toBe(true);
        for (const v of echoCandidates(values, answer.fields)) expect(String(res.body).includes(v)).toBe(false);
      }),
      { seed: SEED, numRuns: 100 },
    );
    expect({ data: (await scanAll(dataTable)).length, narratives: (await scanAll(narrativeTable)).length }).toEqual(before);
  });

  // The same rules as the local web server's (local/web-guard.ts), held by the handlers in AWS.
  it('POST /reports takes JSON only (415 naming Content-Type), and a POST to /ack/ a small form only; nothing stored', async () => {
    const { caseId: _assignedByTheIntake, ...fields } = examples['Breach Reported'] as JsonObject;
    const before = { data: (await scanAll(dataTable)).length, narratives: (await scanAll(narrativeTable)).length };
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '']) {
      const event = httpEvent('POST', '/reports', { body: JSON.stringify({ ...fields, narrative: `${MARK} a narrative` }) });
      event.headers = { ...event.headers, 'content-type': type };
      const res = await intake(event, lambdaContext('ReportIntake'));
      expect(res.statusCode, type).toBe(415);
      expect(JSON.parse(String(res.body))).toMatchObject({ fields: ['Content-Type'] });
    }
    const token = 'eyJraWQiOiJrMSJ9.c2lnbmF0dXJl';
    const asJson = httpEvent('POST', `/ack/${token}`, { token, body: '{"confirm":true}' });
    expect((await ack(asJson, lambdaContext('Ack'))).statusCode).toBe(415);
    const big = httpEvent('POST', `/ack/${token}`, { token, body: `a=${'x'.repeat(5_000)}` });
    big.headers = { ...big.headers, 'content-type': 'application/x-www-form-urlencoded' };
    expect((await ack(big, lambdaContext('Ack'))).statusCode).toBe(413);
    expect({ data: (await scanAll(dataTable)).length, narratives: (await scanAll(narrativeTable)).length }).toEqual(before);
  });
});

/** True when the intake refuses the report (its contract or its school). */
function intakeRefuses(input: unknown): boolean {
  const schoolIds = new Set(config.schools.map((s) => s.id));
  const value = input as { schoolId?: unknown } | null;
  try {
    // The same contract the intake applies.
    parseBreachReport(input);
  } catch {
    return true;
  }
  return !(value && typeof value.schoolId === 'string' && schoolIds.has(value.schoolId));
}

describe('(d) a refused event tells the integration contact once, without personal values', () => {
  it('one email to the integration contact naming the event and fields; a redelivery sends none', async () => {
    const handler = handlers.get('Staff Onboarded');
    if (!handler) throw new Error('no Staff Onboarded handler');
    const personal = {
      ...bases['Staff Onboarded'],
      givenName: 'Zebedee',
      familyName: 'Quixote-Marchbanks',
      email: 'zebedee.quixote@@home.example.org',
      startDate: '2026-02-30',
    };
    const id = nextEventId();
    const event = eventBridgeEvent('Staff Onboarded', 'trust.hr', personal, { id });
    const drain = () => drainThroughSender(sqs, emailQueue, sender);

    await expect(handler(event, lambdaContext('StaffOnboarded'))).rejects.toThrow(/detail\.email must be a valid email address/);
    await drain();
    const toContact = async () =>
      (await sesStore(ctx.endpoints.ses)).filter((e) => e.destination.to.includes(config.integrationContact) && e.subject.includes(id));
    const first = await toContact();
    expect(first).toHaveLength(1);
    const [email] = first;
    expect(email?.subject).toBe(`Event refused: Staff Onboarded ${id} breaks its contract`);
    expect(email?.body.text).toContain(`Event id: ${id}`);
    expect(email?.body.text).toContain('- detail.email must be a valid email address');
    expect(email?.body.text).toContain('- detail.startDate must be a real calendar date');
    for (const value of ['Zebedee', 'Quixote', 'zebedee.quixote', '2026-02-30', `${MARK}-ONB`]) {
      expect(JSON.stringify(email)).not.toContain(value);
    }

    // EventBridge redelivers it (or the function's async retry runs it again): no second email.
    await expect(handler(event, lambdaContext('StaffOnboarded'))).rejects.toThrow(ContractError);
    await drain();
    expect(await toContact()).toHaveLength(1);
  });

  it('Policy Reviewed (no ledger or email queue binding) refuses the event and queues no notice', async () => {
    const handler = handlers.get('Policy Reviewed');
    if (!handler) throw new Error('no Policy Reviewed handler');
    const id = nextEventId();
    await expect(
      handler(eventBridgeEvent('Policy Reviewed', 'trust.policies', { ...bases['Policy Reviewed'], version: 'two' }, { id }), lambdaContext('PolicyReviewed')),
    ).rejects.toThrow(/detail\.version /);
    const rows = (await scanAll(ledgerTable)).filter((r) => r.pk === `rejected#${id}`);
    expect(rows).toEqual([]);
  });
});
