/**
 * Least privilege, measured on the synthesized template (issue #12 part 4):
 *
 * - Every function holds exactly the DynamoDB actions its code sends, table by table and
 *   index by index: the calls are read from the handler's code (test/infra/dynamodb-calls.ts
 *   follows the handler's imports to the repositories, method by method, and collects the
 *   commands they build), the grants from the function's role in the template. An action the
 *   code never sends fails the test, and so does one it sends without the grant (in AWS that
 *   is an AccessDenied the local runtime, which checks no IAM, would never show). So does the
 *   CaseReaderPolicy against `trust-notify case` (local/case-commands.ts).
 * - Keys: no key policy gives anyone `kms:*`; the account administers each key but uses a
 *   table key only through DynamoDB; the narrative key names who may decrypt; each function
 *   may decrypt only the keys of the tables it binds, only through DynamoDB and only for
 *   those tables (the encryption context DynamoDB passes).
 * - Every statement for an AWS service principal in a resource policy is limited to this
 *   account's resources (`aws:SourceAccount`, `aws:SourceArn`).
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { KEY_ADMIN_ACTIONS } from '../../lib/key-policy.ts';
import { TrustFunction } from '../../lib/trust-function.ts';
import {
  asList,
  describeRef,
  logicalIdOf,
  nameOf,
  ofType,
  props,
  resourceAt,
  roleIdOf,
  type Statement,
  statementsOfRole,
  synthesis,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';
import { dynamoCallsFrom, type TableKind } from './dynamodb-calls.ts';

type Json = Record<string, unknown>;

// Synthesized at collection time: the tests are one per function of the stack.
synthesizeForAssertions();
const stackPath = synthesis().stack.node.path;
const functions = synthesis()
  .stack.node.findAll()
  .filter((c): c is TrustFunction => c instanceof TrustFunction)
  .map((fn) => ({ path: fn.node.path.slice(stackPath.length + 1), entry: fn.entry }));

beforeAll(() => {
  expect(functions.length).toBeGreaterThanOrEqual(18);
});

/** How the code names each table: its environment variable (functions/adapters/runtime.ts `requireEnv`). */
const ENV_OF: Record<TableKind, string> = { data: 'DATA_TABLE_NAME', ledger: 'LEDGER_TABLE_NAME', narrative: 'NARRATIVE_TABLE_NAME' };
const TABLE_PATHS: Record<TableKind, string> = { data: 'Tables/DataTable', ledger: 'Tables/LedgerTable', narrative: 'CaseIntake/NarrativeTable' };
const kindOfTable = (logicalId: string): string =>
  (Object.entries(TABLE_PATHS).find(([, path]) => logicalIdOf(path) === logicalId)?.[0] as string | undefined) ?? `<${nameOf.get(logicalId) ?? logicalId}>`;

/** The tables a function has in its environment (the only ones its code can reach). */
function boundTables(path: string): TableKind[] {
  const variables = (props(resourceAt(path)).Environment as { Variables: Json }).Variables;
  return (Object.keys(ENV_OF) as TableKind[]).filter((kind) => variables[ENV_OF[kind]] !== undefined);
}

/** `<table ARN>` → `data`; `<table ARN>/index/gsi1` → `data/index/gsi1`; anything else as a path in brackets. */
function describeTableResource(resource: unknown): string {
  const getAtt = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt?.[1] === 'Arn') return kindOfTable(getAtt[0]);
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join && join[0] === '' && join[1].length === 2 && typeof join[1][1] === 'string') {
    return `${describeTableResource(join[1][0])}${join[1][1]}`;
  }
  return `<${describeRef(resource)}>`;
}

/** `dynamodb:<Action> <table>[/index/<name>]` for every DynamoDB action the statements allow. */
function dynamoGrants(statements: Statement[]): string[] {
  const grants = new Set<string>();
  for (const statement of statements) {
    expect(statement.Effect).toBe('Allow');
    for (const action of asList(statement.Action) as string[]) {
      if (!action.startsWith('dynamodb:')) continue;
      for (const resource of asList(statement.Resource)) grants.add(`${action} ${describeTableResource(resource)}`);
    }
  }
  return [...grants].sort();
}

