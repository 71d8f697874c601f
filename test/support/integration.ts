/**
 * Shared harness for integration tests (test/integration/*): SDK clients for the local
 * servers the global setup started, the provisioned table or queue by logical id, an
 * EventBridge-shaped event as the bus delivers it to a Lambda target, and draining the
 * email queue through the email sender as its event source mapping would.
 */
import { type CreateTableCommandInput, CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, EventBridgeEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { inject } from 'vitest';
import { type BusEvent, type LocalEventBus, startLocalEventBus } from '../../local/event-bus.ts';
import { toHttpApiEvent } from '../../local/http-api.ts';
import { pollOnce } from '../../local/sqs-event-source.ts';
import { lambdaContext, loadFunction } from './functions.ts';
import type { IntegrationContext } from './global-setup.ts';

/** The local servers accept any credentials. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export type EventBridgeHandler = (event: EventBridgeEvent<string, unknown>, context: ReturnType<typeof lambdaContext>) => Promise<void>;
export type SqsHandler = (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

export interface LocalClients {
  /** DynamoDB Local. */
  dynamodb: DynamoDBClient;
  /** Document client over `dynamodb`. */
  db: DynamoDBDocumentClient;
  /** fauxqs (queue URLs are not used as endpoints). */
  sqs: SQSClient;
}

/** Clients for the local servers; `removeUndefinedValues` as the document client's marshall option when asked. */
export function localClients(ctx: IntegrationContext, options: { removeUndefinedValues?: boolean } = {}): LocalClients {
  const dynamodb = new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: ctx.region, credentials: LOCAL_CREDENTIALS });
  const db = options.removeUndefinedValues
    ? DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } })
    : DynamoDBDocumentClient.from(dynamodb);
  const sqs = new SQSClient({ endpoint: ctx.endpoints.sqs, region: ctx.region, credentials: LOCAL_CREDENTIALS, useQueueUrlAsEndpoint: false });
  return { dynamodb, db, sqs };
}

/** Loads the email sender the way Lambda runs `EmailSenderFunction` (see `loadFunction`). */
export async function loadEmailSender(ctx: IntegrationContext): Promise<SqsHandler> {
  return (await loadFunction(ctx, 'EmailSenderFunction', () => import('../../functions/handlers/email-sender.ts'))).handler as unknown as SqsHandler;
}

/** The one entry whose logical id contains `part` (e.g. `one(ctx.tables, 'DataTable')`); throws unless exactly one does. */
export function one<T>(record: Record<string, T>, part: string): T {
  const keys = Object.keys(record).filter((k) => k.includes(part));
  const value = keys[0] === undefined ? undefined : record[keys[0]];
  if (keys.length !== 1 || value === undefined) throw new Error(`expected one ${part}*, found ${keys.join(', ')}`);
  return value;
}

/**
 * Creates table `to` with the keys and indexes of table `from` (on demand): a test's own
 * copy of a provisioned table, for tests whose simulated dates must not see other files' items.
 */
export async function createTableLike(dynamodb: DynamoDBClient, from: string, to: string): Promise<void> {
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: from }));
  if (!Table) throw new Error(`no table ${from}`);
  const input: CreateTableCommandInput = {
    TableName: to,
    KeySchema: Table.KeySchema,
    AttributeDefinitions: Table.AttributeDefinitions,
    BillingMode: 'PAY_PER_REQUEST',
    ...(Table.GlobalSecondaryIndexes?.length
      ? { GlobalSecondaryIndexes: Table.GlobalSecondaryIndexes.map((g) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection })) }
      : {}),
  };
  await dynamodb.send(new CreateTableCommand(input));
}

/** An EventBridge event time: ISO 8601 to the second, as EventBridge writes it. */
export const eventTime = (date = new Date()): string => date.toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * Deterministic event ids `00000000-0000-4000-<group>-<n>` (n = 1, 2, …). Give each test
 * file its own `group`: ids end up in ledger keys in the shared tables.
 */
export function sequentialEventIds(group: string): () => string {
  let counter = 0;
  return () => `00000000-0000-4000-${group}-${String(++counter).padStart(12, '0')}`;
}

/**
 * An event as EventBridge delivers it to a Lambda target (account 000000000000, the
 * local region). Defaults: a random id, the current time, no resources.
 */
export function eventBridgeEvent(
  detailType: string,
  source: string,
  detail: unknown,
  options: { id?: string; time?: string; resources?: string[] } = {},
): EventBridgeEvent<string, unknown> {
  return {
    version: '0',
    id: options.id ?? crypto.randomUUID(),
    'detail-type': detailType,
    source,
    account: '000000000000',
    time: options.time ?? eventTime(),
    region: inject('integration').region,
    resources: options.resources ?? [],
    detail,
  };
}

/**
 * Runs the email sender over the queue until it is empty, as the event source mapping
 * would, and returns how many messages it handled. After `rounds` batches without an
 * empty receive it throws, or with `mustDrain: false` returns what it handled so far.
 */
export async function drainThroughSender(
  sqs: SQSClient,
  queue: { url: string; arn: string },
  sender: SqsHandler,
  { rounds = 50, mustDrain = true }: { rounds?: number; mustDrain?: boolean } = {},
): Promise<number> {
  let handled = 0;
  for (let round = 0; round < rounds; round++) {
    const result = await pollOnce(sqs, queue, (event) => sender(event, lambdaContext('EmailSender')));
    if (result.received === 0) return handled;
    handled += result.deleted;
  }
  if (mustDrain) throw new Error('the email queue did not drain');
  return handled;
}

/**
 * An API Gateway HTTP API (payload v2) event, built by the same code the local web server
 * uses (local/http-api.ts). With `token`, the route is `/ack/{token}`; otherwise the path
 * is the route (e.g. `POST /reports`).
 */
export function httpApiEvent(
  method: 'GET' | 'POST',
  path: string,
  options: { token?: string; body?: string } = {},
): APIGatewayProxyEventV2 {
  const template = options.token === undefined ? path : '/ack/{token}';
  return toHttpApiEvent(
    {
      method,
      path,
      query: '',
      headers: { host: '127.0.0.1:3000', 'content-type': 'application/json', 'user-agent': 'test' },
      body: options.body ?? '',
      sourceIp: '127.0.0.1',
    },
    { routeKey: `${method} ${template}`, method, pattern: /.*/, params: options.token === undefined ? [] : ['token'], functionArn: '' },
    options.token === undefined ? {} : { token: options.token },
  );
}

/**
 * The local PutEvents bus (local/event-bus.ts) as the functions' EventBridge endpoint,
 * keeping what they publish in `published` instead of routing it, so a test hands each
 * event on to the next handler itself.
 */
export async function startCapturingBus(ctx: IntegrationContext, published: BusEvent[]): Promise<LocalEventBus> {
  const bus = await startLocalEventBus({
    region: ctx.region,
    account: '000000000000',
    busNames: ['trust-events'],
    deliver: (_bus, event) => {
      published.push(event);
    },
  });
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.url;
  return bus;
}
