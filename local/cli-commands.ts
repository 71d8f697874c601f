/**
 * The work behind `trust-notify publish` and `trust-notify import`, against the local
 * platform (its endpoints and the stack outputs it wrote at start) or against AWS (the
 * stack's CloudFormation outputs, the standard credential chain).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PeopleRepository } from '../functions/adapters/people-repository.ts';
import { loadTrustConfig, REPO_ROOT } from '../functions/config/load-trust-config.ts';
import { isSchoolOfTrust } from '../functions/config/trust-config.ts';
import { CATALOGUE, type DetailType, EVENT_BUS_NAME, parseForPublish } from '../functions/contracts/events.ts';
import { DirectoryCsvError, formatRejections, parseDirectoryCsv } from '../functions/domain/directory-csv.ts';
import { chunk } from '../functions/domain/emails.ts';
import { personFromHr } from '../functions/domain/people.ts';
import { portsFromEnvironment } from './platform.ts';

export class CliError extends Error {
  override name = 'CliError';
}

export type Target =
  | { kind: 'local'; bus: string; dynamodb: string; sqs: string; web: string }
  | { kind: 'aws'; region: string; stack: string };

/** Detail-types an operator or the HR system may publish from the command line. */
export const PUBLISHABLE: DetailType[] = ['Staff Onboarded', 'Staff Updated', 'Staff Left', 'Policy Updated', 'Policy Reviewed'];

const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function localDataDir(): string {
  return resolve(process.env.TPN_DATA_DIR ?? `${REPO_ROOT}/.local-data`);
}

/**
 * The running local platform's endpoints: from the endpoints.json it writes when ready,
 * else the ports in the environment (or their defaults).
 */
export function localTarget(): Target {
  const file = resolve(localDataDir(), 'endpoints.json');
  if (existsSync(file)) {
    const urls = JSON.parse(readFileSync(file, 'utf8')) as { bus: string; dynamodb: string; sqs: string; web: string };
    return { kind: 'local', bus: urls.bus, dynamodb: urls.dynamodb, sqs: urls.sqs, web: urls.web };
  }
  const ports = portsFromEnvironment();
  const at = (port: number) => `http://127.0.0.1:${port}`;
  return { kind: 'local', bus: at(ports.bus), dynamodb: at(ports.dynamodb), sqs: at(ports.sqs), web: at(ports.web) };
}

function eventBridge(target: Target): EventBridgeClient {
  if (target.kind === 'aws') return new EventBridgeClient({ region: target.region });
  return new EventBridgeClient({
    endpoint: target.bus,
    region: loadTrustConfig().region,
    credentials: localCredentials,
    maxAttempts: 1,
  });
}

export async function stackOutputs(target: Target): Promise<Record<string, string>> {
  if (target.kind === 'aws') {
    const out = await new CloudFormationClient({ region: target.region }).send(new DescribeStacksCommand({ StackName: target.stack }));
    const outputs = out.Stacks?.[0]?.Outputs ?? [];
    return Object.fromEntries(outputs.map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  }
  const file = resolve(localDataDir(), 'stack-outputs.json');
  if (!existsSync(file)) throw new CliError('the local platform has not been started here (run npm start first)');
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
}

/** A DynamoDB document client and an SQS client for the target (local: its endpoints; AWS: the credential chain). */
export function targetClients(target: Target): { db: DynamoDBDocumentClient; sqs: SQSClient } {
  if (target.kind === 'aws') {
    return { db: DynamoDBDocumentClient.from(new DynamoDBClient({ region: target.region })), sqs: new SQSClient({ region: target.region }) };
  }
  const local = { region: loadTrustConfig().region, credentials: localCredentials, maxAttempts: 2 };
  return {
    db: DynamoDBDocumentClient.from(new DynamoDBClient({ ...local, endpoint: target.dynamodb })),
    // fauxqs's queue URLs name a host that may not resolve: requests go to the endpoint.
    sqs: new SQSClient({ ...local, endpoint: target.sqs, useQueueUrlAsEndpoint: false }),
  };
}

export function connectionRefused(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string }; name?: string };
  return e.code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String((error as Error).message));
}

async function putEvents(client: EventBridgeClient, entries: PutEventsRequestEntry[], target: Target) {
  try {
    return await client.send(new PutEventsCommand({ Entries: entries }));
  } catch (error) {
    if (target.kind === 'local' && connectionRefused(error)) {
      throw new CliError(`the local platform is not running (nothing answers at ${target.bus}; start it with npm start)`);
    }
    throw error;
  }
}

