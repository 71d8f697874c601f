/**
 * The local event bus: a small HTTP server that speaks the EventBridge `PutEvents` operation
 * of the AWS JSON 1.1 protocol, so the real `@aws-sdk/client-eventbridge` works unchanged:
 *
 *   new EventBridgeClient({ endpoint: 'http://127.0.0.1:4010', region, credentials })
 *
 * (DESIGN.md "Local runtime"; issue 3, item 2). The wire format, as the SDK speaks it:
 * - request: `POST /`, `Content-Type: application/x-amz-json-1.1`,
 *   `X-Amz-Target: AWSEvents.PutEvents`, body `{"Entries":[{...}]}` where `Time` is a JSON
 *   number of epoch seconds with a fraction (e.g. `1795600800.789`), every other field a string
 *   (`Resources` a list of strings). The SigV4 signature is not checked.
 * - success: 200 `{"FailedEntryCount":n,"Entries":[{"EventId"}|{"ErrorCode","ErrorMessage"}]}`,
 *   one result per request entry, in order.
 * - error: 4xx `{"__type":"<Name>","message":"..."}`. The SDK takes the error name from
 *   `__type`; a name EventBridge's model does not declare (ValidationException,
 *   SerializationException, UnknownOperationException) still surfaces as an
 *   EventBridgeServiceException whose `name` is that string. 4xx errors are not retried by
 *   the SDK; 5xx are.
 *
 * Validation follows EventBridge (the PutEvents API reference, "Calculating PutEvents event
 * entry size", and responses recorded against AWS):
 * - 1 to 10 entries per call, else ValidationException for the whole call.
 * - Size: each entry is measured as AWS does (14 bytes if `Time` is given, plus the UTF-8 bytes
 *   of Source, DetailType, Detail and every Resources item); when the total over the call's
 *   entries is above the limit (256 KiB by default), the whole call fails with
 *   ValidationException "Total size of the entries in the request is over the limit.", as
 *   AWS does; it is not a per-entry failure.
 * - Per entry, in this order (the rest of the call still succeeds):
 *   Source / DetailType / Detail missing or empty → `InvalidArgument`
 *   ("Parameter Source is not valid. Reason: Source is a required argument.");
 *   DetailType over 128 characters → `InvalidArgument`;
 *   Detail not a JSON object → `MalformedDetail` ("Detail is malformed.");
 *   a Source starting with `aws.` → `NotAuthorizedForSourceException`;
 *   an unknown bus (name or ARN) → `ResourceNotFoundException` ("Event bus X does not exist.").
 *   AWS itself has long accepted events for a bus that does not exist and silently dropped
 *   them; locally that is a failure, so a misspelt bus name shows up at once.
 *
 * Accepted events are delivered asynchronously, after the HTTP response has been written, in
 * request order, in the shape EventBridge gives a target (`version` "0", a UUID `id`, `time`
 * in whole seconds like `2026-11-25T10:00:00Z`, the account, region, resources and the parsed
 * detail). `deliver` is called once per event, in order, without waiting for the previous
 * call's promise; a throw or rejection goes to `onDeliveryError` and never reaches the server.
 *
 * With `journalDir`, an answer of 200 means what it means in AWS, that the events are kept:
 * the call's accepted events are written to `<journalDir>/<time>-<event id>.json` and
 * fsynced before the response, and the file is removed once `deliver` has taken every one of
 * them (its promises settled). `redeliverJournal()` hands `deliver` the events a previous
 * process accepted and was killed before delivering.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeJournalFile } from './lambda-runner.ts';

/** An event as EventBridge hands it to a target. */
export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
  'event-bus-name'?: never;
}

