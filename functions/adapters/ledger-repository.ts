/**
 * The email ledger table (lib/data-tables.ts): one row per intended email, keyed by its
 * business key (`pk`), never expiring. State machine (docs/ARCHITECTURE.md "The email ledger"):
 *
 *   queued ──claim──▶ sending ──SES accepted──▶ sent
 *      ▲                 │ SES refused (retryable)
 *      └──── release ────┤
 *                        ├── SES refused (permanent) ▶ failed ──claim──▶ sending …
 *                        └── lease ran out twice ────▶ abandoned ──operator──▶ sent | queued
 *
 * Every transition is a conditional write on the expected state, so two consumers can
 * never both claim one email.
 *
 * What is owed is findable without a scan: a row is written with `owedShard` and
 * `owedSince`, the keys of the sparse `owed` index, and the write that makes it `sent`,
 * `failed` or `abandoned` removes them. The ledger sweeper (functions/handlers/ledger-sweep.ts)
 * queries that index for rows owed longer than the grace period. The happy path makes no
 * extra request for it: the attributes ride on the writes it makes anyway.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  paginateQuery,
  paginateScan,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { IntendedEmail, LedgerState } from '../domain/emails.ts';
import { batchGet, batchPut } from './batch.ts';
import type { TemplateId } from '../email/template-ids.ts';

/** The `owed` index is spread over this many partitions, so a large fan-out never makes one hot. */
export const OWED_SHARDS = 8;
export const OWED_INDEX = 'owed';

function owedShard(key: string): string {
  return `OWED#${(createHash('sha256').update(key).digest()[0] ?? 0) % OWED_SHARDS}`;
}

export interface LedgerRow {
  pk: string;
  templateId: TemplateId;
  recipient: string;
  recipientStaffId?: string;
  /** The template data as JSON text, exactly as it will be given to SES. */
  templateData: string;
  state: LedgerState;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  sendingSince?: string;
  sentAt?: string;
  messageId?: string;
  /** An SES status or error name; never a message text (those can echo addresses). */
  lastError?: string;
  /** Sent again after a crash left it in `sending`: SES may have delivered it twice. */
  possibleDuplicate?: boolean;
  origin: { detailType: string; eventId: string };
  /** Keys of the sparse `owed` index: present while the row is owed (queued or sending). */
  owedShard?: string;
  owedSince?: string;
  /** How an operator moved an abandoned row on (`trust-notify ledger resolve`), who and when. */
  resolution?: { outcome: 'sent' | 'resend'; by: string; at: string };
}

/** A row the `owed` index lists: its key and since when it has been owed (eventually consistent). */
export interface OwedEntry {
  pk: string;
  owedSince: string;
}


