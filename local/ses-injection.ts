/**
 * SES bounces and complaints on the local platform (DESIGN.md "Email": "the local runtime
 * can inject them"). aws-ses-v2-local never bounces anything, so an SES event is injected:
 * `trust-notify inject-ses-event <event.json>` (or `POST /admin/ses-events` on the local web
 * server) puts it on the LOCAL DEFAULT BUS, where it flows through the template's own rules
 * as in AWS: the default-bus forwarding rule → its event bus target (trust-events) → the
 * trust-events rule → the SES feedback function.
 *
 * It bypasses PutEvents on purpose: the local bus refuses `aws.*` sources through PutEvents,
 * as AWS does (only AWS services publish them), so the platform routes the event directly.
 * This is a local testing aid only: nothing in AWS accepts it.
 *
 * The file is an SES event as EventBridge delivers it, at least `detail-type` and `detail`
 * (`source`, if given, must be `aws.ses`); `id`, `time`, `account` and `region` are filled in.
 * examples/ses-bounce.json is one. The CLI command is in local/ses-commands.ts.
 */
import { randomUUID } from 'node:crypto';
import { ContractError } from '../functions/contracts/events.ts';
import { readSesFeedback, SES_SOURCE } from '../functions/contracts/ses-events.ts';
import type { BusEvent } from './event-bus.ts';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The event to route, from what was injected. Throws ContractError naming the field (never
 * a value) when it is not an SES bounce or complaint we read.
 */
export function sesEventFromInput(input: unknown, context: { region: string; account: string; now?: Date }): BusEvent {
  if (!isRecord(input)) throw new ContractError('SES event', [{ field: 'event', problem: 'must be a JSON object' }]);
  const event = { ...input, source: input.source ?? SES_SOURCE };
  const { detailType } = readSesFeedback(event);
  const now = context.now ?? new Date();
  return {
    version: '0',
    id: typeof input.id === 'string' && input.id.length > 0 ? input.id : randomUUID(),
    'detail-type': detailType,
    source: SES_SOURCE,
    account: context.account,
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: context.region,
    resources: [],
    // As SES sent it: the handler reads it tolerantly, as it would in AWS.
    detail: input.detail as Record<string, unknown>,
  };
}
