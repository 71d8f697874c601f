/**
 * The work behind `trust-notify redrive [--queue NAME] [--dry-run] [--region R] [--stack S]`
 * (issue 6 "Operations"): moves dead-lettered messages back to their source and reports how
 * many per queue. Which DLQ feeds which source is read from the stack's template (the local
 * synthesis, or the deployed template with `--region`/`--stack`), never from a list here:
 *
 * - a queue another queue's redrive policy names (the email DLQ, the fan-out DLQ): its
 *   messages go back to that queue, bodies and attributes unchanged. In AWS with SQS's own
 *   StartMessageMoveTask (the supported way: SQS moves them and keeps the bookkeeping);
 *   locally fauxqs does not implement that API, so receive → send → delete.
 * - a Lambda on-failure destination (`<Fn>FunctionFailureDlq`): its messages are invocation
 *   records; the original event (`requestPayload`) is re-published to trust-events with its
 *   source, detail-type and detail (PutEvents).
 * - an EventBridge target DLQ (the delivery DLQ): its messages are the events themselves,
 *   re-published to trust-events the same way.
 * Re-publishing goes through the bus, so every rule matching the event sees it again, not
 * only the target that failed: safe because every handler is idempotent by business key
 * (DESIGN.md "Reliability rules"). The event gets a new id. Events with an AWS source
 * (`aws.*`: SES feedback, scheduled events) cannot be put on a bus with PutEvents (AWS
 * refuses them, and so does the local bus); they are left in the DLQ and reported ("left"):
 * a scheduled scan runs again on its schedule, an SES event needs a look by hand.
 *
 * Idempotent and loss-free: a message is deleted from the DLQ only after its send was
 * accepted, and a run moves at most the messages that were in the DLQ when it started, so a
 * message that fails again and returns during the run is not moved twice. A second run moves
 * nothing unless something has dead-lettered since. `--dry-run` reports the counts only.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudFormationClient, GetTemplateCommand, paginateListStackResources } from '@aws-sdk/client-cloudformation';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { loadTrustConfig } from '../functions/config/load-trust-config.ts';
import { EVENT_BUS_NAME } from '../functions/contracts/events.ts';
import { CliError, localDataDir, localTarget, stackOutputs, type Target } from './cli-commands.ts';
import { type CfnTemplate, synthTemplate } from './cloud-template.ts';
import { portsFromEnvironment } from './platform.ts';

/** How a DLQ's messages get back to their source. */
export type DlqKind = 'queue' | 'invocation-records' | 'events';

export interface DeadLetterQueueSpec {
  logicalId: string;
  /** The name operators use: the stack output key without `Url`, else the logical id without its hash. */
  name: string;
  outputKey?: string;
  kind: DlqKind;
  /** For `queue`: the logical id and name of the queue whose redrive policy names this DLQ. */
  source?: { logicalId: string; name: string };
}

type Json = Record<string, unknown>;

const getAttArnOf = (value: unknown): string | undefined => {
  const getAtt = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  return Array.isArray(getAtt) && getAtt[1] === 'Arn' && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
};

/** `StaffOnboardedFunctionFailureDlq1A2B3C4D` → `StaffOnboardedFunctionFailureDlq` (CDK's 8-hex suffix). */
export const withoutHash = (logicalId: string): string => logicalId.replace(/[0-9A-F]{8}$/, '');

/**
 * Every dead-letter queue of the template and where its messages go back to: a queue named
 * by another queue's redrive policy, an on-failure destination of a function's asynchronous
 * invocations, or a dead-letter queue of an EventBridge rule target. Pure.
 */
