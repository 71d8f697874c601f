/**
 * Bounces and complaints end to end through the real handlers and the real AWS SDK v3
 * clients, against DynamoDB Local, aws-ses-v2-local and fauxqs (started by the global
 * setup): Staff Onboarded → email sender (SendBulkEmail with the message tags) → an SES
 * `Email Bounced` event naming the sent message → the SES feedback handler → the address
 * marked undeliverable, HR and the line manager told once (DESIGN.md "Audience", "Email";
 * §4a.ii, §4a.iii) → the reminder scanner sends it nothing more.
 *
 * SES here does not bounce anything, so the event is built as SES would publish it (AWS,
 * "Monitoring SES events using Amazon EventBridge"): from the message id the ledger
 * recorded and the tags the sender actually gave SES.
 */
import type { SendBulkEmailCommandInput } from '@aws-sdk/client-sesv2';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { addDays, londonDate } from '../../functions/domain/dates.ts';
import { lambdaContext, loadFunction } from '../support/functions.ts';
import { drainThroughSender, eventBridgeEvent, type EventBridgeHandler, eventTime, loadEmailSender, localClients, one, sequentialEventIds, type SqsHandler } from '../support/integration.ts';
import { emailsTo, sesStore } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const { db, sqs } = localClients(ctx);
const dataTable = one(ctx.tables, 'DataTable');
const ledgerTable = one(ctx.tables, 'LedgerTable');
const emailQueue = one(ctx.queues, 'EmailQueue');

type EbHandler = EventBridgeHandler;
let onboard: EbHandler;
let feedback: EbHandler;
let remind: EbHandler;
let sendEmails: SqsHandler;
/** What the email sender asked SES to send (captured on the shared SES client). */
const bulkCalls: SendBulkEmailCommandInput[] = [];

beforeAll(async () => {
  const load = async (prefix: string, importer: () => Promise<{ handler: unknown }>) =>
    (await loadFunction(ctx, prefix, importer)).handler as EbHandler;
  onboard = await load('StaffOnboardedFunction', () => import('../../functions/handlers/staff-onboarded.ts'));
  feedback = await load('SesFeedbackHandlerFunction', () => import('../../functions/handlers/ses-feedback.ts'));
  remind = await load('ReminderScannerFunction', () => import('../../functions/handlers/reminder-scanner.ts'));
  sendEmails = await loadEmailSender(ctx);
  // Imported after the handlers, so that the shared clients and logger see their environment.
  const { awsClients } = await import('../../functions/adapters/runtime.ts');
  awsClients().ses.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'SendBulkEmailCommand') bulkCalls.push(structuredClone(args.input as SendBulkEmailCommandInput));
      return next(args);
    },
    { step: 'initialize', name: 'captureSendBulkEmail' },
  );
});

const nextEventId = sequentialEventIds('a000');
const event = (source: string, detailType: string, detail: unknown, time = new Date()) =>
  eventBridgeEvent(detailType, source, detail, { id: nextEventId(), time: eventTime(time) });

/** Runs the email sender over the queue until it is empty, as the event source mapping would. */
const drainEmailQueue = () => drainThroughSender(sqs, emailQueue, sendEmails);

