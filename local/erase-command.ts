/**
 * The work behind `trust-notify erase <staffId> [--dry-run] [--region R] [--stack S]`
 * (DESIGN.md "Data"; issue 6 "Operations"): removes a person's personal data except where
 * safeguarding records must be kept, and records why on each case kept. The decisions are
 * functions/domain/erasure.ts; this module reads and writes the tables (the local platform's
 * by default, found through its stack outputs; AWS with --region/--stack).
 *
 * How items are found:
 * - profile and acknowledgement requests: queries on pk = PERSON#<staffId>;
 * - ledger rows: the ledger has no index by person, so the ledger table is SCANNED with a
 *   filter (their id as a segment of the key: person#<id>#…, policy#…#<id>#…, reminder#…#<id>#…;
 *   addressed to them; or, while the profile exists, naming them in the template data);
 * - cases: the case repository has no index by person either (pk = CASE#<caseId>), so the
 *   data table is SCANNED for cases naming them as subject, reporter, recipient or owner.
 * Both scans read every row: acceptable for an operator command run rarely, and said in its
 * output. The profile is deleted last, so a run that stops part way can simply be run again.
 *
 * Output: counts and reasons, never a name, address or template value.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  DynamoDBDocumentClient as DocumentClient,
  GetCommand,
  paginateQuery,
  paginateScan,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { parseArgs } from 'node:util';
import { CaseRepository } from '../functions/adapters/case-repository.ts';
import { loadTrustConfig } from '../functions/config/load-trust-config.ts';
import { londonDate } from '../functions/domain/dates.ts';
import {
  type CaseItem,
  ERASED,
  type ErasurePlan,
  type ErasureSummary,
  EVIDENCE_REASON,
  IN_FLIGHT_REASON,
  LEDGER_REASON,
  type LedgerItem,
  planErasure,
  type RequestItem,
  SAFEGUARDING_REASON,
  summarise,
} from '../functions/domain/erasure.ts';
import { displayName, type Person } from '../functions/domain/people.ts';
import { CliError, localTarget, stackOutputs, type Target } from './cli-commands.ts';

const STAFF_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface ErasureTables {
  db: DynamoDBDocumentClient;
  dataTable: string;
  ledgerTable: string;
}

export type ErasureResult = { kind: 'refused'; reason: string } | { kind: 'done'; dryRun: boolean; summary: ErasureSummary };

/** Finds what is stored about the person, decides (functions/domain/erasure.ts) and, unless `dryRun`, applies it. */
export async function erasePerson(tables: ErasureTables, staffId: string, options: { dryRun: boolean; now?: Date }): Promise<ErasureResult> {
  if (!STAFF_ID.test(staffId)) throw new CliError('<staffId> must be 1-64 letters, digits, "_" or "-"');
  const now = options.now ?? new Date();
  const { db, dataTable, ledgerTable } = tables;
  const cases = new CaseRepository(db, dataTable);

  const profile = (
    await db.send(new GetCommand({ TableName: dataTable, Key: { pk: `PERSON#${staffId}`, sk: 'PROFILE' }, ConsistentRead: true }))
  ).Item as Person | undefined;
  const names = profile ? [displayName(profile), profile.email].filter((n) => typeof n === 'string' && n.length > 0) : [];

  const requests: RequestItem[] = [];
  for await (const page of paginateQuery(
    { client: db },
    {
      TableName: dataTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :r)',
      ExpressionAttributeValues: { ':pk': `PERSON#${staffId}`, ':r': 'REQUEST#' },
      ConsistentRead: true,
    },
  )) {
    for (const item of page.Items ?? []) requests.push(item as RequestItem);
  }

  // No index by person on the ledger: a filtered scan (see the header).
  const ledger: LedgerItem[] = [];
  const nameValues = Object.fromEntries(names.map((name, i) => [`:n${i}`, name]));
  for await (const page of paginateScan(
    { client: db },
    {
      TableName: ledgerTable,
      FilterExpression: ['contains(pk, :id)', 'recipientStaffId = :id', ...names.flatMap((_n, i) => [`contains(templateData, :n${i})`, `recipient = :n${i}`])].join(' OR '),
      ProjectionExpression: 'pk, #state, recipient, recipientStaffId, templateData',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':id': staffId, ...nameValues },
      ConsistentRead: true,
    },
  )) {
    for (const item of page.Items ?? []) ledger.push(item as LedgerItem);
  }

  // No index by person on cases either: a filtered scan of the data table.
  const caseItems: CaseItem[] = [];
  for await (const page of paginateScan(
    { client: db },
    {
      TableName: dataTable,
      FilterExpression:
        'entity = :case AND (#subject.#staffId = :id OR reportedByStaffId = :id OR contains(participants, :id) OR ownerStaffId = :id)',
      ExpressionAttributeNames: { '#subject': 'subject', '#staffId': 'staffId' },
      ExpressionAttributeValues: { ':case': 'case', ':id': staffId },
      ConsistentRead: true,
    },
  )) {
    for (const item of page.Items ?? []) {
      const caseId = String(item.caseId);
      const timeline = await cases.timeline(caseId);
      const erasureRecorded = timeline.some((entry) => entry.kind === 'erasure-kept' && entry.staffId === staffId);
      caseItems.push({ ...(item as Omit<CaseItem, 'erasureRecorded'>), caseId, erasureRecorded });
    }
  }

  const plan: ErasurePlan = planErasure({
    staffId,
    today: londonDate(now),
    profile: profile ?? null,
    requests,
    ledger,
    names,
    cases: caseItems,
  });
  if (plan.kind === 'refused') return plan;
  const summary = summarise(plan.decisions);
  if (options.dryRun) return { kind: 'done', dryRun: true, summary };

  const at = now.toISOString();
  let raced = 0;
  // Ledger and requests first, cases next, the profile last (it names them for the ledger filter).
  for (const decision of plan.decisions) {
    if (decision.item !== 'ledger' || decision.action !== 'redact') continue;
    try {
      await db.send(
        new UpdateCommand({
          TableName: ledgerTable,
          Key: { pk: decision.pk },
          UpdateExpression: 'SET recipient = :erased, templateData = :erased, erasedAt = :at',
          ConditionExpression: '#state = :seen',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':erased': ERASED, ':at': at, ':seen': decision.state },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      raced++; // its state moved meanwhile (a send in progress): the next run redacts it
    }
  }
  for (const decision of plan.decisions) {
    if (decision.item !== 'request') continue;
    const Key = { pk: `PERSON#${staffId}`, sk: decision.sk };
    if (decision.action === 'delete') await db.send(new DeleteCommand({ TableName: dataTable, Key }));
    else {
      await db.send(
        new UpdateCommand({ TableName: dataTable, Key, UpdateExpression: 'SET erasedAt = :at REMOVE ackTokenId', ExpressionAttributeValues: { ':at': at } }),
      );
    }
  }
  for (const decision of plan.decisions) {
    if (decision.item !== 'case' || decision.alreadyRecorded) continue;
    await cases.record(decision.caseId, { kind: 'erasure-kept', at, staffId, roles: decision.roles, reason: decision.reason });
  }
  if (plan.decisions.some((d) => d.item === 'profile')) {
    await db.send(new DeleteCommand({ TableName: dataTable, Key: { pk: `PERSON#${staffId}`, sk: 'PROFILE' } }));
  }
  return {
    kind: 'done',
    dryRun: false,
    summary: { ...summary, ledgerRedacted: summary.ledgerRedacted - raced, ledgerDeferred: summary.ledgerDeferred + raced },
  };
}

export const SCAN_NOTE =
  'Note: the ledger and the cases have no index by person, so erase scans the ledger table and the data table with a filter (it reads every row: fine for an operator command run rarely).';

/** What a run did (or would do): counts, reasons and case ids only. */
export function formatErasure(staffId: string, result: ErasureResult): string {
  if (result.kind === 'refused') return `erase ${staffId}: refused: ${result.reason}\n`;
  const s = result.summary;
  const lines = [`erase ${staffId}${result.dryRun ? ' (dry run: nothing changed)' : ''}:`];
  if (!s.changed && s.ledgerDeferred === 0) lines.push('  nothing left to erase');
  const verb = result.dryRun ? 'would be ' : '';
  lines.push(`  erased:   profile ${verb}deleted: ${s.profileDeleted}; acknowledgement requests never acknowledged ${verb}deleted: ${s.requestsDeleted}`);
  lines.push(`  redacted: acknowledged requests: ${s.requestsRedacted} (kept as ${EVIDENCE_REASON})`);
  lines.push(`            ledger rows (recipient and template data → ${ERASED}): ${s.ledgerRedacted} (${LEDGER_REASON})`);
  if (s.ledgerDeferred > 0) lines.push(`  deferred: ledger rows: ${s.ledgerDeferred} (${IN_FLIGHT_REASON})`);
  lines.push(
    `  kept:     cases: ${s.casesKept.length}${s.casesKept.length > 0 ? ` (${s.casesKept.join(', ')})` : ''}; reason recorded on the timeline: ${s.casesNewlyRecorded} ${verb}newly, ${s.casesKept.length - s.casesNewlyRecorded} already`,
  );
  if (s.casesKept.length > 0) lines.push(`            reason: ${SAFEGUARDING_REASON}`);
  lines.push(SCAN_NOTE);
  return `${lines.join('\n')}\n`;
}

function refused(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string }; message?: string };
  return e.code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(e.message));
}

