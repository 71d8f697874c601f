/**
 * Bounces and complaints (functions/domain/email-feedback.ts, functions/contracts/ses-events.ts):
 * a Permanent bounce or any complaint marks the address undeliverable; HR is told (§4a.iii)
 * and, for a notice the person must act on, their line manager (§4a.ii, §1f, §1h), with what
 * they still have to read; reminders stop (functions/domain/reminders.ts). Never the
 * receiving server's diagnostic text, never the address in a notice.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { ContractError } from '../../functions/contracts/events.ts';
import { MESSAGE_TAGS, messageTags, readSesFeedback, type SesFeedbackDetail } from '../../functions/contracts/ses-events.ts';
import {
  addressKey,
  decideFeedback,
  type FeedbackDecision,
  MANDATORY_TEMPLATES,
  planUndeliverable,
  type UndeliverableContext,
} from '../../functions/domain/email-feedback.ts';
import type { IntendedEmail, TemplateData } from '../../functions/domain/emails.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import type { Person } from '../../functions/domain/people.ts';
import { type CurrentPolicy, registeredPolicy } from '../../functions/domain/policies.ts';
import { decideChase } from '../../functions/domain/reminders.ts';
import { sesEventFromInput } from '../../local/ses-injection.ts';

const config = loadTrustConfig();
const [seed, aup] = config.policies.map((p) => registeredPolicy(p, config.publicBaseUrl)) as [CurrentPolicy, CurrentPolicy];

function person(staffId: string, overrides: Partial<Person> = {}): Person {
  return {
    staffId,
    givenName: staffId.toLowerCase(),
    familyName: 'Tester',
    email: `${staffId.toLowerCase()}@example.org`,
    schoolId: 'st-marys',
    roles: ['teacher'],
    employmentType: 'permanent',
    startDate: '2026-09-01',
    managesOfficialChannels: false,
    status: 'active',
    emailDeliverable: true,
    lastChangeAt: '2026-09-01T00:00:00Z',
    ...overrides,
  };
}

// Runs the school's Facebook page, so the acceptable use agreement applies too (§8h.i).
const teacher = person('T1', {
  givenName: 'Amira',
  familyName: 'Khan',
  email: 'Amira.Khan@stmarys.example.org',
  lineManagerStaffId: 'MGR',
  managesOfficialChannels: true,
});
const manager = person('MGR', { givenName: 'Mo' });
const hr = person('HR', { roles: ['hr-advisor'], schoolId: 'trust', givenName: 'Hana' });

function request(policy: CurrentPolicy, overrides: Partial<AckRequest> = {}): AckRequest {
  return {
    staffId: teacher.staffId,
    schoolId: 'st-marys',
    policyId: policy.policyId,
    version: policy.version,
    status: 'pending',
    requestedAt: '2026-11-02T09:00:00.000Z',
    dueOn: '2026-11-16',
    reminderCount: 0,
    ...overrides,
  };
}

const DIAGNOSTIC = 'smtp; 550 5.1.1 <amira.khan@stmarys.example.org>: Recipient address rejected: User unknown';

/** An SES event record as EventBridge delivers it in `detail` (AWS's example shape, trimmed). */
function bounceDetail(overrides: { bounceType?: string; tags?: Record<string, string[]>; to?: string; messageId?: string } = {}) {
  const to = overrides.to ?? 'amira.khan@stmarys.example.org';
  return {
    eventType: 'Bounce',
    bounce: {
      bounceType: overrides.bounceType ?? 'Permanent',
      bounceSubType: 'General',
      bouncedRecipients: [{ emailAddress: to, action: 'failed', status: '5.1.1', diagnosticCode: DIAGNOSTIC }],
      timestamp: '2026-11-25T10:00:02.000Z',
      feedbackId: '0100019-feedback',
      reportingMTA: 'dsn; mta.example.org',
    },
    mail: {
      timestamp: '2026-11-25T10:00:00.000Z',
      source: 'Trust <notices@example.org>',
      messageId: overrides.messageId ?? '010001-example-message-000000',
      destination: [to],
      headersTruncated: false,
      headers: [{ name: 'To', value: to }],
      tags: overrides.tags ?? {
        'ses:configuration-set': ['tpn'],
        [MESSAGE_TAGS.staffId]: [teacher.staffId],
        [MESSAGE_TAGS.template]: ['welcome'],
      },
    },
  };
}

