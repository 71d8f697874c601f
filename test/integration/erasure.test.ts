/**
 * `trust-notify erase <staffId>` (local/erase-command.ts; DESIGN.md "Data") against DynamoDB
 * Local: a person onboarded and then leaving through the real handlers (the leaver's profile
 * gets its retention TTL), named as the subject of a case; erase deletes the profile and the
 * requests never acknowledged, redacts their ledger rows (kept with their business keys),
 * keeps the case and records why on its timeline; a second run finds nothing left to erase.
 */
import { GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CaseRepository } from '../../functions/adapters/case-repository.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { caseIdFor, openCase } from '../../functions/domain/cases.ts';
import { addDays, londonDate } from '../../functions/domain/dates.ts';
import { ERASED, SAFEGUARDING_REASON } from '../../functions/domain/erasure.ts';
import { leaverExpiresAt, retentionOf } from '../../functions/domain/retention.ts';
import { erasePerson, formatErasure } from '../../local/erase-command.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { drainThroughSender, eventBridgeEvent, type EventBridgeHandler, loadEmailSender, localClients, one, sequentialEventIds, type SqsHandler } from '../support/integration.ts';

const ctx = inject('integration');
const { db, sqs } = localClients(ctx, { removeUndefinedValues: true });
const dataTable = one(ctx.tables, 'DataTable');
const ledgerTable = one(ctx.tables, 'LedgerTable');
const narrativeTable = one(ctx.tables, 'NarrativeTable');
const emailQueue = one(ctx.queues, 'EmailQueue');
const cases = new CaseRepository(db, dataTable, narrativeTable);
const tables = { db, dataTable, ledgerTable };

const STAFF_ID = 'ER-SM-T1';
const person = {
  staffId: STAFF_ID,
  givenName: 'Imogen',
  familyName: 'Erasewell',
  email: 'imogen.erasewell@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2021-09-01',
  occurredAt: '2026-11-01T09:00:00Z',
};
const today = londonDate(new Date());
const leftOn = addDays(today, -1);
const nextEventId = sequentialEventIds('9e1a');
const hrEvent = (detailType: string, detail: Record<string, unknown>) => eventBridgeEvent(detailType, 'trust.hr', detail, { id: nextEventId() });
const run = (handler: EventBridgeHandler, event: ReturnType<typeof hrEvent>) => handler(event, lambdaContext(event['detail-type']));

let caseId: string;
let ledgerKeysBefore: string[];

