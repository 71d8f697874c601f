/**
 * A bounced address through the whole local platform (DESIGN.md "Email": SES events reach
 * only the default bus; a rule there forwards them to trust-events; "the local runtime can
 * inject them"): a new member of staff is onboarded with `trust-notify publish`, their
 * welcome goes out, then `trust-notify inject-ses-event` puts SES's `Email Bounced` on the
 * local default bus. It flows through the template's rules: the forwarding rule's event bus
 * target → trust-events → the SES feedback function. Their line manager (a demo Head of
 * School) and HR (the demo trust HR advisor) are told once each, however often it comes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { runCli } from '../support/e2e-setup.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: config.region, credentials }));
const outputs = JSON.parse(readFileSync(join(ctx.dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>;

// The demo directory (fixtures/demo-directory.csv): St Mary's Head of School and the trust's HR advisor.
const HEAD = 'grace.okafor@stmarys.example.org';
const HR = 'priya.raman@allsaints-mat.example.org';

const person = {
  staffId: 'E2E-SF-1',
  givenName: 'Nell',
  familyName: 'Bounce',
  email: 'nell.bounce.e2e@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2026-09-01',
  lineManagerStaffId: 'SM-HEAD',
  eventId: 'e2e-ses-feedback-onboarded',
};

const notices = async (address: string): Promise<StoredEmail[]> =>
  (await emailsTo(ctx.endpoints.ses, address)).filter((e) => e.subject === 'Email undeliverable: Nell Bounce can no longer be emailed');

async function ledgerRows(prefix: string) {
  const out = await db.send(
    new ScanCommand({
      TableName: outputs.LedgerTableName,
      FilterExpression: 'begins_with(pk, :p)',
      ExpressionAttributeValues: { ':p': prefix },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

async function invocations(): Promise<number> {
  const stats = (await (await fetch(`${ctx.endpoints.web}/admin/functions`)).json()) as Record<string, { invocations: number }>;
  return Object.entries(stats)
    .filter(([id]) => id.startsWith('SesFeedbackHandlerFunction'))
    .reduce((sum, [, s]) => sum + s.invocations, 0);
}

function bounceFile(messageId: string): string {
  const file = join(ctx.workDir, 'ses-bounce-e2e.json');
  writeFileSync(
    file,
    JSON.stringify({
      'detail-type': 'Email Bounced',
      detail: {
        eventType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bouncedRecipients: [{ emailAddress: person.email, status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }],
        },
        mail: {
          messageId,
          destination: [person.email],
          tags: { 'ses:configuration-set': [config.ses.configurationSetName], 'tpn-staff-id': [person.staffId], 'tpn-template': ['welcome'] },
        },
      },
    }),
  );
  return file;
}

describe('an SES bounce injected on the local default bus', () => {
  let welcome: StoredEmail;

  beforeAll(async () => {
    const detail = join(ctx.workDir, 'ses-feedback-onboarded.json');
    writeFileSync(detail, JSON.stringify(person));
    const published = await runCli(ctx.dataDir, ['publish', 'staff-onboarded', detail]);
    expect(published.code, published.stderr).toBe(0);
    welcome = await eventually(async () => (await emailsTo(ctx.endpoints.ses, person.email))[0], { what: 'the welcome email' });
  });

  it('SES events cannot be published through PutEvents (aws.* sources are refused, as in AWS): hence injection', async () => {
    const bus = new EventBridgeClient({ endpoint: ctx.endpoints.bus, region: config.region, credentials, maxAttempts: 1 });
    const out = await bus.send(new PutEventsCommand({ Entries: [{ Source: 'aws.ses', DetailType: 'Email Bounced', Detail: '{}' }] }));
    expect(out.Entries?.[0]?.ErrorCode).toBe('NotAuthorizedForSourceException');
  });

  it('routes through the forwarding rule to trust-events and the handler: HR and the line manager are told once, even when it comes twice', async () => {
    const file = bounceFile(welcome.messageId);
    const before = await invocations();
    const first = await runCli(ctx.dataDir, ['inject-ses-event', file]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^injected Email Bounced as event \S+ on the local default bus$/m);

    await eventually(async () => ((await notices(HEAD)).length === 1 && (await notices(HR)).length === 1 ? true : undefined), {
      what: 'the notices to the line manager and HR',
      timeoutMs: 30_000,
    });
    const stored = (await db.send(new GetCommand({ TableName: outputs.DataTableName, Key: { pk: `PERSON#${person.staffId}`, sk: 'PROFILE' } }))).Item;
    expect(stored?.emailDeliverable).toBe(false);

    // Again: the handler runs again and changes nothing.
    const second = await runCli(ctx.dataDir, ['inject-ses-event', file]);
    expect(second.code, second.stderr).toBe(0);
    await eventually(async () => ((await invocations()) >= before + 2 ? true : undefined), { what: 'the second delivery' });
    const rows = await eventually(async () => {
      const found = await ledgerRows(`bounce#${person.staffId}#`);
      return found.length > 0 && found.every((r) => r.state === 'sent') ? found : undefined;
    }, { what: 'the notices sent' });
    expect(rows.map((r) => r.recipientStaffId).sort()).toEqual(['SM-HEAD', 'T-HR']);
    expect(await notices(HEAD)).toHaveLength(1);
    expect(await notices(HR)).toHaveLength(1);
    expect((await notices(HEAD))[0]?.body.text).not.toContain(person.email);
    // Nothing more went to the bounced address.
    expect(await emailsTo(ctx.endpoints.ses, person.email)).toHaveLength(1);
  });

  it('an event that is not an SES bounce or complaint is refused, naming the field', async () => {
    const file = join(ctx.workDir, 'ses-bad-e2e.json');
    writeFileSync(file, JSON.stringify({ 'detail-type': 'Email Delivered', detail: {} }));
    const result = await runCli(ctx.dataDir, ['inject-ses-event', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^trust-notify: Email Delivered rejected: detail-type must be one of Email Bounced, Email Complaint Received$/m);
  });
});
