// The local servers module on its own: it starts its own servers on free ports (no global
// setup), drives each through the real AWS SDK v3 clients, checks that each listens on
// 127.0.0.1 only, and that no DynamoDB Local (java) process outlives its parent.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateEmailTemplateCommand,
  SendBulkEmailCommand,
  SendEmailCommand,
  SESv2Client,
} from '@aws-sdk/client-sesv2';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JavaMissingError, type LocalServers, startLocalServers } from '../../local/servers.ts';

const run = promisify(execFile);
const clientConfig = (endpoint: string) => ({
  endpoint,
  region: 'eu-west-2',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
const portOf = (endpoint: string) => Number(new URL(endpoint).port);

interface StoredEmail {
  messageId: string;
  from: string;
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
  at: number;
}

/** Local addresses of every listening TCP socket on `port`, from `ss -ltnH`. */
async function listeningAddresses(port: number): Promise<string[]> {
  const { stdout } = await run('ss', ['-ltnH', `sport = :${port}`]);
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const local = line.trim().split(/\s+/)[3] ?? '';
      return local.slice(0, local.lastIndexOf(':'));
    });
}

/** Pid of the process listening on `port`, from `ss -ltnpH`. */
async function listenerPid(port: number): Promise<number> {
  const { stdout } = await run('ss', ['-ltnpH', `sport = :${port}`]);
  const pid = /pid=(\d+)/.exec(stdout)?.[1];
  if (pid === undefined) throw new Error(`No process found listening on port ${port}: ${stdout}`);
  return Number(pid);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, 100));
  }
  return true;
}