export interface LocalEventBusOptions {
  host?: '127.0.0.1';
  /** 0 or undefined: a free port chosen by the operating system. */
  port?: number;
  region: string;
  account: string;
  /** The buses that exist (names, e.g. ['trust-events', 'default']). */
  busNames: string[];
  /**
   * Receives every accepted event, asynchronously after the PutEvents response is sent, in
   * request order. Not awaited between events; throws and rejections go to onDeliveryError.
   */
  deliver: (busName: string, event: BusEvent) => void | Promise<void>;
  /** Without it, delivery errors go to `log` (or stderr). */
  onDeliveryError?: (error: unknown, event: BusEvent) => void;
  /** One line per PutEvents call, written once its response has been sent; whole-call rejections too. */
  log?: (line: string) => void;
  /** Limit on the total entry size of one call, in bytes as AWS counts them (default 256 KiB). */
  maxRequestEntryBytes?: number;
  /** Where accepted events are kept until delivered (see above); none: in memory only. */
  journalDir?: string;
}

export interface LocalEventBus {
  url: string;
  port: number;
  /** Stops listening, ends idle connections and waits until every accepted event was handed to `deliver`. */
  close(): Promise<void>;
  /**
   * Hands `deliver` the events in `journalDir` that an earlier process accepted and did not
   * deliver (it was killed); once, when `deliver` is ready. Returns how many.
   */
  redeliverJournal(): number;
}

/** A PutEvents request entry as it arrives on the wire (after type checks). */
export interface PutEventsRequestEntry {
  /** Epoch seconds, possibly fractional (the SDK's timestamp encoding for this protocol). */
  Time?: number;
  Source?: string;
  Resources?: string[];
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  TraceHeader?: string;
}

export type PutEventsResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

export interface PutEventsResponse {
  FailedEntryCount: number;
  Entries: PutEventsResultEntry[];
}

export const MAX_ENTRIES_PER_CALL = 10;
export const DEFAULT_MAX_REQUEST_ENTRY_BYTES = 256 * 1024;
export const MAX_DETAIL_TYPE_LENGTH = 128;
const PUT_EVENTS_TARGET = 'AWSEvents.PutEvents';
const CONTENT_TYPE = 'application/x-amz-json-1.1';

/** A whole-call failure, sent as `{"__type": name, "message": ...}`. */
export class AwsJsonError extends Error {
  readonly status: number;
  constructor(name: string, message: string, status = 400) {
    super(message);
    this.name = name;
    this.status = status;
  }
}

/** The size AWS counts for an entry ("Calculating PutEvents event entry size"). */
export function entrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time === undefined ? 0 : 14;
  size += Buffer.byteLength(entry.Source ?? '', 'utf8');
  size += Buffer.byteLength(entry.DetailType ?? '', 'utf8');
  size += Buffer.byteLength(entry.Detail ?? '', 'utf8');
  for (const resource of entry.Resources ?? []) size += Buffer.byteLength(resource, 'utf8');
  return size;
}

/** An ISO 8601 UTC time in whole seconds, as EventBridge writes `time`: 2026-11-25T10:00:00Z. */
export function eventTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The event a target receives for an accepted entry (Source, DetailType and Detail are valid). */
export function toBusEvent(
  entry: PutEventsRequestEntry,
  context: { id: string; now: Date; account: string; region: string },
): BusEvent {
  const time = entry.Time === undefined ? context.now : new Date(entry.Time * 1000);
  return {
    version: '0',
    id: context.id,
    'detail-type': entry.DetailType ?? '',
    source: entry.Source ?? '',
    account: context.account,
    time: eventTime(time),
    region: context.region,
    resources: [...(entry.Resources ?? [])],
    detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>,
  };
}

export interface BusContext {
  region: string;
  account: string;
  busNames: ReadonlySet<string>;
  maxRequestEntryBytes: number;
}

type EntryCheck = { busName: string; time: Date | undefined } | { ErrorCode: string; ErrorMessage: string };

const BUS_ARN = /^arn:[a-z-]+:events:([^:]*):([^:]*):event-bus\/(.+)$/;

/** The bus an entry goes to, if it exists here. */
function resolveBus(nameOrArn: string | undefined, ctx: BusContext): string | undefined {
  const value = nameOrArn === undefined || nameOrArn === '' ? 'default' : nameOrArn;
  const arn = BUS_ARN.exec(value);
  if (arn) {
    const [, region, account, name = ''] = arn;
    return region === ctx.region && account === ctx.account && ctx.busNames.has(name) ? name : undefined;
  }
  return ctx.busNames.has(value) ? value : undefined;
}

