/**
 * The pure parts of `trust-notify redrive` (local/redrive-command.ts): which DLQ feeds
 * which source, read from a template; choosing DLQs with --queue; the PutEvents entry that
 * re-publishes a dead-lettered event; the report.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import type { CfnTemplate } from '../../local/cloud-template.ts';
import {
  type DeadLetterQueueSpec,
  deadLetterQueues,
  formatRedrive,
  type QueueResult,
  republishEntry,
  selectDeadLetterQueues,
  withoutHash,
} from '../../local/redrive-command.ts';

const arn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const template: CfnTemplate = {
  Resources: {
    EmailQueueA81ECD67: { Type: 'AWS::SQS::Queue', Properties: { RedrivePolicy: { deadLetterTargetArn: arn('EmailDlq52EB504C'), maxReceiveCount: 5 } } },
    EmailDlq52EB504C: { Type: 'AWS::SQS::Queue', Properties: {} },
    FanoutQueue00EFB5F8: { Type: 'AWS::SQS::Queue', Properties: { RedrivePolicy: { deadLetterTargetArn: arn('FanoutDlq2C49BB8A') } } },
    FanoutDlq2C49BB8A: { Type: 'AWS::SQS::Queue' },
    StaffOnboardedFunctionFailureDlq7DA72385: { Type: 'AWS::SQS::Queue' },
    StaffOnboardedInvokeConfig: {
      Type: 'AWS::Lambda::EventInvokeConfig',
      Properties: { DestinationConfig: { OnFailure: { Destination: arn('StaffOnboardedFunctionFailureDlq7DA72385') } } },
    },
    EventsDeliveryDlq2DA76C06: { Type: 'AWS::SQS::Queue' },
    RuleA: { Type: 'AWS::Events::Rule', Properties: { Targets: [{ Arn: 'x', DeadLetterConfig: { Arn: arn('EventsDeliveryDlq2DA76C06') } }] } },
    RuleB: { Type: 'AWS::Events::Rule', Properties: { Targets: [{ Arn: 'y', DeadLetterConfig: { Arn: arn('EventsDeliveryDlq2DA76C06') } }] } },
    OrdinaryQueue: { Type: 'AWS::SQS::Queue' },
  },
  Outputs: {
    EmailDlqUrl: { Value: { Ref: 'EmailDlq52EB504C' } },
    EmailQueueUrl: { Value: { Ref: 'EmailQueueA81ECD67' } },
    StaffOnboardedFailureDlqUrl: { Value: { Ref: 'StaffOnboardedFunctionFailureDlq7DA72385' } },
    EventDeliveryDlqUrl: { Value: { Ref: 'EventsDeliveryDlq2DA76C06' } },
    DataTableName: { Value: { Ref: 'DataTable' } },
  },
};

describe('deadLetterQueues', () => {
  it('finds every DLQ by what names it, with its source and the name operators use', () => {
    expect(deadLetterQueues(template)).toEqual([
      { logicalId: 'EmailDlq52EB504C', name: 'EmailDlq', outputKey: 'EmailDlqUrl', kind: 'queue', source: { logicalId: 'EmailQueueA81ECD67', name: 'EmailQueue' } },
      { logicalId: 'EventsDeliveryDlq2DA76C06', name: 'EventDeliveryDlq', outputKey: 'EventDeliveryDlqUrl', kind: 'events' },
      // No output: named by its logical id without the hash.
      { logicalId: 'FanoutDlq2C49BB8A', name: 'FanoutDlq', kind: 'queue', source: { logicalId: 'FanoutQueue00EFB5F8', name: 'FanoutQueue' } },
      {
        logicalId: 'StaffOnboardedFunctionFailureDlq7DA72385',
        name: 'StaffOnboardedFailureDlq',
        outputKey: 'StaffOnboardedFailureDlqUrl',
        kind: 'invocation-records',
      },
    ]);
  });

  it('withoutHash drops only a CDK 8-hex suffix', () => {
    expect(withoutHash('EmailDlq52EB504C')).toBe('EmailDlq');
    expect(withoutHash('OrdinaryQueue')).toBe('OrdinaryQueue');
  });
});

describe('selectDeadLetterQueues', () => {
  const all = deadLetterQueues(template);
  it.each(['StaffOnboardedFailureDlq', 'StaffOnboardedFailureDlqUrl', 'StaffOnboardedFunctionFailureDlq7DA72385', 'StaffOnboardedFunctionFailureDlq'])(
    '--queue %s chooses that one DLQ',
    (queue) => {
      expect(selectDeadLetterQueues(all, queue).map((q) => q.name)).toEqual(['StaffOnboardedFailureDlq']);
    },
  );
  it('without --queue: every DLQ', () => {
    expect(selectDeadLetterQueues(all, undefined)).toHaveLength(4);
  });
  it('an unknown name (or an ordinary queue) is refused, listing the DLQs', () => {
    expect(() => selectDeadLetterQueues(all, 'EmailQueue')).toThrow(
      '--queue: no dead-letter queue is called that; use one of EmailDlq, EventDeliveryDlq, FanoutDlq, StaffOnboardedFailureDlq',
    );
  });
});

describe('republishEntry', () => {
  const event = { id: 'e-1', source: 'trust.hr', 'detail-type': 'Staff Onboarded', detail: { staffId: 'S1' } };
  const expected = { EventBusName: EVENT_BUS_NAME, Source: 'trust.hr', DetailType: 'Staff Onboarded', Detail: '{"staffId":"S1"}' };

  it('an invocation record: its requestPayload, re-published with source, detail-type and detail', () => {
    const record = { version: '1.0', requestContext: { condition: 'RetriesExhausted' }, requestPayload: event };
    expect(republishEntry('invocation-records', JSON.stringify(record))).toEqual({ entry: expected });
  });

  it('a delivery DLQ message: the event itself', () => {
    expect(republishEntry('events', JSON.stringify(event))).toEqual({ entry: expected });
  });

  it('an AWS source (SES feedback, a schedule) is left: PutEvents refuses aws.* sources', () => {
    const scheduled = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
    expect(republishEntry('invocation-records', JSON.stringify({ requestPayload: scheduled }))).toEqual({
      skip: 'an AWS event source (aws.*) cannot be re-published',
    });
  });

  it('what is not an event is left, never re-published', () => {
    expect(republishEntry('events', 'not json')).toEqual({ skip: 'not JSON' });
    expect(republishEntry('events', '{"detail":{}}')).toEqual({ skip: 'not an event' });
    expect(republishEntry('invocation-records', JSON.stringify({ requestPayload: { Records: [] } }))).toEqual({
      skip: 'the invocation record holds no event',
    });
  });
});

describe('formatRedrive', () => {
  const [email, , , staff] = deadLetterQueues(template) as DeadLetterQueueSpec[];
  const results: QueueResult[] = [
    { queue: email as DeadLetterQueueSpec, waiting: 2, moved: 2, left: {}, failed: 0 },
    { queue: staff as DeadLetterQueueSpec, waiting: 3, moved: 1, left: { 'not JSON': 1 }, failed: 1 },
  ];
  it('one line per DLQ with its destination and counts, and the total', () => {
    expect(formatRedrive(results, false).split('\n')).toEqual([
      `  ${'EmailDlq → EmailQueue'.padEnd(54)}  moved 2`,
      `  StaffOnboardedFailureDlq → ${EVENT_BUS_NAME} (re-published)  moved 1, left 1 (not JSON), failed 1`,
      'moved 3 message(s); 1 could not be sent back and stay in their DLQ',
    ]);
  });
  it('a dry run reports what is waiting and says nothing moved', () => {
    expect(formatRedrive(results, true).split('\n')).toEqual([
      `  ${'EmailDlq → EmailQueue'.padEnd(54)}  would move 2`,
      `  StaffOnboardedFailureDlq → ${EVENT_BUS_NAME} (re-published)  would move 3`,
      'dry run: 5 message(s) would move; nothing was moved',
    ]);
  });
});
