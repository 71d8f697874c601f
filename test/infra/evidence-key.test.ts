/**
 * The evidence-pack signing key in the CDK stack (lib/evidence-key.ts, issue 7 item 4): one
 * KMS asymmetric key, ECC_NIST_P256 for SIGN_VERIFY, retained, with no automatic rotation
 * (KMS rotates symmetric keys only, and CDK refuses rotation on an asymmetric key); the
 * signer policy allows kms:Sign and kms:GetPublicKey on that key only; the outputs the CLI
 * reads; cdk-nag clean. Synthesized without bundling.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { arnOf, describeRef, logicalIdOf, ofType, props, resourceAt, synthesis, synthesizeForAssertions } from '../support/cdk-assertions.ts';

beforeAll(synthesizeForAssertions);

describe('evidence signing key', () => {
  it('is one ECC_NIST_P256 SIGN_VERIFY key, enabled, with no rotation setting', () => {
    const key = resourceAt('EvidenceKey/Key');
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(props(key)).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    expect(props(key).EnableKeyRotation).toBeUndefined();
    expect(props(key).Enabled).not.toBe(false);
    const signing = ofType('AWS::KMS::Key').filter(([, r]) => props(r).KeyUsage === 'SIGN_VERIFY');
    expect(signing.map(([id]) => id)).toEqual([logicalIdOf('EvidenceKey/Key')]);
  });

  it('is retained when the stack is deleted or the key replaced (old packs must still verify)', () => {
    const key = resourceAt('EvidenceKey/Key');
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.UpdateReplacePolicy).toBe('Retain');
  });

  it('cannot be given automatic rotation: CDK refuses it for an asymmetric key (KMS rotates symmetric keys only)', () => {
    const stack = new Stack(new App(), 'RotationProbe');
    expect(() => new kms.Key(stack, 'Probe', { keySpec: kms.KeySpec.ECC_NIST_P256, keyUsage: kms.KeyUsage.SIGN_VERIFY, enableKeyRotation: true })).toThrow(
      /rotation/i,
    );
  });

  it('the signer policy allows only kms:Sign and kms:GetPublicKey, on this key only', () => {
    const policy = resourceAt('EvidenceKey/SignerPolicy');
    expect(policy.Type).toBe('AWS::IAM::ManagedPolicy');
    const { Statement } = props(policy).PolicyDocument as { Statement: { Effect: string; Action: unknown; Resource: unknown }[] };
    expect(Statement).toEqual([{ Effect: 'Allow', Action: ['kms:GetPublicKey', 'kms:Sign'], Resource: arnOf('EvidenceKey/Key') }]);
  });

  it('no function is granted the key', () => {
    const grants = [...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')].filter(
      ([id, p]) => id !== logicalIdOf('EvidenceKey/SignerPolicy') && JSON.stringify(props(p).PolicyDocument).includes(logicalIdOf('EvidenceKey/Key')),
    );
    expect(grants).toEqual([]);
  });
});

describe('outputs and cdk-nag', () => {
  it('outputs the key id and the signer policy at the stack top level (the names trust-notify evidence reads)', () => {
    const { outputs } = synthesis();
    expect(describeRef(outputs.EvidenceKeyId?.Value)).toBe('EvidenceKey/Key');
    expect(describeRef(outputs.EvidenceSignerPolicyArn?.Value)).toBe('EvidenceKey/SignerPolicy');
  });

  it('cdk-nag finds nothing under EvidenceKey', () => {
    const report = new AwsSolutionsChecks().validateScope(synthesis().app);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    expect(findings.filter((f) => f.includes('/EvidenceKey/'))).toEqual([]);
  });
});
