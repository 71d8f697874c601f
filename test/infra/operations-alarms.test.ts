/**
 * Operator alarms in the CDK stack (lib/operations-alarms.ts, issue 6 "Operations"): one
 * depth alarm per dead-letter queue, found generically (every DeadLetterQueue construct),
 * the SES reputation alarms with their thresholds, each notifying the operator topic, which
 * is KMS-encrypted (a rotated customer key CloudWatch may use) and TLS-only; the optional
 * operator email subscription; cdk-nag clean. Synthesized without bundling.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { DeadLetterQueue } from '../../lib/secure-queue.ts';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';
import {
  asList,
  describeRef,
  logicalIdOf,
  nameOf,
  ofType,
  props,
  resourceAt,
  synthesis,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';

type Json = Record<string, unknown>;

beforeAll(synthesizeForAssertions);

const alarms = () => ofType('AWS::CloudWatch::Alarm').map(([id, r]) => ({ id, path: nameOf.get(id) ?? id, p: props(r) }));
const dimensionQueue = (p: Json) => describeRef((asList(p.Dimensions)[0] as { Value: unknown }).Value);

describe('dead-letter queue depth alarms', () => {
  it('every DeadLetterQueue construct in the stack, and only those, has one alarm on its visible messages > 0', () => {
    const { stack } = synthesis();
    const dlqPaths = stack.node
      .findAll()
      .filter((c) => c instanceof DeadLetterQueue)
      .map((c) => c.node.path.slice(stack.node.path.length + 1))
      .sort();
    // The DLQs known today (a DLQ added later gets its alarm without a change here).
    expect(dlqPaths).toEqual(
      expect.arrayContaining(['Email/Dlq', 'Events/DeliveryDlq', 'PolicyFanout/Dlq', 'StaffOnboardedFunction/FailureDlq']),
    );
    const depth = alarms().filter((a) => a.p.Namespace === 'AWS/SQS');
    expect(depth.map((a) => dimensionQueue(a.p)).sort()).toEqual(dlqPaths.map((p) => `${p}.QueueName`));
    for (const { p } of depth) {
      expect(p).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
      expect(asList(p.AlarmActions).map(describeRef)).toEqual(['Operations/Topic']);
    }
  });

  it('a DLQ constructed after the alarms fails synthesis (it would have no alarm)', () => {
    const { app, stack } = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } });
    new DeadLetterQueue(stack, 'LateDlq', { holds: 'a test', targetOfRedrivePolicy: true });
    expect(() => app.synth()).toThrow(/LateDlq has no depth alarm/);
  });
});

describe('SES reputation alarms', () => {
  it.each([
    ['Operations/SesBounceRate', 'Reputation.BounceRate', 0.05],
    ['Operations/SesComplaintRate', 'Reputation.ComplaintRate', 0.001],
  ])('%s: AWS/SES %s above %d notifies the operator topic', (path, metric, threshold) => {
    expect(props(resourceAt(path))).toMatchObject({
      Namespace: 'AWS/SES',
      MetricName: metric,
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(props(resourceAt(path)).Dimensions).toBeUndefined();
    expect(asList(props(resourceAt(path)).AlarmActions).map(describeRef)).toEqual(['Operations/Topic']);
  });

  it('there are no other alarms', () => {
    expect(alarms().filter((a) => a.p.Namespace !== 'AWS/SQS').map((a) => a.path).sort()).toEqual([
      'Operations/SesBounceRate',
      'Operations/SesComplaintRate',
    ]);
  });
});

describe('the operator topic', () => {
  it('is encrypted with a rotated customer-managed key that CloudWatch may use (for this account’s alarms: test/infra/least-privilege.test.ts)', () => {
    expect(describeRef(props(resourceAt('Operations/Topic')).KmsMasterKeyId)).toBe('Operations/TopicKey');
    const key = props(resourceAt('Operations/TopicKey'));
    expect(key.EnableKeyRotation).toBe(true);
    const statements = (key.KeyPolicy as { Statement: Json[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
  });

  it('refuses publishing without TLS and lets CloudWatch publish alarms of this account and region only', () => {
    const policies = ofType('AWS::SNS::TopicPolicy').filter(([, p]) =>
      asList(props(p).Topics).some((t) => describeRef(t) === 'Operations/Topic'),
    );
    expect(policies).toHaveLength(1);
    const statements = (props(policies[0]?.[1]).PolicyDocument as { Statement: Json[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:aws:cloudwatch:eu-west-2:', { Ref: 'AWS::AccountId' }, ':alarm:*']] } },
        },
      }),
    );
  });

  it('has no subscription without operatorEmail, and an email subscription with it', () => {
    expect(loadTrustConfig().operatorEmail).toBeUndefined();
    expect(ofType('AWS::SNS::Subscription')).toEqual([]);
    const config = { ...loadTrustConfig(), operatorEmail: 'ops@example.org' };
    const { stack } = createTrustApp({ config, context: { 'aws:cdk:bundling-stacks': [] } });
    const subscriptions = Object.values(Template.fromStack(stack).findResources('AWS::SNS::Subscription'));
    expect(subscriptions.map((s) => s.Properties)).toEqual([
      { Protocol: 'email', Endpoint: 'ops@example.org', TopicArn: { Ref: logicalIdOf('Operations/Topic') } },
    ]);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing in the operations alarms, with nothing acknowledged there', () => {
    const report = new AwsSolutionsChecks().validateScope(synthesis().app);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    expect(findings.filter((f) => f.includes('/Operations/'))).toEqual([]);
    expect(findings).toEqual([]);
  });
});
