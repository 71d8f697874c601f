/**
 * Reads and resolves `config/trust.json` from disk (Node side only: the CDK app, the CLI,
 * the local runtime and the tests). Lambda functions never call this: they receive the
 * resolved configuration compiled into their bundle (see lib/trust-function.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, resolveTrustConfig, type TrustConfig } from './trust-config.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_CONFIG_PATH = resolve(REPO_ROOT, 'config/trust.json');

export function loadTrustConfig(path = process.env.TRUST_CONFIG_PATH ?? DEFAULT_CONFIG_PATH): TrustConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read the trust configuration at ${path}: ${(error as Error).message}`, { cause: error });
  }
  return resolveTrustConfig(raw, (document) => readFileSync(resolve(REPO_ROOT, document), 'utf8'), path);
}