function complaintDetail(template = 'reminder') {
  return {
    eventType: 'Complaint',
    complaint: {
      complainedRecipients: [{ emailAddress: 'amira.khan@stmarys.example.org' }],
      complaintFeedbackType: 'abuse',
      timestamp: '2026-11-25T10:00:02.000Z',
    },
    mail: {
      messageId: '010001-complained-000000',
      destination: ['amira.khan@stmarys.example.org'],
      tags: { [MESSAGE_TAGS.staffId]: [teacher.staffId], [MESSAGE_TAGS.template]: [template] },
    },
  };
}

const read = (detailType: string, detail: unknown): SesFeedbackDetail => readSesFeedback({ source: 'aws.ses', 'detail-type': detailType, detail }).detail;

function undeliverable(detail: SesFeedbackDetail): Extract<FeedbackDecision, { kind: 'undeliverable' }> {
  const decision = decideFeedback(detail);
  if (decision.kind !== 'undeliverable') throw new Error(`expected undeliverable, got ${decision.reason}`);
  return decision;
}

function ctx(overrides: Partial<UndeliverableContext> = {}): UndeliverableContext {
  return {
    config,
    today: '2026-11-25',
    person: teacher,
    lineManager: manager,
    hrAdvisors: [hr],
    requests: [request(seed), request(aup, { dueOn: '2026-11-10' })],
    policies: [seed, aup],
    ...overrides,
  };
}

const dataOf = (email: IntendedEmail | undefined) => {
  if (email?.templateId !== 'undeliverable-address') throw new Error('expected an undeliverable-address email');
  return email.data as TemplateData['undeliverable-address'];
};

describe('reading SES events (the tolerant contract)', () => {
  it('reads a bounce and keeps only what we use: no headers, no diagnostic text', () => {
    const detail = read('Email Bounced', bounceDetail());
    expect(detail).toEqual({
      eventType: 'Bounce',
      bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: 'amira.khan@stmarys.example.org' }] },
      mail: { messageId: '010001-example-message-000000', tags: expect.any(Object) },
    });
    expect(JSON.stringify(detail)).not.toContain('550');
  });

  it('refuses another source, another detail-type, and a detail-type that disagrees with eventType, naming the field', () => {
    const refusal = (event: Record<string, unknown>) => {
      try {
        readSesFeedback(event);
      } catch (error) {
        expect(error).toBeInstanceOf(ContractError);
        return (error as ContractError).fields;
      }
      throw new Error('not refused');
    };
    expect(refusal({ source: 'trust.hr', 'detail-type': 'Email Bounced', detail: bounceDetail() })).toEqual(['source']);
    expect(refusal({ source: 'aws.ses', 'detail-type': 'Email Delivered', detail: bounceDetail() })).toEqual(['detail-type']);
    expect(refusal({ source: 'aws.ses', 'detail-type': 'Email Complaint Received', detail: bounceDetail() })).toEqual(['detail.eventType']);
    const { complaint: _complaint, ...noComplaint } = complaintDetail();
    expect(refusal({ source: 'aws.ses', 'detail-type': 'Email Complaint Received', detail: noComplaint })).toEqual(['detail.complaint']);
  });

  it('names a missing or bad field, never the value given (the detail carries addresses)', () => {
    const detail = bounceDetail();
    const bad = { ...detail, mail: { ...detail.mail, messageId: 'not an id: amira.khan@stmarys.example.org' } };
    expect(() => read('Email Bounced', bad)).toThrow(/detail\.mail\.messageId must be an SES message id/);
    try {
      read('Email Bounced', bad);
    } catch (error) {
      expect((error as Error).message).not.toContain('amira');
    }
    const { bounce: _bounce, ...noBounce } = detail;
    expect(() => read('Email Bounced', noBounce)).toThrow(/detail\.bounce is required for a Bounce/);
  });
});

