/**
 * The whole platform on one machine (DESIGN.md "Local runtime"): the local AWS servers,
 * the resources and functions of the synthesized template, the event bus routed by the
 * template's rules, the SQS event sources, the scheduler and the web server.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { EVENT_BUS_NAME } from '../functions/contracts/events.ts';
import { loadComplianceReport } from '../functions/services/compliance-report.ts';
import { cachedSynth, resourcesOfType } from './cloud-template.ts';
import { httpRoutesFromTemplate } from './http-api.ts';
import { type BusEvent, type LocalEventBus, startLocalEventBus } from './event-bus.ts';
import { LocalLambda, type LocalFunctionSpec } from './lambda-runner.ts';
import { LOCAL_ACCOUNT, type LocalResources, provision } from './provision.ts';
import { deliver, type LocalRule, matchingRules, rulesFromTemplate } from './router.ts';
import { type Scheduler, startScheduler } from './schedule.ts';
import { seedDemoTrust } from './seed.ts';
import { sesEventFromInput } from './ses-injection.ts';
import { freePort, startLocalServers, type LocalServers } from './servers.ts';
import { type FaultRates, RequestCounter, startCountingProxy } from './request-counter.ts';
import { pollOnce } from './sqs-event-source.ts';
import { startWebServer, type WebServer } from './web.ts';

export interface PlatformPorts {
  bus: number;
  dynamodb: number;
  ses: number;
  sqs: number;
  web: number;
}

/** Default ports (DESIGN.md "Local endpoints"), each overridable by an environment variable. */
export const PORT_VARIABLES: Record<keyof PlatformPorts, [string, number]> = {
  bus: ['TPN_BUS_PORT', 4010],
  dynamodb: ['TPN_DYNAMODB_PORT', 8000],
  ses: ['TPN_SES_PORT', 8005],
  sqs: ['TPN_SQS_PORT', 4566],
  web: ['TPN_WEB_PORT', 3000],
};

export function portsFromEnvironment(env: NodeJS.ProcessEnv = process.env): PlatformPorts {
  const entries = Object.entries(PORT_VARIABLES).map(([part, [name, fallback]]) => {
    const raw = env[name];
    const port = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`${name} must be a port number (0-65535)`);
    return [part, port];
  });
  return Object.fromEntries(entries) as PlatformPorts;
}

export interface PlatformOptions {
  config: TrustConfig;
  ports: PlatformPorts;
  dataDir: string;
  reset: boolean;
  log: (line: string) => void;
  /** Pause between a function's async retries (AWS: about 1 and 2 minutes). */
  asyncRetryDelayMs?: number;
  /** Base of the event bus's delivery backoff (AWS: seconds, growing to minutes). */
  deliveryRetryBaseMs?: number;
  /** Run the scheduler on the wall clock (off in tests, which use `tick`). */
  schedules?: boolean;
  /** Count the functions' requests to DynamoDB, SQS and SES (`GET /admin/requests`). */
  countRequests?: boolean;
  /** With `countRequests`: the share of each service's requests its proxy refuses with a throttling error (TPN_INJECT_FAULTS). */
  injectFaults?: FaultRates;
}

