import { describe, expect, it } from 'vitest';
import {
  compileEventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
  validateEventPattern,
} from '../../local/event-pattern.ts';

// Examples are taken from the AWS EventBridge user guide pages named in each describe block;
// a few subtle cases the guide leaves open follow aws/event-ruler, the engine EventBridge runs on.

/** An EventBridge-shaped event with the given detail (and optional top-level overrides). */
function event(detail: Record<string, unknown>, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '123456789012',
    time: '2017-10-02T16:24:49Z',
    region: 'us-east-1',
    resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
    detail,
    ...top,
  };
}

/** Asserts the pattern matches every event in `yes` and none in `no`. */
function check(pattern: unknown, yes: readonly unknown[], no: readonly unknown[]): void {
  const matches = compileEventPattern(pattern);
  for (const e of yes) expect(matches(e), `should match ${JSON.stringify(e)}`).toBe(true);
  for (const e of no) expect(matches(e), `should not match ${JSON.stringify(e)}`).toBe(false);
}

function rejection(pattern: unknown): InvalidEventPatternError {
  try {
    validateEventPattern(pattern);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEventPatternError);
    if (error instanceof InvalidEventPatternError) return error;
  }
  throw new Error(`pattern was accepted: ${JSON.stringify(pattern)}`);
}

