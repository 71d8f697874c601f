/**
 * The CDK app entry (cdk.json: `npx node bin/app.ts`, Node 24 running TypeScript natively).
 * `npx cdk synth --no-notices` works offline with no AWS account; `cdk deploy` uses the
 * standard credential chain. The trust configuration is config/trust.json (or
 * TRUST_CONFIG_PATH).
 */
import { createTrustApp } from '../lib/trust-policy-notify-app.ts';

createTrustApp();
