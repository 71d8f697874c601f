#!/usr/bin/env node
/**
 * trust-notify: the one command line (DESIGN.md "Command line"). Works against the local
 * platform by default and against AWS with --region (standard AWS credential chain).
 * Failures exit non-zero with a one-line reason.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ContractError } from '../functions/contracts/events.ts';
import { ConfigError } from '../functions/config/trust-config.ts';
import { loadTrustConfig } from '../functions/config/load-trust-config.ts';
import { CliError, importDirectory, localDataDir, localTarget, publishDetail, type Target } from '../local/cli-commands.ts';
import { moveCase, reportBreach, showCase } from '../local/case-commands.ts';
import { portsFromEnvironment, startPlatform } from '../local/platform.ts';
import { evidenceCommand } from '../local/evidence-command.ts';
import { eraseCommand } from '../local/erase-command.ts';
import { ledgerCommand } from '../local/ledger-command.ts';
import { redriveCommand } from '../local/redrive-command.ts';
import { reportCommand } from '../local/report-command.ts';
import { injectSesEvent } from '../local/ses-commands.ts';
import { parseFaultRates } from '../local/request-counter.ts';
import { JavaMissingError } from '../local/servers.ts';

const USAGE = `Usage: trust-notify <command> [options]

Commands:
  start [--reset]                          run the whole platform locally (npm start)
  publish <type> <detail.json>             validate a detail and publish it to the event bus
                                           types: staff-onboarded, staff-updated, staff-left,
                                                  policy-updated, policy-reviewed
  import <people.csv> [--silent]           upsert people from a directory CSV; without --silent
                                           new people are onboarded (Staff Onboarded)
  tick [--today YYYY-MM-DD]                fire the scheduled rules now (local platform)
  inject-ses-event <event.json>            put an SES bounce or complaint on the local default bus
                                           (as SES would in AWS; e.g. examples/ses-bounce.json)
  report [--policy ID] [--version N] [--school ID] [--format table|csv|json] [--today YYYY-MM-DD]
                                           compliance report: acknowledged / outstanding / overdue
                                           per school and trust-wide, with the outstanding names
  report-breach <report.json>              the breach and concern intake: stores the report,
                                           opens a case, prints its id (POST /reports)
  case <caseId> --show --as <staffId>      the case and its narrative, for someone with a role
                                           on it (every read and refusal is recorded)
  case <caseId> <triaged|investigating|closed> --by <staffId> [--note TEXT]
                                           move a case on (recorded with who and when)
  redrive [--queue NAME] [--dry-run]       move dead-lettered messages back to their source (a
                                           queue, or the event re-published to trust-events);
                                           counts per DLQ; --queue takes a DLQ's name or output key
  erase <staffId> [--dry-run]              erase a leaver's personal data (profile, unacknowledged
                                           requests; ledger rows redacted); safeguarding cases are
                                           kept and why is recorded on each; scans the ledger
  evidence --policy ID --version N [--out DIR]
                                           evidence pack: CSV of who was asked, reminders and
                                           acknowledgements, a hash-chained, signed manifest
  ledger resolve <key> --sent | --resend --by <staffId>
                                           an abandoned email (its outcome was unknown twice):
                                           --sent it arrived, --resend send it again (flagged)
  evidence verify <manifest.json> [--public-key PEM]
                                           check a pack's chain and signature (exit 1 if invalid)

Options for publish and import:
  --region <region>  --stack <name>        use AWS instead of the local platform
`;

function target(values: { region?: string | undefined; stack?: string | undefined }): Target {
  if (values.region || values.stack) {
    return { kind: 'aws', region: values.region ?? loadTrustConfig().region, stack: values.stack ?? 'trust-policy-notify' };
  }
  return localTarget();
}

async function start(args: string[]) {
  const { values } = parseArgs({ args, options: { reset: { type: 'boolean', default: false } }, allowPositionals: false });
  const started = Date.now();
  const dataDir = localDataDir();
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  process.stderr.write('Starting trust-policy-notify locally…\n');
  const platform = await startPlatform({
    config: loadTrustConfig(),
    ports: portsFromEnvironment(),
    dataDir,
    reset: values.reset,
    log,
    ...(process.env.TPN_ASYNC_RETRY_DELAY_MS ? { asyncRetryDelayMs: Number(process.env.TPN_ASYNC_RETRY_DELAY_MS) } : {}),
    ...(process.env.TPN_DELIVERY_RETRY_BASE_MS ? { deliveryRetryBaseMs: Number(process.env.TPN_DELIVERY_RETRY_BASE_MS) } : {}),
    schedules: process.env.TPN_SCHEDULES !== 'off',
    countRequests: process.env.TPN_COUNT_REQUESTS === '1',
    injectFaults: parseFaultRates(process.env.TPN_INJECT_FAULTS),
  });
  const u = platform.urls;
  process.stdout.write(
    [
      '',
      `trust-policy-notify is running (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      `  Web (pages, /health)      ${u.web}`,
      `  Event bus (PutEvents)     ${u.bus}`,
      `  Mail viewer               ${u.sesViewer}   (JSON: ${u.ses}/store)`,
      `  DynamoDB Local            ${u.dynamodb}`,
      `  SQS (fauxqs)              ${u.sqs}`,
      `  Data folder               ${dataDir}   (start --reset to begin clean)`,
      `  Function logs             ${dataDir}/logs/functions.log`,
      '',
      'Try:  npx trust-notify publish staff-onboarded examples/staff-onboarded.json',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping…\n`);
    await platform.stop();
    process.stderr.write('Stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

async function main(argv: string[]) {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'publish': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { region: { type: 'string' }, stack: { type: 'string' } },
        allowPositionals: true,
      });
      const [type, file] = positionals;
      if (!type || !file || positionals.length !== 2) throw new CliError('publish needs <type> <detail.json>');
      let detail: unknown;
      try {
        detail = JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        throw new CliError(`cannot read ${file} as JSON: ${(error as Error).message}`);
      }
      const id = await publishDetail(type, detail, target(values));
      process.stdout.write(`published ${type} as event ${id}\n`);
      return;
    }
    case 'import': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { silent: { type: 'boolean', default: false }, region: { type: 'string' }, stack: { type: 'string' } },
        allowPositionals: true,
      });
      const [file] = positionals;
      if (!file || positionals.length !== 1) throw new CliError('import needs <people.csv>');
      const code = await importDirectory(file, { silent: values.silent, target: target(values) });
      process.exitCode = code;
      return;
    }
    case 'report-breach': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { region: { type: 'string' }, stack: { type: 'string' } },
        allowPositionals: true,
      });
      const [file] = positionals;
      if (!file || positionals.length !== 1) throw new CliError('report-breach needs <report.json>');
      process.stdout.write(`${await reportBreach(file, target(values))}\n`);
      return;
    }
    case 'case': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: {
          show: { type: 'boolean', default: false },
          as: { type: 'string' },
          by: { type: 'string' },
          note: { type: 'string' },
          region: { type: 'string' },
          stack: { type: 'string' },
        },
        allowPositionals: true,
      });
      const [caseId, status] = positionals;
      if (!caseId) throw new CliError('case needs <caseId> and --show --as <staffId>, or a status and --by <staffId>');
      if (values.show) {
        if (status || values.by || values.note) throw new CliError('case --show takes only --as <staffId>');
        process.stdout.write(await showCase(caseId, values.as, target(values)));
        return;
      }
      if (!status || positionals.length !== 2) throw new CliError('case needs a status (triaged, investigating or closed) and --by <staffId>, or --show');
      process.stdout.write(await moveCase(caseId, status, values.by, values.note, target(values)));
      return;
    }
    case 'report':
      process.stdout.write(await reportCommand(rest));
      return;
    case 'erase':
      process.stdout.write(await eraseCommand(rest));
      return;
    case 'redrive': {
      const { text, failed } = await redriveCommand(rest);
      process.stdout.write(text);
      if (failed > 0) process.exitCode = 1;
      return;
    }
    case 'ledger':
      process.stdout.write(await ledgerCommand(rest));
      return;
    case 'evidence': {
      const { text, code } = await evidenceCommand(rest);
      (code === 0 ? process.stdout : process.stderr).write(code === 0 ? text : `trust-notify: ${text}`);
      process.exitCode = code;
      return;
    }
    case 'inject-ses-event': {
      const { positionals } = parseArgs({ args: rest, options: {}, allowPositionals: true });
      const [file] = positionals;
      if (!file || positionals.length !== 1) throw new CliError('inject-ses-event needs <event.json>');
      process.stdout.write(`${await injectSesEvent(file, target({}))}\n`);
      return;
    }
    case 'tick': {
      const { values } = parseArgs({ args: rest, options: { today: { type: 'string' } }, allowPositionals: false });
      const t = target({});
      if (t.kind !== 'local') throw new CliError('tick works against the local platform only');
      const response = await fetch(`${t.web}/admin/tick`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(values.today ? { today: values.today } : {}),
      }).catch(() => {
        throw new CliError(`the local platform is not running (nothing answers at ${t.web}; start it with npm start)`);
      });
      // The server answers JSON; anything else (a refusal in plain text) is reported by its status.
      const body = (await response.json().catch(() => ({}))) as { fired?: number; error?: string };
      if (!response.ok) throw new CliError(body.error ?? `tick failed with HTTP ${response.status}`);
      process.stdout.write(`fired ${body.fired} scheduled rule(s)${values.today ? ` as of ${values.today}` : ''}\n`);
      return;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      throw new CliError(`unknown command "${command}" (try --help)`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const known =
    error instanceof CliError ||
    error instanceof ContractError ||
    error instanceof ConfigError ||
    error instanceof JavaMissingError ||
    (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`trust-notify: ${known ? message : `${(error as Error).name ?? 'Error'}: ${message}`}\n`);
  process.exit(1);
});
