import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFaultRates, RequestCounter, startCountingProxy } from '../../local/request-counter.ts';

// The load run's fault injector (bench/load.ts, TPN_INJECT_FAULTS): the counting proxy
// refuses a share of requests with the service's own throttling error, before forwarding.
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
let upstream: Server;
let upstreamUrl = '';
let upstreamHits = 0;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    upstreamHits++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

describe('parseFaultRates', () => {
  it('reads service:share pairs', () => {
    expect(parseFaultRates('ses:0.05, dynamodb:0.02')).toEqual({ ses: 0.05, dynamodb: 0.02 });
    expect(parseFaultRates(undefined)).toEqual({});
    expect(parseFaultRates('')).toEqual({});
  });

  it.each(['s3:0.1', 'ses:2', 'smtp', 'ses:abc', 'dynamodb:-0.1'])('refuses %s, naming the setting and not the value', (text) => {
    expect(() => parseFaultRates(text)).toThrow(/^TPN_INJECT_FAULTS must be/);
    try {
      parseFaultRates(text);
    } catch (error) {
      expect((error as Error).message).not.toContain(text);
    }
  });
});

describe('the counting proxy with faults on', () => {
  it('answers SES with TooManyRequestsException (429) without forwarding, counted as fault:ses', async () => {
    const counter = new RequestCounter();
    const proxy = await startCountingProxy('ses', upstreamUrl, counter, 1);
    const before = upstreamHits;
    try {
      const ses = new SESv2Client({ endpoint: proxy.url, region: 'eu-west-2', credentials, maxAttempts: 1 });
      const error = await ses
        .send(new SendEmailCommand({ FromEmailAddress: 'a@example.org', Destination: { ToAddresses: ['b@example.org'] }, Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 'b' } } } } }))
        .then(
          () => null,
          (e: unknown) => e as { name: string; $metadata: { httpStatusCode?: number }; message: string },
        );
      expect(error?.name).toBe('TooManyRequestsException');
      expect(error?.$metadata.httpStatusCode).toBe(429);
      expect(error?.message).toBe('Maximum sending rate exceeded.');
      expect(upstreamHits).toBe(before);
      expect(counter.snapshot()).toMatchObject({ 'fault:ses': 1, 'ses:SendEmail': 1 });
    } finally {
      await proxy.close();
    }
  });

  it('answers DynamoDB with ProvisionedThroughputExceededException (400) without forwarding', async () => {
    const counter = new RequestCounter();
    const proxy = await startCountingProxy('dynamodb', upstreamUrl, counter, 1);
    const before = upstreamHits;
    try {
      const ddb = new DynamoDBClient({ endpoint: proxy.url, region: 'eu-west-2', credentials, maxAttempts: 1 });
      const error = await ddb.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } })).then(
        () => null,
        (e: unknown) => e as { name: string; $metadata: { httpStatusCode?: number } },
      );
      expect(error?.name).toBe('ProvisionedThroughputExceededException');
      expect(error?.$metadata.httpStatusCode).toBe(400);
      expect(upstreamHits).toBe(before);
      expect(counter.snapshot()).toMatchObject({ 'fault:dynamodb': 1, 'dynamodb:GetItem': 1 });
    } finally {
      await proxy.close();
    }
  });

  it('forwards everything with no fault rate', async () => {
    const counter = new RequestCounter();
    const proxy = await startCountingProxy('dynamodb', upstreamUrl, counter, 0);
    const before = upstreamHits;
    try {
      const ddb = new DynamoDBClient({ endpoint: proxy.url, region: 'eu-west-2', credentials, maxAttempts: 1 });
      await ddb.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } }));
      expect(upstreamHits).toBe(before + 1);
      expect(counter.snapshot()['fault:dynamodb']).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });
});