async function profile() {
  return (await db.send(new GetCommand({ TableName: dataTable, Key: { pk: `PERSON#${STAFF_ID}`, sk: 'PROFILE' }, ConsistentRead: true }))).Item;
}
async function requests() {
  const out = await db.send(
    new QueryCommand({
      TableName: dataTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :r)',
      ExpressionAttributeValues: { ':pk': `PERSON#${STAFF_ID}`, ':r': 'REQUEST#' },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}
async function ledgerRows() {
  const out = await db.send(
    new ScanCommand({ TableName: ledgerTable, FilterExpression: 'contains(pk, :id)', ExpressionAttributeValues: { ':id': STAFF_ID }, ConsistentRead: true }),
  );
  return (out.Items ?? []).filter((row) => String(row.pk).split('#').includes(STAFF_ID));
}

/** Out of the pending index (gsi2): an acknowledged request is not pending. */
function withoutPendingIndex(item: Record<string, unknown>): Record<string, unknown> {
  const { gsi2pk: _pk, gsi2sk: _sk, ...rest } = item;
  return rest;
}

beforeAll(async () => {
  const load = async (prefix: string, importer: () => Promise<{ handler: unknown }>) =>
    (await loadFunction(ctx, prefix, importer)).handler as EventBridgeHandler;
  const onboard = await load('StaffOnboardedFunction', () => import('../../functions/handlers/staff-onboarded.ts'));
  const left = await load('StaffLeftFunction', () => import('../../functions/handlers/staff-left.ts'));
  const sender: SqsHandler = await loadEmailSender(ctx);
  await run(onboard, hrEvent('Staff Onboarded', person));
  await drainThroughSender(sqs, emailQueue, sender);
  // One request acknowledged (evidence to keep, redacted), written as the acknowledgement handler leaves it.
  const [first] = await requests();
  if (!first) throw new Error('onboarding asked for no acknowledgement');
  await db.send(
    new PutCommand({
      TableName: dataTable,
      Item: { ...withoutPendingIndex(first), pk: first.pk, sk: `${String(first.sk)}-ACKED`, status: 'acknowledged', acknowledgedAt: `${today}T08:00:00Z`, ackTokenId: 'tok-1' },
    }),
  );
  await run(left, hrEvent('Staff Left', { staffId: STAFF_ID, leftOn, occurredAt: '2026-11-02T09:00:00Z' }));
  await drainThroughSender(sqs, emailQueue, sender);

  // An id of its own (other files open cases in this table with ids they choose).
  caseId = caseIdFor(Number(today.slice(0, 4)), 987_001);
  const record = openCase(
    { schoolId: 'st-marys', category: 'staff-misconduct', subject: { kind: 'staff', staffId: STAFF_ID }, occurredOn: today },
    caseId,
    new Date(),
    loadTrustConfig().escalation.triageHours,
  );
  expect((await cases.open(record, 'A narrative naming the subject.')).outcome).toBe('opened');
  ledgerKeysBefore = (await ledgerRows()).map((r) => String(r.pk)).sort();
});

describe('retention: Staff Left sets the profile TTL', () => {
  it('expiresAt = leftOn + leaversMonths (epoch seconds), so DynamoDB removes the profile then', async () => {
    expect((await profile())?.expiresAt).toBe(leaverExpiresAt(leftOn, retentionOf(loadTrustConfig())));
  });
});

describe('trust-notify erase, against DynamoDB Local', () => {
  it('--dry-run changes nothing and says what it would do', async () => {
    const result = await erasePerson(tables, STAFF_ID, { dryRun: true });
    expect(result).toMatchObject({ kind: 'done', dryRun: true, summary: { profileDeleted: 1, casesKept: [caseId], changed: true } });
    expect(await profile()).toBeDefined();
  });

  it('erases the profile and unacknowledged requests, redacts the ledger, keeps the case with the reason', async () => {
    const result = await erasePerson(tables, STAFF_ID, { dryRun: false });
    if (result.kind !== 'done') throw new Error(result.reason);
    const { summary } = result;
    expect(summary).toMatchObject({ profileDeleted: 1, requestsRedacted: 1, ledgerDeferred: 0, casesKept: [caseId], casesNewlyRecorded: 1 });
    expect(summary.requestsDeleted).toBeGreaterThan(0);
    expect(summary.ledgerRedacted).toBeGreaterThanOrEqual(ledgerKeysBefore.length);

    expect(await profile()).toBeUndefined();
    const left = await requests();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ status: 'acknowledged', acknowledgedAt: `${today}T08:00:00Z` });
    expect(left[0]?.ackTokenId).toBeUndefined();

    const rows = await ledgerRows();
    expect(rows.map((r) => String(r.pk)).sort()).toEqual(ledgerKeysBefore);
    expect(ledgerKeysBefore).toContain(`person#${STAFF_ID}#welcome`);
    for (const row of rows) {
      expect(row).toMatchObject({ recipient: ERASED, templateData: ERASED, state: 'sent' });
      expect(row.createdAt).toBeDefined();
    }

    expect(await cases.get(caseId)).toMatchObject({ caseId, subject: { staffId: STAFF_ID } });
    const timeline = await cases.timeline(caseId);
    expect(timeline.at(-1)).toMatchObject({ kind: 'erasure-kept', staffId: STAFF_ID, roles: ['subject'], reason: SAFEGUARDING_REASON });

    const text = formatErasure(STAFF_ID, result);
    expect(text).not.toContain(person.email);
    expect(text).not.toContain(person.familyName);
    expect(text).toContain('scans the ledger table');
  });

  it('a second run finds nothing left to erase and records nothing twice', async () => {
    const result = await erasePerson(tables, STAFF_ID, { dryRun: false });
    expect(result).toMatchObject({
      kind: 'done',
      summary: { changed: false, profileDeleted: 0, requestsDeleted: 0, requestsRedacted: 0, ledgerRedacted: 0, casesNewlyRecorded: 0, casesKept: [caseId] },
    });
    expect(formatErasure(STAFF_ID, result)).toContain('nothing left to erase');
    expect((await cases.timeline(caseId)).filter((e) => e.kind === 'erasure-kept')).toHaveLength(1);
  });

  it('refuses someone still active, changing nothing', async () => {
    const Key = { pk: 'PERSON#ER-ACTIVE', sk: 'PROFILE' };
    await db.send(new PutCommand({ TableName: dataTable, Item: { ...Key, entity: 'person', staffId: 'ER-ACTIVE', status: 'active' } }));
    const result = await erasePerson(tables, 'ER-ACTIVE', { dryRun: false });
    expect(result).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/still active/) });
    expect((await db.send(new GetCommand({ TableName: dataTable, Key, ConsistentRead: true }))).Item).toBeDefined();
  });
});
