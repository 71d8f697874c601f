/**
 * SES throttling, injected with a wrapped SES client (aws-ses-v2-local never throttles):
 * a share of whole SendBulkEmail calls is refused with ThrottlingException, and a share of
 * the entries in the others comes back ACCOUNT_THROTTLED without being sent. The delivery
 * loop (ledger + mailer, as the email sender runs it) must still get every email out
 * exactly once, and never put more than 50 destinations in one call.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type BulkEmailEntry, SendBulkEmailCommand, SESv2Client, SESv2ServiceException } from '@aws-sdk/client-sesv2';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { LedgerRepository } from '../../functions/adapters/ledger-repository.ts';
import { Mailer } from '../../functions/adapters/mailer.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { deliverEmails } from '../../functions/services/deliver-emails.ts';
import { testReceiptEmails } from '../support/fixtures.ts';
import { sesStore } from '../support/ses-store.ts';

const ctx = inject('integration');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const ledgerTable = Object.entries(ctx.tables).find(([id]) => id.includes('LedgerTable'))?.[1] ?? '';

/** A real SES client that throttles: deterministic pseudo-random so a failure reproduces. */
class ThrottlingSesClient extends SESv2Client {
  injected = { callsRefused: 0, entriesThrottled: 0, calls: 0, maxDestinations: 0 };
  private seed = 42;
  private random(): number {
    this.seed = (this.seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }
  override async send(command: Parameters<SESv2Client['send']>[0]): Promise<never> {
    if (!(command instanceof SendBulkEmailCommand)) return super.send(command as never) as never;
    const entries = command.input.BulkEmailEntries ?? [];
    this.injected.calls++;
    this.injected.maxDestinations = Math.max(this.injected.maxDestinations, entries.length);
    if (this.random() < 0.2) {
      this.injected.callsRefused++;
      throw new SESv2ServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: { httpStatusCode: 400 },
      });
    }
    const throttled = entries.map(() => this.random() < 0.15);
    const passed: BulkEmailEntry[] = entries.filter((_, i) => !throttled[i]);
    const real = passed.length
      ? await super.send(new SendBulkEmailCommand({ ...command.input, BulkEmailEntries: passed }))
      : { BulkEmailEntryResults: [], $metadata: {} };
    const results = [...(real.BulkEmailEntryResults ?? [])];
    this.injected.entriesThrottled += throttled.filter(Boolean).length;
    return {
      ...real,
      BulkEmailEntryResults: throttled.map((t) => (t ? { Status: 'ACCOUNT_THROTTLED', Error: 'Throttled' } : results.shift())),
    } as never;
  }
}

describe('SES throttling (injected with a wrapped SES client)', () => {
  it('every person still gets exactly one email, in calls of at most 50', async () => {
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: ctx.region, credentials }));
    const ledger = new LedgerRepository(db, ledgerTable);
    const ses = new ThrottlingSesClient({ endpoint: ctx.endpoints.ses, region: ctx.region, credentials, maxAttempts: 1 });
    const mailer = new Mailer(ses, { from: config.sender.address, configurationSetName: config.ses.configurationSetName });
    const count = 260;
    const emails = testReceiptEmails('throttle-test', count, config);
    let pending = await ledger.recordIntended(emails, { detailType: 'test', eventId: 'throttle' }, new Date());
    expect(pending).toHaveLength(count);

    const deps = {
      ledger,
      mailer,
      templatePrefix: config.ses.templatePrefix,
      leaseMs: 60_000,
      now: () => new Date(),
      log: () => {},
      pace: { take: async () => {}, waitFor: () => 0 },
      remainingMs: () => 30_000,
    };
    let rounds = 0;
    while (pending.length > 0 && rounds < 40) {
      rounds++;
      pending = [...(await deliverEmails(pending, deps)).retry];
    }
    expect(pending).toEqual([]);
    expect(ses.injected.callsRefused).toBeGreaterThan(0);
    expect(ses.injected.entriesThrottled).toBeGreaterThan(0);
    expect(ses.injected.maxDestinations).toBeLessThanOrEqual(50);

    const sent = (await sesStore(ctx.endpoints.ses)).filter((e) => e.destination.to[0]?.startsWith('throttle-test.'));
    const perRecipient = new Map<string, number>();
    for (const e of sent) perRecipient.set(e.destination.to[0] ?? '', (perRecipient.get(e.destination.to[0] ?? '') ?? 0) + 1);
    expect(perRecipient.size).toBe(count);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
    const rows = await ledger.getMany(emails.map((e) => e.key));
    expect([...rows.values()].every((r) => r.state === 'sent' && !r.possibleDuplicate)).toBe(true);
    process.stderr.write(
      `[ses throttling] ${count} emails, ${rounds} rounds, ${ses.injected.calls} bulk calls, ${ses.injected.callsRefused} refused calls, ${ses.injected.entriesThrottled} throttled entries, max ${ses.injected.maxDestinations} destinations per call\n`,
    );
  });
});
