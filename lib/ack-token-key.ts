/**
 * The key that signs acknowledgement links (DESIGN.md "Acknowledgement links"): a Secrets
 * Manager secret generated at deployment, never in code or in the template. Its value is
 * the key ring the functions read (functions/domain/ack-token.ts):
 * `{"kid":"k1","key":"<64 random letters and digits>"}`.
 */
import { Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';

export class AckTokenKey extends secretsmanager.Secret {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      description: 'HMAC key ring that signs acknowledgement links (trust-policy-notify)',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ kid: 'k1' }),
        generateStringKey: 'key',
        passwordLength: 64,
        excludePunctuation: true,
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotation is by key ring, not by a rotation Lambda: an operator writes a new signing key first in the list and keeps the old one with an "acceptUntil" grace period, so links already emailed keep working until they expire. An automatic in-place rotation would invalidate every outstanding link at once.',
    });
  }
}
