/**
 * The synthesized CloudFormation template, as the local runtime and the integration tests
 * read it: tables, queues, SES templates and functions (with their environment) come from
 * the same CDK app that deploys, so local and cloud cannot drift (DESIGN.md "Local runtime").
 *
 * Synthesis runs in this process. With `bundle: false` the Lambda assets are not built
 * (context `aws:cdk:bundling-stacks: []`), which is all the tests need: they import the
 * handlers' source and give them the environment the template gives the functions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { TrustPolicyNotifyStack } from '../lib/trust-policy-notify-stack.ts';

export const STACK_NAME = 'trust-policy-notify';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
}

export function synthTemplate(config: TrustConfig, options: { bundle?: boolean; outdir?: string } = {}): CfnTemplate {
  const outdir = options.outdir ?? mkdtempSync(join(tmpdir(), 'tpn-synth-'));
  try {
    const app = new App({
      outdir,
      context: options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] },
    });
    new TrustPolicyNotifyStack(app, STACK_NAME, { config, env: { region: config.region } });
    return app.synth().getStackByName(STACK_NAME).template as CfnTemplate;
  } finally {
    if (!options.outdir) rmSync(outdir, { recursive: true, force: true });
  }
}

export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}