describe('Event patterns page (eb-event-patterns)', () => {
  const ec2 = event(
    { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
    { source: 'aws.ec2', time: '2017-12-22T18:43:48Z', region: 'us-west-1' },
  );

  it('EC2 instance-termination example: source, detail-type and detail.state must all match', () => {
    const pattern = {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    };
    check(
      pattern,
      [ec2],
      [
        event({ state: 'running' }),
        { ...ec2, source: 'aws.s3' },
        { ...ec2, detail: {} },
        { source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification' },
      ],
    );
  });

  it('matching values: "source": ["aws.ec2", "aws.fargate"] matches either value', () => {
    check(
      { source: ['aws.ec2', 'aws.fargate'] },
      [ec2, { ...ec2, source: 'aws.fargate' }],
      [{ ...ec2, source: 'aws.s3' }, { ...ec2, source: 'AWS.EC2' }],
    );
  });

  it('strings match character by character without case folding', () => {
    check({ detail: { state: ['terminated'] } }, [ec2], [event({ state: 'Terminated' }), event({ state: 'terminated ' })]);
  });

  it('value matching (Macie example): numbers at nested levels', () => {
    const macie = event(
      { 'notification-type': 'ALERT_CREATED', 'risk-score': 80, trigger: { 'alert-type': 'basic', risk: 8 } },
      { source: 'aws.macie', 'detail-type': 'Macie Alert' },
    );
    const pattern = {
      source: ['aws.macie'],
      'detail-type': ['Macie Alert'],
      detail: { 'risk-score': [80], trigger: { risk: [8] } },
    };
    check(
      pattern,
      [macie],
      [
        { ...macie, detail: { 'risk-score': 80, trigger: { risk: 9 } } },
        { ...macie, detail: { 'risk-score': '80', trigger: { risk: 8 } } },
        { ...macie, detail: { 'risk-score': 80 } },
      ],
    );
  });

  it('ignores event fields the pattern does not name', () => {
    check({ source: ['aws.ec2'] }, [ec2, { source: 'aws.ec2', anything: { else: [1, 2] } }], [{}, { other: 'aws.ec2' }]);
  });

  it('booleans match exactly and are not strings', () => {
    check({ detail: { enabled: [true] } }, [event({ enabled: true })], [event({ enabled: false }), event({ enabled: 'true' })]);
  });
});

describe('Matching null values and empty strings (eb-event-patterns-null-values)', () => {
  const autoscaling = event(
    { eventVersion: '', responseElements: null },
    { source: 'aws.autoscaling', 'detail-type': 'EC2 Instance Launch Successful', resources: [] },
  );

  it('"eventVersion": [""] matches the empty string and not null', () => {
    check(
      { detail: { eventVersion: [''] } },
      [autoscaling],
      [event({ eventVersion: null }), event({ eventVersion: '1.0' }), event({})],
    );
  });

  it('"responseElements": [null] matches null and not the empty string or a missing field', () => {
    check(
      { detail: { responseElements: [null] } },
      [autoscaling],
      [event({ responseElements: '' }), event({ responseElements: {} }), event({})],
    );
  });

  it('field matching example with responseElements null alongside source and detail-type', () => {
    check(
      { source: ['aws.autoscaling'], 'detail-type': ['EC2 Instance Launch Successful'], detail: { responseElements: [null] } },
      [autoscaling],
      [{ ...autoscaling, source: 'aws.ec2' }],
    );
  });
});

describe('Arrays in event patterns (eb-event-patterns-arrays)', () => {
  it('resources example: matches when the pattern array and the event array intersect', () => {
    const pattern = {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
      ],
    };
    const hit = event(
      {},
      {
        resources: [
          'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate',
          'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        ],
      },
    );
    check(pattern, [hit], [event({}, { resources: ['arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f'] }), event({}, { resources: [] })]);
  });

  it('operators apply to each element of an event array', () => {
    check(
      { detail: { tags: [{ prefix: 'env:' }] } },
      [event({ tags: ['team:hr', 'env:prod'] }), event({ tags: [['nested', 'env:dev']] })],
      [event({ tags: ['team:hr'] }), event({ tags: [] })],
    );
  });

  it('arrays of objects: fields must come from the same element (event-ruler "JSON Array Matching")', () => {
    const employees = event({
      employees: [
        { firstName: 'John', lastName: 'Doe' },
        { firstName: 'Anna', lastName: 'Smith' },
        { firstName: 'Peter', lastName: 'Jones' },
      ],
    });
    check({ detail: { employees: { firstName: ['Anna'] } } }, [employees], [event({ employees: [] })]);
    check({ detail: { employees: { firstName: ['Anna'], lastName: ['Smith'] } } }, [employees], []);
    check({ detail: { employees: { firstName: ['Anna'], lastName: ['Jones'] } } }, [], [employees]);
  });
});

describe('Comparison operators table (eb-create-pattern-operators)', () => {
  it('And: "Location": ["New York"], "Day": ["Monday"]', () => {
    check(
      { detail: { Location: ['New York'], Day: ['Monday'] } },
      [event({ Location: 'New York', Day: 'Monday' })],
      [event({ Location: 'New York', Day: 'Tuesday' }), event({ Location: 'New York' })],
    );
  });

  it('Empty: "LastName": [""]', () => {
    check({ detail: { LastName: [''] } }, [event({ LastName: '' })], [event({ LastName: 'Doe' }), event({ LastName: null }), event({})]);
  });

  it('Equals: "Name": ["Alice"]', () => {
    check({ detail: { Name: ['Alice'] } }, [event({ Name: 'Alice' })], [event({ Name: 'alice' }), event({ Name: 'Alice ' })]);
  });

  it('Equals (ignore case): "Name": [{"equals-ignore-case": "alice"}]', () => {
    check(
      { detail: { Name: [{ 'equals-ignore-case': 'alice' }] } },
      [event({ Name: 'Alice' }), event({ Name: 'ALICE' }), event({ Name: 'alice' })],
      [event({ Name: 'Alicia' }), event({ Name: ['Bob'] }), event({})],
    );
  });

  it('Null: "UserID": [null]', () => {
    check({ detail: { UserID: [null] } }, [event({ UserID: null })], [event({ UserID: 'null' }), event({ UserID: '' }), event({})]);
  });

  it('Numeric (equals): "Price": [{"numeric": ["=", 100]}]', () => {
    check(
      { detail: { Price: [{ numeric: ['=', 100] }] } },
      [event({ Price: 100 }), event({ Price: 100.0 }), event({ Price: 1e2 })],
      [event({ Price: 100.5 }), event({ Price: '100' }), event({})],
    );
  });

  it('Numeric (range): "Price": [{"numeric": [">", 10, "<=", 20]}]', () => {
    check(
      { detail: { Price: [{ numeric: ['>', 10, '<=', 20] }] } },
      [event({ Price: 10.5 }), event({ Price: 20 }), event({ Price: [5, 15] })],
      [event({ Price: 10 }), event({ Price: 20.01 }), event({ Price: '15' })],
    );
  });

  it('Or (values): "PaymentType": ["Credit", "Debit"]', () => {
    check(
      { detail: { PaymentType: ['Credit', 'Debit'] } },
      [event({ PaymentType: 'Credit' }), event({ PaymentType: 'Debit' })],
      [event({ PaymentType: 'Cash' })],
    );
  });

  it('Or (fields): "$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]', () => {
    check(
      { detail: { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] } },
      [event({ Location: 'New York', Day: 'Friday' }), event({ Location: 'Paris', Day: 'Monday' })],
      [event({ Location: 'Paris', Day: 'Friday' }), event({})],
    );
  });

  it('Not: "Weather": [{"anything-but": ["Raining"]}]', () => {
    check(
      { detail: { Weather: [{ 'anything-but': ['Raining'] }] } },
      [event({ Weather: 'Sunny' }), event({ Weather: 'raining' })],
      [event({ Weather: 'Raining' }), event({})],
    );
  });

  it('Exists: "ProductName": [{"exists": true}] and Does not exist: [{"exists": false}]', () => {
    check({ detail: { ProductName: [{ exists: true }] } }, [event({ ProductName: 'Widget' }), event({ ProductName: '' })], [event({})]);
    check({ detail: { ProductName: [{ exists: false }] } }, [event({}), event({ Other: 1 })], [event({ ProductName: 'Widget' })]);
  });

  it('Wildcard: "FileName": [{"wildcard": "dir/*.png"}]', () => {
    check(
      { detail: { FileName: [{ wildcard: 'dir/*.png' }] } },
      [event({ FileName: 'dir/a.png' }), event({ FileName: 'dir/.png' }), event({ FileName: 'dir/sub/b.png' })],
      [event({ FileName: 'dir/a.jpg' }), event({ FileName: 'other/a.png' }), event({ FileName: 'dir/a.png.bak' })],
    );
  });
});

describe('Content filtering: prefix and suffix (eb-event-patterns-content-based-filtering)', () => {
  it('prefix: "time": [{"prefix": "2017-10-02"}]', () => {
    check(
      { time: [{ prefix: '2017-10-02' }] },
      [event({}, { time: '2017-10-02T18:43:48Z' })],
      [event({}, { time: '2017-10-03T18:43:48Z' }), event({}, { time: 20171002 })],
    );
  });

  it('prefix on region: "Region": [{"prefix": "us-"}] and the auto scaling "eu-" example', () => {
    check(
      { source: ['aws.autoscaling'], region: [{ prefix: 'eu-' }] },
      [event({}, { source: 'aws.autoscaling', region: 'eu-west-1' })],
      [event({}, { source: 'aws.autoscaling', region: 'us-east-1' }), event({}, { region: 'eu-west-1' })],
    );
  });

  it('prefix ignoring case: "service": [{"prefix": {"equals-ignore-case": "EventB"}}]', () => {
    check(
      { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } },
      [event({ service: 'EventBridge' }), event({ service: 'EVENTBRIDGE' }), event({ service: 'eventb' })],
      [event({ service: 'Event Bridge' }), event({ service: 'SQS' })],
    );
  });

  it('suffix: "FileName": [{"suffix": ".png"}]', () => {
    check(
      { detail: { FileName: [{ suffix: '.png' }] } },
      [event({ FileName: 'image.png' })],
      [event({ FileName: 'image.PNG' }), event({ FileName: 'image.png.txt' }), event({})],
    );
  });

  it('suffix ignoring case: "FileName": [{"suffix": {"equals-ignore-case": ".png"}}]', () => {
    check(
      { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } },
      [event({ FileName: 'image.png' }), event({ FileName: 'image.PNG' }), event({ FileName: 'image.pNg' })],
      [event({ FileName: 'image.jpg' }), event({ FileName: 'png' })],
    );
  });

  it('suffix ignoring case from the operators table: "service": [{"suffix": {"equals-ignore-case": "tBridge"}}]', () => {
    check(
      { detail: { service: [{ suffix: { 'equals-ignore-case': 'tBridge' } }] } },
      [event({ service: 'EventBridge' }), event({ service: 'EVENTBRIDGE' })],
      [event({ service: 'EventBus' })],
    );
  });
});