/** How a TCP connection attempt to host:port ends. */
function tryConnect(host: string, port: number): Promise<'connected' | string> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      done('timeout');
    });
    socket.once('connect', () => {
      socket.destroy();
      done('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

function nonLoopbackIpv4(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)?.address;
}

describe('startLocalServers on free ports', () => {
  let servers: LocalServers;
  const logLines: string[] = [];

  beforeAll(async () => {
    servers = await startLocalServers({ log: (line) => logLines.push(line) });
  });
  afterAll(async () => {
    await servers?.stop();
  });

  it('reports each server as ready with its URL and start time', () => {
    expect(servers.endpoints.dynamodb).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(servers.endpoints.ses).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(servers.endpoints.sqs).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(logLines).toContainEqual(expect.stringMatching(/^DynamoDB Local ready on http:\/\/127\.0\.0\.1:\d+ \(\d+\.\d s\)$/));
    expect(logLines).toContainEqual(expect.stringMatching(/^SES local ready on /));
    expect(logLines).toContainEqual(expect.stringMatching(/^SQS \(fauxqs\) ready on /));
  });

  it('DynamoDB Local: CreateTable, PutItem, GetItem and TransactWriteItems', async () => {
    const dynamodb = new DynamoDBClient(clientConfig(servers.endpoints.dynamodb));
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'servers-test',
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      }),
    );
    await dynamodb.send(new PutItemCommand({ TableName: 'servers-test', Item: { pk: { S: 'a' }, n: { N: '1' } } }));
    const got = await dynamodb.send(new GetItemCommand({ TableName: 'servers-test', Key: { pk: { S: 'a' } } }));
    expect(got.Item).toEqual({ pk: { S: 'a' }, n: { N: '1' } });

    await dynamodb.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          {
            Update: {
              TableName: 'servers-test',
              Key: { pk: { S: 'a' } },
              UpdateExpression: 'SET n = n + :one',
              ConditionExpression: 'n = :one',
              ExpressionAttributeValues: { ':one': { N: '1' } },
            },
          },
          { Put: { TableName: 'servers-test', Item: { pk: { S: 'b' } }, ConditionExpression: 'attribute_not_exists(pk)' } },
        ],
      }),
    );
    const after = await dynamodb.send(new GetItemCommand({ TableName: 'servers-test', Key: { pk: { S: 'a' } } }));
    expect(after.Item?.n).toEqual({ N: '2' });

    // A failed condition cancels the whole transaction, with a reason per item.
    const cancelled = await dynamodb
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: 'servers-test', Item: { pk: { S: 'c' } } } },
            { Put: { TableName: 'servers-test', Item: { pk: { S: 'b' } }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      )
      .catch((error: unknown) => error);
    expect(cancelled).toBeInstanceOf(TransactionCanceledException);
    expect((cancelled as TransactionCanceledException).CancellationReasons?.map((reason) => reason.Code)).toEqual([
      'None',
      'ConditionalCheckFailed',
    ]);
    const c = await dynamodb.send(new GetItemCommand({ TableName: 'servers-test', Key: { pk: { S: 'c' } } }));
    expect(c.Item).toBeUndefined();

    // -sharedDb: other credentials and regions see the same tables. (DynamoDB Local only
    // accepts access key ids made of letters and digits.)
    const other = new DynamoDBClient({
      endpoint: servers.endpoints.dynamodb,
      region: 'us-east-1',
      credentials: { accessKeyId: 'someoneElse', secretAccessKey: 'x' },
    });
    expect((await other.send(new ListTablesCommand({}))).TableNames).toContain('servers-test');
  });

  it('SES local: a stored Handlebars template sent with SendEmail appears in /store', async () => {
    const ses = new SESv2Client(clientConfig(servers.endpoints.ses));
    await ses.send(
      new CreateEmailTemplateCommand({
        TemplateName: 'servers-test',
        TemplateContent: {
          Subject: 'Hello {{name}}',
          Html: '<ul>{{#each items}}<li>{{title}}</li>{{/each}}</ul>',
          Text: '{{#each items}}- {{title}}\n{{/each}}',
        },
      }),
    );
    const sent = await ses.send(
      new SendEmailCommand({
        FromEmailAddress: 'notify@trust.example',
        Destination: { ToAddresses: ['head@school.example'] },
        Content: {
          Template: {
            TemplateName: 'servers-test',
            TemplateData: JSON.stringify({ name: 'Ann', items: [{ title: 'One' }, { title: 'Two' }] }),
          },
        },
      }),
    );

    const response = await fetch(`${servers.endpoints.ses}/store`);
    const store = (await response.json()) as { emails: StoredEmail[] };
    const email = store.emails.find((stored) => stored.messageId === sent.MessageId);
    expect(email).toMatchObject({
      from: 'notify@trust.example',
      destination: { to: ['head@school.example'], cc: [], bcc: [] },
      subject: 'Hello Ann',
      body: { html: '<ul><li>One</li><li>Two</li></ul>', text: '- One\n- Two\n' },
    });

    // SendBulkEmail reports a status per entry; a bad address fails only its own entry.
    const bulk = await ses.send(
      new SendBulkEmailCommand({
        FromEmailAddress: 'notify@trust.example',
        DefaultContent: { Template: { TemplateName: 'servers-test', TemplateData: '{"name":"all","items":[]}' } },
        BulkEmailEntries: [
          {
            Destination: { ToAddresses: ['a@school.example'] },
            ReplacementEmailContent: {
              ReplacementTemplate: { ReplacementTemplateData: '{"name":"A","items":[{"title":"x"}]}' },
            },
          },
          { Destination: { ToAddresses: ['not-an-address'] } },
        ],
      }),
    );
    expect(bulk.BulkEmailEntryResults?.map((entry) => entry.Status)).toEqual(['SUCCESS', 'FAILED']);

    // An unknown template: HTTP 404, which the SDK surfaces as an error named "Unknown".
    const unknown = await ses
      .send(
        new SendEmailCommand({
          FromEmailAddress: 'notify@trust.example',
          Destination: { ToAddresses: ['head@school.example'] },
          Content: { Template: { TemplateName: 'no-such-template', TemplateData: '{}' } },
        }),
      )
      .catch((error: unknown) => error);
    expect(unknown).toMatchObject({ name: 'Unknown', $metadata: { httpStatusCode: 404 } });
  });

  it('SQS (fauxqs): CreateQueue, SendMessage and ReceiveMessage', async () => {
    const sqs = new SQSClient(clientConfig(servers.endpoints.sqs));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'servers-test' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }));
    expect(received.Messages?.map((message) => message.Body)).toEqual(['hello']);
  });

  it('each server listens on 127.0.0.1 only', async () => {
    const outside = nonLoopbackIpv4();
    for (const endpoint of Object.values(servers.endpoints)) {
      expect(await listeningAddresses(portOf(endpoint)), endpoint).toEqual(['127.0.0.1']);
      if (outside !== undefined) {
        expect(await tryConnect(outside, portOf(endpoint)), `${outside}:${portOf(endpoint)}`).toBe('ECONNREFUSED');
      }
      expect(await tryConnect('127.0.0.1', portOf(endpoint))).toBe('connected');
    }
  });

  it('stop() ends the java process, and a second stop() is harmless', async () => {
    const javaPid = await listenerPid(portOf(servers.endpoints.dynamodb));
    expect(isRunning(javaPid)).toBe(true);
    await servers.stop();
    await servers.stop();
    expect(isRunning(javaPid)).toBe(false);
    const { stdout } = await run('ps', ['-o', 'comm=', '--ppid', String(process.pid)]).catch(() => ({ stdout: '' }));
    expect(stdout.split('\n')).not.toContain('java');
    for (const endpoint of Object.values(servers.endpoints)) {
      expect(await tryConnect('127.0.0.1', portOf(endpoint))).toBe('ECONNREFUSED');
    }
  });
});