describe('message tags (set by the email sender, returned by SES in mail.tags)', () => {
  it('tags the recipient staffId and the template; a value SES would refuse is left out', () => {
    expect(messageTags({ staffId: 'HR-10234', templateId: 'welcome' })).toEqual([
      { Name: 'tpn-staff-id', Value: 'HR-10234' },
      { Name: 'tpn-template', Value: 'welcome' },
    ]);
    expect(messageTags({ staffId: undefined, templateId: 'case-notice' })).toEqual([{ Name: 'tpn-template', Value: 'case-notice' }]);
    expect(messageTags({ staffId: 'bad id#1', templateId: 'welcome' })).toEqual([{ Name: 'tpn-template', Value: 'welcome' }]);
  });
});

describe('decideFeedback', () => {
  it('a Permanent bounce makes the address undeliverable, naming the tagged person and notice', () => {
    expect(decideFeedback(read('Email Bounced', bounceDetail()))).toEqual({
      kind: 'undeliverable',
      cause: 'bounce',
      staffId: 'T1',
      templateId: 'welcome',
      mandatory: true,
      addresses: ['amira.khan@stmarys.example.org'],
      messageId: '010001-example-message-000000',
    });
  });

  it.each(['Transient', 'Undetermined', 'SomethingNew'])('a %s bounce does not', (bounceType) => {
    expect(decideFeedback(read('Email Bounced', bounceDetail({ bounceType })))).toEqual({ kind: 'ignore', reason: 'soft-bounce' });
  });

  it('any complaint does', () => {
    expect(undeliverable(read('Email Complaint Received', complaintDetail()))).toMatchObject({ cause: 'complaint', staffId: 'T1', mandatory: true });
  });

  it('an email without our staff tag (the integration contact, or sent before tagging) is not ours to act on', () => {
    expect(decideFeedback(read('Email Bounced', bounceDetail({ tags: { 'ses:configuration-set': ['tpn'] } })))).toEqual({
      kind: 'ignore',
      reason: 'not-tagged',
    });
  });

  it('mandatory notices are the requests to read and confirm a policy, and only those', () => {
    expect([...MANDATORY_TEMPLATES].sort()).toEqual(['policies-to-confirm', 'policy-updated', 'refresher', 'reminder', 'welcome']);
    for (const template of ['receipt', 'induction-notice', 'case-notice', 'not-a-template']) {
      const tags = { [MESSAGE_TAGS.staffId]: ['T1'], [MESSAGE_TAGS.template]: [template] };
      expect(undeliverable(read('Email Bounced', bounceDetail({ tags }))).mandatory, template).toBe(false);
    }
  });
});