describe('Content filtering: anything-but', () => {
  it('anything-but a string: "state": [{"anything-but": "initializing"}]', () => {
    check(
      { detail: { state: [{ 'anything-but': 'initializing' }] } },
      [event({ state: 'running' }), event({ state: 'INITIALIZING' }), event({ state: 5 })],
      [event({ state: 'initializing' }), event({})],
    );
  });

  it('anything-but a number: "x-limit": [{"anything-but": 123}]', () => {
    check(
      { detail: { 'x-limit': [{ 'anything-but': 123 }] } },
      [event({ 'x-limit': 124 }), event({ 'x-limit': '123' })],
      [event({ 'x-limit': 123 }), event({})],
    );
  });

  it('anything-but a list of strings: ["stopped", "overloaded"]', () => {
    check(
      { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } },
      [event({ state: 'running' }), event({ state: ['stopped', 'running'] })],
      [event({ state: 'stopped' }), event({ state: 'overloaded' }), event({ state: ['stopped', 'overloaded'] })],
    );
  });

  it('anything-but a list of numbers: [100, 200, 300]', () => {
    check(
      { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } },
      [event({ 'x-limit': 150 }), event({ 'x-limit': 301.8 })],
      [event({ 'x-limit': 100 }), event({ 'x-limit': 300 }), event({})],
    );
  });

  it('anything-but prefix: "state": [{"anything-but": {"prefix": "init"}}]', () => {
    check(
      { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } },
      [event({ state: 'running' }), event({ state: 'Initializing' })],
      [event({ state: 'initializing' }), event({ state: 'init' }), event({})],
    );
  });

  it('anything-but prefix on source: [{"anything-but": {"prefix": "aws."}}] keeps only custom events', () => {
    check(
      { source: [{ 'anything-but': { prefix: 'aws.' } }] },
      [event({}, { source: 'trust.hr' })],
      [event({}, { source: 'aws.ec2' })],
    );
  });

  it('anything-but suffix: "FileName": [{"anything-but": {"suffix": ".png"}}]', () => {
    check(
      { detail: { FileName: [{ 'anything-but': { suffix: '.png' } }] } },
      [event({ FileName: 'image.jpg' }), event({ FileName: 'image.PNG' })],
      [event({ FileName: 'image.png' }), event({})],
    );
  });

  it('anything-but ignoring case: "state": [{"anything-but": {"equals-ignore-case": "initializing"}}]', () => {
    check(
      { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] } },
      [event({ state: 'running' })],
      [event({ state: 'initializing' }), event({ state: 'INITIALIZING' }), event({ state: 'Initializing' })],
    );
  });

  it('anything-but ignoring case with a list: {"equals-ignore-case": ["Stopped", "OverLoaded"]}', () => {
    check(
      { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'OverLoaded'] } }] } },
      [event({ state: 'running' })],
      [event({ state: 'STOPPED' }), event({ state: 'overloaded' })],
    );
  });

  it('anything-but wildcard: "FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]', () => {
    check(
      { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } },
      [event({ FilePath: '/usr/bin/node' }), event({ FilePath: 'lib/x' })],
      [event({ FilePath: '/usr/lib/node' }), event({ FilePath: '/lib/' }), event({})],
    );
  });

  it('anything-but wildcard with a list: {"wildcard": ["*/lib/*", "*/bin/*"]}', () => {
    check(
      { detail: { FilePath: [{ 'anything-but': { wildcard: ['*/lib/*', '*/bin/*'] } }] } },
      [event({ FilePath: '/usr/share/doc' })],
      [event({ FilePath: '/usr/lib/x' }), event({ FilePath: '/usr/bin/x' })],
    );
  });

  it('anything-but prefix and suffix with lists', () => {
    check(
      { detail: { Region: [{ 'anything-but': { prefix: ['us-', 'eu-'] } }] } },
      [event({ Region: 'ap-southeast-2' })],
      [event({ Region: 'us-east-1' }), event({ Region: 'eu-west-2' })],
    );
    check(
      { detail: { FileName: [{ 'anything-but': { suffix: ['.png', '.jpg'] } }] } },
      [event({ FileName: 'a.gif' })],
      [event({ FileName: 'a.png' }), event({ FileName: 'a.jpg' })],
    );
  });

  it('anything-but "AWS API Call via CloudTrail" and the list ["aws.ec2", "aws.s3"]', () => {
    check({ 'detail-type': [{ 'anything-but': 'AWS API Call via CloudTrail' }] }, [event({})], [event({}, { 'detail-type': 'AWS API Call via CloudTrail' })]);
    check(
      { source: [{ 'anything-but': ['aws.ec2', 'aws.s3'] }] },
      [event({}, { source: 'aws.lambda' })],
      [event({}, { source: 'aws.ec2' }), event({}, { source: 'aws.s3' })],
    );
  });
});

