/**
 * Global setup of the integration project: starts the real local servers (DynamoDB Local,
 * aws-ses-v2-local, fauxqs) on 127.0.0.1 and free ports, creates in them what the
 * synthesized CDK template defines, and hands the tests the endpoints and each function's
 * resolved environment. Everything is stopped after the run.
 */
import type { TestProject } from 'vitest/node';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { synthTemplate } from '../../local/cloud-template.ts';
import { provision } from '../../local/provision.ts';
import { startLocalServers } from '../../local/servers.ts';

export interface IntegrationContext {
  endpoints: { dynamodb: string; ses: string; sqs: string };
  region: string;
  /** Each function's environment, resolved to the local resources, by logical-id prefix. */
  functions: Record<string, Record<string, string>>;
  queues: Record<string, { url: string; arn: string }>;
  tables: Record<string, string>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    integration: IntegrationContext;
  }
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export default async function setup(project: TestProject) {
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[integration setup] ${line}\n`);
  const servers = await startLocalServers({ log });
  try {
    const config = loadTrustConfig();
    const template = synthTemplate(config);
    const clients = {
      dynamodb: new DynamoDBClient({ endpoint: servers.endpoints.dynamodb, region: config.region, credentials }),
      sqs: new SQSClient({ endpoint: servers.endpoints.sqs, region: config.region, credentials }),
      ses: new SESv2Client({ endpoint: servers.endpoints.ses, region: config.region, credentials }),
    };
    const resources = await provision(template, clients, config.region, log);
    const functions = Object.fromEntries(
      Object.entries(template.Resources)
        .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
        .map(([id]) => [id, resources.functionEnvironment(id)]),
    );
    project.provide('integration', {
      endpoints: servers.endpoints,
      region: config.region,
      functions,
      queues: Object.fromEntries([...resources.queues].map(([id, q]) => [id, { url: q.url, arn: q.arn }])),
      tables: Object.fromEntries(resources.tables),
    });
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    await servers.stop();
    throw error;
  }
  return async () => {
    await servers.stop();
  };
}
