/**
 * What every function reads at cold start: required environment variables (a missing one
 * fails at once, naming it), the trust configuration compiled into the bundle, the
 * structured logger and the AWS clients, each built once per container.
 *
 * Endpoints: the clients use the SDK's standard resolution, so `AWS_ENDPOINT_URL_DYNAMODB`,
 * `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_SESV2` and friends point them at the local
 * servers in tests and in the local runtime, with no code of our own.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConfigError, parseTrustConfig, type TrustConfig } from '../config/trust-config.ts';

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

let trustConfig: TrustConfig | undefined;
/**
 * The resolved trust configuration. In a Lambda bundle esbuild replaces
 * `process.env.TRUST_CONFIG_JSON` with the JSON text at build time (lib/trust-function.ts);
 * elsewhere (tests, local runtime) it is an ordinary environment variable.
 */
export function runtimeConfig(): TrustConfig {
  if (!trustConfig) {
    const text = process.env.TRUST_CONFIG_JSON;
    if (!text) throw new ConfigError('TRUST_CONFIG_JSON is not set: the trust configuration was not compiled in');
    trustConfig = parseTrustConfig(JSON.parse(text), 'TRUST_CONFIG_JSON');
    // Set only by the local runtime (local/platform.ts): the links follow the port its web
    // server really runs on. Never set in AWS, where publicBaseUrl is the deployed address.
    const local = process.env.TPN_LOCAL_PUBLIC_BASE_URL;
    if (local) trustConfig = parseTrustConfig({ ...trustConfig, publicBaseUrl: local }, 'TPN_LOCAL_PUBLIC_BASE_URL');
  }
  return trustConfig;
}

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'trust-policy-notify' });

let clients:
  | { dynamo: DynamoDBDocumentClient; sqs: SQSClient; ses: SESv2Client; secrets: SecretsManagerClient }
  | undefined;

/** The AWS clients, built on first use and then shared by every invocation. */
export function awsClients() {
  if (!clients) {
    const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
      marshallOptions: { removeUndefinedValues: true },
    });
    clients = { dynamo, // The endpoint, not the queue URL's host, decides where requests go (locally the two differ).
      sqs: new SQSClient({ useQueueUrlAsEndpoint: false }), // No SDK retries for SES: a retried send after an unknown outcome could send twice (functions/adapters/mailer.ts).
      ses: new SESv2Client({ maxAttempts: 1 }), secrets: new SecretsManagerClient({}) };
  }
  return clients;
}