describe('Content filtering: numeric', () => {
  const pattern = {
    detail: {
      'c-count': [{ numeric: ['>', 0, '<=', 5] }],
      'd-count': [{ numeric: ['<', 10] }],
      'x-limit': [{ numeric: ['=', 3.018e2] }],
    },
  };

  it('c-count / d-count / x-limit example: true for all fields', () => {
    check(
      pattern,
      [event({ 'c-count': 5, 'd-count': 3, 'x-limit': 301.8 }), event({ 'c-count': 0.5, 'd-count': -20, 'x-limit': 301.8 })],
      [
        event({ 'c-count': 0, 'd-count': 3, 'x-limit': 301.8 }),
        event({ 'c-count': 6, 'd-count': 3, 'x-limit': 301.8 }),
        event({ 'c-count': 5, 'd-count': 10, 'x-limit': 301.8 }),
        event({ 'c-count': 5, 'd-count': 3, 'x-limit': 301.81 }),
        event({ 'c-count': 5, 'd-count': 3 }),
      ],
    );
  });

  it('each operator: =, <, <=, >, >= and the closed range >= / <', () => {
    const at = (op: string, n: number) => compileEventPattern({ detail: { v: [{ numeric: [op, n] }] } });
    const v = (x: unknown) => event({ v: x });
    expect([at('=', 3)(v(3)), at('=', 3)(v(3.5))]).toEqual([true, false]);
    expect([at('<', 3)(v(2.9)), at('<', 3)(v(3))]).toEqual([true, false]);
    expect([at('<=', 3)(v(3)), at('<=', 3)(v(3.1))]).toEqual([true, false]);
    expect([at('>', 3)(v(3.1)), at('>', 3)(v(3))]).toEqual([true, false]);
    expect([at('>=', 3)(v(3)), at('>=', 3)(v(2.9))]).toEqual([true, false]);
    check({ detail: { v: [{ numeric: ['>=', 0, '<', 1] }] } }, [v(0), v(0.999)], [v(1), v(-0.1)]);
  });

  it('numeric matching only works on JSON numbers', () => {
    check(
      { detail: { v: [{ numeric: ['>', 0] }] } },
      [event({ v: 1 })],
      [event({ v: '1' }), event({ v: true }), event({ v: null }), event({})],
    );
  });

  it('numeric matching is limited to -1e9..+1e9', () => {
    check({ detail: { v: [{ numeric: ['>', 0] }] } }, [event({ v: 1e9 })], [event({ v: 1e9 + 1 })]);
  });
});