/** `trust-notify erase <staffId> [--dry-run] [--region R] [--stack S]`. */
export async function eraseCommand(args: string[]): Promise<string> {
  const { values, positionals } = parseArgs({
    args,
    options: { 'dry-run': { type: 'boolean', default: false }, region: { type: 'string' }, stack: { type: 'string' } },
    allowPositionals: true,
  });
  const [staffId] = positionals;
  if (!staffId || positionals.length !== 1) throw new CliError('erase needs <staffId>');
  if (!STAFF_ID.test(staffId)) throw new CliError('<staffId> must be 1-64 letters, digits, "_" or "-"');
  const target: Target =
    values.region || values.stack
      ? { kind: 'aws', region: values.region ?? loadTrustConfig().region, stack: values.stack ?? 'trust-policy-notify' }
      : localTarget();
  const outputs = await stackOutputs(target);
  const dataTable = outputs.DataTableName;
  const ledgerTable = outputs.LedgerTableName;
  if (!dataTable || !ledgerTable) throw new CliError('the stack has no DataTableName or LedgerTableName output (is it up to date?)');
  const client =
    target.kind === 'aws'
      ? new DynamoDBClient({ region: target.region })
      : new DynamoDBClient({
          endpoint: target.dynamodb,
          region: loadTrustConfig().region,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          maxAttempts: 2,
        });
  try {
    const db = DocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    return formatErasure(staffId, await erasePerson({ db, dataTable, ledgerTable }, staffId, { dryRun: values['dry-run'] }));
  } catch (error) {
    if (target.kind === 'local' && refused(error)) {
      throw new CliError(`the local platform is not running (nothing answers at ${target.dynamodb}; start it with npm start)`);
    }
    throw error;
  } finally {
    client.destroy();
  }
}