export function deadLetterQueues(template: CfnTemplate): DeadLetterQueueSpec[] {
  const resources = template.Resources;
  const outputKeyOf = new Map<string, string>();
  for (const [key, output] of Object.entries(template.Outputs ?? {})) {
    const ref = (output.Value as { Ref?: unknown } | undefined)?.Ref;
    if (typeof ref === 'string' && resources[ref]?.Type === 'AWS::SQS::Queue') outputKeyOf.set(ref, key);
  }
  const nameOf = (logicalId: string) => outputKeyOf.get(logicalId)?.replace(/Url$/, '') ?? withoutHash(logicalId);
  const found = new Map<string, DeadLetterQueueSpec>();
  const add = (logicalId: string | undefined, kind: DlqKind, source?: string) => {
    if (!logicalId || found.has(logicalId) || resources[logicalId]?.Type !== 'AWS::SQS::Queue') return;
    const outputKey = outputKeyOf.get(logicalId);
    found.set(logicalId, {
      logicalId,
      name: nameOf(logicalId),
      ...(outputKey ? { outputKey } : {}),
      kind,
      ...(source ? { source: { logicalId: source, name: nameOf(source) } } : {}),
    });
  };
  for (const [id, resource] of Object.entries(resources)) {
    const p = (resource.Properties ?? {}) as Json;
    if (resource.Type === 'AWS::SQS::Queue') {
      add(getAttArnOf((p.RedrivePolicy as Json | undefined)?.deadLetterTargetArn), 'queue', id);
    } else if (resource.Type === 'AWS::Lambda::EventInvokeConfig') {
      const onFailure = (p.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure;
      add(getAttArnOf(onFailure?.Destination), 'invocation-records');
    } else if (resource.Type === 'AWS::Events::Rule') {
      for (const target of (p.Targets as Json[] | undefined) ?? []) {
        add(getAttArnOf((target.DeadLetterConfig as Json | undefined)?.Arn), 'events');
      }
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The DLQs `--queue` names (its name, output key, logical id or logical id without hash), or all. */
export function selectDeadLetterQueues(all: DeadLetterQueueSpec[], queue: string | undefined): DeadLetterQueueSpec[] {
  if (queue === undefined) return all;
  const chosen = all.filter((q) => [q.name, q.outputKey, q.logicalId, withoutHash(q.logicalId)].includes(queue));
  if (chosen.length === 0) {
    throw new CliError(`--queue: no dead-letter queue is called that; use one of ${all.map((q) => q.name).join(', ')}`);
  }
  return chosen;
}

export type Republish = { entry: PutEventsRequestEntry } | { skip: string };

/**
 * The PutEvents entry that puts a dead-lettered event back on trust-events: the event itself
 * (`events`) or the invocation record's `requestPayload` (`invocation-records`). Pure.
 */
export function republishEntry(kind: 'invocation-records' | 'events', body: string): Republish {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { skip: 'not JSON' };
  }
  const event = (kind === 'invocation-records' ? (parsed as { requestPayload?: unknown } | null)?.requestPayload : parsed) as
    | { source?: unknown; 'detail-type'?: unknown; detail?: unknown }
    | null
    | undefined;
  if (!event || typeof event !== 'object' || typeof event.source !== 'string' || typeof event['detail-type'] !== 'string') {
    return { skip: kind === 'invocation-records' ? 'the invocation record holds no event' : 'not an event' };
  }
  if (event.source.startsWith('aws.')) return { skip: 'an AWS event source (aws.*) cannot be re-published' };
  return {
    entry: {
      EventBusName: EVENT_BUS_NAME,
      Source: event.source,
      DetailType: event['detail-type'],
      Detail: JSON.stringify(event.detail ?? {}),
    },
  };
}

export interface QueueResult {
  queue: DeadLetterQueueSpec;
  /** Messages in the DLQ at the start (approximate, as SQS counts). */
  waiting: number;
  moved: number;
  /** Reason → how many were left in the DLQ for it. */
  left: Record<string, number>;
  failed: number;
  note?: string;
}

const destinationOf = (q: DeadLetterQueueSpec) => (q.kind === 'queue' ? (q.source?.name ?? '?') : `${EVENT_BUS_NAME} (re-published)`);

/** The report: one line per DLQ and a total. Pure. */
export function formatRedrive(results: QueueResult[], dryRun: boolean): string {
  const width = Math.max(0, ...results.map((r) => `${r.queue.name} → ${destinationOf(r.queue)}`.length));
  const lines = results.map((r) => {
    const label = `${r.queue.name} → ${destinationOf(r.queue)}`.padEnd(width);
    const left = Object.entries(r.left).map(([why, n]) => `, left ${n} (${why})`);
    const counts = dryRun ? `would move ${r.waiting}` : `moved ${r.moved}${left.join('')}${r.failed ? `, failed ${r.failed}` : ''}`;
    return `  ${label}  ${counts}${r.note ? `  [${r.note}]` : ''}`;
  });
  const total = results.reduce((n, r) => n + (dryRun ? r.waiting : r.moved), 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  return [
    ...lines,
    dryRun
      ? `dry run: ${total} message(s) would move; nothing was moved`
      : `moved ${total} message(s)${failed ? `; ${failed} could not be sent back and stay in their DLQ` : ''}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

interface Clients {
  sqs: SQSClient;
  bus: EventBridgeClient;
  /** Logical id → queue URL. */
  queueUrl: (logicalId: string) => Promise<string>;
  aws: boolean;
}

const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

function localSqsEndpoint(): string {
  try {
    const urls = JSON.parse(readFileSync(resolve(localDataDir(), 'endpoints.json'), 'utf8')) as { sqs?: string };
    if (urls.sqs) return urls.sqs;
  } catch {
    // not running or an older platform: the port from the environment
  }
  return `http://127.0.0.1:${portsFromEnvironment().sqs}`;
}

async function loadStack(target: Target, log: (line: string) => void): Promise<{ template: CfnTemplate; clients: Clients }> {
  const config = loadTrustConfig();
  if (target.kind === 'aws') {
    const cfn = new CloudFormationClient({ region: target.region });
    log(`reading the template of stack ${target.stack}…`);
    const body = (await cfn.send(new GetTemplateCommand({ StackName: target.stack, TemplateStage: 'Processed' }))).TemplateBody;
    if (!body) throw new CliError(`stack ${target.stack} has no template`);
    const template = JSON.parse(body) as CfnTemplate;
    const physical = new Map<string, string>();
    for await (const page of paginateListStackResources({ client: cfn }, { StackName: target.stack })) {
      for (const r of page.StackResourceSummaries ?? []) if (r.LogicalResourceId && r.PhysicalResourceId) physical.set(r.LogicalResourceId, r.PhysicalResourceId);
    }
    return {
      template,
      clients: {
        sqs: new SQSClient({ region: target.region }),
        bus: new EventBridgeClient({ region: target.region }),
        // An SQS queue's physical id is its URL.
        queueUrl: async (id) => physical.get(id) ?? Promise.reject(new CliError(`stack ${target.stack} has no queue ${id}`)),
        aws: true,
      },
    };
  }
  // The outputs file proves the platform was started here (stackOutputs explains otherwise).
  await stackOutputs(target);
  log('synthesizing the stack template…');
  const template = synthTemplate(config);
  const sqs = new SQSClient({ endpoint: localSqsEndpoint(), region: config.region, credentials: localCredentials, maxAttempts: 1 });
  return {
    template,
    clients: {
      sqs,
      bus: new EventBridgeClient({ endpoint: target.bus, region: config.region, credentials: localCredentials, maxAttempts: 1 }),
      queueUrl: async (id) => {
        const own = template.Resources[id]?.Properties?.QueueName;
        const out = await sqs.send(new GetQueueUrlCommand({ QueueName: typeof own === 'string' ? own : id }));
        if (!out.QueueUrl) throw new CliError(`the local platform has no queue ${id}`);
        return out.QueueUrl;
      },
      aws: false,
    },
  };
}

async function depth(sqs: SQSClient, url: string): Promise<number> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }));
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
}

/** SQS to SQS in AWS: SQS's own message move task, waited for with progress. */
async function moveTask(clients: Clients, dlqUrl: string, sourceUrl: string, result: QueueResult, log: (line: string) => void) {
  const arnOf = async (url: string) =>
    (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn ?? '';
  const [sourceArn, destinationArn] = await Promise.all([arnOf(dlqUrl), arnOf(sourceUrl)]);
  const latest = async () => (await clients.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }))).Results?.[0];
  if ((await latest())?.Status === 'RUNNING') {
    result.note = 'a message move task is already running for this DLQ; nothing started';
    return;
  }
  const { TaskHandle } = await clients.sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }));
  for (;;) {
    await new Promise((r) => setTimeout(r, 2_000));
    const task = await latest();
    if (!task || task.TaskHandle !== TaskHandle) continue;
    log(`${result.queue.name}: ${task.ApproximateNumberOfMessagesMoved ?? 0}/${task.ApproximateNumberOfMessagesToMove ?? result.waiting} moved (${task.Status})`);
    if (task.Status === 'RUNNING') continue;
    result.moved = task.ApproximateNumberOfMessagesMoved ?? 0;
    if (task.Status !== 'COMPLETED') {
      result.failed = Math.max(0, (task.ApproximateNumberOfMessagesToMove ?? result.waiting) - result.moved);
      result.note = `move task ${task.Status}${task.FailureReason ? `: ${task.FailureReason}` : ''}`;
    }
    return;
  }
}