describe('Content filtering: IP address matching (cidr)', () => {
  it('IPv4: "sourceIPAddress": [{"cidr": "10.0.0.0/24"}]', () => {
    check(
      { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } },
      [event({ sourceIPAddress: '10.0.0.0' }), event({ sourceIPAddress: '10.0.0.255' }), event({ sourceIPAddress: '10.0.0.33' })],
      [event({ sourceIPAddress: '10.0.1.0' }), event({ sourceIPAddress: 'not-an-ip' }), event({ sourceIPAddress: '::ffff:a00:21' })],
    );
  });

  it('IPv6: [{"cidr": "2001:db8::/32"}]', () => {
    check(
      { detail: { sourceIPAddress: [{ cidr: '2001:db8::/32' }] } },
      [event({ sourceIPAddress: '2001:db8::1' }), event({ sourceIPAddress: '2001:0DB8:ffff:0:0:0:0:1' })],
      [event({ sourceIPAddress: '2001:db9::1' }), event({ sourceIPAddress: '10.0.0.1' })],
    );
  });

  it('the complex example "source-ip": [{"cidr": "10.0.0.0/8"}] and an embedded-IPv4 IPv6 block', () => {
    check({ detail: { 'source-ip': [{ cidr: '10.0.0.0/8' }] } }, [event({ 'source-ip': '10.200.3.4' })], [event({ 'source-ip': '11.0.0.1' })]);
    check({ detail: { ip: [{ cidr: '::ffff:10.0.0.0/120' }] } }, [event({ ip: '::ffff:10.0.0.9' })], [event({ ip: '::ffff:10.0.1.9' })]);
  });
});

describe('Content filtering: exists', () => {
  it('"state": [{"exists": true}] matches a present state and not an event without one', () => {
    const pending = event({ 'instance-id': 'i-abcd1111', state: 'pending' });
    check({ detail: { state: [{ exists: true }] } }, [pending, event({ state: null })], [event({ 'c-count': { c1: 100 } })]);
  });

  it('"c-count": [{"exists": false}] matches when absent, and when c-count is not a leaf node', () => {
    check(
      { detail: { 'c-count': [{ exists: false }] } },
      [event({ state: ['initializing', 'running'] }), event({ 'c-count': { c1: 100 } }), event({ 'c-count': [] })],
      [event({ 'c-count': 5 }), event({ 'c-count': null }), event({ 'c-count': '' })],
    );
  });

  it('"description": [{"exists": true}] selects events that have a description', () => {
    check({ detail: { description: [{ exists: true }] } }, [event({ description: 'x' })], [event({})]);
  });

  it('exists false also matches when a parent object is missing or not an object', () => {
    check(
      { detail: { 'c-count': [{ exists: false }] } },
      [{ source: 'aws.ec2' }, event({}, { detail: 'text' })],
      [event({ 'c-count': 1 })],
    );
  });
});

