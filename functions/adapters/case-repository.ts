/**
 * Breach and concern cases (access patterns: lib/data-tables.ts and lib/case-intake.ts).
 *
 * Data table (people's data key):
 *   the case:              pk = CASE#<caseId>, sk = CASE
 *   its timeline:          pk = CASE#<caseId>, sk = TIMELINE#<iso instant>#<000001> (begins_with TIMELINE#)
 *   open cases by triage:  gsi2pk = TRIAGE, gsi2sk = <next escalation due>#<caseId> (sparse; gone once triaged)
 *   case id sequence:      pk = COUNTER#CASE, sk = <year>
 *   intake idempotency:    pk = INTAKE#<eventId>, sk = INTAKE (a report sent twice with one eventId opens one case)
 * Narrative table (its own key, lib/case-intake.ts):
 *   the narrative:         pk = CASE#<caseId>, sk = NARRATIVE
 *   notes on moves:        pk = CASE#<caseId>, sk = NOTE#<iso instant>#<000001>
 *
 * Every change to a case is one transaction that also writes its timeline entry and moves
 * the case's `timelineSeq` on by one, conditional on the sequence read: entries are
 * numbered without gaps, two writers cannot interleave, and a change is recorded exactly
 * when it happens. Conditions on the case (status, escalation level, routing not yet
 * recorded) make every change happen once, however often a handler is retried.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Routing } from '../domain/breach-routing.ts';
import type { CaseRecord, CaseStatus, TimelineEntry } from '../domain/cases.ts';
import { londonDate } from '../domain/dates.ts';
import { caseIdFor } from '../domain/cases.ts';
import { batchGet } from './batch.ts';
import { backoff } from './ledger-repository.ts';
import { triageIndexKeys } from './index-keys.ts';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const caseKey = (caseId: string) => ({ pk: `CASE#${caseId}`, sk: 'CASE' });
const timelineSk = (at: string, seq: number) => `TIMELINE#${at}#${String(seq).padStart(6, '0')}`;
const narrativeKey = (caseId: string) => ({ pk: `CASE#${caseId}`, sk: 'NARRATIVE' });
const ATTEMPTS = 10;

interface StoredCase extends CaseRecord {
  timelineSeq: number;
  escalation1?: Routing;
  escalation2?: Routing;
}

export class CaseNotFoundError extends Error {
  override name = 'CaseNotFoundError';
}

/** A stored note on a status move. */
export interface CaseNote {
  at: string;
  by: string;
  note: string;
}