/** Receive → send to the source → delete, at most the messages waiting at the start. */
async function moveByHand(
  clients: Clients,
  dlqUrl: string,
  send: (message: Message) => Promise<'sent' | { skip: string } | 'failed'>,
  result: QueueResult,
  log: (line: string) => void,
) {
  const seen = new Set<string>();
  const toReset: Message[] = [];
  let handled = 0;
  while (handled < result.waiting) {
    const out = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, result.waiting - handled),
        VisibilityTimeout: 60,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) break;
    for (const message of messages) {
      if (!message.MessageId || seen.has(message.MessageId)) continue;
      seen.add(message.MessageId);
      handled++;
      const outcome = await send(message);
      if (outcome === 'sent') {
        await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: message.ReceiptHandle }));
        result.moved++;
      } else {
        if (outcome === 'failed') result.failed++;
        else result.left[outcome.skip] = (result.left[outcome.skip] ?? 0) + 1;
        toReset.push(message);
      }
    }
    if (handled % 100 < 10 && handled >= 100) log(`${result.queue.name}: ${handled}/${result.waiting}`);
  }
  // What stays is visible again at once, for the next look.
  for (const message of toReset) {
    await clients.sqs
      .send(new ChangeMessageVisibilityCommand({ QueueUrl: dlqUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }))
      .catch(() => {});
  }
}

