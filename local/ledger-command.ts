/**
 * `trust-notify ledger resolve <key> --sent | --resend --by <staffId>`: an operator's way out
 * of `abandoned`, the one ledger state no delivery, redrive or sweep ever sends again
 * (functions/domain/emails.ts `decideSend`). An email is abandoned when its outcome was
 * unknown twice: SES may have delivered it once or twice. The operator finds out (the
 * recipient's inbox, SES's sending records) and says which:
 * - `--sent`: it arrived; the row becomes `sent` and nothing more goes;
 * - `--resend`: it did not; the row goes back to `queued`, still flagged as a possible
 *   duplicate, and its key goes on the email queue now (the sweeper would find it too).
 * Recorded on the row with who and when. Keys are listed on the console's ledger page
 * (state: abandoned).
 */
import { parseArgs } from 'node:util';
import { EmailQueue } from '../functions/adapters/email-queue.ts';
import { LedgerRepository } from '../functions/adapters/ledger-repository.ts';
import { staffId } from '../functions/contracts/events.ts';
import { loadTrustConfig } from '../functions/config/load-trust-config.ts';
import { CliError, connectionRefused, localTarget, stackOutputs, type Target, targetClients } from './cli-commands.ts';

export const LEDGER_USAGE = 'ledger resolve <ledgerKey> --sent | --resend --by <staffId> [--region R] [--stack S]';

export async function ledgerCommand(args: string[], now = new Date()): Promise<string> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      sent: { type: 'boolean', default: false },
      resend: { type: 'boolean', default: false },
      by: { type: 'string' },
      region: { type: 'string' },
      stack: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [verb, key, ...extra] = positionals;
  if (verb !== 'resolve' || !key || extra.length > 0) throw new CliError(`usage: trust-notify ${LEDGER_USAGE}`);
  if (values.sent === values.resend) throw new CliError('ledger resolve needs exactly one of --sent (it arrived) or --resend (it did not)');
  if (!values.by) throw new CliError('ledger resolve needs --by <staffId>: who decided is recorded on the row');
  if (!staffId.safeParse(values.by).success) throw new CliError('--by must be a staff id (letters, digits, - and _, at most 64)');
  if (key.length > 1024) throw new CliError('the ledger key is longer than any key the platform writes (1,024 characters)');

  const target: Target =
    values.region || values.stack
      ? { kind: 'aws', region: values.region ?? loadTrustConfig().region, stack: values.stack ?? 'trust-policy-notify' }
      : localTarget();
  const outputs = await stackOutputs(target);
  const table = outputs.LedgerTableName;
  const queueUrl = outputs.EmailQueueUrl;
  if (!table || !queueUrl) throw new CliError('the stack has no LedgerTableName or EmailQueueUrl output (is it up to date?)');
  const { db, sqs } = targetClients(target);
  const outcome = values.sent ? 'sent' : 'resend';
  try {
    const result = await new LedgerRepository(db, table).resolve(key, outcome, values.by, now);
    if (!result.ok) {
      throw new CliError(
        result.state === 'missing'
          ? 'no ledger row has that key'
          : `the row is ${result.state}, not abandoned: only an abandoned row is resolved by hand`,
      );
    }
    if (outcome === 'resend') await new EmailQueue(sqs, queueUrl).enqueue([key]);
  } catch (error) {
    if (target.kind === 'local' && connectionRefused(error)) throw new CliError('the local platform is not running (start it with npm start)');
    throw error;
  }
  return outcome === 'sent'
    ? `resolved: marked sent by ${values.by}; nothing more will be sent for it\n`
    : `resolved: queued again by ${values.by} (flagged as a possible duplicate)\n`;
}