async function ledgerRows(prefix: string) {
  const out = await db.send(
    new ScanCommand({ TableName: ledgerTable, FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': prefix }, ConsistentRead: true }),
  );
  return out.Items ?? [];
}

async function storedPerson(staffId: string) {
  return (await db.send(new GetCommand({ TableName: dataTable, Key: { pk: `PERSON#${staffId}`, sk: 'PROFILE' }, ConsistentRead: true }))).Item;
}

const DIAGNOSTIC = 'smtp; 550 5.1.1 user unknown (mailbox does not exist)';

/** An SES event record for a sent email, as SES publishes it: its message id and the tags the sender gave SES. */
function sesEvent(kind: 'bounce' | 'complaint', to: string, messageId: string, tags: { Name?: string; Value?: string }[], bounceType = 'Permanent') {
  const mail = {
    timestamp: new Date().toISOString(),
    source: `"${config.sender.displayName}" <${config.sender.address}>`,
    messageId,
    destination: [to],
    headersTruncated: false,
    headers: [{ name: 'To', value: to }],
    tags: {
      'ses:configuration-set': [config.ses.configurationSetName],
      ...Object.fromEntries(tags.map((t) => [String(t.Name), [String(t.Value)]])),
    },
  };
  if (kind === 'complaint') {
    return event('aws.ses', 'Email Complaint Received', {
      eventType: 'Complaint',
      complaint: { complainedRecipients: [{ emailAddress: to }], complaintFeedbackType: 'abuse', timestamp: new Date().toISOString() },
      mail,
    });
  }
  return event('aws.ses', 'Email Bounced', {
    eventType: 'Bounce',
    bounce: {
      bounceType,
      bounceSubType: 'General',
      bouncedRecipients: [{ emailAddress: to, action: 'failed', status: '5.1.1', diagnosticCode: DIAGNOSTIC }],
      timestamp: new Date().toISOString(),
      feedbackId: '0100019-feedback-000000',
      reportingMTA: 'dsn; mta.example.org',
    },
    mail,
  });
}

/** The welcome's ledger row (sent, with SES's message id) and the tags the sender gave SES for it. */
async function sentWelcome(staffId: string, address: string) {
  const [row] = await ledgerRows(`person#${staffId}#welcome`);
  expect(row).toMatchObject({ state: 'sent', messageId: expect.any(String) });
  const entry = bulkCalls.flatMap((call) => call.BulkEmailEntries ?? []).find((e) => e.Destination?.ToAddresses?.includes(address));
  return { messageId: String(row?.messageId), tags: entry?.ReplacementTags ?? [] };
}

const hr = {
  staffId: 'SF-HR',
  givenName: 'Hana',
  familyName: 'Reid',
  email: 'hana.reid.sf@allsaints-mat.example.org',
  schoolId: 'trust',
  roles: ['hr-advisor'],
  employmentType: 'permanent',
  startDate: '2018-09-01',
  occurredAt: '2018-08-01T00:00:00Z',
};
const manager = {
  staffId: 'SF-MGR',
  givenName: 'Mo',
  familyName: 'Ahmed',
  email: 'mo.ahmed.sf@holytrinity.example.org',
  schoolId: 'holy-trinity',
  roles: ['teacher', 'leadership-team'],
  employmentType: 'permanent',
  startDate: '2018-09-01',
  occurredAt: '2018-08-01T00:00:00Z',
};
const bounced = {
  staffId: 'SF-T1',
  givenName: 'Bea',
  familyName: 'Quinn',
  email: 'bea.quinn.sf@holytrinity.example.org',
  schoolId: 'holy-trinity',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2026-09-01',
  lineManagerStaffId: 'SF-MGR',
  occurredAt: '2026-08-20T09:00:00Z',
};
const softBounced = { ...bounced, staffId: 'SF-T2', givenName: 'Cal', email: 'cal.quinn.sf@holytrinity.example.org' };

describe('an SES bounce, end to end against the local servers', () => {
  beforeAll(async () => {
    for (const detail of [hr, manager, bounced, softBounced]) {
      await onboard(event('trust.hr', 'Staff Onboarded', detail), lambdaContext('StaffOnboarded'));
    }
    await drainEmailQueue();
  });

  it('the sender tags every email with its recipient and template, which SES returns in the events', async () => {
    const { tags } = await sentWelcome(bounced.staffId, bounced.email);
    expect(tags).toEqual([
      { Name: 'tpn-staff-id', Value: 'SF-T1' },
      { Name: 'tpn-template', Value: 'welcome' },
    ]);
  });

  describe('a Permanent bounce of the welcome email, delivered twice', () => {
    beforeAll(async () => {
      const { messageId, tags } = await sentWelcome(bounced.staffId, bounced.email);
      const bounce = sesEvent('bounce', bounced.email, messageId, tags);
      await feedback(bounce, lambdaContext('SesFeedback'));
      // EventBridge delivers at least once: the same event again.
      await feedback(bounce, lambdaContext('SesFeedback'));
      await drainEmailQueue();
    });

    it('marks the address undeliverable', async () => {
      expect(await storedPerson(bounced.staffId)).toMatchObject({ email: bounced.email, emailDeliverable: false });
    });

    it('tells the line manager and HR once each, from one ledger row per recipient', async () => {
      const rows = await ledgerRows(`bounce#${bounced.staffId}#`);
      const recipients = rows.map((r) => r.recipientStaffId);
      expect(recipients.filter((r) => r === 'SF-MGR')).toHaveLength(1);
      expect(recipients.filter((r) => r === 'SF-HR')).toHaveLength(1);
      expect(rows.every((r) => r.state === 'sent' && r.templateId === 'undeliverable-address')).toBe(true);

      const toManager = (await emailsTo(ctx.endpoints.ses, manager.email)).filter((e) => e.subject.startsWith('Email undeliverable'));
      const toHr = (await emailsTo(ctx.endpoints.ses, hr.email)).filter((e) => e.subject.startsWith('Email undeliverable'));
      expect(toManager).toHaveLength(1);
      expect(toHr).toHaveLength(1);
      expect(toManager[0]?.subject).toBe('Email undeliverable: Bea Quinn can no longer be emailed');
      // The line manager learns what the notice asked, so it still reaches the person (§4a.ii).
      expect(toManager[0]?.body.text).toContain('You are told as their line manager');
      expect(toManager[0]?.body.text).toContain('They still need to read and confirm:');
      expect(toManager[0]?.body.text).toContain('Use of Social Media Policy (version 1)');
      expect(toHr[0]?.body.text).toContain("You are told as the trust's HR advisor");
      expect(toHr[0]?.body.text).toContain('Please correct their email address in the HR system');
    });

    it('never repeats the address or the receiving server’s diagnostic text', async () => {
      const notices = (await sesStore(ctx.endpoints.ses)).filter((e) => e.subject.startsWith('Email undeliverable: Bea Quinn'));
      expect(notices.length).toBeGreaterThan(0);
      for (const notice of notices) {
        const text = `${notice.subject}\n${notice.body.text}\n${notice.body.html}`;
        expect(text).not.toContain(bounced.email);
        expect(text).not.toContain('550');
        expect(text).not.toContain('mailbox does not exist');
      }
    });

    it('the reminder scanner sends nothing more to the address; a deliverable colleague is reminded', async () => {
      const before = (await emailsTo(ctx.endpoints.ses, bounced.email)).length;
      // Well past the due date (14 days) and the first reminder step (7 days after it).
      const later = addDays(londonDate(new Date()), 30);
      await remind(event('aws.events', 'Scheduled Event', {}, new Date(`${later}T07:00:00Z`)), lambdaContext('ReminderScanner'));
      await drainEmailQueue();
      expect(await ledgerRows(`reminder#use-of-social-media#v1#${bounced.staffId}#`)).toEqual([]);
      expect((await emailsTo(ctx.endpoints.ses, bounced.email)).length).toBe(before);
      // The control: the soft-bounced colleague's address is still deliverable and is reminded.
      expect((await ledgerRows(`reminder#use-of-social-media#v1#${softBounced.staffId}#`)).map((r) => r.pk)).toEqual([
        `reminder#use-of-social-media#v1#${softBounced.staffId}#1`,
      ]);
    });
  });

  describe('a Transient bounce', () => {
    beforeAll(async () => {
      const { messageId, tags } = await sentWelcome(softBounced.staffId, softBounced.email);
      await feedback(sesEvent('bounce', softBounced.email, messageId, tags, 'Transient'), lambdaContext('SesFeedback'));
      await drainEmailQueue();
    });

    it('changes nothing and tells nobody', async () => {
      expect(await storedPerson(softBounced.staffId)).toMatchObject({ emailDeliverable: true });
      expect(await ledgerRows(`bounce#${softBounced.staffId}#`)).toEqual([]);
    });
  });

  describe('a complaint about an email to an address HR has since changed', () => {
    it('changes nothing: the failed address is no longer theirs', async () => {
      const { messageId, tags } = await sentWelcome(softBounced.staffId, softBounced.email);
      await feedback(sesEvent('complaint', 'previous.address@example.org', messageId, tags), lambdaContext('SesFeedback'));
      expect(await storedPerson(softBounced.staffId)).toMatchObject({ emailDeliverable: true });
      expect(await ledgerRows(`bounce#${softBounced.staffId}#`)).toEqual([]);
    });
  });

  describe('an event that breaks the contract', () => {
    it('is refused naming the field, never the value, so that it goes to the DLQ', async () => {
      const bad = sesEvent('bounce', bounced.email, 'not a message id <bea>', []);
      await expect(feedback(bad, lambdaContext('SesFeedback'))).rejects.toThrow(/detail\.mail\.messageId must be an SES message id/);
      await expect(feedback(bad, lambdaContext('SesFeedback'))).rejects.not.toThrow(/bea/);
    });
  });
});
