/**
 * The CDK app: the trust-policy-notify stack with the cdk-nag AwsSolutions and Serverless checks, which
 * make synthesis fail on any finding that is neither fixed nor acknowledged with a reason.
 * Used by bin/app.ts (the `cdk` CLI) and by everything else that synthesizes the stack
 * (the infra tests, the local runtime), with the same feature flags: cdk.json's context.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { loadTrustConfig, REPO_ROOT } from '../functions/config/load-trust-config.ts';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { TrustPolicyNotifyStack } from './trust-policy-notify-stack.ts';

/** The stack's name in CloudFormation and its id in the app (`cdk deploy trust-policy-notify`). */
export const STACK_NAME = 'trust-policy-notify';

export interface TrustAppOptions {
  /** @default loadTrustConfig() */
  config?: TrustConfig;
  /** Where the cloud assembly goes. @default the CLI's, or a temporary directory */
  outdir?: string;
  /** Context over cdk.json's, e.g. `{ 'aws:cdk:bundling-stacks': [] }` to skip bundling. */
  context?: Record<string, unknown>;
}

export interface TrustApp {
  app: App;
  stack: TrustPolicyNotifyStack;
  config: TrustConfig;
}

/** cdk.json's context: the feature flags every synthesis uses, CLI or not. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson: unknown = JSON.parse(readFileSync(resolve(REPO_ROOT, 'cdk.json'), 'utf8'));
  if (typeof cdkJson !== 'object' || cdkJson === null || !('context' in cdkJson)) return {};
  const { context } = cdkJson;
  return typeof context === 'object' && context !== null ? { ...context } : {};
}

export function createTrustApp(options: TrustAppOptions = {}): TrustApp {
  const config = options.config ?? loadTrustConfig();
  const app = new App({
    context: { ...cdkJsonContext(), ...options.context },
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
  const stack = new TrustPolicyNotifyStack(app, STACK_NAME, {
    stackName: STACK_NAME,
    description: `trust-policy-notify for ${config.trust.name}: policy acknowledgements and notices`,
    config,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return { app, stack, config };
}