async function redriveQueue(clients: Clients, queue: DeadLetterQueueSpec, dryRun: boolean, log: (line: string) => void): Promise<QueueResult> {
  const dlqUrl = await clients.queueUrl(queue.logicalId);
  const result: QueueResult = { queue, waiting: await depth(clients.sqs, dlqUrl), moved: 0, left: {}, failed: 0 };
  if (dryRun || result.waiting === 0) return result;
  log(`${queue.name}: ${result.waiting} message(s) to move…`);
  if (queue.kind === 'queue') {
    const sourceUrl = await clients.queueUrl(queue.source?.logicalId ?? '');
    if (clients.aws) {
      await moveTask(clients, dlqUrl, sourceUrl, result, log);
      return result;
    }
    result.note = 'receive/send/delete: the local SQS (fauxqs) has no StartMessageMoveTask';
    await moveByHand(
      clients,
      dlqUrl,
      async (m) => {
        await clients.sqs.send(
          new SendMessageCommand({
            QueueUrl: sourceUrl,
            MessageBody: m.Body ?? '',
            ...(m.MessageAttributes && Object.keys(m.MessageAttributes).length > 0 ? { MessageAttributes: m.MessageAttributes } : {}),
          }),
        );
        return 'sent';
      },
      result,
      log,
    );
    return result;
  }
  const kind = queue.kind;
  await moveByHand(
    clients,
    dlqUrl,
    async (m) => {
      const republish = republishEntry(kind, m.Body ?? '');
      if ('skip' in republish) return republish;
      const out = await clients.bus.send(new PutEventsCommand({ Entries: [republish.entry] }));
      return (out.FailedEntryCount ?? 0) === 0 && out.Entries?.[0]?.EventId ? 'sent' : 'failed';
    },
    result,
    log,
  );
  return result;
}

function connectionRefused(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String((error as Error).message));
}

/** `trust-notify redrive …`: the report, and whether any message could not be sent back. */
export async function redriveCommand(args: string[], log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
  const { values } = parseArgs({
    args,
    options: {
      queue: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      region: { type: 'string' },
      stack: { type: 'string' },
    },
    allowPositionals: false,
  });
  const target: Target =
    values.region || values.stack
      ? { kind: 'aws', region: values.region ?? loadTrustConfig().region, stack: values.stack ?? 'trust-policy-notify' }
      : localTarget();
  const dryRun = values['dry-run'];
  const { template, clients } = await loadStack(target, log);
  const queues = selectDeadLetterQueues(deadLetterQueues(template), values.queue);
  const results: QueueResult[] = [];
  try {
    for (const queue of queues) results.push(await redriveQueue(clients, queue, dryRun, log));
  } catch (error) {
    if (target.kind === 'local' && connectionRefused(error)) {
      throw new CliError('the local platform is not running (its SQS does not answer; start it with npm start)');
    }
    throw error;
  }
  const failed = results.reduce((n, r) => n + r.failed, 0);
  return { text: `${formatRedrive(results, dryRun)}\n`, failed };
}
