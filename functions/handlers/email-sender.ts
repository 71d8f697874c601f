/**
 * The email queue's consumer: each message names up to 50 ledger rows; the batch is
 * delivered by functions/services/deliver-emails.ts, and a message with any row to retry
 * is reported as a partial batch failure (its rows already sent are skipped next time).
 * A message that is not `{ "ledgerKeys": [...] }` is reported as failed, so it ends in the
 * dead-letter queue rather than vanishing.
 */
import type { SQSBatchItemFailure } from 'aws-lambda';
import { emailMessageSchema } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { fromHeader, Mailer } from '../adapters/mailer.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { deliveryTimings } from '../domain/emails.ts';
import { SendPacer } from '../domain/pacer.ts';
import { deliverEmails } from '../services/deliver-emails.ts';
import { sqsBatchHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, ses } = awsClients();
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const mailer = new Mailer(ses, {
  from: fromHeader(config.sender.displayName, config.sender.address),
  configurationSetName: config.ses.configurationSetName,
});
/** A claimed row older than this is taken to be from a crashed invocation (trust configuration `delivery.leaseSeconds`, at least twice the 30 s timeout). */
const { leaseMs } = deliveryTimings(config);
/** This invocation's share of the configured SES send rate (lib/trust-email.ts sizes it). */
const pacer = new SendPacer(Number(requireEnv('EMAIL_SEND_RATE_PER_INVOCATION')));

export const handler = sqsBatchHandler(async (event, context) => {
  const failures: SQSBatchItemFailure[] = [];
  const byKey = new Map<string, string[]>();
  for (const record of event.Records) {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      body = undefined;
    }
    const message = emailMessageSchema.safeParse(body);
    if (!message.success) {
      logger.error('Email message rejected: body must be {"ledgerKeys": [...]}', { messageId: record.messageId });
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    for (const key of message.data.ledgerKeys) byKey.set(key, [...(byKey.get(key) ?? []), record.messageId]);
  }
  const report = await deliverEmails([...byKey.keys()], {
    ledger,
    mailer,
    templatePrefix: config.ses.templatePrefix,
    leaseMs,
    now: () => new Date(),
    log: (message, fields) => logger.warn(message, fields),
    pace: pacer,
    remainingMs: () => context.getRemainingTimeInMillis(),
  });
  const failed = new Set<string>();
  for (const key of report.retry) for (const id of byKey.get(key) ?? []) failed.add(id);
  for (const id of failed) failures.push({ itemIdentifier: id });
  logger.info('Email batch done', {
    messages: event.Records.length,
    sent: report.sent,
    alreadySent: report.skipped,
    retrying: report.retry.size,
    flaggedDuplicates: report.flaggedDuplicates,
    abandoned: report.abandoned,
    bulkCalls: report.bulkCalls,
    maxDestinations: report.maxDestinations,
  });
  return { batchItemFailures: failures };
});
