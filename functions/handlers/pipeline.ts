/**
 * The one way a handler is built: a middy pipeline with the Powertools logger (Lambda
 * context on every line), tolerant parsing of the event at the boundary, and one error
 * handler. Errors are logged by name and field, never with the event's values, and then
 * rethrown so that the function's async retries and on-failure destination take over
 * (DESIGN.md "Reliability rules").
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, EventBridgeEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ContractError, type DetailOf, type DetailType, readDetail } from '../contracts/events.ts';
import { logger } from '../adapters/runtime.ts';

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

export type EventBridgeWork<T extends DetailType> = (
  detail: DetailOf<T>,
  event: EventBridgeEvent<string, unknown>,
) => Promise<void>;

/** A handler for one detail-type, delivered by an EventBridge rule. */
export function eventBridgeHandler<T extends DetailType>(detailType: T, work: EventBridgeWork<T>) {
  return middy<EventBridgeEvent<string, unknown>, void>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logErrors())
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

/** A queue consumer that reports partial batch failures. */
export function sqsBatchHandler(work: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logErrors())
    .handler(work);
}