describe('planUndeliverable', () => {
  const hash = addressKey('amira.khan@stmarys.example.org');

  it('a mandatory notice bounced: the line manager and HR are told once each, with what the person still has to read', () => {
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx());
    if (plan.kind !== 'mark') throw new Error('expected a mark');
    expect(plan.email).toBe(teacher.email);
    expect(plan.lineManagerTold).toBe(true);
    expect(plan.gap).toBeUndefined();
    expect(plan.emails.map((e) => [e.key, e.to])).toEqual([
      [`bounce#T1#${hash}#MGR`, { email: manager.email, staffId: 'MGR' }],
      [`bounce#T1#${hash}#HR`, { email: hr.email, staffId: 'HR' }],
    ]);
    const toManager = dataOf(plan.emails[0]);
    expect(toManager).toEqual({
      recipientGivenName: 'Mo',
      trustName: config.trust.name,
      personName: 'Amira Khan',
      schoolName: "St Mary's Church of England Primary School",
      cause: expect.stringMatching(/returned as undeliverable/),
      noticeLabel: "the welcome email asking them to read and confirm the trust's policies",
      mandatory: true,
      hasOutstanding: true,
      // Soonest due first.
      outstanding: [
        { policyTitle: aup.title, version: aup.version, dueDate: '10 November 2026', documentUrl: aup.documentUrl },
        { policyTitle: seed.title, version: seed.version, dueDate: '16 November 2026', documentUrl: seed.documentUrl },
      ],
      reason: 'their line manager',
      action: expect.stringMatching(/HR advisor has been told/),
    });
    expect(dataOf(plan.emails[1])).toMatchObject({ recipientGivenName: 'Hana', reason: "the trust's HR advisor", action: expect.stringMatching(/correct/) });
  });

  it('no notice carries the address, the message id or the diagnostic text', () => {
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx());
    const text = JSON.stringify(plan.kind === 'mark' ? plan.emails.map((e) => ({ key: e.key, data: e.data })) : plan);
    expect(text.toLowerCase()).not.toContain('amira.khan@');
    expect(text).not.toContain('550');
    expect(text).not.toContain('010001-example-message');
  });

  it('a notice that needs no action (a receipt) bounced: HR only', () => {
    const tags = { [MESSAGE_TAGS.staffId]: ['T1'], [MESSAGE_TAGS.template]: ['receipt'] };
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail({ tags }))), ctx());
    if (plan.kind !== 'mark') throw new Error('expected a mark');
    expect(plan.emails.map((e) => e.key)).toEqual([`bounce#T1#${hash}#HR`]);
    expect(dataOf(plan.emails[0])).toMatchObject({ mandatory: false, noticeLabel: 'the receipt for a policy they confirmed' });
    expect(plan.lineManagerTold).toBe(false);
  });

  it('a complaint about a reminder: the line manager and HR, saying it was reported as spam', () => {
    const plan = planUndeliverable(undeliverable(read('Email Complaint Received', complaintDetail('reminder'))), ctx());
    if (plan.kind !== 'mark') throw new Error('expected a mark');
    expect(plan.emails.map((e) => e.key)).toEqual([`bounce#T1#${hash}#MGR`, `bounce#T1#${hash}#HR`]);
    expect(dataOf(plan.emails[0]).cause).toMatch(/reported as spam/);
  });

  it('the same keys for every bounce of the same address (redelivered, or several emails in flight): each recipient told once', () => {
    const first = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx());
    const tags = { [MESSAGE_TAGS.staffId]: ['T1'], [MESSAGE_TAGS.template]: ['policy-updated'] };
    const second = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail({ tags, messageId: '010001-another-000000' }))), ctx());
    if (first.kind !== 'mark' || second.kind !== 'mark') throw new Error('expected marks');
    expect(second.emails.map((e) => e.key)).toEqual(first.emails.map((e) => e.key));
    // A corrected address that fails later is a new address: reported again.
    const moved = { ...teacher, email: 'a.khan@stmarys.example.org' };
    const later = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail({ to: moved.email }))), ctx({ person: moved }));
    if (later.kind !== 'mark') throw new Error('expected a mark');
    expect(later.emails.map((e) => e.key)).not.toContain(first.emails[0]?.key);
  });

  it('no line manager who can be emailed: HR is told, and asked to make sure the notice reaches them', () => {
    for (const lineManager of [null, { ...manager, emailDeliverable: false }, { ...manager, status: 'left' as const }]) {
      const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx({ lineManager }));
      if (plan.kind !== 'mark') throw new Error('expected a mark');
      expect(plan.gap).toBe('no-line-manager');
      expect(plan.emails.map((e) => e.key)).toEqual([`bounce#T1#${hash}#HR`]);
      expect(dataOf(plan.emails[0]).routingNote).toMatch(/no line manager on record who can be emailed/);
    }
  });

  it('nobody to tell: the integration contact, so the notice is never dropped', () => {
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx({ lineManager: null, hrAdvisors: [] }));
    if (plan.kind !== 'mark') throw new Error('expected a mark');
    expect(plan.gap).toBe('nobody');
    expect(plan.emails.map((e) => [e.key, e.to])).toEqual([[`bounce#T1#${hash}#integration-contact`, { email: config.integrationContact }]]);
    expect(dataOf(plan.emails[0]).routingNote).toMatch(/Nobody on record can be told/);
  });

  it('an HR advisor whose own address bounced is not told about themselves', () => {
    const self = { ...hr, lineManagerStaffId: 'MGR' };
    const tags = { [MESSAGE_TAGS.staffId]: ['HR'], [MESSAGE_TAGS.template]: ['welcome'] };
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail({ tags, to: hr.email }))), ctx({ person: self, hrAdvisors: [self] }));
    if (plan.kind !== 'mark') throw new Error('expected a mark');
    expect(plan.emails.map((e) => e.to.staffId)).toEqual(['MGR']);
  });

  it('the address changed since the email went (HR corrected it): nothing is marked, nobody told', () => {
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail({ to: 'old.address@example.org' }))), ctx());
    expect(plan).toEqual({ kind: 'ignore', reason: 'address-changed' });
  });

  it('matches the address case-insensitively, and marks it as stored', () => {
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail({ to: 'AMIRA.KHAN@STMARYS.EXAMPLE.ORG' }))), ctx());
    expect(plan).toMatchObject({ kind: 'mark', email: 'Amira.Khan@stmarys.example.org' });
  });

  it('an unknown person: ignored', () => {
    expect(planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx({ person: null }))).toEqual({
      kind: 'ignore',
      reason: 'person-unknown',
    });
  });

  it('a leaver: the address is marked, nobody is told', () => {
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx({ person: { ...teacher, leftOn: '2026-11-20' } }));
    expect(plan).toEqual({ kind: 'mark', staffId: 'T1', email: teacher.email, emails: [], lineManagerTold: false });
  });

  it('lists only pending requests of the current version of a policy that applies to them', () => {
    const requests = [
      request(seed),
      request(aup, { status: 'acknowledged' }),
      request(seed, { version: seed.version + 1 }),
      request({ ...seed, policyId: 'retired-policy' }),
    ];
    const plan = planUndeliverable(undeliverable(read('Email Bounced', bounceDetail())), ctx({ requests }));
    if (plan.kind !== 'mark') throw new Error('expected a mark');
    expect(dataOf(plan.emails[0]).outstanding.map((o) => o.policyTitle)).toEqual([seed.title]);
  });
});

