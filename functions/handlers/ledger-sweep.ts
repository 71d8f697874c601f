/**
 * The ledger sweeper (a scheduled rule, `rate(<delivery.sweepEveryMinutes> minutes)`; the
 * local scheduler fires it too, and `trust-notify tick` does on demand): puts what the
 * ledger says is owed back on its path (functions/services/sweep-owed.ts). It works on the
 * wall clock, not the scheduled event's time: a simulated date (`tick --today`) must not make
 * a live sender's lease look expired or push a row's next look years ahead.
 */
import { EmailQueue } from '../adapters/email-queue.ts';
import { FanoutQueue } from '../adapters/fanout-queue.ts';
import { FanoutRepository } from '../adapters/fanout-repository.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { deliveryTimings } from '../domain/emails.ts';
import { sweepOwed } from '../services/sweep-owed.ts';
import { scheduledHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs } = awsClients();
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const fanouts = new FanoutRepository(dynamo, requireEnv('DATA_TABLE_NAME'));
const emailQueue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));
const fanoutQueue = new FanoutQueue(sqs, requireEnv('FANOUT_QUEUE_URL'));
const timings = deliveryTimings(config);
/** Per run: 10,000 rows are ~100 index pages, 100 BatchGetItem calls and 10,000 small writes, well inside the 2-minute timeout. */
const LIMIT = 10_000;

export const handler = scheduledHandler(async () => {
  const started = Date.now();
  const report = await sweepOwed({ ledger, fanouts, emailQueue, fanoutQueue, timings, now: () => new Date(), limit: LIMIT });
  logger.info('Ledger sweep done', { ...report, durationMs: Date.now() - started });
});