function invalidArgument(parameter: string, reason: string): EntryCheck {
  return { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${parameter} is not valid. Reason: ${reason}` };
}

function checkEntry(entry: PutEventsRequestEntry, ctx: BusContext): EntryCheck {
  if (!entry.Source) return invalidArgument('Source', 'Source is a required argument.');
  if (!entry.DetailType) return invalidArgument('DetailType', 'DetailType is a required argument.');
  if (!entry.Detail) return invalidArgument('Detail', 'Detail is a required argument.');
  if (entry.DetailType.length > MAX_DETAIL_TYPE_LENGTH) {
    return invalidArgument('DetailType', `DetailType must be at most ${MAX_DETAIL_TYPE_LENGTH} characters.`);
  }
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    detail = undefined;
  }
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  let time: Date | undefined;
  if (entry.Time !== undefined) {
    time = new Date(entry.Time * 1000);
    if (Number.isNaN(time.getTime())) return invalidArgument('Time', 'Time is out of range.');
  }
  if (entry.Source.startsWith('aws.')) {
    return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
  }
  const busName = resolveBus(entry.EventBusName, ctx);
  if (busName === undefined) {
    return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${entry.EventBusName || 'default'} does not exist.` };
  }
  return { busName, time };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function serializationError(message: string): AwsJsonError {
  return new AwsJsonError('SerializationException', message);
}

const STRING_FIELDS = ['Source', 'DetailType', 'Detail', 'EventBusName', 'TraceHeader'] as const;

