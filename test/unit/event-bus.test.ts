import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { EventBridgeClient, PutEventsCommand, PutRuleCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type BusEvent,
  DEFAULT_MAX_REQUEST_ENTRY_BYTES,
  entrySize,
  type LocalEventBus,
  type LocalEventBusOptions,
  startLocalEventBus,
} from '../../local/event-bus.ts';

// The real EventBridge client against the local bus, each server on a free port on 127.0.0.1.
// Expected codes and messages are those AWS returns (PutEvents API reference, "Calculating
// PutEvents event entry size", and responses recorded against AWS).

const REGION = 'eu-west-2';
const ACCOUNT = '000000000000';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EVENT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

interface Delivery {
  busName: string;
  event: BusEvent;
}

interface Harness {
  bus: LocalEventBus;
  client: EventBridgeClient;
  deliveries: Delivery[];
  timeline: string[];
  deliveryErrors: { error: unknown; event: BusEvent }[];
}

const open: Harness[] = [];

async function harness(overrides: Partial<LocalEventBusOptions> = {}): Promise<Harness> {
  const deliveries: Delivery[] = [];
  const timeline: string[] = [];
  const deliveryErrors: { error: unknown; event: BusEvent }[] = [];
  const bus = await startLocalEventBus({
    port: 0,
    region: REGION,
    account: ACCOUNT,
    busNames: ['trust-events', 'default'],
    deliver: (busName, event) => {
      deliveries.push({ busName, event });
      timeline.push(`deliver ${event.id}`);
    },
    onDeliveryError: (error, event) => deliveryErrors.push({ error, event }),
    log: (line) => timeline.push(`log ${line}`),
    ...overrides,
  });
  const client = new EventBridgeClient({
    endpoint: bus.url,
    region: REGION,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const h = { bus, client, deliveries, timeline, deliveryErrors };
  open.push(h);
  return h;
}

afterAll(async () => {
  for (const h of open.splice(0)) {
    h.client.destroy();
    await h.bus.close();
  }
});

/** Polls until `condition` holds (deadline, no fixed sleeps). */
async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The SDK error a call throws, or a failure if it succeeds. */
async function sdkError(promise: Promise<unknown>): Promise<Error & { $fault?: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

function entry(detail: Record<string, unknown>, extra: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry {
  return {
    Source: 'trust-policy-notify.hr',
    DetailType: 'Staff Onboarded',
    Detail: JSON.stringify(detail),
    EventBusName: 'trust-events',
    ...extra,
  };
}

/** A Detail JSON object whose UTF-8 size is exactly `bytes` (padding with `pad`, 1 or 2 bytes). */
function detailOfSize(bytes: number, pad: 'x' | 'é' = 'x'): string {
  const overhead = Buffer.byteLength('{"p":""}');
  const padBytes = Buffer.byteLength(pad);
  const room = bytes - overhead;
  const body = pad.repeat(Math.floor(room / padBytes)) + 'x'.repeat(room % padBytes);
  const detail = `{"p":"${body}"}`;
  expect(Buffer.byteLength(detail)).toBe(bytes);
  return detail;
}

describe('local event bus: PutEvents through the real EventBridge client', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterEach(() => {
    h.deliveries.length = 0;
    h.timeline.length = 0;
    h.deliveryErrors.length = 0;
  });

  it('accepts entries, returns an EventId for each and delivers them in EventBridge shape', async () => {
    const out = await h.client.send(
      new PutEventsCommand({
        Entries: [
          entry(
            { staffId: 'S1', roles: ['teacher'] },
            { Time: new Date('2026-11-25T10:00:00.789Z'), Resources: ['arn:aws:s3:::bucket/a'] },
          ),
          entry({ staffId: 'S2' }, { EventBusName: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/trust-events` }),
          entry({ staffId: 'S3' }, { EventBusName: undefined, DetailType: 'Staff Left' }),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries).toHaveLength(3);
    const ids = (out.Entries ?? []).map((e) => e.EventId);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(3);
    expect(out.$metadata.requestId).toMatch(UUID);

    await until(() => h.deliveries.length === 3, 'three deliveries');
    expect(h.deliveries.map((d) => d.busName)).toEqual(['trust-events', 'trust-events', 'default']);
    expect(h.deliveries.map((d) => d.event.id)).toEqual(ids);
    expect(h.deliveries[0]?.event).toEqual({
      version: '0',
      id: ids[0],
      'detail-type': 'Staff Onboarded',
      source: 'trust-policy-notify.hr',
      account: ACCOUNT,
      time: '2026-11-25T10:00:00Z',
      region: REGION,
      resources: ['arn:aws:s3:::bucket/a'],
      detail: { staffId: 'S1', roles: ['teacher'] },
    });
    expect(h.deliveries[1]?.event.resources).toEqual([]);
    expect(h.deliveries[2]?.event['detail-type']).toBe('Staff Left');
  });

  it('stamps an entry without Time with the time of the call, in whole seconds', async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    await h.client.send(new PutEventsCommand({ Entries: [entry({ staffId: 'S1' })] }));
    const after = Date.now();
    await until(() => h.deliveries.length === 1, 'one delivery');
    const time = h.deliveries[0]?.event.time ?? '';
    expect(time).toMatch(EVENT_TIME);
    expect(Date.parse(time)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(time)).toBeLessThanOrEqual(after);
  });

  it('fails the whole call with ValidationException for more than 10 entries (or none)', async () => {
    const eleven = Array.from({ length: 11 }, (_, i) => entry({ n: i }));
    const error = await sdkError(h.client.send(new PutEventsCommand({ Entries: eleven })));
    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10/);
    expect(error.$fault).toBe('client');
    expect(error.$metadata?.httpStatusCode).toBe(400);

    const none = await sdkError(h.client.send(new PutEventsCommand({ Entries: [] })));
    expect(none.name).toBe('ValidationException');

    const ten = await h.client.send(new PutEventsCommand({ Entries: eleven.slice(0, 10) }));
    expect(ten.FailedEntryCount).toBe(0);
    await until(() => h.deliveries.length === 10, 'ten deliveries');
    expect(h.deliveries.map((d) => d.event.detail.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('fails bad entries one by one, as AWS does, while the others in the call succeed and are delivered', async () => {
    const out = await h.client.send(
      new PutEventsCommand({
        Entries: [
          entry({ n: 1 }),
          entry({}, { Detail: 'not json' }),
          entry({}, { Detail: '[1, 2]' }),
          entry({}, { Detail: '"a string"' }),
          entry({}, { Detail: 'null' }),
          entry({ n: 6 }, { Source: undefined }),
          entry({ n: 7 }, { DetailType: '' }),
          entry({}, { Detail: undefined }),
          entry({ n: 9 }),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(7);
    const entries = out.Entries ?? [];
    expect(entries[0]?.EventId).toMatch(UUID);
    expect(entries.slice(1, 5)).toEqual(
      Array.from({ length: 4 }, () => ({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' })),
    );
    expect(entries[5]).toEqual({
      ErrorCode: 'InvalidArgument',
      ErrorMessage: 'Parameter Source is not valid. Reason: Source is a required argument.',
    });
    expect(entries[6]).toEqual({
      ErrorCode: 'InvalidArgument',
      ErrorMessage: 'Parameter DetailType is not valid. Reason: DetailType is a required argument.',
    });
    expect(entries[7]).toEqual({
      ErrorCode: 'InvalidArgument',
      ErrorMessage: 'Parameter Detail is not valid. Reason: Detail is a required argument.',
    });
    expect(entries[8]?.EventId).toMatch(UUID);

    await until(() => h.deliveries.length === 2, 'two deliveries');
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.deliveries.map((d) => d.event.detail)).toEqual([{ n: 1 }, { n: 9 }]);
    expect(h.deliveries.map((d) => d.event.id)).toEqual([entries[0]?.EventId, entries[8]?.EventId]);
  });

  it('refuses an aws.* source and a DetailType over 128 characters per entry', async () => {
    const out = await h.client.send(
      new PutEventsCommand({
        Entries: [
          entry({}, { Source: 'aws.events' }),
          entry({}, { DetailType: 'x'.repeat(129) }),
          entry({}, { DetailType: 'x'.repeat(128) }),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries?.[0]).toEqual({ ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' });
    expect(out.Entries?.[1]?.ErrorCode).toBe('InvalidArgument');
    expect(out.Entries?.[2]?.EventId).toMatch(UUID);
  });

  it('fails an entry for a bus that does not exist here, by name or by ARN', async () => {
    const out = await h.client.send(
      new PutEventsCommand({
        Entries: [
          entry({ n: 1 }, { EventBusName: 'no-such-bus' }),
          entry({ n: 2 }, { EventBusName: 'arn:aws:events:eu-west-2:111111111111:event-bus/trust-events' }),
          entry({ n: 3 }, { EventBusName: 'arn:aws:events:us-east-1:000000000000:event-bus/trust-events' }),
          entry({ n: 4 }, { EventBusName: 'arn:aws:events:eu-west-2:000000000000:event-bus/default' }),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(3);
    expect(out.Entries?.[0]).toEqual({
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: 'Event bus no-such-bus does not exist.',
    });
    expect(out.Entries?.[1]?.ErrorCode).toBe('ResourceNotFoundException');
    expect(out.Entries?.[2]?.ErrorCode).toBe('ResourceNotFoundException');
    expect(out.Entries?.[3]?.EventId).toMatch(UUID);
    await until(() => h.deliveries.length === 1, 'one delivery');
    expect(h.deliveries[0]).toMatchObject({ busName: 'default', event: { detail: { n: 4 } } });
  });

  it('sizes entries as AWS does and fails the whole call when they total over 256 KiB', async () => {
    const source = 'trust-policy-notify.hr';
    const detailType = 'Staff Onboarded';
    const room = DEFAULT_MAX_REQUEST_ENTRY_BYTES - Buffer.byteLength(source) - Buffer.byteLength(detailType);

    // Exactly at the limit: accepted.
    const atLimit = { Source: source, DetailType: detailType, Detail: detailOfSize(room), EventBusName: 'trust-events' };
    expect(entrySize(atLimit)).toBe(DEFAULT_MAX_REQUEST_ENTRY_BYTES);
    const ok = await h.client.send(new PutEventsCommand({ Entries: [atLimit] }));
    expect(ok.FailedEntryCount).toBe(0);

    // Bytes, not characters: the same number of characters with two-byte letters is over.
    const accented = { ...atLimit, Detail: detailOfSize(room + 1, 'é') };
    expect(accented.Detail.length).toBeLessThan(atLimit.Detail.length);
    const overByBytes = await sdkError(h.client.send(new PutEventsCommand({ Entries: [accented] })));
    expect(overByBytes.name).toBe('ValidationException');
    expect(overByBytes.message).toBe('Total size of the entries in the request is over the limit.');

    // A Time counts 14 bytes, and each resource its UTF-8 bytes.
    const withTime = await sdkError(
      h.client.send(new PutEventsCommand({ Entries: [{ ...atLimit, Detail: detailOfSize(room - 13), Time: new Date() }] })),
    );
    expect(withTime.name).toBe('ValidationException');
    const withTimeFits = await h.client.send(
      new PutEventsCommand({ Entries: [{ ...atLimit, Detail: detailOfSize(room - 14), Time: new Date() }] }),
    );
    expect(withTimeFits.FailedEntryCount).toBe(0);
    const withResource = await sdkError(
      h.client.send(new PutEventsCommand({ Entries: [{ ...atLimit, Detail: detailOfSize(room - 2), Resources: ['abc'] }] })),
    );
    expect(withResource.name).toBe('ValidationException');

    // The limit is on the call: two entries that fit alone fail together, and neither is delivered.
    const half = { ...atLimit, Detail: detailOfSize(Math.floor(room / 2) + 10) };
    const together = await sdkError(h.client.send(new PutEventsCommand({ Entries: [half, half] })));
    expect(together.name).toBe('ValidationException');

    await until(() => h.deliveries.length === 2, 'the two accepted calls delivered');
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.deliveries).toHaveLength(2);
  });

  it('logs the call once its response is sent, then delivers the accepted events in request order', async () => {
    const out = await h.client.send(
      new PutEventsCommand({ Entries: [entry({ n: 1 }), entry({ n: 2 }, { Detail: 'bad' }), entry({ n: 3 })] }),
    );
    const ids = (out.Entries ?? []).flatMap((e) => (e.EventId ? [e.EventId] : []));
    await until(() => h.deliveries.length === 2, 'two deliveries');
    // The log line is written when the response has been sent; deliveries come after it.
    expect(h.timeline).toEqual([
      'log PutEvents: 3 entries, 2 accepted, 1 failed (MalformedDetail)',
      `deliver ${ids[0]}`,
      `deliver ${ids[1]}`,
    ]);
  });

  it('has written the response before deliver runs (a client in another process gets it while deliver blocks)', async () => {
    let delivered = 0;
    const blocking = await harness({
      deliver: () => {
        delivered++;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_500); // blocks this process
      },
    });
    const elapsedMs = await putEventsFromChildProcess(blocking.bus.url);
    expect(delivered).toBe(1);
    expect(elapsedMs).toBeLessThan(1_000);
  });

  it('rejects operations other than PutEvents with UnknownOperationException', async () => {
    const error = await sdkError(h.client.send(new PutRuleCommand({ Name: 'r', EventPattern: '{}' })));
    expect(error.name).toBe('UnknownOperationException');
    expect(error.$metadata?.httpStatusCode).toBe(400);

    const raw = await fetch(h.bus.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1' }, body: '{}' });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('answers a malformed body with SerializationException', async () => {
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' };
    const notJson = await fetch(h.bus.url, { method: 'POST', headers, body: '{"Entries": [' });
    expect(notJson.status).toBe(400);
    expect(notJson.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await notJson.json()).toMatchObject({ __type: 'SerializationException' });

    const wrongType = await fetch(h.bus.url, { method: 'POST', headers, body: '{"Entries": [{"Source": 5}]}' });
    expect(wrongType.status).toBe(400);
    expect(await wrongType.json()).toMatchObject({ __type: 'SerializationException' });

    const noEntries = await fetch(h.bus.url, { method: 'POST', headers, body: '{}' });
    expect(noEntries.status).toBe(400);
    expect(await noEntries.json()).toMatchObject({ __type: 'ValidationException' });
    expect(h.deliveries).toHaveLength(0);
  });

  it('serves GET /health', async () => {
    const res = await fetch(`${h.bus.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});

describe('local event bus: delivery errors', () => {
  it('reports a deliver that throws or rejects to onDeliveryError and keeps serving', async () => {
    const calls: string[] = [];
    const h = await harness({
      deliver: (_bus, event) => {
        calls.push(String(event.detail.n));
        if (event.detail.n === 1) throw new Error('sync boom');
        if (event.detail.n === 2) return Promise.reject(new Error('async boom'));
        return Promise.resolve();
      },
    });
    await h.client.send(new PutEventsCommand({ Entries: [entry({ n: 1 }), entry({ n: 2 }), entry({ n: 3 })] }));
    await until(() => h.deliveryErrors.length === 2, 'two delivery errors');
    expect(calls).toEqual(['1', '2', '3']);
    expect(h.deliveryErrors.map((e) => (e.error as Error).message).sort()).toEqual(['async boom', 'sync boom']);
    expect(h.deliveryErrors.map((e) => e.event.detail.n).sort()).toEqual([1, 2]);

    const again = await h.client.send(new PutEventsCommand({ Entries: [entry({ n: 4 })] }));
    expect(again.FailedEntryCount).toBe(0);
    expect((await fetch(`${h.bus.url}/health`)).status).toBe(200);
  });

  it('survives an onDeliveryError that throws itself', async () => {
    let delivered = 0;
    const h = await harness({
      deliver: () => {
        delivered++;
        return Promise.reject(new Error('boom'));
      },
      onDeliveryError: () => {
        throw new Error('handler boom');
      },
    });
    await h.client.send(new PutEventsCommand({ Entries: [entry({ n: 1 })] }));
    await until(() => delivered === 1, 'one delivery');
    const again = await h.client.send(new PutEventsCommand({ Entries: [entry({ n: 2 })] }));
    expect(again.FailedEntryCount).toBe(0);
    await until(() => delivered === 2, 'second delivery');
  });

  it('answers without waiting for a deliver that never settles', async () => {
    let called = 0;
    const h = await harness({
      deliver: () => {
        called++;
        return new Promise<void>(() => {});
      },
    });
    const out = await h.client.send(new PutEventsCommand({ Entries: [entry({ n: 1 }), entry({ n: 2 })] }));
    expect(out.FailedEntryCount).toBe(0);
    await until(() => called === 2, 'both events handed over');
  });
});

describe('local event bus: buses, binding and shutdown', () => {
  it('fails entries for the default bus when it is not one of the known buses', async () => {
    const h = await harness({ busNames: ['trust-events'] });
    const out = await h.client.send(
      new PutEventsCommand({ Entries: [entry({ n: 1 }, { EventBusName: undefined }), entry({ n: 2 })] }),
    );
    expect(out.Entries?.[0]).toEqual({ ErrorCode: 'ResourceNotFoundException', ErrorMessage: 'Event bus default does not exist.' });
    expect(out.Entries?.[1]?.EventId).toMatch(UUID);
  });

  it('listens on 127.0.0.1 only', async () => {
    const h = await harness();
    expect(h.bus.url).toBe(`http://127.0.0.1:${h.bus.port}`);
    expect(await canConnect('127.0.0.1', h.bus.port)).toBe(true);
    const others = ['127.0.0.2', '::1'];
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) {
        if (address.address !== '127.0.0.1' && !address.address.startsWith('fe80:')) others.push(address.address);
      }
    }
    for (const host of others) expect(await canConnect(host, h.bus.port), host).toBe(false);
  });

  it('hands every accepted event to deliver before close() resolves, then refuses connections', async () => {
    const h = await harness();
    const index = open.indexOf(h);
    open.splice(index, 1);
    await h.client.send(new PutEventsCommand({ Entries: [entry({ n: 1 }), entry({ n: 2 })] }));
    // The client's keep-alive connection is still open: close() must not wait for it to time out.
    const started = Date.now();
    await h.bus.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    h.client.destroy();
    expect(h.deliveries.map((d) => d.event.detail.n)).toEqual([1, 2]);
    expect(await canConnect('127.0.0.1', h.bus.port)).toBe(false);
  });
});

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * One PutEvents call (plain HTTP) from a child Node process; resolves with the milliseconds
 * the child waited for the whole response, measured in the child.
 */
function putEventsFromChildProcess(url: string): Promise<number> {
  const script = `
    const http = require('node:http');
    const body = JSON.stringify({ Entries: [{ Source: 'child.test', DetailType: 'Ping', Detail: '{}', EventBusName: 'trust-events' }] });
    const started = Date.now();
    const req = http.request(process.argv[1], {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
    }, (res) => {
      res.resume();
      res.on('end', () => process.stdout.write(res.statusCode + ' ' + (Date.now() - started)));
    });
    req.end(body);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const [status, elapsed] = out.split(' ');
      if (code !== 0 || status !== '200') reject(new Error(`child exited ${code} with "${out}"`));
      else resolve(Number(elapsed));
    });
  });
}