describe('Content filtering: equals-ignore-case and wildcard', () => {
  it('"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]', () => {
    check(
      { 'detail-type': [{ 'equals-ignore-case': 'ec2 instance state-change notification' }] },
      [event({}), event({}, { 'detail-type': 'EC2 INSTANCE STATE-CHANGE NOTIFICATION' })],
      [event({}, { 'detail-type': 'EC2 Instance Launch Successful' })],
    );
  });

  it('"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]', () => {
    check(
      { detail: { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] } },
      [event({ EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/default' })],
      [event({ EventBusArn: 'arn:aws:events:us-west-2:123456789012:event-bus/default' }), event({ EventBusArn: 5 })],
    );
  });

  it('wildcard "*" matches zero or more characters, several wildcards allowed ("*Title*")', () => {
    check(
      { detail: { name: [{ wildcard: '*Title*' }] } },
      [event({ name: 'Title' }), event({ name: 'A Title here' })],
      [event({ name: 'title' }), event({ name: 'Titl' })],
    );
    check({ detail: { name: [{ wildcard: '*' }] } }, [event({ name: '' }), event({ name: 'x' })], [event({ name: 1 }), event({})]);
  });

  it('wildcard escaping: "\\*" is a literal asterisk and "\\\\" a literal backslash', () => {
    check(
      { detail: { name: [{ wildcard: 'a\\*b*' }] } },
      [event({ name: 'a*b' }), event({ name: 'a*bc' })],
      [event({ name: 'axb' }), event({ name: 'ab' })],
    );
    check({ detail: { path: [{ wildcard: 'C:\\\\*' }] } }, [event({ path: 'C:\\Windows' })], [event({ path: 'C:/Windows' })]);
  });
});

describe('$or (comparison operators page; event-ruler README examples)', () => {
  it('normal "Or": source AND (metricName OR namespace)', () => {
    const pattern = {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    };
    check(
      pattern,
      [
        { source: 'aws.cloudwatch', metricName: 'ReadLatency' },
        { source: 'aws.cloudwatch', namespace: 'AWS/ES' },
      ],
      [{ source: 'aws.cloudwatch', metricName: 'Other' }, { source: 'aws.ec2', metricName: 'ReadLatency' }],
    );
  });

  it('parallel "Or" at the top level and inside detail', () => {
    const pattern = {
      $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
      detail: { $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['CloudWatch Alarm State Change'] }] },
    };
    check(
      pattern,
      [{ namespace: 'AWS/EC2', detail: { 'detail-type': 'CloudWatch Alarm State Change' } }],
      [{ namespace: 'AWS/EC2', detail: { source: 'other' } }, { detail: { source: 'aws.cloudwatch' } }],
    );
  });

  it('nested "Or" and "And" inside an $or branch', () => {
    const pattern = {
      source: ['aws.cloudwatch'],
      $or: [
        { metricName: ['CPUUtilization'] },
        { metricType: ['MetricType'], namespace: ['AWS/EC2'], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
        { scope: ['Service'] },
      ],
    };
    check(
      pattern,
      [
        { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1000 },
        { source: 'aws.cloudwatch', scope: 'Service' },
      ],
      [
        { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1001 },
        { source: 'aws.cloudwatch', metricType: 'MetricType', metricId: 1234 },
      ],
    );
  });

  it('$or branches may use operators, including exists false', () => {
    check(
      { detail: { $or: [{ state: [{ prefix: 'run' }] }, { 'c-count': [{ numeric: ['>', 10] }] }, { flag: [{ exists: false }] }] } },
      [event({ state: 'running', flag: 1 }), event({ 'c-count': 11, flag: 1 }), event({})],
      [event({ state: 'stopped', 'c-count': 1, flag: 1 })],
    );
  });
});

describe('Complex example with multiple matching (content-filtering page)', () => {
  it('prefix, anything-but and numeric combined', () => {
    const pattern = {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
      },
    };
    const good = { state: 'running', 'c-count': 5, 'd-count': 3, 'x-limit': 301.8 };
    check(
      pattern,
      [event(good)],
      [
        event({ ...good, state: 'initializing' }),
        event({ ...good, 'x-limit': 200 }),
        event(good, { time: '2017-10-03T00:00:00Z' }),
      ],
    );
  });

  it('values of several kinds in one array are ORed', () => {
    check(
      { detail: { v: ['a', 7, null, { prefix: 'pre' }, { numeric: ['>', 100] }, { exists: false }] } },
      [event({ v: 'a' }), event({ v: 7 }), event({ v: null }), event({ v: 'prefix' }), event({ v: 101 }), event({})],
      [event({ v: 'b' }), event({ v: 8 }), event({ v: false })],
    );
  });
});