describe('DynamoDB Local with a dataDir', () => {
  it('keeps tables across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'local-servers-'));
    try {
      const first = await startLocalServers({ dataDir });
      try {
        await new DynamoDBClient(clientConfig(first.endpoints.dynamodb)).send(
          new CreateTableCommand({
            TableName: 'kept',
            BillingMode: 'PAY_PER_REQUEST',
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          }),
        );
      } finally {
        await first.stop();
      }
      const second = await startLocalServers({ dataDir });
      try {
        const tables = await new DynamoDBClient(clientConfig(second.endpoints.dynamodb)).send(new ListTablesCommand({}));
        expect(tables.TableNames).toEqual(['kept']);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('when the parent process dies without calling stop()', () => {
  // A separate Node process starts the servers, prints the DynamoDB endpoint and waits.
  const script = `
    const { startLocalServers } = await import(${JSON.stringify(new URL('../../local/servers.ts', import.meta.url).href)});
    const servers = await startLocalServers();
    console.log(servers.endpoints.dynamodb);
    setInterval(() => {}, 60_000);
  `;

  it.each(['SIGTERM', 'SIGKILL', 'SIGINT'] as const)('DynamoDB Local exits after the parent gets %s', async (signal) => {
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const endpoint = await new Promise<string>((done, fail) => {
      parent.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        const url = /http:\/\/127\.0\.0\.1:\d+/.exec(chunk)?.[0];
        if (url !== undefined) done(url);
      });
      parent.once('exit', (code) => fail(new Error(`parent exited early (${code})`)));
    });
    const javaPid = await listenerPid(portOf(endpoint));
    expect(isRunning(javaPid)).toBe(true);

    parent.kill(signal);
    expect(await waitUntilGone(javaPid, 10_000)).toBe(true);
  });
});

describe('without Java', () => {
  it('rejects with JavaMissingError saying how to install Java 17', async () => {
    const path = process.env.PATH;
    const emptyDir = mkdtempSync(join(tmpdir(), 'no-java-'));
    process.env.PATH = emptyDir;
    try {
      const error = await startLocalServers().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(JavaMissingError);
      expect((error as Error).message).toMatch(/Java 17.*apt-get install openjdk-17-jre-headless/);
    } finally {
      process.env.PATH = path;
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});
