/**
 * The one way a handler is built: a middy pipeline with the Powertools logger (Lambda
 * context on every line), tolerant parsing of the event at the boundary, and one error
 * handler. Errors are logged by name and field, never with the event's values, and then
 * rethrown so that the function's async retries and on-failure destination take over
 * (DESIGN.md "Reliability rules").
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  EventBridgeEvent,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { ContractError, type DetailOf, type DetailType, readDetail } from '../contracts/events.ts';
import { readSesFeedback, type SesFeedbackDetail, type SesFeedbackDetailType } from '../contracts/ses-events.ts';
import { awsClients, logger, runtimeConfig } from '../adapters/runtime.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { rejectedEventNotice } from '../domain/rejected-event.ts';
import { htmlResponse, page, SECURITY_HEADERS } from '../http/pages.ts';

/** Logs a failure without personal data and lets it propagate. */
const logErrors = (): middy.MiddlewareObj => ({
  onError: async (request) => {
    const error = request.error;
    if (error instanceof ContractError) {
      logger.error('Event rejected: it breaks its contract', { detailType: error.detailType, problems: error.problems });
    } else if (error) {
      logger.error('Event processing failed', { errorName: error.name, errorMessage: error.message });
    }
  },
});

/**
 * On a ContractError, tells the configured integration contact which event was refused (id,
 * detail-type, field paths and rules; never a value): one email through the ledger (key
 * `rejected#<eventId>`, so a redelivery or an async retry queues nothing new) and the email
 * queue. The error is then rethrown as before (the pipeline's retries and DLQ take over).
 * A function without a ledger or email queue binding skips the notice and logs why.
 */
const noticeRejections = (
  detailType: DetailType,
  // Read when the handler is built (cold start), as every other binding is.
  ledgerTable = process.env.LEDGER_TABLE_NAME,
  queueUrl = process.env.EMAIL_QUEUE_URL,
): middy.MiddlewareObj<EventBridgeEvent<string, unknown>> => ({
  onError: async (request) => {
    const error = request.error;
    if (!(error instanceof ContractError)) return;
    if (!ledgerTable || !queueUrl) {
      logger.warn('Rejected-event notice not sent: this function has no ledger table or email queue binding', { detailType });
      return;
    }
    try {
      const eventId = String(request.event.id);
      const config = runtimeConfig();
      const { dynamo, sqs } = awsClients();
      const notice = rejectedEventNotice({ eventId, detailType, problems: error.problems }, config.integrationContact, config.trust.name);
      const now = new Date();
      const keys = await new LedgerRepository(dynamo, ledgerTable).recordIntended([notice], { detailType, eventId }, now);
      if (keys.length > 0) await new EmailQueue(sqs, queueUrl).enqueue(keys);
      logger.info('Rejected-event notice recorded for the integration contact', { queued: keys.length });
    } catch (noticeError) {
      // The refusal itself must still propagate: log the notice's failure by name only.
      logger.error('Rejected-event notice failed', { errorName: noticeError instanceof Error ? noticeError.name : 'unknown' });
    }
  },
});

export type EventBridgeWork<T extends DetailType> = (
  detail: DetailOf<T>,
  event: EventBridgeEvent<string, unknown>,
) => Promise<void>;

/** A handler for one detail-type, delivered by an EventBridge rule. */
export function eventBridgeHandler<T extends DetailType>(detailType: T, work: EventBridgeWork<T>) {
  return middy<EventBridgeEvent<string, unknown>, void>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logErrors())
    .use(noticeRejections(detailType))
    .handler(async (event) => {
      logger.appendKeys({ eventId: event.id, detailType: event['detail-type'] });
      if (event['detail-type'] !== detailType) {
        throw new ContractError(String(event['detail-type']), [
          { field: 'detail-type', problem: `is not handled by this function (expects ${detailType})` },
        ]);
      }
      const { detail, unknownKeys } = readDetail(detailType, event.detail);
      if (unknownKeys.length > 0) logger.warn('Unknown keys stripped from the event detail', { unknownKeys });
      await work(detail, event);
    });
}

/**
 * A handler for SES bounce and complaint events (source `aws.ses`, forwarded from the
 * default bus to trust-events; functions/contracts/ses-events.ts). SES publishes them, so
 * they are outside our catalogue and read with their own tolerant schema; SES's many other
 * fields (headers, diagnostic text) are stripped unread and never logged.
 */
export function sesEventHandler(
  work: (detail: SesFeedbackDetail, detailType: SesFeedbackDetailType, event: EventBridgeEvent<string, unknown>) => Promise<void>,
) {
  return middy<EventBridgeEvent<string, unknown>, void>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logErrors())
    .handler(async (event) => {
      logger.appendKeys({ eventId: event.id, detailType: event['detail-type'] });
      const { detailType, detail } = readSesFeedback(event);
      await work(detail, detailType, event);
    });
}

