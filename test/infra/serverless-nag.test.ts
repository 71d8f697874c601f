/**
 * cdk-nag's Serverless pack (issue 6 §5, Security), run at synthesis beside AwsSolutions
 * (lib/trust-policy-notify-app.ts): zero unacknowledged findings, and each acknowledgement
 * silences exactly one real finding with a specific reason. The pinned list of all
 * acknowledgements is in test/infra/stack.test.ts.
 *
 * What the pack asks for and the stack already does: explicit memory and timeout, the
 * latest Node.js runtime, active tracing, log retention, an on-failure destination for
 * asynchronous invocations, a DLQ for every EventBridge target, a redrive policy on every
 * work queue. What is acknowledged instead (lib/trust-function.ts, lib/secure-queue.ts):
 * a DeadLetterConfig beside the on-failure destination, a redrive policy on a DLQ, an
 * on-failure destination on an SQS event source (which Lambda does not offer).
 */
import { type App, Validations } from 'aws-cdk-lib';
import { ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';

let app: App;

beforeAll(() => {
  // The checks read the construct tree: no bundling needed.
  ({ app } = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } }));
});

interface Acknowledgement {
  path: string;
  id: string;
  reason: string;
}

function serverlessAcknowledgements(root: IConstruct): Acknowledgement[] {
  const found: Acknowledgement[] = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [qualifiedId, reason] of Object.entries(entry.data as Record<string, string>)) {
        const id = qualifiedId.replace(/^annotation::/i, '');
        if (id.startsWith('Serverless-')) found.push({ path: construct.node.path, id, reason });
      }
    }
  }
  return found;
}

function findings(checks: ServerlessChecks): { id: string; path: string | undefined }[] {
  return checks
    .validateScope(app)
    .violations.flatMap((v) => v.violatingResources.map((r) => ({ id: v.ruleName, path: r.constructPath })));
}

describe('cdk-nag Serverless', () => {
  it('has no unacknowledged findings', () => {
    expect(findings(new ServerlessChecks()).map((f) => `${f.id} at ${f.path}`)).toEqual([]);
  });

  it('acknowledges only the three findings the design answers otherwise', () => {
    expect(new Set(serverlessAcknowledgements(app).map((a) => a.id))).toEqual(
      new Set(['Serverless-LambdaDLQ', 'Serverless-SQSRedrivePolicy', 'Serverless-LambdaEventSourceMappingDestination']),
    );
  });

  it('every acknowledgement silences one real finding on one resource, with a specific reason', () => {
    const raw = new ServerlessChecks();
    Object.assign(raw, { isAcknowledged: () => false });
    const all = findings(raw);
    const acks = serverlessAcknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      const silenced = all.filter(
        (f) => f.id === ack.id && f.path !== undefined && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)),
      );
      expect(new Set(silenced.map((f) => f.path)).size, `${ack.path}: ${ack.id}`).toBe(1);
      expect(ack.reason.length, `${ack.path}: ${ack.id}`).toBeGreaterThanOrEqual(80);
    }
  });

  it('each reason names where the failures go instead', () => {
    for (const ack of serverlessAcknowledgements(app)) {
      if (ack.id === 'Serverless-LambdaDLQ') expect(ack.reason).toMatch(/on-failure destination .*FailureDlq|Invoked synchronously only/);
      if (ack.id === 'Serverless-SQSRedrivePolicy') expect(ack.reason).toMatch(/itself a dead-letter queue.*trust-notify redrive/);
      if (ack.id === 'Serverless-LambdaEventSourceMappingDestination') expect(ack.reason).toMatch(/redrive policy to \S+\/Dlq\.$/);
    }
  });
});
