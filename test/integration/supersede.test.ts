/**
 * Superseding at scale (issue #11 part 3), through RequestRepository.supersedePending and the
 * real AWS SDK v3 client against DynamoDB Local (the global setup's server), in a data table
 * of this file's own (a copy of the template's, with both indexes).
 *
 * Why superseding: a substantive new version replaces the one people were asked to read, so
 * their pending requests for the older version end (superseded) and each person the policy
 * applies to is asked for the current version only (§1f "all staff are made aware of this
 * policy", §4a.ii "all staff and volunteers have access to this policy", §2a its audience).
 * An acknowledgement already given stays on record (it is evidence that the person read the
 * version they were sent), so superseding must never overwrite one, whether it was recorded
 * before superseding started or while it runs; and the Policy Updated function can die
 * halfway (a timeout), so a second run must finish the rest without touching anything twice.
 *
 * Where a test wraps the client (to act between the read and the write, to stop a run
 * halfway, or to record what a run writes), its name says so.
 */
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { batchGet } from '../../functions/adapters/batch.ts';
import { RequestRepository, requestKey } from '../../functions/adapters/request-repository.ts';
import { testRequest } from '../support/fixtures.ts';
import { createTableLike, localClients, one } from '../support/integration.ts';

const ctx = inject('integration');
const { dynamodb, db } = localClients(ctx);
const table = `supersede-data-${Date.now().toString(36)}`;
const repository = (client: DynamoDBDocumentClient = db) => new RequestRepository(client, table);

beforeAll(async () => {
  await createTableLike(dynamodb, one(ctx.tables, 'DataTable'), table);
});

afterAll(async () => {
  await dynamodb.send(new DeleteTableCommand({ TableName: table }));
});

const staffIds = (policyId: string, n: number) => Array.from({ length: n }, (_, i) => `${policyId}-S${String(i).padStart(5, '0')}`);

/** Writes `n` requests of one version, as the fan-out does; `acknowledged(i)` picks those already acknowledged. */
async function seed(policyId: string, version: number, n: number, acknowledged: (i: number) => boolean = () => false): Promise<string[]> {
  const ids = staffIds(policyId, n);
  const requests = ids.map((staffId, i) => testRequest(policyId, staffId, version, acknowledged(i) ? 'acknowledged' : 'pending'));
  await repository().putNewBatch(requests, true);
  return ids;
}

/** The stored items (strongly consistent reads from the table), by staff id. */
async function stored(policyId: string, version: number, ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const items = await batchGet(
    db,
    table,
    ids.map((id) => requestKey(id, policyId, version)),
  );
  return new Map(items.map((item) => [String(item.staffId), item]));
}

const countBy = (items: Iterable<Record<string, unknown>>) => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[String(item.status)] = (counts[String(item.status)] ?? 0) + 1;
  return counts;
};

type Sent = { name: string; keys: string[] };
/** The write commands' item keys (`pk|sk`), for TransactWriteItems and UpdateItem. */
function writtenKeys(command: unknown): Sent | undefined {
  if (command instanceof TransactWriteCommand) {
    return { name: 'TransactWriteItems', keys: (command.input.TransactItems ?? []).map((t) => `${t.Update?.Key?.pk}|${t.Update?.Key?.sk}`) };
  }
  if (command instanceof UpdateCommand) return { name: 'UpdateItem', keys: [`${command.input.Key?.pk}|${command.input.Key?.sk}`] };
  return undefined;
}

/**
 * The real client with `before` run ahead of every command it sends (it may act on the
 * table itself, or throw as a dying process would). Still an instance of
 * DynamoDBDocumentClient, so paginators accept it.
 */
