/**
 * Where the acknowledgement-link key ring comes from: a Secrets Manager secret in AWS
 * (`ACK_TOKEN_SECRET_ARN`, created by the stack) or, locally and in tests, the
 * `ACK_TOKEN_KEYS` environment variable. Never from code. Read once per container.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../config/trust-config.ts';
import { parseKeyRing, type KeyRing } from '../domain/ack-token.ts';

let cached: Promise<KeyRing> | undefined;

export function ackKeyRing(secrets: SecretsManagerClient): Promise<KeyRing> {
  cached ??= load(secrets).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function load(secrets: SecretsManagerClient): Promise<KeyRing> {
  const inline = process.env.ACK_TOKEN_KEYS;
  if (inline) return parseKeyRing(inline, 'ACK_TOKEN_KEYS');
  const arn = process.env.ACK_TOKEN_SECRET_ARN;
  if (!arn) throw new ConfigError('neither ACK_TOKEN_KEYS nor ACK_TOKEN_SECRET_ARN is set: no key to sign links with');
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
  if (!secret.SecretString) throw new ConfigError('the acknowledgement key secret has no string value');
  return parseKeyRing(secret.SecretString, 'the acknowledgement key secret');
}