export class CaseRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly narrativeTable: string | undefined;
  /** `narrativeTable` only where narratives are written (the intake) or read (the case CLI). */
  constructor(db: DynamoDBDocumentClient, table: string, narrativeTable?: string) {
    this.db = db;
    this.table = table;
    this.narrativeTable = narrativeTable;
  }

  private narratives(): string {
    if (!this.narrativeTable) throw new Error('this CaseRepository was built without the narrative table');
    return this.narrativeTable;
  }

  /** The next case id of the year (Europe/London): an atomic counter, `CASE-2026-000123`. */
  async allocateCaseId(now: Date): Promise<string> {
    const year = Number(londonDate(now).slice(0, 4));
    const out = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: 'COUNTER#CASE', sk: String(year) },
        UpdateExpression: 'ADD #last :one SET entity = :entity',
        ExpressionAttributeNames: { '#last': 'last' },
        ExpressionAttributeValues: { ':one': 1, ':entity': 'counter' },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return caseIdFor(year, Number(out.Attributes?.last));
  }

  /**
   * Stores the narrative, the case and its first timeline entry in one transaction, each
   * only if absent (case ids are unique). With an `idempotencyKey` (the report's eventId),
   * a report already taken returns the case it opened instead.
   */
  async open(
    record: CaseRecord,
    narrative: string,
    idempotencyKey?: string,
  ): Promise<{ outcome: 'opened' } | { outcome: 'duplicate'; caseId: string } | { outcome: 'id-taken' }> {
    const items: TransactItem[] = [];
    if (idempotencyKey) {
      items.push({
        Put: {
          TableName: this.table,
          Item: { pk: `INTAKE#${idempotencyKey}`, sk: 'INTAKE', entity: 'intake', caseId: record.caseId, at: record.reportedAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
    }
    const first: TimelineEntry = {
      kind: 'reported',
      at: record.reportedAt,
      ...(record.reportedByStaffId ? { by: record.reportedByStaffId } : {}),
    };
    items.push(
      {
        Put: {
          TableName: this.narratives(),
          Item: { ...narrativeKey(record.caseId), caseId: record.caseId, narrative, storedAt: record.reportedAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { ...caseKey(record.caseId), entity: 'case', ...this.triageKeys(record), ...record, timelineSeq: 1 },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { pk: caseKey(record.caseId).pk, sk: timelineSk(first.at, 1), entity: 'case-timeline', seq: 1, ...first },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    );
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
      return { outcome: 'opened' };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      if (idempotencyKey && reasons[0]?.Code === 'ConditionalCheckFailed') {
        const marker = await this.db.send(
          new GetCommand({ TableName: this.table, Key: { pk: `INTAKE#${idempotencyKey}`, sk: 'INTAKE' }, ConsistentRead: true }),
        );
        return { outcome: 'duplicate', caseId: String(marker.Item?.caseId) };
      }
      if (reasons.some((r) => r.Code === 'ConditionalCheckFailed')) return { outcome: 'id-taken' };
      throw error;
    }
  }

  async get(caseId: string): Promise<CaseRecord | null> {
    const stored = await this.getStored(caseId);
    return stored ? toRecord(stored) : null;
  }

  /** The timeline, oldest first. */
  async timeline(caseId: string): Promise<(TimelineEntry & { seq: number })[]> {
    const entries: (TimelineEntry & { seq: number })[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :t)',
        ExpressionAttributeValues: { ':pk': caseKey(caseId).pk, ':t': 'TIMELINE#' },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, entity: _e, ...entry } = item;
        entries.push(entry as TimelineEntry & { seq: number });
      }
    }
    return entries.sort((a, b) => a.seq - b.seq);
  }

  /**
   * Records the case's routing once (with its timeline entry) and returns the routing on
   * record: this call's, or an earlier delivery's, so a redelivered event tells the same
   * people even if the directory has changed since.
   */
  async recordRouting(caseId: string, routing: Routing, now: Date): Promise<Routing> {
    const at = now.toISOString();
    const done = await this.change(caseId, { kind: 'routed', at, routing }, (current) =>
      current.routing
        ? null
        : {
            set: { routing, routedAt: at, participants: union(current.participants, routing.recipients.map((r) => r.staffId)) },
            condition: 'attribute_not_exists(routing)',
          },
    );
    if (done.kind === 'changed') return routing;
    if (done.current.routing) return done.current.routing;
    throw new Error('the routing could not be recorded');
  }

  /**
   * Records escalation `level` once (the case still untriaged, at the level before) with its
   * timeline entry, and moves the case's place in the triage index to the next deadline or
   * out of it. Returns the escalation's routing on record (this call's or an earlier try's),
   * or null when the case no longer needs it (triaged meanwhile).
   */
  async recordEscalation(caseId: string, level: 1 | 2, routing: Routing, now: Date, nextEscalationAt?: string): Promise<Routing | null> {
    const attribute = level === 1 ? 'escalation1' : 'escalation2';
    const done = await this.change(caseId, { kind: 'escalated', at: now.toISOString(), level, routing }, (current) => {
      if (current.status !== 'reported' || current.escalationLevel !== level - 1) return null;
      return {
        set: {
          escalationLevel: level,
          [attribute]: routing,
          participants: union(current.participants, routing.recipients.map((r) => r.staffId)),
          ...(nextEscalationAt ? { nextEscalationAt, ...this.triageKeys({ caseId, nextEscalationAt }) } : {}),
        },
        remove: nextEscalationAt ? [] : ['gsi2pk', 'gsi2sk', 'nextEscalationAt'],
        condition: '#status = :reported AND escalationLevel = :previous',
        names: { '#status': 'status' },
        values: { ':reported': 'reported', ':previous': level - 1 },
      };
    });
    if (done.kind === 'changed') return routing;
    return done.current[attribute] ?? null;
  }

  /**
   * Moves the case from `from` to `to`, recording who and when (and the note, kept with the
   * narrative). Triage takes the case out of the triage index and makes `by` its owner.
   * Returns false if the case was no longer at `from`.
   */
  async move(caseId: string, move: { from: CaseStatus; to: CaseStatus; by: string; note?: string }, now: Date): Promise<boolean> {
    const at = now.toISOString();
    const entry: TimelineEntry = { kind: 'status', at, by: move.by, from: move.from, to: move.to, noteAdded: !!move.note };
    const done = await this.change(
      caseId,
      entry,
      (current) =>
        current.status !== move.from
          ? null
          : {
              set: {
                status: move.to,
                ...(move.to === 'triaged' ? { ownerStaffId: move.by, triagedAt: at } : {}),
                ...(move.to === 'closed' ? { closedAt: at } : {}),
              },
              remove: move.to === 'triaged' ? ['gsi2pk', 'gsi2sk', 'nextEscalationAt'] : [],
              condition: '#status = :from',
              names: { '#status': 'status' },
              values: { ':from': move.from },
            },
      (seq) =>
        move.note
          ? [
              {
                Put: {
                  TableName: this.narratives(),
                  Item: { pk: caseKey(caseId).pk, sk: `NOTE#${at}#${String(seq).padStart(6, '0')}`, at, by: move.by, note: move.note },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ]
          : [],
    );
    return done.kind === 'changed';
  }

  /** Records an entry that changes nothing else (a narrative read, a refusal). */
  async record(caseId: string, entry: TimelineEntry): Promise<void> {
    const done = await this.change(caseId, entry, () => ({ set: {} }));
    if (done.kind !== 'changed') throw new Error('the timeline entry could not be recorded');
  }

  /** The narrative and the notes on the case (narrative table). */
  async readNarrative(caseId: string): Promise<{ narrative: string; notes: CaseNote[] } | null> {
    const out = await this.db.send(new GetCommand({ TableName: this.narratives(), Key: narrativeKey(caseId), ConsistentRead: true }));
    if (!out.Item) return null;
    const notes: CaseNote[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.narratives(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :n)',
        ExpressionAttributeValues: { ':pk': caseKey(caseId).pk, ':n': 'NOTE#' },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) notes.push({ at: String(item.at), by: String(item.by), note: String(item.note) });
    }
    return { narrative: String(out.Item.narrative), notes };
  }

  /**
   * The most recent cases, newest first, for the operator console's case list: the year
   * counters (pk = COUNTER#CASE) say how many cases each year has, so the ids are known
   * without a scan and the page is one BatchGetItem. `before` (a case id) pages on.
   * `next` is where to page on from: the last id looked at when `limit` ids were, else null
   * (no older id). Not the last case found: an id without a case must not end the list.
   */
  async recent(limit: number, before?: string): Promise<{ cases: CaseRecord[]; next: string | null }> {
    const out = await this.db.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :c', ExpressionAttributeValues: { ':c': 'COUNTER#CASE' } }),
    );
    const ids: string[] = [];
    const years = (out.Items ?? []).map((item) => ({ year: Number(item.sk), last: Number(item.last) })).sort((a, b) => b.year - a.year);
    for (const { year, last } of years) {
      for (let seq = last; seq >= 1; seq--) {
        const id = caseIdFor(year, seq);
        if (before === undefined || id < before) ids.push(id);
        if (ids.length >= limit) break;
      }
      if (ids.length >= limit) break;
    }
    if (ids.length === 0) return { cases: [], next: null };
    const items = await batchGet(this.db, this.table, ids.map((id) => caseKey(id)));
    const byId = new Map(items.map((item) => [String(item.caseId), toRecord(item as unknown as StoredCase)]));
    // An allocated id without a case (an intake that failed after allocating) is skipped.
    return { cases: ids.flatMap((id) => byId.get(id) ?? []), next: ids.length >= limit ? (ids[ids.length - 1] ?? null) : null };
  }

  /** Every case waiting for triage (the sparse TRIAGE index), soonest deadline first. */
  async awaitingTriage(): Promise<CaseRecord[]> {
    const cases: CaseRecord[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi2',
        KeyConditionExpression: 'gsi2pk = :triage',
        ExpressionAttributeValues: { ':triage': 'TRIAGE' },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) cases.push(toRecord(item as StoredCase));
    return cases;
  }

  /** The routing of an escalation on record, if any. */
  async escalationRouting(caseId: string, level: 1 | 2): Promise<Routing | null> {
    const stored = await this.getStored(caseId);
    return (level === 1 ? stored?.escalation1 : stored?.escalation2) ?? null;
  }

  // -------------------------------------------------------------------------------

  private triageKeys(record: { caseId: string; nextEscalationAt?: string }) {
    return record.nextEscalationAt ? triageIndexKeys({ caseId: record.caseId, triageDueAt: record.nextEscalationAt }) : {};
  }

  private async getStored(caseId: string): Promise<StoredCase | null> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: caseKey(caseId), ConsistentRead: true }));
    return out.Item ? (out.Item as StoredCase) : null;
  }

  /**
   * One change to a case with its timeline entry, in one transaction conditional on the
   * timeline sequence read (and on `plan`'s own condition). `plan` sees the case as stored
   * and returns null when the change no longer applies. Retried when another writer moved
   * the sequence on first.
   */
  private async change(
    caseId: string,
    entry: TimelineEntry,
    plan: (current: StoredCase) => {
      set: Record<string, unknown>;
      remove?: string[];
      condition?: string;
      names?: Record<string, string>;
      values?: Record<string, unknown>;
    } | null,
    extraItems: (seq: number) => TransactItem[] = () => [],
  ): Promise<{ kind: 'changed' } | { kind: 'not-applicable'; current: StoredCase }> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) await backoff(attempt);
      const current = await this.getStored(caseId);
      if (!current) throw new CaseNotFoundError(`case ${caseId} is not on record`);
      const change = plan(current);
      if (!change) return { kind: 'not-applicable', current };
      const seq = current.timelineSeq + 1;
      const setNames = Object.keys(change.set);
      const sets = [`timelineSeq = :seq`, ...setNames.map((_name, i) => `#s${i} = :s${i}`)];
      const removes = (change.remove ?? []).map((name, i) => ({ name, alias: `#r${i}` }));
      const names = {
        ...Object.fromEntries(setNames.map((name, i) => [`#s${i}`, name])),
        ...Object.fromEntries(removes.map((r) => [r.alias, r.name])),
        ...change.names,
      };
      try {
        await this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: this.table,
                  Key: caseKey(caseId),
                  UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.map((r) => r.alias).join(', ')}` : ''}`,
                  ConditionExpression: `timelineSeq = :prev${change.condition ? ` AND (${change.condition})` : ''}`,
                  ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
                  ExpressionAttributeValues: {
                    ':seq': seq,
                    ':prev': current.timelineSeq,
                    ...Object.fromEntries(setNames.map((name, i) => [`:s${i}`, change.set[name]])),
                    ...change.values,
                  },
                },
              },
              {
                Put: {
                  TableName: this.table,
                  Item: { pk: caseKey(caseId).pk, sk: timelineSk(entry.at, seq), entity: 'case-timeline', seq, ...entry },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              ...extraItems(seq),
            ],
          }),
        );
        return { kind: 'changed' };
      } catch (error) {
        if (error instanceof TransactionCanceledException) continue; // re-read and decide again
        throw error;
      }
    }
    throw new Error(`case ${caseId} changed too often to record this entry (${ATTEMPTS} attempts)`);
  }
}

function union(a: readonly string[] | undefined, b: readonly string[]): string[] {
  return [...new Set([...(a ?? []), ...b])];
}

function toRecord(item: StoredCase | Record<string, unknown>): CaseRecord {
  const {
    pk: _pk,
    sk: _sk,
    gsi2pk: _g1,
    gsi2sk: _g2,
    entity: _e,
    timelineSeq: _t,
    escalation1: _e1,
    escalation2: _e2,
    triagedAt: _ta,
    closedAt: _ca,
    ...record
  } = item as Record<string, unknown>;
  return { participants: [], ...record } as unknown as CaseRecord;
}
