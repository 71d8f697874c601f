/**
 * Where state lives (DESIGN.md "Data"): the data table (people, policies, acknowledgement
 * requests) and the email ledger. Both are on-demand, with point-in-time recovery, kept
 * when the stack is deleted, and encrypted with one customer-managed KMS key.
 *
 * Why a customer-managed key rather than the AWS-managed `aws/dynamodb` key: this is UK
 * personal data of school staff and volunteers. Our own key gives a key policy we control,
 * a CloudTrail record of every use under a key id we own, and one switch that makes the
 * data unreadable (disable the key) if the trust ever needs it. It costs one key per
 * month; rotation is yearly and automatic. (Breach narratives have a key of their own,
 * lib/case-intake.ts.)
 *
 * Its policy (lib/key-policy.ts) has no `kms:*` for the account: the account may administer
 * the key, DynamoDB may set a table up with it, and any use is Decrypt through DynamoDB in
 * this region (`TablesThroughDynamoDb`), for the principals IAM allows: each function's role
 * names the tables it binds (`kms:EncryptionContext:aws:dynamodb:tableName`,
 * lib/trust-function.ts `bindTable`), the CaseReaderPolicy the data table. Nothing can
 * decrypt with it outside DynamoDB.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { dynamoDbKeyPolicy } from './key-policy.ts';

const S = dynamodb.AttributeType.STRING;

export class DataTables extends Construct {
  readonly key: kms.Key;
  readonly dataTable: dynamodb.Table;
  readonly ledgerTable: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.key = new kms.Key(this, 'DataKey', {
      description: 'Encrypts the trust-policy-notify DynamoDB tables (UK personal data)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      policy: dynamoDbKeyPolicy(this, [{ sid: 'TablesThroughDynamoDb', principals: [new iam.AccountRootPrincipal()] }]),
    });

    const common = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    } satisfies Partial<dynamodb.TableProps>;

    /*
     * DataTable: one table, several item types. Access patterns:
     *
     * | what                                   | key condition                                                   |
     * |----------------------------------------|-----------------------------------------------------------------|
     * | a person, by staffId                   | pk = PERSON#<staffId>, sk = PROFILE                             |
     * | a person's acknowledgement requests    | pk = PERSON#<staffId>, sk begins_with REQUEST#                  |
     * | the people of a school                 | gsi1: gsi1pk = SCHOOL#<schoolId>, gsi1sk = PERSON#<staffId>     |
     * | a policy's current version pointer     | pk = POLICY#<policyId>, sk = CURRENT                            |
     * | a policy's versions                    | pk = POLICY#<policyId>, sk = VERSION#<000001> (begins_with)     |
     * | every policy's current version         | gsi1: gsi1pk = POLICIES, gsi1sk = <policyId>                    |
     * | a review notice, once per cycle        | pk = POLICY#<policyId>,                                         |
     * |   (claimed, then published)            |   sk = REVIEWNOTICE#<000001>#<reviewDueBy>#<stage>#<occurrence> |
     * | a recorded review ("no change")        | pk = POLICY#<policyId>, sk = REVIEWED#<000001>#<reviewedOn>     |
     * | the requests of one policy version     | gsi1: gsi1pk = POLICYVERSION#<policyId>#<version>,              |
     * |                                        |       gsi1sk = PERSON#<staffId>                                 |
     * | a breach or concern case               | pk = CASE#<caseId>, sk = CASE                                   |
     * | its timeline, in order                 | pk = CASE#<caseId>, sk begins_with TIMELINE#                    |
     * |                                        |   (TIMELINE#<iso instant>#<000001>; narratives: lib/case-intake.ts) |
     * | the year's case number sequence        | pk = COUNTER#CASE, sk = <year>                                  |
     * | a report already taken (its eventId)   | pk = INTAKE#<eventId>, sk = INTAKE                              |
     *
     * `expiresAt` (epoch seconds) lets DynamoDB delete items whose retention has run out;
     * items without it are kept.
     */
    this.dataTable = new dynamodb.Table(this, 'DataTable', {
      ...common,
      partitionKey: { name: 'pk', type: S },
      sortKey: { name: 'sk', type: S },
      timeToLiveAttribute: 'expiresAt',
    });
    this.dataTable.addGlobalSecondaryIndex({
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: S },
      sortKey: { name: 'gsi1sk', type: S },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    /*
     * gsi2: sparse, for the daily scanners. An item is in it only while it has `gsi2pk`.
     *
     * | what                                     | key condition                                              |
     * |------------------------------------------|------------------------------------------------------------|
     * | pending requests due by a date           | gsi2pk = PENDING#<shard 0-7>, gsi2sk <= <dueOn>~           |
     * |   (sharded by staffId so a 10,000-person fan-out does not write one index partition)   |
     * | acknowledged requests, acknowledged on   | gsi2pk = ACKED#<shard 0-7>, gsi2sk <= <date>~              |
     * |   or before a date (the refreshers)      |   (gsi2sk = <acknowledged on>#<staffId>#<policyId>#<ver>)  |
     * | current policy versions by review date   | gsi2pk = REVIEW, gsi2sk <= <reviewDueBy>~                  |
     * | open cases by triage deadline            | gsi2pk = TRIAGE, gsi2sk <= <deadline>~                     |
     * | fan-outs owed (the ledger sweeper)       | gsi2pk = FANOUT, gsi2sk <= <owed since>~                   |
     */
    this.dataTable.addGlobalSecondaryIndex({
      indexName: 'gsi2',
      partitionKey: { name: 'gsi2pk', type: S },
      sortKey: { name: 'gsi2sk', type: S },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    /*
     * LedgerTable: one row per intended email, keyed by its business key
     * (pk = e.g. <policyId>#<version>#<staffId>#<kind>, <caseId>#<recipient>#<kind>,
     * review#<policyId>#<version>#<stage>#<occurrence>), with state
     * queued → sending → sent | failed | abandoned. No TTL: a ledger row never expires, because it is
     * what tells a redelivered event that its email has already gone.
     */
    this.ledgerTable = new dynamodb.Table(this, 'LedgerTable', {
      ...common,
      partitionKey: { name: 'pk', type: S },
    });
    /*
     * owed (sparse, keys only): every row still owed (queued or sending), by when it was
     * last found owed: owedShard = OWED#<0-7> (a hash of the key, so a fan-out of thousands
     * spreads over eight partitions), owedSince = an ISO time. A row enters it with the
     * write that records it and leaves it with the write that makes it sent, failed or
     * abandoned, so the send path makes no extra request for it. The ledger sweeper queries
     * it (owedSince <= now - grace) instead of scanning (functions/adapters/ledger-repository.ts).
     */
    this.ledgerTable.addGlobalSecondaryIndex({
      indexName: 'owed',
      partitionKey: { name: 'owedShard', type: S },
      sortKey: { name: 'owedSince', type: S },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
  }
}
