/**
 * DynamoDB batch calls with their retry rules: BatchWriteItem 25 items a call and
 * BatchGetItem 100 keys a call, `UnprocessedItems` / `UnprocessedKeys` sent again with
 * backoff and jitter, a few calls in flight at once (on 2 cores more gains nothing; see
 * TRIED.md). BatchWriteItem cannot be conditional: callers use it only where no other
 * writer can be touching the same items (see the fan-out lease).
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { chunk } from '../domain/emails.ts';
import { backoff } from './ledger-repository.ts';

const WRITE_LIMIT = 25;
const GET_LIMIT = 100;
const IN_FLIGHT = 8;
const ATTEMPTS = 10;

type Item = object;

/** Runs the tasks with at most `limit` in flight, keeping their order in the results. */
export async function inFlight<T>(tasks: (() => Promise<T>)[], limit = IN_FLIGHT): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        const task = tasks[i];
        if (task) results[i] = await task();
      }
    }),
  );
  return results;
}

/** Puts items into one table, 25 to a call, retrying unprocessed items. Returns the calls made. */
export async function batchPut(db: DynamoDBDocumentClient, table: string, items: readonly Item[]): Promise<number> {
  let calls = 0;
  await inFlight(
    chunk(items, WRITE_LIMIT).map((part) => async () => {
      let request: BatchWriteCommandOutput['UnprocessedItems'] = { [table]: part.map((Item) => ({ PutRequest: { Item } })) };
      for (let attempt = 0; request?.[table]?.length; attempt++) {
        if (attempt >= ATTEMPTS) throw new Error(`DynamoDB left ${request[table]?.length} items unprocessed after ${ATTEMPTS} attempts`);
        if (attempt > 0) await backoff(attempt);
        calls++;
        const out: BatchWriteCommandOutput = await db.send(new BatchWriteCommand({ RequestItems: request }));
        request = out.UnprocessedItems;
      }
    }),
  );
  return calls;
}

/** Reads items by key from one table, 100 to a call, retrying unprocessed keys. */
export async function batchGet(db: DynamoDBDocumentClient, table: string, keys: readonly Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
  const pages = await inFlight(
    chunk(keys, GET_LIMIT).map((part) => async () => {
      const found: Record<string, unknown>[] = [];
      let request: BatchGetCommandOutput['UnprocessedKeys'] = { [table]: { Keys: [...part], ConsistentRead: true } };
      for (let attempt = 0; request?.[table]?.Keys?.length; attempt++) {
        if (attempt >= ATTEMPTS) throw new Error(`DynamoDB left keys unprocessed after ${ATTEMPTS} attempts`);
        if (attempt > 0) await backoff(attempt);
        const out: BatchGetCommandOutput = await db.send(new BatchGetCommand({ RequestItems: request }));
        found.push(...(out.Responses?.[table] ?? []));
        request = out.UnprocessedKeys;
      }
      return found;
    }),
  );
  return pages.flat();
}