export class LedgerRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(db: DynamoDBDocumentClient, table: string) {
    this.db = db;
    this.table = table;
  }

  /**
   * Records intended emails. A new row starts `queued`; an existing row is never
   * overwritten. Returns the keys that should be (re)queued: new rows, and rows still
   * `queued` from an earlier attempt that may have stopped before queueing them.
   */
  async recordIntended(emails: readonly IntendedEmail[], origin: LedgerRow['origin'], now: Date): Promise<string[]> {
    const keys = await Promise.all(
      emails.map(async (email): Promise<string | null> => {
        const row = this.newRow(email, origin, now);
        try {
          await this.db.send(
            new PutCommand({
              TableName: this.table,
              Item: row,
              ConditionExpression: 'attribute_not_exists(pk)',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          );
          return email.key;
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException) {
            return error.Item?.state?.S === 'queued' ? email.key : null;
          }
          throw error;
        }
      }),
    );
    return keys.filter((k): k is string => k !== null);
  }

  /**
   * Records intended emails in batches (BatchWriteItem), for a writer that holds a fan-out
   * lease: on its first attempt no row of its own can exist yet, so the rows are written
   * without reading; on a later attempt existing rows are read first and never
   * overwritten (one `sent` must never become `queued` again). Returns the keys to queue.
   */
  async recordIntendedBatch(
    emails: readonly IntendedEmail[],
    origin: LedgerRow['origin'],
    now: Date,
    firstAttempt: boolean,
  ): Promise<string[]> {
    const existing = firstAttempt ? new Map<string, LedgerRow>() : await this.getMany(emails.map((e) => e.key));
    const fresh = emails.filter((e) => !existing.has(e.key));
    await batchPut(this.db, this.table, fresh.map((email) => this.newRow(email, origin, now)));
    const stillQueued = [...existing.values()].filter((row) => row.state === 'queued').map((row) => row.pk);
    return [...fresh.map((e) => e.key), ...stillQueued];
  }

  private newRow(email: IntendedEmail, origin: LedgerRow['origin'], now: Date): LedgerRow {
    return {
      pk: email.key,
      templateId: email.templateId,
      recipient: email.to.email,
      ...(email.to.staffId ? { recipientStaffId: email.to.staffId } : {}),
      templateData: JSON.stringify(email.data),
      state: 'queued',
      attempts: 0,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      origin,
      owedShard: owedShard(email.key),
      owedSince: now.toISOString(),
    };
  }

  /**
   * The whole ledger, page by page, for the operator console (counts by state, the rows
   * that need attention). The ledger has no index to list by (its only access pattern is
   * the business key, and an index would cost a write per row on the fan-out's hot path),
   * so this is a Scan of a few attributes: about 1 MB per 5,000 rows, eventually consistent.
   * Fine for an operator's page up to a few hundred thousand rows; the console says how
   * many rows it read and how long it took.
   */
  async *scanAll(): AsyncGenerator<LedgerRow[]> {
    const pages = paginateScan(
      { client: this.db, pageSize: 1000 },
      {
        TableName: this.table,
        ProjectionExpression: 'pk, templateId, recipient, #s, attempts, createdAt, updatedAt, sendingSince, sentAt, lastError, possibleDuplicate, origin, resolution',
        ExpressionAttributeNames: { '#s': 'state' },
      },
    );
    for await (const page of pages) yield (page.Items ?? []) as LedgerRow[];
  }

  /** Reads rows by key (strongly consistent), retrying unprocessed keys. */
  async getMany(keys: readonly string[]): Promise<Map<string, LedgerRow>> {
    const items = await batchGet(this.db, this.table, [...new Set(keys)].map((pk) => ({ pk })));
    return new Map(items.map((item) => [item.pk as string, item as unknown as LedgerRow]));
  }

  async get(key: string): Promise<LedgerRow | undefined> {
    return (await this.getMany([key])).get(key);
  }

  /**
   * Moves a row to `sending` if it is still as it was read. Returns the claimed row, or
   * null if someone else changed it first.
   */
  async claim(row: LedgerRow, now: Date, flagPossibleDuplicate: boolean): Promise<LedgerRow | null> {
    try {
      const out = await this.db.send(
        new UpdateCommand({ TableName: this.table, ...this.claimUpdate(row, now, flagPossibleDuplicate), ReturnValues: 'ALL_NEW' }),
      );
      return out.Attributes as LedgerRow;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return null;
      throw error;
    }
  }

  /** The conditional update that moves a row to `sending` if it is still as it was read. */
  private claimUpdate(row: LedgerRow, now: Date, flagPossibleDuplicate: boolean) {
    const sameSending = row.state === 'sending' ? ' AND sendingSince = :since' : '';
    return {
      Key: { pk: row.pk },
      // A row claimed again after `failed` comes back into the `owed` index (a live row keeps
      // its place: if_not_exists leaves the index untouched).
      UpdateExpression: `SET #state = :sending, sendingSince = :now, updatedAt = :now, attempts = attempts + :one, owedShard = if_not_exists(owedShard, :shard), owedSince = if_not_exists(owedSince, :now)${
        flagPossibleDuplicate ? ', possibleDuplicate = :true' : ''
      }`,
      ConditionExpression: `#state = :expected${sameSending}`,
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':sending': 'sending',
        ':expected': row.state,
        ':now': now.toISOString(),
        ':one': 1,
        ':shard': owedShard(row.pk),
        ...(flagPossibleDuplicate ? { ':true': true } : {}),
        ...(sameSending ? { ':since': row.sendingSince } : {}),
      },
    };
  }

  /**
   * Claims many rows in one TransactWriteItems call (up to 100; the sender's chunks are 50):
   * one request instead of one per email. If any row changed since it was read, the whole
   * transaction is cancelled and each row is claimed on its own, so the others still go.
   * Returns the rows now held in `sending`.
   */
  async claimMany(items: readonly { row: LedgerRow; flag: boolean }[], now: Date): Promise<LedgerRow[]> {
    if (items.length === 0) return [];
    if (items.length === 1 || items.length > 100) {
      const out = await Promise.all(items.map(({ row, flag }) => this.claim(row, now, flag)));
      return out.filter((r): r is LedgerRow => r !== null);
    }
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: items.map(({ row, flag }) => ({ Update: { TableName: this.table, ...this.claimUpdate(row, now, flag) } })),
        }),
      );
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const out = await Promise.all(items.map(({ row, flag }) => this.claim(row, now, flag)));
      return out.filter((r): r is LedgerRow => r !== null);
    }
    const at = now.toISOString();
    return items.map(({ row, flag }) => ({
      ...row,
      state: 'sending' as const,
      sendingSince: at,
      updatedAt: at,
      attempts: row.attempts + 1,
      ...(flag ? { possibleDuplicate: true } : {}),
    }));
  }

  /**
   * sending → sent for many rows in one TransactWriteItems call, each conditional on the
   * claim it was sent under (`since`: still `sending` since that claim). Returns the keys
   * whose record could not be written for another reason than that condition (the caller
   * hands their message back: the row stays `sending` and the lease decides). A row whose
   * condition fails was re-claimed by another sender after this one's lease ran out: its
   * state is theirs to record.
   */
  async markSentMany(sent: readonly { key: string; messageId: string; since?: string }[], now: Date): Promise<string[]> {
    if (sent.length === 0) return [];
    if (sent.length > 1 && sent.length <= 100) {
      try {
        await this.db.send(
          new TransactWriteCommand({
            TransactItems: sent.map((s) => ({
              Update: { TableName: this.table, ...this.transitionUpdate(s.key, 'sent', now, { messageId: s.messageId, sentAt: now.toISOString() }, s.since) },
            })),
          }),
        );
        return [];
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) return sent.map((s) => s.key);
      }
    }
    const failed = await Promise.all(
      sent.map(async (s) => {
        try {
          await this.markSent(s.key, s.messageId, now, s.since);
          return null;
        } catch {
          return s.key;
        }
      }),
    );
    return failed.filter((k): k is string => k !== null);
  }

  /** sending → sent, recording the SES message id. False when the row is no longer held by that claim. */
  markSent(key: string, messageId: string, now: Date, since?: string): Promise<boolean> {
    return this.transition(key, 'sent', now, { messageId, sentAt: now.toISOString() }, since);
  }

  /** sending → queued: SES refused it in a way worth retrying, so it was not sent. */
  release(key: string, code: string, now: Date, since?: string): Promise<boolean> {
    return this.transition(key, 'queued', now, { lastError: code }, since);
  }

  /** sending → failed: SES refused it; an operator can redrive it once the cause is fixed. */
  markFailed(key: string, code: string, now: Date, since?: string): Promise<boolean> {
    return this.transition(key, 'failed', now, { lastError: code }, since);
  }

  /**
   * sending → abandoned: its outcome was unknown twice (functions/domain/emails.ts
   * `decideSend`). Terminal: it leaves the `owed` index, and nothing but an operator's
   * `resolve` moves it on. Conditional on the row being exactly as read (still `sending`
   * since the same claim), so a sender that finishes late is never overruled.
   */
  async abandon(row: LedgerRow, now: Date): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: row.pk },
          UpdateExpression: 'SET #state = :abandoned, updatedAt = :now, lastError = :code REMOVE owedShard, owedSince',
          ConditionExpression: '#state = :sending AND sendingSince = :since',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':abandoned': 'abandoned',
            ':sending': 'sending',
            ':since': row.sendingSince ?? '',
            ':now': now.toISOString(),
            ':code': 'UNKNOWN_OUTCOME_TWICE',
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * An operator's decision on an abandoned row (`trust-notify ledger resolve`): `sent` (they
   * checked it arrived: terminal) or `resend` (back to `queued`, still flagged as a possible
   * duplicate, and owed again so the sweeper finds it). Recorded with who and when. Only an
   * abandoned row can be resolved: anything else is refused with its state.
   */
  async resolve(key: string, outcome: 'sent' | 'resend', by: string, now: Date): Promise<{ ok: true } | { ok: false; state: LedgerState | 'missing' }> {
    const at = now.toISOString();
    const common = {
      ':abandoned': 'abandoned',
      ':now': at,
      ':resolution': { outcome, by, at },
    };
    const update =
      outcome === 'sent'
        ? { UpdateExpression: 'SET #state = :sent, updatedAt = :now, resolution = :resolution REMOVE owedShard, owedSince', values: { ':sent': 'sent' } }
        : {
            UpdateExpression: 'SET #state = :queued, updatedAt = :now, resolution = :resolution, owedShard = :shard, owedSince = :now',
            values: { ':queued': 'queued', ':shard': owedShard(key) },
          };
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: key },
          UpdateExpression: update.UpdateExpression,
          ConditionExpression: '#state = :abandoned',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ...common, ...update.values },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { ok: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        const state = error.Item?.state?.S as LedgerState | undefined;
        return { ok: false, state: state ?? 'missing' };
      }
      throw error;
    }
  }

  /**
   * Rows the `owed` index lists as owed since `cutoff` or earlier, oldest first per shard,
   * at most `limit` in all. The index is eventually consistent: callers read the rows
   * themselves (`getMany`) before acting.
   */
  async owedSince(cutoff: Date, limit: number): Promise<OwedEntry[]> {
    const perShard = await Promise.all(
      Array.from({ length: OWED_SHARDS }, async (_, shard) => {
        const found: OwedEntry[] = [];
        const pages = paginateQuery(
          { client: this.db, pageSize: Math.min(1000, limit) },
          {
            TableName: this.table,
            IndexName: OWED_INDEX,
            KeyConditionExpression: 'owedShard = :shard AND owedSince <= :cutoff',
            ExpressionAttributeValues: { ':shard': `OWED#${shard}`, ':cutoff': cutoff.toISOString() },
          },
        );
        for await (const page of pages) {
          for (const item of page.Items ?? []) found.push({ pk: String(item.pk), owedSince: String(item.owedSince) });
          if (found.length >= limit) break;
        }
        return found;
      }),
    );
    return perShard.flat().sort((a, b) => a.owedSince.localeCompare(b.owedSince)).slice(0, limit);
  }

  /**
   * Moves a row's place in the `owed` index to `owedSince`, if no one moved it since it was
   * listed (`seen`): the sweeper's mark that it looked, so that two sweeps never both act on
   * it and the row is looked at again only when due. False when the row changed meanwhile
   * (sent, or moved by another sweep).
   */
  async markOwed(key: string, seen: string, owedSince: Date): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: key },
          UpdateExpression: 'SET owedSince = :next',
          ConditionExpression: 'owedSince = :seen',
          ExpressionAttributeValues: { ':next': owedSince.toISOString(), ':seen': seen },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async transition(key: string, to: LedgerState, now: Date, fields: Record<string, string>, since?: string): Promise<boolean> {
    try {
      await this.db.send(new UpdateCommand({ TableName: this.table, ...this.transitionUpdate(key, to, now, fields, since) }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * The conditional update that moves a row out of `sending`: still `sending`, and with
   * `since`, still under that claim (a sender whose lease ran out and whose row another
   * sender claimed since must not record over it). A row that is no longer owed (`sent`,
   * `failed`) leaves the `owed` index in the same write.
   */
  private transitionUpdate(key: string, to: LedgerState, now: Date, fields: Record<string, string>, since?: string) {
    const names = Object.keys(fields);
    const owed = to === 'queued' || to === 'sending';
    return {
      Key: { pk: key },
      UpdateExpression: `SET #state = :to, updatedAt = :now${names.map((n) => `, #${n} = :${n}`).join('')}${owed ? '' : ' REMOVE owedShard, owedSince'}`,
      ConditionExpression: since === undefined ? '#state = :sending' : '#state = :sending AND sendingSince = :since',
      ExpressionAttributeNames: { '#state': 'state', ...Object.fromEntries(names.map((n) => [`#${n}`, n])) },
      ExpressionAttributeValues: {
        ':to': to,
        ':now': now.toISOString(),
        ':sending': 'sending',
        ...(since === undefined ? {} : { ':since': since }),
        ...Object.fromEntries(names.map((n) => [`:${n}`, fields[n]])),
      },
    };
  }

}

export function backoff(attempt: number, baseMs = 50, capMs = 2_000): Promise<void> {
  // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
  const ms = Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