function difference(granted: string[], called: string[]): string {
  const extra = granted.filter((g) => !called.includes(g));
  const missing = called.filter((c) => !granted.includes(c));
  return [...extra.map((g) => `granted, never sent: ${g}`), ...missing.map((c) => `sent, not granted: ${c}`)].join('; ');
}

describe('DynamoDB: each function holds exactly the actions its code sends', () => {
  it.each(functions)('$path ($entry)', ({ path, entry }) => {
    const tables = boundTables(path);
    const derived = dynamoCallsFrom(resolve(REPO_ROOT, entry), REPO_ROOT);
    expect(derived.unresolved, 'member calls the analysis cannot attribute to a class').toEqual([]);
    // Calls on tables the function is not bound to cannot happen: the code reads the table's name
    // from the environment (the rejected-event notice in pipeline.ts is skipped without a ledger).
    const called = derived.calls.filter((call) => tables.some((kind) => call.split(' ')[1]?.startsWith(kind)));
    const granted = dynamoGrants(statementsOfRole(roleIdOf(path)));
    expect(called.length, `${path}: its code sends no DynamoDB request`).toBeGreaterThan(0);
    expect(granted, difference(granted, called)).toEqual(called);
  });

  it('no function may Scan, delete, or use ConditionCheckItem or DescribeTable; only the console scans (the ledger page)', () => {
    const byAction = new Map<string, string[]>();
    for (const { path } of functions) {
      for (const grant of dynamoGrants(statementsOfRole(roleIdOf(path)))) {
        const action = grant.split(' ')[0] ?? '';
        byAction.set(action, [...(byAction.get(action) ?? []), `${path} ${grant.split(' ')[1]}`]);
      }
    }
    expect(byAction.get('dynamodb:Scan')).toEqual(['OperatorConsole/ConsoleFunction ledger']);
    for (const action of ['dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable', 'dynamodb:PartiQLSelect']) {
      expect(byAction.get(action), action).toBeUndefined();
    }
    // Batch writes (unconditional) only where no other writer can hold the items: the fan-out worker's
    // requests and ledger rows under its lease, and a new version's owed fan-out items (Policy Updated).
    expect(byAction.get('dynamodb:BatchWriteItem')?.sort()).toEqual([
      'PolicyFanout/WorkerFunction data',
      'PolicyFanout/WorkerFunction ledger',
      'PolicyUpdatedFunction data',
    ]);
  });

  it('index ARNs are named one by one, never index/*, and only for the functions that query that index', () => {
    const queries: string[] = [];
    for (const { path } of functions) {
      for (const grant of dynamoGrants(statementsOfRole(roleIdOf(path)))) {
        if (grant.includes('/index/')) queries.push(`${path} ${grant}`);
        expect(grant).not.toMatch(/\/index\/\*/);
      }
    }
    for (const query of queries) expect(query).toMatch(/ dynamodb:Query (data\/index\/gsi[12]|ledger\/index\/owed)$/);
    // The ledger's sparse owed index (lib/data-tables.ts) is the sweeper's alone.
    expect(queries.filter((q) => q.includes('ledger/index/owed'))).toEqual(['LedgerSweepFunction dynamodb:Query ledger/index/owed']);
  });

  it('the public acknowledgement function, the intake and the console: only what their pages and reports need', () => {
    const grants = (path: string) => dynamoGrants(statementsOfRole(roleIdOf(path)));
    expect(grants('AckFunction')).toEqual(['dynamodb:GetItem data', 'dynamodb:Query data', 'dynamodb:UpdateItem data']);
    expect(grants('CaseIntake/ReportIntakeFunction')).toEqual([
      'dynamodb:GetItem data',
      'dynamodb:PutItem data',
      'dynamodb:PutItem narrative',
      'dynamodb:UpdateItem data',
    ]);
    const consoleGrants = grants('OperatorConsole/ConsoleFunction');
    expect(consoleGrants.filter((g) => g.endsWith('narrative'))).toEqual(['dynamodb:GetItem narrative', 'dynamodb:Query narrative']);
    expect(consoleGrants.filter((g) => g.includes('ledger'))).toEqual(['dynamodb:Scan ledger']);
  });

  it('CaseReaderPolicy allows exactly what `trust-notify case` sends (local/case-commands.ts), on the narrative and data tables', () => {
    const derived = dynamoCallsFrom(resolve(REPO_ROOT, 'local/case-commands.ts'), REPO_ROOT);
    expect(derived.unresolved).toEqual([]);
    const statements = (props(resourceAt('CaseIntake/CaseReaderPolicy')).PolicyDocument as { Statement: Statement[] }).Statement;
    const granted = dynamoGrants(statements);
    expect(granted, difference(granted, derived.calls)).toEqual(derived.calls);
  });
});

