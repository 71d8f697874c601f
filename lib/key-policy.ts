/**
 * Key policies of the stack's KMS keys (issue #12, "least privilege"). No key keeps CDK's
 * default statement that gives the account root `kms:*` (and with it every principal an IAM
 * policy lets use the key, for anything). Each key's policy is written out instead:
 *
 * - `KeyAdministration`: the account (through IAM: administrators, CloudFormation's role)
 *   may administer the key: describe, enable, disable, tag, rotate, change its policy,
 *   schedule its deletion. Not use it: no Encrypt, Decrypt, ReEncrypt, GenerateDataKey or
 *   Sign, and no CreateGrant, through which a use could be handed on.
 * - A key that encrypts DynamoDB tables is used only through DynamoDB (`kms:ViaService`
 *   `dynamodb.<region>.amazonaws.com`, `kms:CallerAccount` this account). DynamoDB calls KMS
 *   on the caller's behalf with the encryption context `aws:dynamodb:tableName` (and
 *   `aws:dynamodb:subscriberId`), and for reading or writing items it calls only Decrypt (of
 *   the table key it then uses itself; AWS KMS Developer Guide, "How Amazon DynamoDB uses
 *   AWS KMS"). The encryption context cannot be named here: the table is encrypted with this
 *   key, so the key exists before the table's name does. It is named in the IAM statements
 *   instead (TrustFunction.bindTable, CaseReaderPolicy).
 * - `DynamoDbTableSetup` and `DynamoDbTableGrants`: what DynamoDB asks of the principal that
 *   creates a table with the key or changes its key (CloudFormation's role at deployment):
 *   the data-key actions the DynamoDB documentation lists for that principal, and the grants
 *   DynamoDB keeps on the key for its own maintenance (`kms:GrantIsForAWSResource`). Through
 *   DynamoDB only; Decrypt is not among them.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct, IConstruct } from 'constructs';

/** Administration only (compare CDK's ADMIN_ACTIONS: `kms:Create*` there includes CreateGrant). */
export const KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:Delete*',
  'kms:Describe*',
  'kms:Disable*',
  'kms:Enable*',
  'kms:Get*',
  'kms:List*',
  'kms:Put*',
  'kms:Revoke*',
  'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:Update*',
];

/** What DynamoDB needs from the principal that creates a table with the key or re-keys it (besides CreateGrant). */
export const DYNAMODB_TABLE_SETUP_ACTIONS = ['kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'];

/** `kms:ViaService` DynamoDB in the stack's region, from this account. */
export function throughDynamoDb(scope: IConstruct): Record<string, string> {
  const stack = Stack.of(scope);
  return { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com`, 'kms:CallerAccount': stack.account };
}

export function keyAdministration(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'KeyAdministration',
    principals: [new iam.AccountRootPrincipal()],
    actions: KEY_ADMIN_ACTIONS,
    resources: ['*'],
  });
}

/**
 * The policy of a key that encrypts DynamoDB tables: administration, table setup through
 * DynamoDB, and `readers`: Decrypt through DynamoDB, one statement each (a sid and its
 * principals; `AccountRootPrincipal` there means "whom IAM allows").
 */
export function dynamoDbKeyPolicy(scope: Construct, readers: { sid: string; principals: iam.IPrincipal[] }[]): iam.PolicyDocument {
  const via = throughDynamoDb(scope);
  return new iam.PolicyDocument({
    statements: [
      keyAdministration(),
      new iam.PolicyStatement({
        sid: 'DynamoDbTableSetup',
        principals: [new iam.AccountRootPrincipal()],
        actions: DYNAMODB_TABLE_SETUP_ACTIONS,
        resources: ['*'],
        conditions: { StringEquals: via },
      }),
      new iam.PolicyStatement({
        sid: 'DynamoDbTableGrants',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: { StringEquals: via, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
      ...readers.map(
        ({ sid, principals }) => new iam.PolicyStatement({ sid, principals, actions: ['kms:Decrypt'], resources: ['*'], conditions: { StringEquals: via } }),
      ),
    ],
  });
}

/** Adds a Decrypt-through-DynamoDB statement naming `principal` to a DynamoDB table key's policy. */
export function allowDecryptThroughDynamoDb(key: kms.IKey, sid: string, principal: iam.IPrincipal): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({ sid, principals: [principal], actions: ['kms:Decrypt'], resources: ['*'], conditions: { StringEquals: throughDynamoDb(key) } }),
  );
}