/** Type-checks one wire entry the way AWS's JSON deserializer does (nulls count as absent). */
function readEntry(raw: unknown, index: number): PutEventsRequestEntry {
  if (!isRecord(raw)) throw serializationError(`Entries[${index}] must be a structure.`);
  const entry: PutEventsRequestEntry = {};
  for (const field of STRING_FIELDS) {
    const value = raw[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw serializationError(`Entries[${index}].${field} must be a string.`);
    entry[field] = value;
  }
  if (raw.Time !== undefined && raw.Time !== null) {
    if (typeof raw.Time !== 'number') {
      throw serializationError(`Entries[${index}].Time must be a number of epoch seconds.`);
    }
    entry.Time = raw.Time;
  }
  if (raw.Resources !== undefined && raw.Resources !== null) {
    if (!Array.isArray(raw.Resources)) throw serializationError(`Entries[${index}].Resources must be a list.`);
    const resources: string[] = [];
    for (const resource of raw.Resources as unknown[]) {
      if (resource === null) continue;
      if (typeof resource !== 'string') {
        throw serializationError(`Entries[${index}].Resources must be a list of strings.`);
      }
      resources.push(resource);
    }
    entry.Resources = resources;
  }
  return entry;
}

function validationError(message: string): AwsJsonError {
  return new AwsJsonError('ValidationException', message);
}

export interface Accepted {
  busName: string;
  event: BusEvent;
}

/**
 * PutEvents on a parsed request body: the response and the accepted events, in order.
 * Throws AwsJsonError for a failure of the whole call.
 */
export function putEvents(
  body: unknown,
  ctx: BusContext,
  now: Date = new Date(),
): { response: PutEventsResponse; accepted: Accepted[] } {
  if (!isRecord(body)) throw serializationError('The request body must be a JSON object.');
  const rawEntries = body.Entries;
  if (rawEntries === undefined || rawEntries === null) {
    throw validationError("1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null");
  }
  if (!Array.isArray(rawEntries)) throw serializationError('Entries must be a list.');
  if (rawEntries.length < 1) {
    throw validationError(
      "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  }
  if (rawEntries.length > MAX_ENTRIES_PER_CALL) {
    throw validationError(
      `1 validation error detected: Value '[${rawEntries.length} entries]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES_PER_CALL}`,
    );
  }
  const entries = (rawEntries as unknown[]).map(readEntry);
  const totalSize = entries.reduce((sum, entry) => sum + entrySize(entry), 0);
  if (totalSize > ctx.maxRequestEntryBytes) {
    throw validationError('Total size of the entries in the request is over the limit.');
  }

  const results: PutEventsResultEntry[] = [];
  const accepted: Accepted[] = [];
  for (const entry of entries) {
    const check = checkEntry(entry, ctx);
    if ('ErrorCode' in check) {
      results.push(check);
      continue;
    }
    const id = randomUUID();
    accepted.push({
      busName: check.busName,
      event: toBusEvent(entry, { id, now, account: ctx.account, region: ctx.region }),
    });
    results.push({ EventId: id });
  }
  return { response: { FailedEntryCount: entries.length - accepted.length, Entries: results }, accepted };
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new BodyTooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': CONTENT_TYPE,
    'Content-Length': String(Buffer.byteLength(text)),
    'x-amzn-RequestId': randomUUID(),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: AwsJsonError): void {
  sendJson(res, error.status, { __type: error.name, message: error.message }, { 'x-amzn-ErrorType': error.name });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function startLocalEventBus(options: LocalEventBusOptions): Promise<LocalEventBus> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const ctx: BusContext = {
    region: options.region,
    account: options.account,
    busNames: new Set(options.busNames),
    maxRequestEntryBytes: options.maxRequestEntryBytes ?? DEFAULT_MAX_REQUEST_ENTRY_BYTES,
  };
  const bodyLimit = Math.max(4 * 1024 * 1024, 8 * ctx.maxRequestEntryBytes);
  const pending = new Set<Promise<void>>();
  let closing = false;

  const reportDeliveryError = (error: unknown, busName: string, event: BusEvent): void => {
    try {
      if (options.onDeliveryError) {
        options.onDeliveryError(error, event);
      } else {
        const line = `event bus: delivery of ${event['detail-type']} ${event.id} on ${busName} failed: ${error instanceof Error ? error.message : String(error)}`;
        if (options.log) options.log(line);
        else console.error(line);
      }
    } catch (handlerError) {
      const line = `event bus: onDeliveryError threw: ${handlerError instanceof Error ? handlerError.message : String(handlerError)}`;
      if (options.log) options.log(line);
      else console.error(line);
    }
  };

  /** The journal files this process wrote (redeliverJournal leaves them alone). */
  const journalledHere = new Set<string>();
  /**
   * Hands events to `deliver`. With a journal file: once every delivery has settled, the
   * file is removed; while only some have, it is rewritten with the others (so that a
   * restart redelivers only those), at most once a turn of the event loop.
   */
  const dispatch = (accepted: readonly Accepted[], journalFile?: string): void => {
    const unsettled = new Set(accepted.keys());
    let written = accepted.length;
    let flushing = false;
    const flush = (): void => {
      flushing = false;
      if (journalFile === undefined || unsettled.size === written) return;
      try {
        if (unsettled.size === 0) {
          rmSync(journalFile, { force: true });
          journalledHere.delete(journalFile);
        } else {
          // Not fsynced: after an operating-system crash the older file only redelivers more.
          writeJournalFile(journalFile, JSON.stringify([...unsettled].map((i) => accepted[i])), false);
        }
        written = unsettled.size;
      } catch (error) {
        log(`event bus: could not update ${journalFile}: ${(error as Error).message}`);
      }
    };
    const settled = (index: number): void => {
      unsettled.delete(index);
      if (journalFile === undefined || flushing) return;
      flushing = true;
      setImmediate(flush);
    };
    accepted.forEach(({ busName, event }, index) => {
      try {
        const result = options.deliver(busName, event);
        if (result === undefined) {
          settled(index);
        } else {
          Promise.resolve(result)
            .catch((error: unknown) => reportDeliveryError(error, busName, event))
            .finally(() => settled(index));
        }
      } catch (error) {
        reportDeliveryError(error, busName, event);
        settled(index);
      }
    });
  };

  if (options.journalDir !== undefined) mkdirSync(options.journalDir, { recursive: true });
  /** Writes a call's accepted events to the journal, fsynced; returns the file. */
  const journal = (accepted: readonly Accepted[]): string | undefined => {
    if (options.journalDir === undefined || accepted.length === 0) return undefined;
    const file = join(options.journalDir, `${Date.now()}-${accepted[0]?.event.id}.json`);
    journalledHere.add(file);
    writeJournalFile(file, JSON.stringify(accepted), true);
    return file;
  };
  let redelivered = false;
  const redeliverJournal = (): number => {
    if (options.journalDir === undefined || redelivered) return 0;
    redelivered = true;
    let count = 0;
    for (const name of readdirSync(options.journalDir).sort()) {
      const file = join(options.journalDir, name);
      if (name.endsWith('.tmp')) {
        rmSync(file, { force: true }); // a write the kill interrupted; the file it was replacing, if any, is intact
        continue;
      }
      if (!name.endsWith('.json') || journalledHere.has(file)) continue;
      let accepted: Accepted[];
      try {
        accepted = JSON.parse(readFileSync(file, 'utf8')) as Accepted[];
      } catch (error) {
        log(`event bus: unreadable journal ${file} left in place: ${(error as Error).message}`);
        continue;
      }
      journalledHere.add(file);
      count += accepted.length;
      log(`event bus: delivering ${accepted.length} event(s) accepted before a restart (${name})`);
      dispatch(accepted, file);
    }
    return count;
  };

  /**
   * Once the response has been written: logs `line`, then hands the accepted events to
   * `deliver` on a later turn of the event loop.
   */
  const afterResponse = (res: ServerResponse, line: string, accepted: Accepted[], journalFile: string | undefined): void => {
    const { promise, resolve } = Promise.withResolvers<void>();
    pending.add(promise);
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      log(line);
      setImmediate(() => {
        try {
          dispatch(accepted, journalFile);
        } finally {
          pending.delete(promise);
          resolve();
        }
      });
    };
    res.once('finish', start);
    res.once('close', start);
  };

  const handlePutEvents = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let text: string;
    try {
      text = utf8.decode(await readBody(req, bodyLimit));
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        sendError(res, new AwsJsonError('RequestEntityTooLargeException', `Request must be smaller than ${bodyLimit} bytes.`, 413));
      } else {
        sendError(res, serializationError('The request body is not valid UTF-8.'));
      }
      return;
    }
    let body: unknown;
    try {
      body = text.trim() === '' ? {} : JSON.parse(text);
    } catch (error) {
      sendError(res, serializationError(`The request body is not valid JSON: ${(error as Error).message}`));
      return;
    }
    const { response, accepted } = putEvents(body, ctx);
    const failures = response.Entries.flatMap((e) => ('ErrorCode' in e ? [e.ErrorCode] : []));
    const line =
      `PutEvents: ${response.Entries.length} entries, ${accepted.length} accepted` +
      (failures.length > 0 ? `, ${failures.length} failed (${failures.join(', ')})` : '');
    // Kept before the answer (a write that fails is a 500, and the SDK retries the call).
    afterResponse(res, line, accepted, journal(accepted));
    sendJson(res, 200, response);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (closing) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      // A keep-alive connection that finishes a response after close() would hold it open.
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/health') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 404, { message: `No route for ${req.method} ${path}` });
      return;
    }
    const target = req.headers['x-amz-target'];
    if (target !== PUT_EVENTS_TARGET) {
      req.resume();
      const message =
        target === undefined
          ? 'Missing X-Amz-Target header.'
          : `Operation ${String(target)} is not supported by the local event bus (only ${PUT_EVENTS_TARGET}).`;
      log(`event bus: rejected operation ${String(target)}`);
      sendError(res, new AwsJsonError('UnknownOperationException', message));
      return;
    }
    await handlePutEvents(req, res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const known = error instanceof AwsJsonError;
      if (known) log(`PutEvents rejected: ${error.name}: ${error.message}`);
      else console.error('event bus: internal error', error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, known ? error : new AwsJsonError('InternalException', 'Internal error in the local event bus.', 500));
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: options.port ?? 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;
  log(`event bus: listening on ${url} (buses: ${[...ctx.busNames].join(', ')})`);

  return {
    url,
    port,
    redeliverJournal,
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
      await Promise.all([...pending]);
    },
  };
}