// ---------------------------------------------------------------------------------
// KMS

const keys = () => ofType('AWS::KMS::Key').map(([id, key]) => ({ id, path: nameOf.get(id) ?? id, statements: (props(key).KeyPolicy as { Statement: Statement[] }).Statement }));
const ROOT = `arn:aws:iam::\${AWS::AccountId}:root`;
const principalOf = (statement: Statement): string => {
  const principal = statement.Principal as { AWS?: unknown; Service?: unknown } | undefined;
  if (principal?.AWS !== undefined) return describeRef(principal.AWS);
  return `service ${String(principal?.Service)}`;
};
/** The key actions that use a key (as opposed to administering it). */
const USE_ACTIONS = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GenerateDataKeyPair',
  'kms:GenerateMac',
  'kms:Sign',
  'kms:Verify',
  'kms:CreateGrant',
];
const matches = (pattern: string, action: string) => new RegExp(`^${pattern.replaceAll('*', '.*')}$`).test(action);
const VIA_DYNAMODB = { 'kms:ViaService': 'dynamodb.eu-west-2.amazonaws.com', 'kms:CallerAccount': { Ref: 'AWS::AccountId' } };

describe('key policies', () => {
  it('are the four keys, and no statement of any of them allows kms:* (the narrative key above all)', () => {
    expect(keys().map((k) => k.path).sort()).toEqual(['CaseIntake/NarrativeKey', 'EvidenceKey/Key', 'Operations/TopicKey', 'Tables/DataKey']);
    for (const key of keys()) {
      for (const statement of key.statements) {
        expect(asList(statement.Action), `${key.path} ${statement.Sid}`).not.toContain('kms:*');
        expect(statement.Effect).toBe('Allow');
      }
    }
    // CDK's default, spelled out: the account root with every key action. Not on the narrative key.
    const narrative = keys().find((k) => k.path === 'CaseIntake/NarrativeKey');
    expect(narrative?.statements.filter((s) => principalOf(s) === ROOT && asList(s.Action).some((a) => a === 'kms:*'))).toEqual([]);
  });

  it('the account administers every key and uses none directly: its administration statement has no use action, even by wildcard', () => {
    for (const key of keys()) {
      const admin = key.statements.filter((s) => s.Sid === 'KeyAdministration');
      expect(admin, key.path).toHaveLength(1);
      expect(principalOf(admin[0] as Statement)).toBe(ROOT);
      expect(admin[0]?.Action).toEqual(KEY_ADMIN_ACTIONS);
      expect(admin[0]?.Condition).toBeUndefined();
      for (const pattern of KEY_ADMIN_ACTIONS) for (const use of USE_ACTIONS) expect(matches(pattern, use), `${pattern} covers ${use}`).toBe(false);
    }
  });

  it('a table key (data, narratives) is used only through DynamoDB in this region, by callers of this account', () => {
    for (const key of keys().filter((k) => k.path === 'Tables/DataKey' || k.path === 'CaseIntake/NarrativeKey')) {
      for (const statement of key.statements.filter((s) => s.Sid !== 'KeyAdministration')) {
        expect(statement.Condition?.StringEquals, `${key.path} ${statement.Sid}`).toEqual(VIA_DYNAMODB);
        for (const action of asList(statement.Action) as string[]) expect(USE_ACTIONS.some((use) => matches(action, use)) || action === 'kms:DescribeKey').toBe(true);
      }
    }
  });

  it('the narrative key: Decrypt through DynamoDB for the intake (a write needs it), the console and the CaseReaderPolicy; table setup; nothing else', () => {
    const narrative = keys().find((k) => k.path === 'CaseIntake/NarrativeKey');
    const summary = narrative?.statements.map((s) => ({
      sid: s.Sid,
      principal: principalOf(s),
      actions: asList(s.Action),
      conditions: Object.keys(s.Condition ?? {}),
    }));
    expect(summary).toEqual([
      { sid: 'KeyAdministration', principal: ROOT, actions: KEY_ADMIN_ACTIONS, conditions: [] },
      { sid: 'DynamoDbTableSetup', principal: ROOT, actions: ['kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'], conditions: ['StringEquals'] },
      { sid: 'DynamoDbTableGrants', principal: ROOT, actions: ['kms:CreateGrant'], conditions: ['StringEquals', 'Bool'] },
      { sid: 'CaseReadersThroughDynamoDb', principal: ROOT, actions: ['kms:Decrypt'], conditions: ['StringEquals'] },
      { sid: 'IntakeWritesThroughDynamoDb', principal: 'CaseIntake/ReportIntakeFunctionRole', actions: ['kms:Decrypt'], conditions: ['StringEquals'] },
      { sid: 'ConsoleReadsThroughDynamoDb', principal: 'OperatorConsole/ConsoleFunctionRole', actions: ['kms:Decrypt'], conditions: ['StringEquals'] },
    ]);
    expect(narrative?.statements.find((s) => s.Sid === 'DynamoDbTableGrants')?.Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': 'true' });
  });

  it('in IAM, only the intake, the console and the CaseReaderPolicy name the narrative key: Decrypt, through DynamoDB, for the narrative table only', () => {
    const narrativeKey = logicalIdOf('CaseIntake/NarrativeKey');
    const holders: string[] = [];
    for (const [id, policy] of [...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')]) {
      for (const statement of (props(policy).PolicyDocument as { Statement: Statement[] }).Statement) {
        if (!JSON.stringify(statement.Resource).includes(narrativeKey)) continue;
        holders.push(nameOf.get(id) ?? id);
        expect(statement.Action).toBe('kms:Decrypt');
        expect(statement.Condition).toEqual({
          StringEquals: { ...VIA_DYNAMODB, 'kms:EncryptionContext:aws:dynamodb:tableName': expect.anything() },
        });
        const tables = asList(statement.Condition?.StringEquals?.['kms:EncryptionContext:aws:dynamodb:tableName']).map(describeRef);
        expect(tables).toEqual(['CaseIntake/NarrativeTable']);
      }
    }
    expect(holders.sort()).toEqual(['CaseIntake/CaseReaderPolicy', 'CaseIntake/ReportIntakeFunctionRole/DefaultPolicy', 'OperatorConsole/ConsoleFunctionRole/DefaultPolicy']);
  });

  it('the data key: administration, table setup, and Decrypt through DynamoDB for whom IAM allows', () => {
    const data = keys().find((k) => k.path === 'Tables/DataKey');
    expect(data?.statements.map((s) => `${s.Sid} ${principalOf(s)} ${asList(s.Action).join(',')}`)).toEqual([
      `KeyAdministration ${ROOT} ${KEY_ADMIN_ACTIONS.join(',')}`,
      `DynamoDbTableSetup ${ROOT} kms:DescribeKey,kms:Encrypt,kms:GenerateDataKey*,kms:ReEncrypt*`,
      `DynamoDbTableGrants ${ROOT} kms:CreateGrant`,
      `TablesThroughDynamoDb ${ROOT} kms:Decrypt`,
    ]);
  });

  it('each function may Decrypt only the keys of the tables it binds, through DynamoDB, for those tables; no other key action', () => {
    for (const { path } of functions) {
      const tables = boundTables(path);
      const kms = statementsOfRole(roleIdOf(path)).filter((s) => (asList(s.Action) as string[]).some((a) => a.startsWith('kms:')));
      const byKey = new Map<string, string[]>();
      for (const kind of tables) {
        const key = describeRef((props(resourceAt(TABLE_PATHS[kind])).SSESpecification as { KMSMasterKeyId: unknown }).KMSMasterKeyId);
        byKey.set(key, [...(byKey.get(key) ?? []), TABLE_PATHS[kind]]);
      }
      expect(
        kms.map((s) => ({ action: s.Action, key: describeRef(s.Resource), via: { ...s.Condition?.StringEquals, 'kms:EncryptionContext:aws:dynamodb:tableName': undefined } })),
        path,
      ).toEqual([...byKey.keys()].map((key) => ({ action: 'kms:Decrypt', key, via: { ...VIA_DYNAMODB, 'kms:EncryptionContext:aws:dynamodb:tableName': undefined } })));
      for (const statement of kms) {
        const named = asList(statement.Condition?.StringEquals?.['kms:EncryptionContext:aws:dynamodb:tableName']).map(describeRef);
        expect(named.sort(), path).toEqual([...(byKey.get(describeRef(statement.Resource)) ?? [])].sort());
      }
    }
  });

  it('the evidence key: administration, and kms:Sign only as the CLI signs (ECDSA_SHA_256, RAW)', () => {
    const evidence = keys().find((k) => k.path === 'EvidenceKey/Key');
    expect(evidence?.statements.map((s) => s.Sid)).toEqual(['KeyAdministration', 'SignEvidencePacks']);
    expect(evidence?.statements[1]).toMatchObject({
      Action: 'kms:Sign',
      Condition: { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } },
    });
    expect(principalOf(evidence?.statements[1] as Statement)).toBe(ROOT);
  });
});

// ---------------------------------------------------------------------------------
// Service principals

describe('service principals', () => {
  const ALARMS = `arn:aws:cloudwatch:eu-west-2:\${AWS::AccountId}:alarm:*`;

  it('every resource-policy statement for an AWS service names the source: the CloudWatch ones by account and alarm ARN', () => {
    const documents: [string, Statement[]][] = [
      ...ofType('AWS::KMS::Key').map(([id, r]): [string, Statement[]] => [id, (props(r).KeyPolicy as { Statement: Statement[] }).Statement]),
      ...[...ofType('AWS::SQS::QueuePolicy'), ...ofType('AWS::SNS::TopicPolicy')].map(([id, r]): [string, Statement[]] => [
        id,
        (props(r).PolicyDocument as { Statement: Statement[] }).Statement,
      ]),
    ];
    let seen = 0;
    for (const [id, statements] of documents) {
      for (const statement of statements.filter((s) => (s.Principal as { Service?: unknown } | undefined)?.Service !== undefined)) {
        seen++;
        const where = `${nameOf.get(id) ?? id} ${statement.Sid ?? ''}`;
        const sourceArn = statement.Condition?.ArnEquals?.['aws:SourceArn'] ?? statement.Condition?.ArnLike?.['aws:SourceArn'];
        const sourceAccount = statement.Condition?.StringEquals?.['aws:SourceAccount'];
        expect(sourceArn ?? sourceAccount, where).toBeDefined();
        if ((statement.Principal as { Service: unknown }).Service === 'cloudwatch.amazonaws.com') {
          expect(sourceAccount, where).toEqual({ Ref: 'AWS::AccountId' });
          expect(describeRef(sourceArn), where).toBe(ALARMS);
        }
      }
    }
    expect(seen).toBeGreaterThan(2);
  });

  it('the operator topic key lets CloudWatch use it only for alarms of this account and region', () => {
    const statements = (props(resourceAt('Operations/TopicKey')).KeyPolicy as { Statement: Statement[] }).Statement;
    expect(statements.map((s) => s.Sid)).toEqual(['KeyAdministration', 'CloudWatchAlarmsOfThisAccount']);
    const cloudWatch = statements[1];
    expect(cloudWatch?.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(cloudWatch?.Condition?.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(describeRef(cloudWatch?.Condition?.ArnLike?.['aws:SourceArn'])).toBe(ALARMS);
  });

  it('every Lambda permission for a service names its source ARN; EventBridge assumes the forwarding role only for this account', () => {
    for (const [id, permission] of ofType('AWS::Lambda::Permission')) {
      expect(props(permission).SourceArn, nameOf.get(id)).toBeDefined();
    }
    // Role trust: lambda.amazonaws.com for the execution roles (Lambda assumes one only for a function
    // created with it, which takes iam:PassRole on that role), events.amazonaws.com for the forwarder.
    for (const [id, role] of ofType('AWS::IAM::Role')) {
      for (const statement of (props(role).AssumeRolePolicyDocument as { Statement: Statement[] }).Statement) {
        const service = (statement.Principal as { Service?: string }).Service;
        expect(['lambda.amazonaws.com', 'events.amazonaws.com'], nameOf.get(id)).toContain(service);
        if (service === 'events.amazonaws.com') expect(statement.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } });
      }
    }
  });
});