/** A queue consumer that reports partial batch failures. */
export function sqsBatchHandler(work: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logErrors())
    .handler(work);
}

/**
 * The body an HTTP route takes: its content type and size, checked by the handler before
 * any work, so that the rule holds in AWS as on the local web server (local/web-guard.ts
 * applies the same limits before routing). A request without a body needs no type.
 */
export interface BodyRule {
  type: 'application/json' | 'application/x-www-form-urlencoded';
  maxBytes: number;
}

export function bodyProblem(event: APIGatewayProxyEventV2, rule: BodyRule): { status: 413 | 415; message: string } | null {
  const raw = event.body ?? '';
  const size = event.isBase64Encoded ? Buffer.from(raw, 'base64').length : Buffer.byteLength(raw);
  if (size > rule.maxBytes) return { status: 413, message: `the body must be at most ${rule.maxBytes} bytes` };
  if (size === 0) return null;
  const header = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? '';
  const type = header.split(';')[0]?.trim().toLowerCase();
  return type === rule.type ? null : { status: 415, message: `Content-Type must be ${rule.type}` };
}

/** Pages' forms: a confirm button posts an empty or tiny form. */
const FORM_RULE: BodyRule = { type: 'application/x-www-form-urlencoded', maxBytes: 4 * 1024 };

/**
 * An HTTP API (payload v2) handler for pages. A POST must be a form within `form`'s size
 * (413 / 415 page otherwise). Anything unexpected is logged by name and answered with a
 * generic 500 page: callers never see internal errors (middy's rule: only 4xx reach the
 * caller in detail), and the log never has the message (it could hold a key value).
 */
export function httpHandler(work: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>, form: BodyRule = FORM_RULE) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      before: async (request) => {
        if (request.event.requestContext?.http?.method !== 'POST') return;
        const problem = bodyProblem(request.event, form);
        if (!problem) return;
        logger.info('Request refused', { status: problem.status });
        return htmlResponse(problem.status, page('Request refused', `<h1>Request refused</h1><p>${problem.message}.</p>`, runtimeConfig().trust.name));
      },
      onError: async (request) => {
        logger.error('Request failed', { errorName: request.error?.name });
        request.response = htmlResponse(
          500,
          page('Something went wrong', '<h1>Something went wrong</h1><p>Nothing was recorded. Please try the link again in a few minutes.</p>', runtimeConfig().trust.name),
        );
      },
    })
    .handler(work);
}

/**
 * A scheduled job (an EventBridge scheduled rule). "Now" is the event's `time`, the
 * scheduled time, so that a retried run computes the same day and a simulated date
 * (`trust-notify tick --today`) works.
 */
export function scheduledHandler(work: (now: Date, event: EventBridgeEvent<string, unknown>) => Promise<void>) {
  return middy<EventBridgeEvent<string, unknown>, void>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logErrors())
    .handler(async (event) => {
      logger.appendKeys({ eventId: event.id, detailType: event['detail-type'] });
      const now = new Date(event.time);
      if (Number.isNaN(now.getTime())) {
        throw new ContractError(String(event['detail-type']), [{ field: 'time', problem: 'must be an ISO 8601 date-time' }]);
      }
      await work(now, event);
    });
}

/**
 * A JSON API (HTTP API payload v2) handler, for callers that are programs (`POST /reports`).
 * A ContractError is the caller's fault: 400 with the fields named (never their values).
 * Anything else is logged by name and answered with a generic 500: no internal detail.
 */
export function jsonApiHandler(work: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>, rule: Omit<BodyRule, 'type'>) {
  const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
    statusCode,
    headers: { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
    body: JSON.stringify(body),
  });
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      before: async (request) => {
        const problem = bodyProblem(request.event, { type: 'application/json', ...rule });
        if (!problem) return;
        logger.warn('Request refused', { status: problem.status });
        return json(problem.status, { error: problem.message, fields: [problem.status === 415 ? 'Content-Type' : 'body'] });
      },
      onError: async (request) => {
        const error = request.error;
        if (error instanceof ContractError) {
          logger.warn('Request rejected: it breaks its contract', { contract: error.detailType, problems: error.problems });
          request.response = json(400, { error: error.message, fields: error.fields });
          return;
        }
        // The name only: what these callers send is special-category data, and a message could echo it.
        logger.error('Request failed', { errorName: error?.name });
        request.response = json(500, { error: 'internal error: nothing was recorded' });
      },
    })
    .handler(work);
}