describe("this project's own patterns", () => {
  const onboarded = {
    version: '0',
    id: '5f1c3a52-2d2e-4b0c-9a0b-6c1d2e3f4a5b',
    'detail-type': 'Staff Onboarded',
    source: 'trust.hr',
    account: '111122223333',
    time: '2026-11-02T09:00:00Z',
    region: 'eu-west-2',
    resources: [],
    detail: { trustId: 'demo-trust', staffId: 'S-0001', email: 'a.teacher@school.example', schoolIds: ['SCH-1'] },
  };
  const pattern = { source: ['trust.hr'], 'detail-type': ['Staff Onboarded'] };

  it('routes Staff Onboarded from trust.hr', () => {
    check(
      pattern,
      [onboarded],
      [
        { ...onboarded, 'detail-type': 'Staff Offboarded' },
        { ...onboarded, source: 'trust.payroll' },
        { ...onboarded, 'detail-type': 'staff onboarded' },
      ],
    );
    expect(matchesEventPattern(pattern, onboarded)).toBe(true);
  });

  it('a compiled matcher is reusable and ignores non-object events', () => {
    const matches = compileEventPattern(pattern);
    expect([matches(onboarded), matches(onboarded), matches(null), matches('trust.hr'), matches([onboarded])]).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('detail filters narrow the rule, e.g. one trust only', () => {
    check({ ...pattern, detail: { trustId: ['demo-trust'], schoolIds: ['SCH-1', 'SCH-2'] } }, [onboarded], [
      { ...onboarded, detail: { ...onboarded.detail, trustId: 'other' } },
    ]);
  });
});

describe('invalid patterns are rejected with InvalidEventPatternError naming the path', () => {
  const cases: ReadonlyArray<readonly [string, unknown, string, RegExp]> = [
    ['an array pattern', [{ source: ['x'] }], '(root)', /JSON object/],
    ['a string pattern', '{"source":["x"]}', '(root)', /JSON object/],
    ['a null pattern', null, '(root)', /JSON object/],
    ['an empty pattern', {}, '(root)', /empty objects/],
    ['an empty nested object', { detail: {} }, 'detail', /empty objects/],
    ['a leaf that is not an array', { source: 'trust.hr' }, 'source', /array of values or a nested object/],
    ['an operator outside its array', { detail: { state: { prefix: 'x' } } }, 'detail.state.prefix', /array of values/],
    ['an empty array', { detail: { state: [] } }, 'detail.state', /empty arrays/],
    ['a nested array value', { detail: { state: [['a']] } }, 'detail.state', /values must be/],
    ['an unknown operator', { detail: { state: [{ contains: 'a' }] } }, 'detail.state', /unknown operator "contains"/],
    ['two operators in one object', { detail: { n: [{ prefix: 'a', suffix: 'b' }] } }, 'detail.n', /exactly one operator/],
    ['an empty operator object', { detail: { n: [{}] } }, 'detail.n', /exactly one operator/],
    ['numeric without a number', { detail: { age: [{ numeric: ['>'] }] } }, 'detail.age', /"numeric" needs an operator and a number/],
    ['numeric with a string number', { detail: { age: [{ numeric: ['>', '5'] }] } }, 'detail.age', /needs an operator and a number/],
    ['numeric not an array', { detail: { age: [{ numeric: 5 }] } }, 'detail.age', /needs an operator and a number/],
    ['numeric with an unknown operator', { detail: { age: [{ numeric: ['!=', 5] }] } }, 'detail.age', /operator must be one of/],
    ['numeric "=" in a range', { detail: { age: [{ numeric: ['=', 1, '<', 3] }] } }, 'detail.age', /operator must be one of > >=/],
    ['numeric range upside down', { detail: { age: [{ numeric: ['>', 5, '<', 1] }] } }, 'detail.age', /lower bound below/],
    ['numeric range with two lower bounds', { detail: { age: [{ numeric: ['>', 1, '>', 3] }] } }, 'detail.age', /one of < <=/],
    ['numeric out of range', { detail: { age: [{ numeric: ['>', 2e9] }] } }, 'detail.age', /between -1e9 and 1e9/],
    ['cidr without a mask', { detail: { ip: [{ cidr: '10.0.0.0' }] } }, 'detail.ip', /"cidr" needs/],
    ['cidr with too long a mask', { detail: { ip: [{ cidr: '10.0.0.0/33' }] } }, 'detail.ip', /"cidr" needs/],
    ['cidr with a bad octet', { detail: { ip: [{ cidr: '300.0.0.0/8' }] } }, 'detail.ip', /"cidr" needs/],
    ['cidr with a bad IPv6 address', { detail: { ip: [{ cidr: '2001:zz8::/32' }] } }, 'detail.ip', /"cidr" needs/],
    ['cidr with too long an IPv6 mask', { detail: { ip: [{ cidr: '2001:db8::/129' }] } }, 'detail.ip', /"cidr" needs/],
    ['wildcard with consecutive **', { detail: { f: [{ wildcard: 'a**b' }] } }, 'detail.f', /consecutive/],
    ['wildcard with a bad escape', { detail: { f: [{ wildcard: 'a\\b' }] } }, 'detail.f', /may only escape/],
    ['wildcard with a trailing backslash', { detail: { f: [{ wildcard: 'a\\' }] } }, 'detail.f', /may only escape/],
    ['wildcard that is not a string', { detail: { f: [{ wildcard: 5 }] } }, 'detail.f', /needs a string/],
    ['anything-but with a mixed list', { detail: { s: [{ 'anything-but': ['a', 1] }] } }, 'detail.s', /only strings or only numbers/],
    ['anything-but with an empty list', { detail: { s: [{ 'anything-but': [] }] } }, 'detail.s', /non-empty/],
    ['anything-but with a boolean', { detail: { s: [{ 'anything-but': true }] } }, 'detail.s', /anything-but" takes/],
    ['anything-but with null', { detail: { s: [{ 'anything-but': null }] } }, 'detail.s', /anything-but" takes/],
    ['anything-but with an empty prefix', { detail: { s: [{ 'anything-but': { prefix: '' } }] } }, 'detail.s', /must not be empty/],
    ['anything-but with an unknown operator', { detail: { s: [{ 'anything-but': { numeric: ['>', 1] } }] } }, 'detail.s', /takes one of/],
    ['anything-but prefix with a number', { detail: { s: [{ 'anything-but': { prefix: 5 } }] } }, 'detail.s', /needs a string/],
    ['anything-but with a bad wildcard', { detail: { s: [{ 'anything-but': { wildcard: ['ok*', 'x**'] } }] } }, 'detail.s', /consecutive/],
    ['exists that is not a boolean', { detail: { s: [{ exists: 'yes' }] } }, 'detail.s', /true or false/],
    ['prefix with a number', { detail: { s: [{ prefix: 5 }] } }, 'detail.s', /needs a string/],
    ['prefix with an unknown modifier', { detail: { s: [{ prefix: { wildcard: 'x' } }] } }, 'detail.s', /equals-ignore-case/],
    ['suffix equals-ignore-case with a number', { detail: { s: [{ suffix: { 'equals-ignore-case': 1 } }] } }, 'detail.s', /needs a string/],
    ['equals-ignore-case with a number', { detail: { s: [{ 'equals-ignore-case': 1 }] } }, 'detail.s', /needs a string/],
    ['$or that is not an array', { $or: { a: ['x'] } }, '$or', /at least two pattern objects/],
    ['$or with a single branch', { detail: { $or: [{ a: ['x'] }] } }, 'detail.$or', /at least two/],
    ['$or with a non-object branch', { $or: [{ a: ['x'] }, ['b']] }, '$or[1]', /must be a pattern object/],
    ['$or with an operator name as a field', { $or: [{ a: ['x'] }, { prefix: ['b'] }] }, '$or[1].prefix', /operator name/],
    ['an invalid value inside an $or branch', { $or: [{ a: ['x'] }, { detail: { b: [] } }] }, '$or[1].detail.b', /empty arrays/],
  ];

  it.each(cases)('rejects %s', (_name, pattern, path, problem) => {
    const error = rejection(pattern);
    expect(error.name).toBe('InvalidEventPatternError');
    expect(error.path).toBe(path);
    expect(error.message.startsWith(`Invalid event pattern at ${path}: `)).toBe(true);
    expect(error.message).toMatch(problem);
  });

  it('compileEventPattern and matchesEventPattern validate too', () => {
    expect(() => compileEventPattern({ detail: { age: [{ numeric: ['>'] }] } })).toThrow(
      /^Invalid event pattern at detail\.age: "numeric" needs an operator and a number/,
    );
    expect(() => matchesEventPattern({ source: [] }, {})).toThrow(InvalidEventPatternError);
  });

  it('accepts every documented operator form', () => {
    expect(() =>
      validateEventPattern({
        a: ['x', 1, true, null, ''],
        b: [{ prefix: 'p' }, { prefix: { 'equals-ignore-case': 'P' } }, { suffix: 's' }, { suffix: { 'equals-ignore-case': 'S' } }],
        c: [{ 'anything-but': 'x' }, { 'anything-but': 1 }, { 'anything-but': ['x', 'y'] }, { 'anything-but': [1, 2] }],
        d: [
          { 'anything-but': { prefix: 'p' } },
          { 'anything-but': { suffix: 's' } },
          { 'anything-but': { wildcard: '*x*' } },
          { 'anything-but': { 'equals-ignore-case': ['a', 'b'] } },
        ],
        e: [{ numeric: ['>=', -1e9, '<=', 1e9] }, { exists: true }, { cidr: '0.0.0.0/0' }, { cidr: '::/0' }],
        f: [{ 'equals-ignore-case': 'x' }, { wildcard: '\\**\\\\' }],
        $or: [{ g: ['1'] }, { h: { i: [{ exists: false }] } }],
      }),
    ).not.toThrow();
  });
});
