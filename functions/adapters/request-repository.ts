/**
 * Acknowledgement requests in the data table (access patterns: lib/data-tables.ts).
 *   a person's requests:   pk = PERSON#<staffId>, sk = REQUEST#<policyId>#<000001>
 *   a version's requests:  gsi1pk = POLICYVERSION#<policyId>#<version>, gsi1sk = PERSON#<staffId>
 *   pending, by due date:  gsi2pk = PENDING#<shard>, gsi2sk = <dueOn>#<staffId>#<policyId>#<000001>
 *   acknowledged, by date: gsi2pk = ACKED#<shard>, gsi2sk = <acknowledged on>#<staffId>#<policyId>#<000001>
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { batchGet, batchPut } from './batch.ts';
import { londonDate } from '../domain/dates.ts';
import type { AckRequest } from '../domain/onboarding.ts';
import { acknowledgedIndexKeys, PENDING_SHARDS, pendingIndexKeys } from './index-keys.ts';

/** TransactWriteItems takes 100 actions at most. */
const TRANSACTION_LIMIT = 100;
/**
 * Supersede transactions in flight at once: on DynamoDB Local with 2 cores, 4 of 100 did
 * about 1,000-1,450 requests a second against about 330-790 for 8 parallel UpdateItems (see
 * TRIED.md: more in flight gains nothing here).
 */
const SUPERSEDE_IN_FLIGHT = 4;

type RequestKey = { pk: string; sk: string };

export const requestKey = (staffId: string, policyId: string, version: number) => ({
  pk: `PERSON#${staffId}`,
  sk: `REQUEST#${policyId}#${String(version).padStart(6, '0')}`,
});

