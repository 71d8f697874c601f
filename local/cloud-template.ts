/**
 * The synthesized CloudFormation template, as the local runtime and the integration tests
 * read it: tables, queues, SES templates and functions (with their environment) come from
 * the same CDK app that deploys, so local and cloud cannot drift (DESIGN.md "Local runtime").
 *
 * Synthesis runs in this process. With `bundle: false` the Lambda assets are not built
 * (context `aws:cdk:bundling-stacks: []`), which is all the tests need: they import the
 * handlers' source and give them the environment the template gives the functions.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { createTrustApp, STACK_NAME } from '../lib/trust-policy-notify-app.ts';

export { STACK_NAME };

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
}

export function synthTemplate(config: TrustConfig, options: { bundle?: boolean; outdir?: string } = {}): CfnTemplate {
  const outdir = options.outdir ?? mkdtempSync(join(tmpdir(), 'tpn-synth-'));
  try {
    // The same app the `cdk` CLI synthesizes: cdk.json's feature flags and the cdk-nag checks.
    const { app } = createTrustApp({
      config,
      outdir,
      context: options.bundle ? { 'aws:cdk:enable-asset-metadata': true } : { 'aws:cdk:bundling-stacks': [] },
    });
    return app.synth().getStackByName(STACK_NAME).template as CfnTemplate;
  } finally {
    if (!options.outdir) rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * Synthesizes with bundling into `.cache/synth/<hash>` and reuses it while nothing the
 * synthesis reads has changed (lib/, bin/, functions/, config, templates, policies, the
 * lock file), so `npm start` and the e2e tests synthesize once.
 */
export function cachedSynth(config: TrustConfig, log: (line: string) => void = () => {}): { outdir: string; template: CfnTemplate } {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(config));
  for (const file of synthInputs()) {
    hash.update(file);
    hash.update(readFileSync(join(REPO_ROOT, file)));
  }
  const key = hash.digest('hex').slice(0, 16);
  const outdir = join(REPO_ROOT, '.cache', 'synth', key);
  const templateFile = join(outdir, `${STACK_NAME}.template.json`);
  if (existsSync(templateFile)) {
    log(`synthesis cached (${key})`);
    return { outdir, template: JSON.parse(readFileSync(templateFile, 'utf8')) as CfnTemplate };
  }
  const started = Date.now();
  pruneSynthCache(3);
  mkdirSync(outdir, { recursive: true });
  const template = synthTemplate(config, { bundle: true, outdir });
  log(`synthesized and bundled the CDK app in ${((Date.now() - started) / 1000).toFixed(1)} s (${key})`);
  return { outdir, template };
}

/**
 * Keeps the newest `keep` synthesized folders and removes older ones. Not all of them: a
 * platform still running from an older synthesis needs its bundles to start new sandboxes.
 */
function pruneSynthCache(keep: number): void {
  const root = join(REPO_ROOT, '.cache', 'synth');
  if (!existsSync(root)) return;
  const dirs = readdirSync(root)
    .map((name) => ({ path: join(root, name), at: statSync(join(root, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of dirs.slice(keep)) rmSync(old.path, { recursive: true, force: true });
}

/** The files synthesis depends on, relative to the repository root, sorted. */
export function synthInputs(): string[] {
  const out: string[] = ['package-lock.json', 'config/trust.json'];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else out.push(path);
    }
  };
  for (const dir of ['lib', 'bin', 'functions', 'templates', 'policies']) if (existsSync(join(REPO_ROOT, dir))) walk(dir);
  return out.sort();
}

export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}
