/**
 * Creates, on the local servers, the resources the synthesized template defines (DynamoDB
 * tables with their keys, indexes and TTL; SQS queues with their redrive policies; stored
 * SES templates), and resolves `Ref` / `Fn::GetAtt` / `Fn::Join` / `Fn::Sub` to the local
 * resources, so a function gets the environment the template gives it.
 *
 * Physical names: a resource's own name property if the template sets one, else its
 * logical id (CloudFormation would generate one; locally the logical id is stable).
 * Creating is idempotent: what exists already is kept (and so is its data).
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateEmailTemplateCommand,
  type SESv2Client,
  UpdateEmailTemplateCommand,
} from '@aws-sdk/client-sesv2';
import { CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type CfnTemplate, resourcesOfType } from './cloud-template.ts';

export const LOCAL_ACCOUNT = '000000000000';

export interface LocalClients {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  ses: SESv2Client;
}

interface QueueInfo {
  name: string;
  url: string;
  arn: string;
}

export class LocalResources {
  readonly template: CfnTemplate;
  readonly region: string;
  readonly tables = new Map<string, string>();
  readonly queues = new Map<string, QueueInfo>();
  readonly sesTemplates = new Map<string, string>();

  constructor(template: CfnTemplate, region: string) {
    this.template = template;
    this.region = region;
  }

  /** The physical name a resource has locally. */
  physicalName(logicalId: string): string {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`the template has no resource ${logicalId}`);
    const props = resource.Properties ?? {};
    const own = props.TableName ?? props.QueueName ?? props.FunctionName ?? props.Name;
    return typeof own === 'string' ? own : logicalId;
  }

  ref(logicalId: string): string {
    if (logicalId === 'AWS::Region') return this.region;
    if (logicalId === 'AWS::AccountId') return LOCAL_ACCOUNT;
    if (logicalId === 'AWS::Partition') return 'aws';
    if (logicalId === 'AWS::URLSuffix') return 'amazonaws.com';
    if (logicalId === 'AWS::StackName') return 'trust-policy-notify';
    const queue = this.queues.get(logicalId);
    if (queue) return queue.url;
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`cannot resolve Ref ${logicalId}: no such resource`);
    if (resource.Type === 'AWS::SecretsManager::Secret') {
      return `arn:aws:secretsmanager:${this.region}:${LOCAL_ACCOUNT}:secret:${logicalId}`;
    }
    return this.physicalName(logicalId);
  }

  getAtt(logicalId: string, attribute: string): string {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`cannot resolve Fn::GetAtt ${logicalId}.${attribute}: no such resource`);
    const queue = this.queues.get(logicalId);
    if (queue) {
      if (attribute === 'Arn') return queue.arn;
      if (attribute === 'QueueName') return queue.name;
      if (attribute === 'QueueUrl') return queue.url;
    }
    const name = this.physicalName(logicalId);
    if (attribute === 'Arn') {
      const service: Record<string, string> = {
        'AWS::DynamoDB::Table': `arn:aws:dynamodb:${this.region}:${LOCAL_ACCOUNT}:table/${name}`,
        'AWS::Lambda::Function': `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT}:function:${name}`,
        'AWS::Events::EventBus': `arn:aws:events:${this.region}:${LOCAL_ACCOUNT}:event-bus/${name}`,
        'AWS::SNS::Topic': `arn:aws:sns:${this.region}:${LOCAL_ACCOUNT}:${name}`,
        'AWS::SQS::Queue': `arn:aws:sqs:${this.region}:${LOCAL_ACCOUNT}:${name}`, // before provisioning (tests)
      };
      const arn = service[resource.Type];
      if (arn) return arn;
    }
    if (attribute === 'Name') return name;
    // An HTTP API's own address, as AWS would give it (locally every route is served by the
    // web server on 127.0.0.1; this is only a value in an output or an environment variable).
    if (resource.Type === 'AWS::ApiGatewayV2::Api' && attribute === 'ApiEndpoint') return `https://${name}.execute-api.${this.region}.amazonaws.com`;
    throw new Error(`cannot resolve Fn::GetAtt ${logicalId}.${attribute} locally (${resource.Type})`);
  }

  /** Resolves CloudFormation intrinsic functions in a value to plain strings. */
  resolve(value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    const entries = Object.entries(value);
    const [only] = entries;
    if (entries.length === 1 && only) {
      const [fn, arg] = only;
      if (fn === 'Ref' && typeof arg === 'string') return this.ref(arg);
      if (fn === 'Fn::GetAtt') {
        const [id, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
        return this.getAtt(String(id), String(attr));
      }
      if (fn === 'Fn::Join' && Array.isArray(arg)) {
        const [sep, parts] = arg as [string, unknown[]];
        return parts.map((p) => String(this.resolve(p))).join(sep);
      }
      if (fn === 'Fn::Sub') {
        const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, unknown>];
        return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
          if (name in vars) return String(this.resolve(vars[name]));
          const [id, attr] = name.split('.');
          return attr ? this.getAtt(String(id), attr) : this.ref(String(id));
        });
      }
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  /** A function's environment variables, resolved to the local resources. */
  functionEnvironment(logicalId: string): Record<string, string> {
    const resource = this.template.Resources[logicalId];
    if (resource?.Type !== 'AWS::Lambda::Function') throw new Error(`${logicalId} is not a Lambda function`);
    const env = (resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(this.resolve(v))]));
  }

  /** The logical id of the one resource of a type whose id starts with a prefix. */
  logicalId(type: string, prefix: string): string {
    const ids = resourcesOfType(this.template, type)
      .map(([id]) => id)
      .filter((id) => id.startsWith(prefix));
    if (ids.length !== 1 || !ids[0]) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.length}`);
    return ids[0];
  }
}

export async function provision(
  template: CfnTemplate,
  clients: LocalClients,
  region: string,
  log: (line: string) => void = () => {},
): Promise<LocalResources> {
  const resources = new LocalResources(template, region);
  await Promise.all(
    resourcesOfType(template, 'AWS::DynamoDB::Table').map(async ([id, table]) => {
      const name = resources.physicalName(id);
      await createTable(clients.dynamodb, name, table.Properties ?? {});
      resources.tables.set(id, name);
    }),
  );
  const queues = resourcesOfType(template, 'AWS::SQS::Queue');
  for (const [id, queue] of queues) {
    const name = resources.physicalName(id);
    const props = queue.Properties ?? {};
    const attributes: Record<string, string> = {};
    for (const key of ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'ReceiveMessageWaitTimeSeconds']) {
      if (props[key] !== undefined) attributes[key] = String(props[key]);
    }
    const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!created.QueueUrl) throw new Error(`SQS did not return a URL for ${name}`);
    const attrs = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: created.QueueUrl, AttributeNames: ['QueueArn'] }));
    const arn = attrs.Attributes?.QueueArn ?? `arn:aws:sqs:${region}:${LOCAL_ACCOUNT}:${name}`;
    resources.queues.set(id, { name, url: created.QueueUrl, arn });
  }
  // Redrive policies name other queues, so they are set once every queue exists.
  for (const [id, queue] of queues) {
    const redrive = queue.Properties?.RedrivePolicy;
    const info = resources.queues.get(id);
    if (!redrive || !info) continue;
    await clients.sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: info.url,
        Attributes: { RedrivePolicy: JSON.stringify(resources.resolve(redrive)) },
      }),
    );
  }
  for (const [, resource] of resourcesOfType(template, 'AWS::SES::Template')) {
    const t = (resource.Properties?.Template ?? {}) as Record<string, string | undefined>;
    if (!t.TemplateName) throw new Error('an AWS::SES::Template has no TemplateName');
    const content = { Subject: t.SubjectPart, Html: t.HtmlPart, Text: t.TextPart };
    try {
      await clients.ses.send(new CreateEmailTemplateCommand({ TemplateName: t.TemplateName, TemplateContent: content }));
    } catch {
      await clients.ses.send(new UpdateEmailTemplateCommand({ TemplateName: t.TemplateName, TemplateContent: content }));
    }
    resources.sesTemplates.set(t.TemplateName, t.TemplateName);
  }
  log(
    `provisioned ${resources.tables.size} tables, ${resources.queues.size} queues, ${resources.sesTemplates.size} SES templates`,
  );
  return resources;
}

async function createTable(dynamodb: DynamoDBClient, name: string, props: Record<string, unknown>): Promise<void> {
  const gsis = (props.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes']) ?? [];
  const input: CreateTableCommandInput = {
    TableName: name,
    KeySchema: props.KeySchema as CreateTableCommandInput['KeySchema'],
    AttributeDefinitions: props.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
    BillingMode: 'PAY_PER_REQUEST',
    ...(gsis.length > 0
      ? { GlobalSecondaryIndexes: gsis.map((g) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection })) }
      : {}),
    ...(props.StreamSpecification
      ? { StreamSpecification: { StreamEnabled: true, ...(props.StreamSpecification as { StreamViewType: 'NEW_AND_OLD_IMAGES' }) } }
      : {}),
  };
  try {
    await dynamodb.send(new CreateTableCommand(input));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    // Kept from an earlier run: an index the template added since is added to it (its
    // existing items enter the index as DynamoDB backfills it).
    const existing = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
    const have = new Set((existing.Table?.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName));
    for (const g of gsis.filter((g) => !have.has(g.IndexName))) {
      await dynamodb.send(
        new UpdateTableCommand({
          TableName: name,
          AttributeDefinitions: input.AttributeDefinitions,
          GlobalSecondaryIndexUpdates: [{ Create: { IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection } }],
        }),
      );
    }
    return;
  }
  const ttl = props.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
  if (ttl?.Enabled && ttl.AttributeName) {
    await dynamodb.send(
      new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true } }),
    );
  }
}