/** Validates a detail strictly against its contract and publishes it. Returns the event id. */
export async function publishDetail(cliName: string, detail: unknown, target: Target): Promise<string> {
  const detailType = PUBLISHABLE.find((t) => CATALOGUE[t].cliName === cliName);
  if (!detailType) {
    throw new CliError(`unknown type "${cliName}": use one of ${PUBLISHABLE.map((t) => CATALOGUE[t].cliName).join(', ')}`);
  }
  const valid = parseForPublish(detailType, detail);
  const out = await putEvents(
    eventBridge(target),
    [{ EventBusName: EVENT_BUS_NAME, Source: CATALOGUE[detailType].source, DetailType: detailType, Detail: JSON.stringify(valid) }],
    target,
  );
  const entry = out.Entries?.[0];
  if (!entry?.EventId) throw new CliError(`the event bus refused the event: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim());
  return entry.EventId;
}

function progress(done: number, total: number, label: string) {
  if (!process.stderr.isTTY) {
    if (done === total || done % 500 === 0) process.stderr.write(`${label}: ${done}/${total}\n`);
    return;
  }
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  process.stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`);
  if (done === total) process.stderr.write('\n');
}

/**
 * Upserts people from a directory CSV (DESIGN.md "Directory CSV"); never removes anyone.
 * People already on record are updated in place; new people are onboarded through
 * `Staff Onboarded` events, or written directly with `silent`. Returns the exit code:
 * 0 every row loaded, 2 some rows rejected, 1 none loaded.
 */
export async function importDirectory(file: string, options: { silent: boolean; target: Target }): Promise<number> {
  const config = loadTrustConfig();
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: ReturnType<typeof parseDirectoryCsv>;
  try {
    parsed = parseDirectoryCsv(text, { isSchool: (id) => isSchoolOfTrust(config, id) });
  } catch (error) {
    if (error instanceof DirectoryCsvError) throw new CliError(error.message);
    throw error;
  }
  const outputs = await stackOutputs(options.target);
  const table = outputs.DataTableName;
  if (!table) throw new CliError('the stack has no DataTableName output');
  const db = DynamoDBDocumentClient.from(
    options.target.kind === 'aws'
      ? new DynamoDBClient({ region: options.target.region })
      : new DynamoDBClient({ endpoint: options.target.dynamodb, region: config.region, credentials: localCredentials }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  const people = new PeopleRepository(db, table);
  const bus = eventBridge(options.target);
  const now = new Date().toISOString();
  let updated = 0;
  let added = 0;
  let onboarded = 0;
  let failed = 0;
  let done = 0;
  const total = parsed.rows.length;
  progress(0, total, 'Importing');
  for (const part of chunk(parsed.rows, 10)) {
    const existing = await Promise.all(part.map((row) => people.get(row.detail.staffId)));
    const toOnboard: PutEventsRequestEntry[] = [];
    await Promise.all(
      part.map(async (row, i) => {
        const known = existing[i] ?? null;
        if (known || options.silent) {
          await people.putIfNotOlder(personFromHr(row.detail, now, known));
          if (known) updated++;
          else added++;
        } else {
          toOnboard.push({
            EventBusName: EVENT_BUS_NAME,
            Source: CATALOGUE['Staff Onboarded'].source,
            DetailType: 'Staff Onboarded',
            Detail: JSON.stringify({ ...row.detail, occurredAt: now }),
          });
        }
      }),
    );
    if (toOnboard.length > 0) {
      const out = await putEvents(bus, toOnboard, options.target);
      const refused = out.FailedEntryCount ?? 0;
      failed += refused;
      onboarded += toOnboard.length - refused;
    }
    done += part.length;
    progress(done, total, 'Importing');
  }
  const lines = [
    `${total} good rows: ${updated} updated, ${added} added silently, ${onboarded} onboarded (Staff Onboarded published)${
      failed ? `, ${failed} refused by the event bus` : ''
    }`,
  ];
  if (parsed.rejected.length > 0) {
    lines.push(`${parsed.rejected.length} problems in rejected rows:`, ...formatRejections(parsed.rejected).map((l) => `  ${l}`));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const loaded = total - failed;
  if (loaded === 0) return 1;
  return parsed.rejected.length > 0 || failed > 0 ? 2 : 0;
}