export interface Platform {
  urls: { bus: string; dynamodb: string; ses: string; sesViewer: string; sqs: string; web: string };
  resources: LocalResources;
  functions: Map<string, LocalLambda>;
  rules: LocalRule[];
  /** Fires every scheduled rule now, with a simulated date (`YYYY-MM-DD`), returning how many fired. */
  tick(today?: string): Promise<number>;
  health(): Promise<Record<string, boolean>>;
  stop(): Promise<void>;
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
/** Concurrent invocations of one SQS-driven function at most, on this machine (2 cores). */
const MAX_LOCAL_CONCURRENCY = 8;

/** The signing key for acknowledgement links, made once and kept with the data. */
function localKeyRing(dataDir: string): string {
  const file = join(dataDir, 'ack-token-keys.json');
  if (!existsSync(file)) {
    writeFileSync(file, JSON.stringify([{ kid: 'local-1', key: randomBytes(32).toString('base64url') }]), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8');
}

const isLoopbackUrl = (url: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const { ports, log } = options;
  // The web server's address is in every emailed link (`publicBaseUrl`). When the
  // configuration points at this machine (the default, http://127.0.0.1:3000), the links
  // follow the port the web server really takes (TPN_WEB_PORT, or a free one for 0), so they
  // work whatever port it runs on; the functions get the same address in their configuration.
  const webPort = ports.web === 0 ? await freePort() : ports.web;
  const linksHere = isLoopbackUrl(options.config.publicBaseUrl);
  const config: TrustConfig = linksHere ? { ...options.config, publicBaseUrl: `http://127.0.0.1:${webPort}` } : options.config;
  if (options.reset) rmSync(options.dataDir, { recursive: true, force: true });
  mkdirSync(join(options.dataDir, 'dynamodb'), { recursive: true });
  mkdirSync(join(options.dataDir, 'logs'), { recursive: true });

  const stops: (() => Promise<void> | void)[] = [];
  /** Stops everything started so far, newest first; a part that hangs is given up on after 10 s. */
  const stop = async () => {
    const pending = stops.reverse();
    stops.length = 0;
    for (const fn of pending) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log('a part did not stop within 10 s; moving on');
          resolve();
        }, 10_000);
      });
      await Promise.race([Promise.resolve(fn()).catch(() => {}), timeout]);
      clearTimeout(timer);
    }
  };
  try {
    const { outdir, template } = cachedSynth(options.config, log);
    const servers: LocalServers = await startLocalServers({
      dynamoPort: ports.dynamodb,
      sesPort: ports.ses,
      sqsPort: ports.sqs,
      dataDir: join(options.dataDir, 'dynamodb'),
      sqsDataDir: join(options.dataDir, 'sqs'),
      log,
    });
    stops.push(() => servers.stop());
    const { endpoints } = servers;
    const region = config.region;
    const clients = {
      dynamodb: new DynamoDBClient({ endpoint: endpoints.dynamodb, region, credentials }),
      sqs: new SQSClient({ endpoint: endpoints.sqs, region, credentials, useQueueUrlAsEndpoint: false }),
      ses: new SESv2Client({ endpoint: endpoints.ses, region, credentials }),
    };
    const resources = await provision(template, clients, region, log);
    // The stack's outputs, resolved locally, for the CLI (as `--stack` reads them from CloudFormation).
    const outputs = Object.fromEntries(
      Object.entries(template.Outputs ?? {}).map(([key, output]) => [key, String(resources.resolve(output.Value))]),
    );
    writeFileSync(join(options.dataDir, 'stack-outputs.json'), `${JSON.stringify(outputs, null, 2)}\n`);
    const queueByArn = new Map([...resources.queues.values()].map((q) => [q.arn, q]));
    const sendToQueue = async (arn: string, body: string, attributes: Record<string, string> = {}) => {
      const queue = queueByArn.get(arn);
      if (!queue) throw new Error(`no local queue has the ARN ${arn}`);
      await clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: queue.url,
          MessageBody: body,
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
          ),
        }),
      );
    };

    // The event bus first, so that the functions are given its real address (port 0 picks
    // one); it routes by the template's rules once they are read below.
    let routeEvent: ((busName: string, event: BusEvent) => Promise<void>) | undefined;
    const busNames = [
      ...new Set([
        EVENT_BUS_NAME,
        'default',
        ...resourcesOfType(template, 'AWS::Events::EventBus').map(([id]) => resources.physicalName(id)),
      ]),
    ];
    const bus: LocalEventBus = await startLocalEventBus({
      port: ports.bus,
      region,
      account: LOCAL_ACCOUNT,
      busNames,
      deliver: (busName, event) => {
        if (!routeEvent) throw new Error('the platform is still starting');
        return routeEvent(busName, event);
      },
      onDeliveryError: (error) => log(`event bus: delivery failed: ${(error as Error).message}`),
      log,
      // Accepted events are kept until routed, as EventBridge keeps them (survives a kill -9).
      journalDir: join(options.dataDir, 'accepted-events'),
    });
    stops.push(() => bus.close());

    // With `countRequests`, the functions reach the servers through counting proxies.
    const counter = new RequestCounter();
    const seen = { ...endpoints };
    if (options.countRequests) {
      for (const service of ['dynamodb', 'sqs', 'ses'] as const) {
        const proxy = await startCountingProxy(service, endpoints[service], counter, options.injectFaults?.[service] ?? 0);
        seen[service] = proxy.url;
        stops.push(() => proxy.close());
      }
    }

    // Functions: the bundles synthesis built, with the template's environment resolved to
    // the local resources, plus the local endpoints and the local signing key.
    const localEnv: Record<string, string> = {
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: seen.dynamodb,
      AWS_ENDPOINT_URL_SQS: seen.sqs,
      AWS_ENDPOINT_URL_SESV2: seen.ses,
      AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
      ACK_TOKEN_KEYS: localKeyRing(options.dataDir),
      TZ: 'UTC',
      // The links in emails point at this web server (see webPort); the bundles have the configuration compiled in.
      ...(linksHere ? { TPN_LOCAL_PUBLIC_BASE_URL: config.publicBaseUrl } : {}),
      NODE_OPTIONS: '--enable-source-maps',
    };
    const functions = new Map<string, LocalLambda>();
    const byArn = new Map<string, LocalLambda>();
    const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping');
    /** An SQS event source's maximum concurrency, within what this machine can run. */
    const mappingConcurrency = (props: Record<string, unknown>) =>
      Math.max(1, Math.min(MAX_LOCAL_CONCURRENCY, Number((props.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency ?? 2)));
    const sandboxesFor = (logicalId: string) => {
      const mapping = mappings.find(([, m]) => (m.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref === logicalId);
      return mapping ? mappingConcurrency(mapping[1].Properties ?? {}) : 2;
    };
    const invokeConfigs = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig');
    for (const [logicalId, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
      const props = fn.Properties ?? {};
      const assetPath = fn.Metadata?.['aws:asset:path'];
      if (typeof assetPath !== 'string') throw new Error(`${logicalId} has no bundled asset (synthesis ran without bundling?)`);
      const [file, exportName] = String(props.Handler ?? 'index.handler').split('.');
      const invokeConfig = invokeConfigs.find(([, c]) => {
        const name = c.Properties?.FunctionName as { Ref?: string } | undefined;
        return name?.Ref === logicalId;
      })?.[1].Properties;
      const onFailure = (invokeConfig?.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure
        ?.Destination;
      const spec: LocalFunctionSpec = {
        logicalId,
        name: resources.physicalName(logicalId),
        arn: resources.getAtt(logicalId, 'Arn'),
        modulePath: join(outdir, assetPath, `${file}.mjs`),
        exportName: exportName ?? 'handler',
        env: {
          ...resources.functionEnvironment(logicalId),
          ...localEnv,
          // The operator console runs on 127.0.0.1 without sign-in ("view as" instead of Cognito).
          ...(resources.functionEnvironment(logicalId).CONSOLE_AUTH ? { CONSOLE_AUTH: 'loopback' } : {}),
          AWS_LAMBDA_FUNCTION_NAME: resources.physicalName(logicalId),
        },
        timeoutMs: Number(props.Timeout ?? 3) * 1000,
        memoryMb: Number(props.MemorySize ?? 128),
        ...(typeof props.ReservedConcurrentExecutions === 'number' ? { reservedConcurrency: props.ReservedConcurrentExecutions } : {}),
        async: {
          maxRetries: Number(invokeConfig?.MaximumRetryAttempts ?? 2),
          maxEventAgeMs: Number(invokeConfig?.MaximumEventAgeInSeconds ?? 21_600) * 1000,
          ...(onFailure === undefined ? {} : { onFailureArn: String(resources.resolve(onFailure)) }),
        },
      };
      const lambda = new LocalLambda(spec, {
        sendToQueue: (arn, body) => sendToQueue(arn, body),
        log,
        logFile: join(options.dataDir, 'logs', 'functions.log'),
        asyncRetryDelayMs: options.asyncRetryDelayMs ?? 1_000,
        maxSandboxes: sandboxesFor(logicalId),
        asyncJournalDir: join(options.dataDir, 'async'),
      });
      functions.set(logicalId, lambda);
      byArn.set(spec.arn, lambda);
      stops.push(() => lambda.stop());
    }

    // SQS event sources: poll each queue and hand batches to its function.
    let polling = true;
    const pollers: Promise<void>[] = [];
    for (const [, mapping] of mappings) {
      const props = mapping.Properties ?? {};
      const queueArn = String(resources.resolve(props.EventSourceArn));
      const queue = queueByArn.get(queueArn);
      const fnName = String(resources.resolve(props.FunctionName));
      const lambda = [...functions.values()].find((f) => f.spec.name === fnName);
      if (!queue || !lambda) throw new Error(`event source mapping ${queueArn} → ${fnName} names something that does not exist locally`);
      const reportsFailures = ((props.FunctionResponseTypes as string[] | undefined) ?? []).includes('ReportBatchItemFailures');
      // The mapping's batch size (SQS hands out at most 10 a receive; larger sizes are not gathered).
      const batchSize = Math.min(10, Number(props.BatchSize ?? 10));
      // As many pollers as the mapping's maximum concurrency: each runs one batch at a time.
      const concurrency = mappingConcurrency(props);
      pollers.push(
        ...Array.from({ length: concurrency }, async () => {
          while (polling) {
            const result = await pollOnce(clients.sqs, queue, async (event) => {
              const reply = await lambda.invoke(event);
              if (!reply.ok) throw new Error(reply.error.errorMessage);
              return reportsFailures ? (reply.result as { batchItemFailures: { itemIdentifier: string }[] }) : undefined;
            }, { region, maxMessages: batchSize }).catch((error: Error) => {
              if (polling) log(`event source ${queue.name}: ${error.message}`);
              return { received: 0, deleted: 0, failed: 0 };
            });
            if (result.received === 0) await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }),
      );
    }
    stops.push(async () => {
      polling = false;
      await Promise.allSettled(pollers);
    });

    // The event bus, routed by the template's rules.
    const rules = rulesFromTemplate(resources);
    const deliveryDeps = {
      invoke: (arn: string, event: unknown) => {
        // An event bus target (the SES feedback rule forwards from the default bus to
        // trust-events, lib/ses-feedback.ts): the event goes on that local bus and is routed
        // by its rules, as EventBridge does.
        const toBus = /^arn:aws:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(arn)?.[1];
        if (toBus !== undefined) {
          if (!busNames.includes(toBus)) throw Object.assign(new Error(`no local event bus has the ARN ${arn}`), { name: 'ResourceNotFoundException' });
          route(toBus, event as BusEvent).catch((error: Error) => log(`event bus ${toBus}: delivery failed: ${error.message}`));
          return;
        }
        const lambda = byArn.get(arn);
        if (!lambda) throw Object.assign(new Error(`no local function has the ARN ${arn}`), { name: 'ResourceNotFoundException' });
        lambda.invokeAsync(event);
      },
      sendToQueue,
      log,
      retryBaseMs: options.deliveryRetryBaseMs ?? 1_000,
    };
    const route = async (busName: string, event: BusEvent) => {
      const matched = matchingRules(rules, busName, event);
      await Promise.all(matched.flatMap((rule) => rule.targets.map((target) => deliver(rule, target, event, deliveryDeps))));
    };
    routeEvent = route;
    // What a killed run left unfinished: async invocations (a restart counts as a failed
    // attempt of the one that was running) and events the bus accepted but had not routed.
    for (const lambda of functions.values()) lambda.resumeJournal();
    bus.redeliverJournal();

    // Scheduled rules: a scheduled event per firing, as EventBridge sends them.
    const scheduled = rules.filter((r) => r.schedule && r.state === 'ENABLED');
    const fireRule = async (rule: LocalRule, at: Date) => {
      const event: BusEvent = {
        version: '0',
        id: crypto.randomUUID(),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: LOCAL_ACCOUNT,
        time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region,
        resources: [rule.arn],
        detail: {},
      };
      await Promise.all(rule.targets.map((target) => deliver(rule, target, event, deliveryDeps)));
    };
    let scheduler: Scheduler | undefined;
    if (options.schedules !== false && scheduled.length > 0) {
      scheduler = startScheduler(
        scheduled.map((r) => ({ id: r.logicalId, expression: r.schedule ?? '' })),
        (id, at) => {
          const rule = scheduled.find((r) => r.logicalId === id);
          return rule ? fireRule(rule, at) : undefined;
        },
        { log },
      );
      stops.push(() => scheduler?.stop());
    }
    const tick = async (today?: string) => {
      const at = today ? new Date(`${today}T06:00:00Z`) : new Date();
      if (Number.isNaN(at.getTime())) throw new Error('--today must be a date in the form YYYY-MM-DD');
      await Promise.all(scheduled.map((rule) => fireRule(rule, at)));
      return scheduled.length;
    };

    // The demo trust, seeded once (without sending anything to it).
    const dataTable = [...resources.tables.entries()].find(([id]) => id.includes('DataTable'))?.[1];
    if (!dataTable) throw new Error('the template defines no DataTable');
    const seeded = await seedDemoTrust(DynamoDBDocumentClient.from(clients.dynamodb), dataTable, config);
    log(`demo trust in place: ${seeded.people} people, ${seeded.policies} policies (nothing sent to them)`);

    const health = async (): Promise<Record<string, boolean>> => {
      const probe = async (url: string) => {
        try {
          return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status < 500;
        } catch {
          return false;
        }
      };
      const [dynamodb, ses, sqs, eventBus] = await Promise.all([
        probe(endpoints.dynamodb),
        probe(`${endpoints.ses}/store`),
        probe(endpoints.sqs),
        probe(`${bus.url}/health`),
      ]);
      return { dynamodb, ses, sqs, eventBus, functions: functions.size > 0, scheduler: options.schedules === false || scheduled.length === 0 || scheduler !== undefined };
    };

    const functionStats = () =>
      Object.fromEntries([...functions.values()].map((f) => [f.spec.logicalId, { name: f.spec.name, ...f.stats }]));
    const httpApi = {
      routes: httpRoutesFromTemplate(resources),
      invoke: async (arn: string, event: unknown) => {
        const lambda = byArn.get(arn);
        if (!lambda) return null;
        const reply = await lambda.invoke(event);
        return reply.ok ? (reply.result as APIGatewayProxyStructuredResultV2) : null;
      },
    };
    const web: WebServer = await startWebServer({
      port: webPort,
      config,
      health,
      tick,
      functionStats,
      httpApi,
      requestCounts: { get: () => counter.snapshot(), reset: () => counter.reset() },
      report: (query) => loadComplianceReport({ db: DynamoDBDocumentClient.from(clients.dynamodb), table: dataTable, config }, query),
      // SES bounces and complaints (local/ses-injection.ts): routed from the default bus
      // directly, since PutEvents refuses aws.* sources as AWS does.
      injectSesEvent: async (input) => {
        const event = sesEventFromInput(input, { region, account: LOCAL_ACCOUNT });
        await route('default', event);
        return event.id;
      },
      log,
    });
    stops.push(() => web.close());
    const urls = {
      bus: bus.url,
      dynamodb: endpoints.dynamodb,
      ses: endpoints.ses,
      sesViewer: `${endpoints.ses}/`,
      sqs: endpoints.sqs,
      web: web.url,
    };
    // Where everything is, for the CLI and for scripts (written last: the platform is ready).
    writeFileSync(join(options.dataDir, 'endpoints.json'), `${JSON.stringify(urls, null, 2)}\n`);
    stops.push(() => rmSync(join(options.dataDir, 'endpoints.json'), { force: true }));

    return {
      urls,
      resources,
      functions,
      rules,
      tick,
      health,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