function wrappedClient(before: (sent: Sent | undefined) => Promise<void> | void): DynamoDBDocumentClient {
  const client = Object.create(db) as DynamoDBDocumentClient;
  client.send = (async (command: Parameters<typeof db.send>[0], ...rest: unknown[]) => {
    await before(writtenKeys(command));
    return (db.send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
  }) as typeof db.send;
  return client;
}

const staffIdOf = (key: string) => key.split('|')[0]?.replace(/^PERSON#/, '') ?? '';

describe('superseding the pending requests of an older version (§1f, §4a.ii)', () => {
  it('supersedes every one of 3,000 pending requests, leaves the 120 acknowledged before it alone, and counts 3,000', async () => {
    const policyId = 'scale';
    // Every 26th request was acknowledged before the new version: 3,120 in all, 3,000 pending.
    const ids = await seed(policyId, 2, 3_120, (i) => i % 26 === 25);
    const before = await stored(policyId, 2, ids);
    expect(countBy(before.values())).toEqual({ pending: 3_000, acknowledged: 120 });

    const started = Date.now();
    const superseded = await repository().supersedePending(policyId, 2, 3);
    const ms = Date.now() - started;
    expect(superseded).toBe(3_000);

    const after = await stored(policyId, 2, ids);
    expect(countBy(after.values())).toEqual({ superseded: 3_000, acknowledged: 120 });
    for (const [staffId, item] of after) {
      const was = before.get(staffId) ?? {};
      if (was.status === 'acknowledged') {
        // Untouched: the same item, acknowledgement and all.
        expect(item).toEqual(was);
        continue;
      }
      // What a superseded request looks like (as before this change): status and the
      // replacing version set, out of the pending index (gsi2), everything else kept.
      const { status: _s, gsi2pk: _p, gsi2sk: _k, ...kept } = was;
      expect(item).toEqual({ ...kept, status: 'superseded', supersededBy: 3 });
    }
    // Nothing is left for a second run, and it writes nothing.
    const writes: Sent[] = [];
    const recording = wrappedClient((sent) => {
      if (sent) writes.push(sent);
    });
    expect(await repository(recording).supersedePending(policyId, 2, 3)).toBe(0);
    expect(writes).toEqual([]);
    process.stderr.write(`[supersede.test] 3,000 pending requests superseded in ${ms} ms\n`);
  });

  it('supersedes only the version asked for: the new version and other policies stay pending', async () => {
    const older = await seed('scoped', 1, 30);
    const current = await seed('scoped', 2, 30);
    const other = await seed('scoped-other', 1, 30);
    expect(await repository().supersedePending('scoped', 1, 2)).toBe(30);
    expect(countBy((await stored('scoped', 1, older)).values())).toEqual({ superseded: 30 });
    expect(countBy((await stored('scoped', 2, current)).values())).toEqual({ pending: 30 });
    expect(countBy((await stored('scoped-other', 1, other)).values())).toEqual({ pending: 30 });
  });

  it(
    'never overwrites an acknowledgement recorded between the read and the write (a wrapped client acknowledges ' +
      'one request just before the first transaction, and another just before that transaction is sent again)',
    async () => {
      const policyId = 'concurrent';
      const ids = await seed(policyId, 2, 250);
      const acks = repository();
      const at = new Date('2026-12-01T09:30:00Z');
      let firstChunk: string[] | undefined;
      const acknowledgedMeanwhile: string[] = [];
      const sent: Sent[] = [];
      const client = wrappedClient(async (write) => {
        if (!write) return;
        sent.push(write);
        if (write.name !== 'TransactWriteItems') return;
        const acknowledgeNow = async (key: string) => {
          const staffId = staffIdOf(key);
          const { recorded } = await acks.acknowledge(staffId, policyId, 2, `token-${staffId}`, at);
          expect(recorded).toBe(true);
          acknowledgedMeanwhile.push(staffId);
        };
        if (!firstChunk) {
          // The first transaction: its first item is acknowledged after the read, before the write.
          firstChunk = write.keys;
          await acknowledgeNow(write.keys[0] ?? '');
        } else if (write.keys.length === firstChunk.length - 1 && write.keys.every((k) => firstChunk?.includes(k))) {
          // The same chunk sent again without that item: acknowledge its last item now.
          await acknowledgeNow(write.keys.at(-1) ?? '');
        }
      });

      const superseded = await repository(client).supersedePending(policyId, 2, 3);

      expect(acknowledgedMeanwhile).toHaveLength(2);
      expect(superseded).toBe(248);
      const after = await stored(policyId, 2, ids);
      expect(countBy(after.values())).toEqual({ superseded: 248, acknowledged: 2 });
      for (const staffId of acknowledgedMeanwhile) {
        const item = after.get(staffId);
        expect(item).toMatchObject({ status: 'acknowledged', acknowledgedAt: at.toISOString(), ackTokenId: `token-${staffId}` });
        expect(item?.supersededBy).toBeUndefined();
        // Still in the acknowledged index, where the refresher scan finds it.
        expect(String(item?.gsi2pk)).toMatch(/^ACKED#/);
      }
      // The chunk was tried as a transaction twice, then item by item (the other chunks in one transaction each).
      const retried = sent.filter((s) => s.name === 'UpdateItem');
      expect(retried).toHaveLength(firstChunk ? firstChunk.length - 2 : -1);
      expect(sent.filter((s) => s.name === 'TransactWriteItems')).toHaveLength(2 + Math.ceil((250 - 100) / 100));
    },
  );

  it(
    'a second run after a run that stopped halfway (a wrapped client fails every write after the 8th transaction) ' +
      'supersedes the rest, and writes to nothing the first run superseded',
    async () => {
      const policyId = 'resume';
      const ids = await seed(policyId, 2, 2_000, (i) => i % 100 === 0);
      const pendingAtStart = 2_000 - 20;

      // The first run dies after 8 transactions went out (as when its sandbox is killed).
      let transactions = 0;
      const dying = wrappedClient((write) => {
        if (write?.name === 'TransactWriteItems' && ++transactions > 8) throw new Error('Task timed out after 30.00 seconds');
      });
      await expect(repository(dying).supersedePending(policyId, 2, 3)).rejects.toThrow('Task timed out');

      const halfway = await stored(policyId, 2, ids);
      const doneFirst = new Set([...halfway].filter(([, item]) => item.status === 'superseded').map(([staffId]) => staffId));
      expect(doneFirst.size).toBe(800);
      expect(countBy(halfway.values())).toEqual({ superseded: 800, pending: pendingAtStart - 800, acknowledged: 20 });

      // The second run, recording every key it writes to.
      const written: string[] = [];
      const recording = wrappedClient((write) => {
        if (write) written.push(...write.keys);
      });
      expect(await repository(recording).supersedePending(policyId, 2, 3)).toBe(pendingAtStart - 800);

      expect(written.map(staffIdOf).filter((staffId) => doneFirst.has(staffId))).toEqual([]);
      expect(new Set(written).size).toBe(written.length);
      const after = await stored(policyId, 2, ids);
      expect(countBy(after.values())).toEqual({ superseded: pendingAtStart, acknowledged: 20 });
      // The ones the first run superseded are as it left them.
      for (const staffId of doneFirst) expect(after.get(staffId)).toEqual(halfway.get(staffId));
    },
  );
});
