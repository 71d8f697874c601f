/**
 * Routing from the synthesized template: every `AWS::Events::Rule` becomes a local rule
 * with its compiled event pattern (or its schedule), its bus and its targets, each target
 * with its retry policy and dead-letter queue. An event goes to exactly the targets of the
 * rules on its bus whose patterns match it (DESIGN.md "Local runtime").
 *
 * Delivery to a target follows the rule target's settings, as in AWS: if the invoke is
 * refused (the function is throttled, or does not exist locally), delivery is retried with
 * exponential backoff until `MaximumRetryAttempts` or `MaximumEventAgeInSeconds` runs out,
 * and then the event goes to the target's dead-letter queue with the attributes EventBridge
 * sets (ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN). Errors inside the function are the
 * function's own business (local/lambda-runner.ts).
 */
import { compileEventPattern } from './event-pattern.ts';
import type { LocalResources } from './provision.ts';
import { resourcesOfType } from './cloud-template.ts';

export interface RuleTarget {
  id: string;
  arn: string;
  maxRetries: number;
  maxEventAgeMs: number;
  deadLetterArn?: string;
  /** A constant `Input` the rule passes instead of the event (scheduled rules often do). */
  input?: unknown;
}

export interface LocalRule {
  logicalId: string;
  name: string;
  arn: string;
  busName: string;
  state: 'ENABLED' | 'DISABLED';
  matches?: (event: unknown) => boolean;
  schedule?: string;
  targets: RuleTarget[];
}

// EventBridge's defaults when a target sets no retry policy.
const DEFAULT_RETRIES = 185;
const DEFAULT_MAX_AGE_S = 86_400;

export function rulesFromTemplate(resources: LocalResources): LocalRule[] {
  return resourcesOfType(resources.template, 'AWS::Events::Rule').map(([logicalId, rule]) => {
    const props = rule.Properties ?? {};
    const pattern = props.EventPattern === undefined ? undefined : resources.resolve(props.EventPattern);
    const busName = props.EventBusName === undefined ? 'default' : String(resources.resolve(props.EventBusName));
    const name = typeof props.Name === 'string' ? props.Name : logicalId;
    const targets = ((props.Targets as Record<string, unknown>[] | undefined) ?? []).map((t): RuleTarget => {
      const retry = (t.RetryPolicy ?? {}) as { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number };
      const dlq = (t.DeadLetterConfig as { Arn?: unknown } | undefined)?.Arn;
      return {
        id: String(t.Id),
        arn: String(resources.resolve(t.Arn)),
        maxRetries: retry.MaximumRetryAttempts ?? DEFAULT_RETRIES,
        maxEventAgeMs: (retry.MaximumEventAgeInSeconds ?? DEFAULT_MAX_AGE_S) * 1000,
        ...(dlq === undefined ? {} : { deadLetterArn: String(resources.resolve(dlq)) }),
        ...(typeof t.Input === 'string' ? { input: JSON.parse(t.Input) } : {}),
      };
    });
    return {
      logicalId,
      name,
      arn: `arn:aws:events:${resources.region}:000000000000:rule/${busName === 'default' ? '' : `${busName}/`}${name}`,
      busName: busName.includes(':event-bus/') ? (busName.split(':event-bus/')[1] ?? busName) : busName,
      state: props.State === 'DISABLED' ? 'DISABLED' : 'ENABLED',
      ...(pattern === undefined
        ? {}
        : { matches: compileEventPattern(typeof pattern === 'string' ? JSON.parse(pattern) : pattern) }),
      ...(typeof props.ScheduleExpression === 'string' ? { schedule: props.ScheduleExpression } : {}),
      targets,
    };
  });
}

/** The rules on a bus whose patterns match an event. */
export function matchingRules(rules: readonly LocalRule[], busName: string, event: unknown): LocalRule[] {
  return rules.filter((r) => r.state === 'ENABLED' && r.busName === busName && r.matches?.(event) === true);
}

export interface DeliveryDeps {
  /** Hands the event to a target (an async Lambda invoke); throws if the invoke is refused. */
  invoke: (targetArn: string, event: unknown) => void;
  sendToQueue: (arn: string, body: string, attributes: Record<string, string>) => Promise<void>;
  log: (line: string) => void;
  /** Base of the exponential backoff between delivery attempts (AWS: seconds to minutes). */
  retryBaseMs: number;
}

/** Delivers one event to one target, retrying and dead-lettering as the target says. */
export async function deliver(rule: LocalRule, target: RuleTarget, event: unknown, deps: DeliveryDeps): Promise<'delivered' | 'dead-lettered' | 'dropped'> {
  const started = Date.now();
  const payload = target.input ?? event;
  let attempt = 0;
  for (;;) {
    try {
      deps.invoke(target.arn, payload);
      return 'delivered';
    } catch (error) {
      const e = error as Error;
      attempt++;
      const expired = Date.now() - started > target.maxEventAgeMs;
      if (attempt > target.maxRetries || expired) {
        if (!target.deadLetterArn) {
          deps.log(`rule ${rule.name}: delivery to ${target.id} failed (${e.name}) and the target has no DLQ: dropped`);
          return 'dropped';
        }
        await deps.sendToQueue(target.deadLetterArn, JSON.stringify(event), {
          RULE_ARN: rule.arn,
          TARGET_ARN: target.arn,
          ERROR_CODE: e.name === 'TooManyRequestsException' ? 'THROTTLING' : 'SDK_CLIENT_ERROR',
          ERROR_MESSAGE: e.message.slice(0, 256),
        });
        deps.log(`rule ${rule.name}: delivery to ${target.id} failed ${attempt} times; event sent to the target's DLQ`);
        return 'dead-lettered';
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(deps.retryBaseMs * 2 ** (attempt - 1), 30_000)));
    }
  }
}
