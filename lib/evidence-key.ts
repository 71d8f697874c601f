/**
 * The key that signs evidence packs in AWS (issue 7 item 4; local/evidence-command.ts,
 * functions/domain/evidence.ts): a KMS asymmetric key, ECC_NIST_P256 for SIGN_VERIFY. The
 * private half never leaves KMS; `trust-notify evidence --stack …` signs each pack's chain
 * head with `kms:Sign` (ECDSA_SHA_256) and writes the public key (`kms:GetPublicKey`) next
 * to the pack, so anyone can verify it offline.
 *
 * - No automatic rotation: KMS rotates symmetric keys only, and a rotated signing key would
 *   not verify old packs anyway. To change keys, create a new one and keep the old one
 *   (RETAIN) for as long as its packs must verify; each manifest names its key and the
 *   public key's fingerprint.
 * - RETAIN: deleting the stack must not delete the key that old packs were signed with.
 * - `EvidenceSignerPolicy`: what an operator's role needs to sign (kms:Sign, kms:GetPublicKey
 *   on this key only); reading the data table is the operator's own access, as for `report`.
 * - Its key policy has no `kms:*` for the account: administration, and kms:Sign (ECDSA_SHA_256,
 *   RAW messages, as local/evidence-command.ts signs) for whom IAM allows.
 * - Outputs (at the stack's top level, the names the CLI reads): `EvidenceKeyId` (a Ref,
 *   which the local runtime also resolves) and `EvidenceSignerPolicyArn`.
 */
import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { keyAdministration } from './key-policy.ts';

export class EvidenceKey extends Construct {
  readonly key: kms.Key;
  readonly signerPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Signs evidence packs (hash-chain heads) for trust-policy-notify: ECDSA P-256, SIGN_VERIFY',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
      // No `kms:*` for the account (lib/key-policy.ts): administration (its public key
      // included, kms:Get*), and kms:Sign for whom IAM allows (the signer policy), only as
      // the CLI signs: ECDSA_SHA_256 over the raw message.
      policy: new iam.PolicyDocument({
        statements: [
          keyAdministration(),
          new iam.PolicyStatement({
            sid: 'SignEvidencePacks',
            principals: [new iam.AccountRootPrincipal()],
            actions: ['kms:Sign'],
            resources: ['*'],
            conditions: { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } },
          }),
        ],
      }),
    });
    this.signerPolicy = new iam.ManagedPolicy(this, 'SignerPolicy', {
      description: 'trust-notify evidence: sign evidence packs with the evidence key and read its public key',
      statements: [new iam.PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [this.key.keyArn] })],
    });
    const stack = Stack.of(this);
    new CfnOutput(stack, 'EvidenceKeyId', { value: this.key.keyId, description: 'The KMS key that signs evidence packs (trust-notify evidence)' });
    new CfnOutput(stack, 'EvidenceSignerPolicyArn', {
      value: this.signerPolicy.managedPolicyArn,
      description: 'Attach to the role operators use for trust-notify evidence',
    });
  }
}
