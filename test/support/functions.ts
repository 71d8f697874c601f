/**
 * Loads a handler module the way Lambda would run it: with the environment the
 * synthesized template gives its function (resolved to the local resources), plus what
 * the local runtime adds (the local endpoints through the SDK's standard
 * `AWS_ENDPOINT_URL_<SERVICE>` variables, the trust configuration, a test signing key).
 */
import type { Context } from 'aws-lambda';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { IntegrationContext } from './global-setup.ts';

export const TEST_ACK_KEYS = JSON.stringify([{ kid: 'test-1', key: 'integration-test-signing-key-0123456789abcdef' }]);

export function functionEnvironment(ctx: IntegrationContext, logicalPrefix: string): Record<string, string> {
  const matches = Object.keys(ctx.functions).filter((id) => id.startsWith(logicalPrefix));
  const [id] = matches;
  if (matches.length !== 1 || !id) throw new Error(`expected one function named ${logicalPrefix}*, found ${matches.join(', ')}`);
  return ctx.functions[id] ?? {};
}

export function localEnvironment(ctx: IntegrationContext): Record<string, string> {
  return {
    AWS_REGION: ctx.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: ctx.endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: ctx.endpoints.sqs,
    AWS_ENDPOINT_URL_SESV2: ctx.endpoints.ses,
    TRUST_CONFIG_JSON: JSON.stringify(loadTrustConfig()),
    ACK_TOKEN_KEYS: TEST_ACK_KEYS,
    POWERTOOLS_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'SILENT',
  };
}

export async function loadFunction<M>(ctx: IntegrationContext, logicalPrefix: string, load: () => Promise<M>): Promise<M> {
  Object.assign(process.env, functionEnvironment(ctx, logicalPrefix), localEnvironment(ctx));
  process.env.POWERTOOLS_LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'SILENT';
  return load();
}

let invocation = 0;
/** The Lambda context object a handler is invoked with. */
export function lambdaContext(functionName: string): Context {
  invocation++;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-2:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: `local-${invocation}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