describe('reminders stop once the address is marked (functions/domain/reminders.ts)', () => {
  it('an overdue request of a person whose address is undeliverable is never reminded', () => {
    const cadence = config.reminders;
    const marked = { ...teacher, emailDeliverable: false };
    const item = { request: request(seed, { dueOn: '2026-11-01' }), person: marked, policy: seed };
    for (const today of ['2026-11-08', '2026-11-15', '2026-11-22', '2026-11-29']) {
      expect(decideChase(item, today, cadence).kind, today).not.toBe('remind');
    }
    // The same request with a deliverable address is reminded on the first of those days.
    expect(decideChase({ ...item, person: teacher }, '2026-11-08', cadence)).toEqual({ kind: 'remind', reminder: 1 });
  });
});

describe('local injection (local/ses-injection.ts) and the documented example', () => {
  const example = (name: string) => JSON.parse(readFileSync(`${REPO_ROOT}/examples/${name}`, 'utf8')) as Record<string, unknown>;

  it('examples/ses-bounce.json is a Permanent bounce of the welcome to the person the walkthrough onboards', () => {
    const event = sesEventFromInput(example('ses-bounce.json'), { region: 'eu-west-2', account: '000000000000', now: new Date('2026-08-20T09:32:00.123Z') });
    expect(event).toMatchObject({
      version: '0',
      source: 'aws.ses',
      'detail-type': 'Email Bounced',
      account: '000000000000',
      region: 'eu-west-2',
      time: '2026-08-20T09:32:00Z',
      resources: [],
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    const onboarded = example('staff-onboarded.json');
    expect(undeliverable(readSesFeedback(event).detail)).toMatchObject({
      staffId: onboarded.staffId,
      templateId: 'welcome',
      mandatory: true,
      addresses: [onboarded.email],
    });
  });

  it('refuses anything but an SES bounce or complaint, naming the field', () => {
    expect(() => sesEventFromInput([], { region: 'eu-west-2', account: '000000000000' })).toThrow(/^SES event rejected: event must be a JSON object$/);
    expect(() => sesEventFromInput({ ...example('ses-bounce.json'), source: 'trust.hr' }, { region: 'eu-west-2', account: '000000000000' })).toThrow(
      /source must be aws\.ses/,
    );
    expect(() => sesEventFromInput({ 'detail-type': 'Email Sent', detail: {} }, { region: 'eu-west-2', account: '000000000000' })).toThrow(
      /detail-type must be one of Email Bounced, Email Complaint Received/,
    );
  });
});
