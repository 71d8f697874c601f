/**
 * What tells an operator that something needs them (issue 6 "Operations"): a CloudWatch alarm
 * on the depth of every dead-letter queue in the stack, and on the SES account's bounce and
 * complaint rates, each notifying one operator SNS topic (optionally with an email
 * subscription, config `operatorEmail`). A message in a DLQ is redriven with
 * `trust-notify redrive` (local/redrive-command.ts).
 *
 * The DLQs are found generically: every {@link DeadLetterQueue} in the stack gets its alarm.
 * Construct this last in the stack; a validation fails synthesis if a DLQ added after it has
 * no alarm.
 *
 * The topic is encrypted with a customer-managed KMS key (rotated) whose policy lets
 * CloudWatch publish: CloudWatch alarms cannot use a topic encrypted with the AWS-managed
 * `alias/aws/sns` key, whose policy cannot be changed. CloudWatch may publish to the topic and
 * use its key only for alarms of this account and region (`aws:SourceAccount`, `aws:SourceArn`).
 * Publishing requires TLS (AwsSolutions-SNS2 and -SNS3).
 */
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { keyAdministration } from './key-policy.ts';
import { DeadLetterQueue } from './secure-queue.ts';

/**
 * SES reputation thresholds (fractions, as SES publishes `Reputation.BounceRate` and
 * `Reputation.ComplaintRate` in AWS/SES): above 5% bounces or 0.1% complaints SES may put
 * the account under review, so the operator hears at those levels.
 */
export const SES_BOUNCE_RATE_THRESHOLD = 0.05;
export const SES_COMPLAINT_RATE_THRESHOLD = 0.001;

export interface OperationsAlarmsProps {
  config: TrustConfig;
}

export class OperationsAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly topicKey: kms.Key;
  /** DLQ construct path (below the stack) → its depth alarm. */
  readonly dlqAlarms = new Map<string, cloudwatch.Alarm>();
  readonly sesBounceRateAlarm: cloudwatch.Alarm;
  readonly sesComplaintRateAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: OperationsAlarmsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const cloudWatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');

    // No `kms:*` for the account (lib/key-policy.ts): it administers the key; only CloudWatch,
    // publishing an alarm of this account and region, uses it (the data key SNS encrypts the
    // message with). The topic's ARN cannot be named (the topic is encrypted with this key).
    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the operator alarm topic',
      enableKeyRotation: true,
      policy: new iam.PolicyDocument({
        statements: [
          keyAdministration(),
          new iam.PolicyStatement({
            sid: 'CloudWatchAlarmsOfThisAccount',
            principals: [cloudWatch],
            actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            resources: ['*'],
            conditions: {
              StringEquals: { 'aws:SourceAccount': stack.account },
              ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
            },
          }),
        ],
      }),
    });
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'trust-policy-notify operator alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
        },
      }),
    );
    if (props.config.operatorEmail) {
      const subscription = this.topic.addSubscription(new EmailSubscription(props.config.operatorEmail));
      Validations.of(subscription).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason: `The operator's email subscription: an alarm notification SNS cannot deliver to a mailbox is nothing to redrive, and the alarm that sent it stays in ALARM in CloudWatch until someone acts, so nothing is lost.`,
      });
    }
    const action = new SnsAction(this.topic);

    for (const dlq of deadLetterQueuesIn(stack)) {
      const path = pathBelow(stack, dlq);
      const alarm = new cloudwatch.Alarm(this, `${path.replaceAll('/', '')}Depth`, {
        alarmDescription: `Messages are waiting in the dead-letter queue ${path}: inspect them, then trust-notify redrive`,
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      this.dlqAlarms.set(path, alarm);
    }

    const sesRate = (name: string, metricName: string, threshold: number, what: string) => {
      const alarm = new cloudwatch.Alarm(this, name, {
        alarmDescription: `The SES ${what} rate is above ${threshold * 100}%: SES may review or pause sending`,
        metric: new cloudwatch.Metric({
          namespace: 'AWS/SES',
          metricName,
          period: Duration.hours(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      return alarm;
    };
    this.sesBounceRateAlarm = sesRate('SesBounceRate', 'Reputation.BounceRate', SES_BOUNCE_RATE_THRESHOLD, 'bounce');
    this.sesComplaintRateAlarm = sesRate('SesComplaintRate', 'Reputation.ComplaintRate', SES_COMPLAINT_RATE_THRESHOLD, 'complaint');

    // A DLQ constructed after this construct would have no alarm: refuse to synthesize.
    this.node.addValidation({
      validate: () =>
        deadLetterQueuesIn(stack)
          .map((dlq) => pathBelow(stack, dlq))
          .filter((path) => !this.dlqAlarms.has(path))
          .map((path) => `the dead-letter queue ${path} has no depth alarm: construct OperationsAlarms after every DLQ`),
    });
  }
}

/** Every dead-letter queue of the stack (also used by lib/operator-console.ts). */
export function deadLetterQueuesIn(stack: Stack): DeadLetterQueue[] {
  return stack.node.findAll().filter((c): c is DeadLetterQueue => c instanceof DeadLetterQueue);
}

/** A construct's path below the stack, e.g. `Email/Dlq`. */
export function pathBelow(stack: Stack, construct: Construct): string {
  return construct.node.path.slice(stack.node.path.length + 1);
}