export class RequestRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(db: DynamoDBDocumentClient, table: string) {
    this.db = db;
    this.table = table;
  }

  /** Creates each request that does not exist yet; an existing one is left untouched. Returns how many were new. */
  async createIfAbsent(requests: readonly AckRequest[]): Promise<number> {
    const created = await Promise.all(
      requests.map(async (request) => {
        try {
          await this.db.send(
            new PutCommand({
              TableName: this.table,
              Item: this.item(request),
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
          return 1;
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException) return 0;
          throw error;
        }
      }),
    );
    return created.reduce<number>((a, b) => a + b, 0);
  }

  /**
   * Writes new requests in batches (BatchWriteItem, unconditional). Only for a writer that
   * holds the fan-out lease and knows none of these exist yet (`firstAttempt`); otherwise
   * the ones that exist are read first and left alone (an acknowledged request is never
   * reset to pending). Returns how many were written.
   */
  async putNewBatch(requests: readonly AckRequest[], firstAttempt: boolean): Promise<number> {
    let fresh = requests;
    if (!firstAttempt && requests.length > 0) {
      const existing = await batchGet(
        this.db,
        this.table,
        requests.map((r) => requestKey(r.staffId, r.policyId, r.version)),
      );
      const seen = new Set(existing.map((item) => `${item.pk}|${item.sk}`));
      fresh = requests.filter((r) => {
        const k = requestKey(r.staffId, r.policyId, r.version);
        return !seen.has(`${k.pk}|${k.sk}`);
      });
    }
    await batchPut(this.db, this.table, fresh.map((r) => this.item(r)));
    return fresh.length;
  }

  private item(request: AckRequest): Record<string, unknown> {
    return {
      ...requestKey(request.staffId, request.policyId, request.version),
      entity: 'ack-request',
      gsi1pk: `POLICYVERSION#${request.policyId}#${request.version}`,
      gsi1sk: `PERSON#${request.staffId}`,
      ...(request.status === 'pending' ? pendingIndexKeys(request) : {}),
      ...request,
    };
  }

  /** Every request of one policy version (the compliance report's and the evidence export's query). */
  async *ofVersion(policyId: string, version: number): AsyncGenerator<AckRequest[]> {
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :v',
        ExpressionAttributeValues: { ':v': `POLICYVERSION#${policyId}#${version}` },
      },
    );
    for await (const page of pages) yield (page.Items ?? []).map(toRequest);
  }

  /**
   * pending → superseded for every pending request of an older version (a substantive new
   * version replaces them: §1f, §4a.ii, everyone must read the current one). Reads only the
   * keys of requests still pending (the version's gsi1 query, filtered), then writes
   * TransactWriteItems of up to 100 updates, a few in flight, each update conditional on
   * `status = pending`: an acknowledgement recorded meanwhile is never overwritten. A
   * transaction cancelled because an item changed is sent again without it; cancelled again
   * (or for any other reason), its items are updated one by one, still conditionally. A
   * rerun after a run that died halfway reads and writes only what is still pending.
   * Returns how many this call superseded.
   */
  async supersedePending(policyId: string, olderVersion: number, byVersion: number): Promise<number> {
    let count = 0;
    let failure: { error: unknown } | undefined;
    const running = new Set<Promise<void>>();
    const launch = (keys: RequestKey[]) => {
      const task: Promise<void> = this.supersedeChunk(keys, byVersion)
        .then(
          (n) => {
            count += n;
          },
          (error: unknown) => {
            failure ??= { error };
          },
        )
        .finally(() => running.delete(task));
      running.add(task);
    };
    let buffered: RequestKey[] = [];
    for await (const keys of this.pendingKeysOf(policyId, olderVersion)) {
      buffered.push(...keys);
      while (buffered.length >= TRANSACTION_LIMIT && !failure) {
        while (running.size >= SUPERSEDE_IN_FLIGHT) await Promise.race(running);
        if (failure) break;
        launch(buffered.slice(0, TRANSACTION_LIMIT));
        buffered = buffered.slice(TRANSACTION_LIMIT);
      }
      if (failure) break;
    }
    if (buffered.length > 0 && !failure) launch(buffered);
    await Promise.all(running);
    if (failure) throw failure.error;
    return count;
  }

  /** The keys of one version's requests that are pending (as the eventually consistent index shows them; the writes check again). */
  private async *pendingKeysOf(policyId: string, version: number): AsyncGenerator<RequestKey[]> {
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :v',
        FilterExpression: '#status = :pending',
        ProjectionExpression: 'pk, sk',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':v': `POLICYVERSION#${policyId}#${version}`, ':pending': 'pending' },
      },
    );
    for await (const page of pages) {
      const keys = (page.Items ?? []).map((item) => ({ pk: String(item.pk), sk: String(item.sk) }));
      if (keys.length > 0) yield keys;
    }
  }

  /** Supersedes up to 100 requests in one transaction, falling back as {@link supersedePending} says. Returns how many it superseded. */
  private async supersedeChunk(keys: RequestKey[], byVersion: number): Promise<number> {
    let left = keys;
    for (let attempt = 0; attempt < 2 && left.length > 1; attempt++) {
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: left.map((key) => ({ Update: this.supersedeUpdate(key, byVersion) })) }));
        return left.length;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        const changed = new Set(reasons.flatMap((r, i) => (r.Code === 'ConditionalCheckFailed' ? [i] : [])));
        const onlyChanged = changed.size > 0 && reasons.every((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'None');
        left = left.filter((_, i) => !changed.has(i));
        if (!onlyChanged) break;
      }
    }
    let count = 0;
    for (const key of left) if (await this.supersedeOne(key, byVersion)) count++;
    return count;
  }

  private async supersedeOne(key: RequestKey, byVersion: number): Promise<boolean> {
    try {
      await this.db.send(new UpdateCommand(this.supersedeUpdate(key, byVersion)));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** The one superseding write: status superseded, which version replaced it, out of the pending index; only if still pending. */
  private supersedeUpdate(key: RequestKey, byVersion: number) {
    return {
      TableName: this.table,
      Key: key,
      UpdateExpression: 'SET #status = :superseded, supersededBy = :by REMOVE gsi2pk, gsi2sk',
      ConditionExpression: '#status = :pending',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':superseded': 'superseded', ':pending': 'pending', ':by': byVersion },
    };
  }

  async get(staffId: string, policyId: string, version: number): Promise<AckRequest | null> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: requestKey(staffId, policyId, version), ConsistentRead: true }),
    );
    return out.Item ? toRequest(out.Item) : null;
  }

  /**
   * pending → acknowledged, once: a conditional write, so a second click, a second tab or a
   * replayed request changes nothing. Returns the stored request after the attempt and
   * whether this call was the one that recorded it.
   */
  async acknowledge(
    staffId: string,
    policyId: string,
    version: number,
    tokenId: string,
    at: Date,
  ): Promise<{ recorded: boolean; request: AckRequest | null }> {
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: requestKey(staffId, policyId, version),
          // Moves from the pending index to the acknowledged one (gsi2): the reminder scan no
          // longer sees it, and the refresher scan finds it once its period has passed.
          UpdateExpression: 'SET #status = :acknowledged, acknowledgedAt = :at, ackTokenId = :token, gsi2pk = :ackedPk, gsi2sk = :ackedSk',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':acknowledged': 'acknowledged',
            ':pending': 'pending',
            ':at': at.toISOString(),
            ':token': tokenId,
            ...prefixed(acknowledgedIndexKeys({ staffId, policyId, version }, londonDate(at))),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { recorded: true, request: out.Attributes ? toRequest(out.Attributes) : null };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { recorded: false, request: await this.get(staffId, policyId, version) };
      throw error;
    }
  }

  async forPerson(staffId: string): Promise<AckRequest[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :req)',
        ExpressionAttributeValues: { ':pk': `PERSON#${staffId}`, ':req': 'REQUEST#' },
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map(toRequest);
  }

  /**
   * pending → cancelled for every pending request of a person (they left), each a
   * conditional write so that an acknowledgement recorded meanwhile is never overwritten.
   * A cancelled request leaves the pending index (gsi2), so the reminder scan no longer
   * sees it. Returns how many this call cancelled (0 on a redelivery).
   */
  async cancelPending(staffId: string, at: Date): Promise<number> {
    let count = 0;
    for (const request of (await this.forPerson(staffId)).filter((r) => r.status === 'pending')) {
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: requestKey(staffId, request.policyId, request.version),
            UpdateExpression: 'SET #status = :cancelled, cancelledAt = :at REMOVE gsi2pk, gsi2sk',
            ConditionExpression: '#status = :pending',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':cancelled': 'cancelled', ':pending': 'pending', ':at': at.toISOString() },
          }),
        );
        count++;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    return count;
  }

  // -------------------------------------------------------------------------------
  // The daily reminder and refresher scan (functions/handlers/reminder-scanner.ts).

  /**
   * Pending requests due before `today`, by querying each shard of the pending index
   * (`gsi2pk = PENDING#<n>, gsi2sk < <today>`: never a table scan). The index is eventually
   * consistent, so each page is read again from the table (strongly consistent) and only
   * requests still pending are yielded: one acknowledged a moment ago is not chased.
   */
  async *overdue(today: string): AsyncGenerator<AckRequest[]> {
    for (let shard = 0; shard < PENDING_SHARDS; shard++) {
      yield* this.indexPages(`PENDING#${shard}`, 'gsi2sk < :bound', today, 'pending');
    }
  }

  /**
   * Acknowledged requests whose acknowledgement was on or before `date` (Europe/London), by
   * querying each shard of the acknowledged index (`gsi2pk = ACKED#<n>, gsi2sk <= <date>~`),
   * read again from the table; only requests still acknowledged are yielded.
   */
  async *acknowledgedOnOrBefore(date: string): AsyncGenerator<AckRequest[]> {
    for (let shard = 0; shard < PENDING_SHARDS; shard++) {
      yield* this.indexPages(`ACKED#${shard}`, 'gsi2sk <= :bound', `${date}~`, 'acknowledged');
    }
  }

  private async *indexPages(partition: string, range: string, bound: string, status: AckRequest['status']): AsyncGenerator<AckRequest[]> {
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi2',
        KeyConditionExpression: `gsi2pk = :partition AND ${range}`,
        ExpressionAttributeValues: { ':partition': partition, ':bound': bound },
        ProjectionExpression: 'pk, sk',
      },
    );
    for await (const page of pages) {
      const keys = (page.Items ?? []).map((item) => ({ pk: item.pk, sk: item.sk }));
      if (keys.length === 0) continue;
      const fresh = (await batchGet(this.db, this.table, keys)).map(toRequest).filter((r) => r.status === status);
      if (fresh.length > 0) yield fresh;
    }
  }

  /**
   * Records reminder `n` on a pending request: only if its count is still `n - 1` and it is
   * in the same refresher cycle (the state the scan read), so a retried scan never counts a
   * reminder twice. Returns false when something changed it first (acknowledged, counted).
   */
  recordReminder(request: AckRequest, n: number, today: string): Promise<boolean> {
    return this.conditionalUpdate(request, {
      UpdateExpression: 'SET reminderCount = :n, lastRemindedOn = :today',
      ConditionExpression: `#status = :pending AND reminderCount = :previous AND ${sameCycle(request)}`,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':n': n, ':today': today, ':pending': 'pending', ':previous': n - 1, ':cycle': request.refreshCycle ?? 0 },
    });
  }

  /** Records escalation `n` (listed in the Head of School's digest), conditional like {@link recordReminder}. */
  recordEscalation(request: AckRequest, n: number, today: string): Promise<boolean> {
    const previous = n === 1 ? '(attribute_not_exists(escalationCount) OR escalationCount = :previous)' : 'escalationCount = :previous';
    return this.conditionalUpdate(request, {
      UpdateExpression: 'SET escalationCount = :n, lastEscalatedOn = :today',
      ConditionExpression: `#status = :pending AND ${previous} AND ${sameCycle(request)}`,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':n': n, ':today': today, ':pending': 'pending', ':previous': n - 1, ':cycle': request.refreshCycle ?? 0 },
    });
  }

  /**
   * Opens a refresher cycle (functions/domain/refreshers.ts): `next` (pending, the cycle
   * after, the old acknowledgement in its history) replaces the request, only if it is still
   * acknowledged with the acknowledgement the scan read. It moves to the pending index.
   */
  async startRefresherCycle(read: AckRequest, next: AckRequest): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: this.item(next),
          ConditionExpression: '#status = :acknowledged AND acknowledgedAt = :read',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':acknowledged': 'acknowledged', ':read': read.acknowledgedAt },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Takes an acknowledged request out of the refresher index (nothing to ask), if it is as read. Its acknowledgement stays. */
  leaveRefresherIndex(request: AckRequest): Promise<boolean> {
    return this.conditionalUpdate(request, {
      UpdateExpression: 'REMOVE gsi2pk, gsi2sk',
      ConditionExpression: '#status = :acknowledged AND acknowledgedAt = :read',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':acknowledged': 'acknowledged', ':read': request.acknowledgedAt },
    });
  }

  private async conditionalUpdate(
    request: AckRequest,
    update: Pick<ConstructorParameters<typeof UpdateCommand>[0], 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>,
  ): Promise<boolean> {
    try {
      await this.db.send(new UpdateCommand({ TableName: this.table, Key: requestKey(request.staffId, request.policyId, request.version), ...update }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

/** The request is still in the refresher cycle the scan read (`:cycle`; absent means 0). */
function sameCycle(request: AckRequest): string {
  return (request.refreshCycle ?? 0) === 0 ? '(attribute_not_exists(refreshCycle) OR refreshCycle = :cycle)' : 'refreshCycle = :cycle';
}

/** `{gsi2pk, gsi2sk}` as the `:ackedPk`, `:ackedSk` values of an update. */
function prefixed(keys: { gsi2pk: string; gsi2sk: string }): Record<string, string> {
  return { ':ackedPk': keys.gsi2pk, ':ackedSk': keys.gsi2sk };
}

function toRequest(item: Record<string, unknown>): AckRequest {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, gsi2pk: _g3, gsi2sk: _g4, entity: _e, ...request } = item;
  return request as unknown as AckRequest;
}
