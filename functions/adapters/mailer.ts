/**
 * The one mailer: sends a stored SES template to up to 50 recipients in one
 * `SendBulkEmail` call, each with their own template data (DESIGN.md "Email"). The limit
 * is enforced here, since the local SES server does not enforce it.
 *
 * Outcomes per recipient:
 * - `sent` (SES accepted it; its message id is returned),
 * - `retry` (SES refused it for now: throttling, quota, paused sending, transient),
 * - `failed` (SES refused it for a reason that needs a person: rejected, not verified…).
 * A thrown error means the call's outcome is unknown for everyone in it, unless
 * `isRefusedCall(error)` says SES answered and refused the whole call.
 */
import { SendBulkEmailCommand, type SendBulkEmailCommandOutput, type SESv2Client } from '@aws-sdk/client-sesv2';
import { MAX_BULK_DESTINATIONS } from '../domain/emails.ts';
import { backoff } from './ledger-repository.ts';

export interface BulkEntry {
  to: string;
  /** Template data as JSON text. */
  data: string;
  /**
   * Message tags for this destination (`ReplacementTags`): SES returns them in every event
   * about the email, so a bounce names its recipient (functions/contracts/ses-events.ts).
   */
  tags?: { Name: string; Value: string }[];
}

export type SendOutcome = { status: 'sent'; messageId: string } | { status: 'retry' | 'failed'; code: string };

/** Tries of a call SES refused outright before giving its emails back to the ledger. */
const REFUSED_CALL_ATTEMPTS = 4;

const RETRYABLE = new Set([
  'ACCOUNT_THROTTLED',
  'ACCOUNT_DAILY_QUOTA_EXCEEDED',
  'ACCOUNT_SENDING_PAUSED',
  'CONFIGURATION_SET_SENDING_PAUSED',
  'TRANSIENT_FAILURE',
  'FAILED',
]);

export interface MailerOptions {
  from: string;
  configurationSetName: string;
}

export class Mailer {
  private readonly ses: SESv2Client;
  private readonly options: MailerOptions;
  constructor(ses: SESv2Client, options: MailerOptions) {
    this.ses = ses;
    this.options = options;
  }

  async sendBulk(templateName: string, entries: readonly BulkEntry[]): Promise<SendOutcome[]> {
    if (entries.length === 0) return [];
    if (entries.length > MAX_BULK_DESTINATIONS) {
      throw new RangeError(`SendBulkEmail takes at most ${MAX_BULK_DESTINATIONS} destinations; got ${entries.length}`);
    }
    const command = new SendBulkEmailCommand({
      FromEmailAddress: this.options.from,
      ConfigurationSetName: this.options.configurationSetName,
      DefaultContent: { Template: { TemplateName: templateName, TemplateData: '{}' } },
      BulkEmailEntries: entries.map((entry) => ({
        Destination: { ToAddresses: [entry.to] },
        ReplacementEmailContent: { ReplacementTemplate: { ReplacementTemplateData: entry.data } },
        ...(entry.tags && entry.tags.length > 0 ? { ReplacementTags: entry.tags } : {}),
      })),
    });
    // Only a refused call (throttling, any 4xx: nothing was sent) is retried here, with
    // backoff and jitter. The SES client itself must not retry (maxAttempts 1): after a 5xx
    // or a dropped connection SES may have sent the emails, and a blind retry would send
    // them again unflagged; that case goes back to the ledger's lease instead.
    let out: SendBulkEmailCommandOutput | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        out = await this.ses.send(command);
        break;
      } catch (error) {
        if (!isRefusedCall(error) || attempt >= REFUSED_CALL_ATTEMPTS) throw error;
        await backoff(attempt);
      }
    }
    const results = out?.BulkEmailEntryResults ?? [];
    return entries.map((_, i): SendOutcome => {
      const result = results[i];
      if (!result?.Status) return { status: 'retry', code: 'NO_RESULT' };
      if (result.Status === 'SUCCESS' && result.MessageId) return { status: 'sent', messageId: result.MessageId };
      return { status: RETRYABLE.has(result.Status) ? 'retry' : 'failed', code: result.Status };
    });
  }
}

/**
 * True when SES answered and refused the whole call (throttling, a 4xx): nothing was
 * sent. False for timeouts, dropped connections and 5xx answers, after which nobody can
 * know whether SES sent the emails.
 */
export function isRefusedCall(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** `"Display Name" <address>` for the From header. */
export function fromHeader(displayName: string, address: string): string {
  return `"${displayName.replace(/["\\]/g, '')}" <${address}>`;
}
