/**
 * The work behind `trust-notify report-breach` and `trust-notify case` (DESIGN.md
 * "Command line"), against the local platform or AWS (`--region` / `--stack`).
 *
 * - `report-breach <report.json>`: checks the report against its contract here (errors name
 *   the field), then POSTs it to the intake, `POST /reports`: the local web server serves
 *   that route from the template, with the same function that deploys (loopback only, no
 *   authorization: 127.0.0.1 is the boundary locally); in AWS the request is signed with
 *   SigV4 for the route's IAM authorization. Prints the case id.
 * - `case <caseId> --show --as <staffId>`: the narrative, notes and timeline, only for a
 *   person with a role on the case; the read, or the refusal, is recorded on the timeline
 *   first. Runs with the caller's own credentials (locally the local ones; in AWS a role
 *   with the stack's CaseReaderPolicy). In AWS the operator console's function is the only
 *   other reader, for a person with a role on the case (README "Security").
 * - `case <caseId> <triaged|investigating|closed> --by <staffId> [--note TEXT]`: a status
 *   move, on the timeline with who and when; an invalid move is refused (and recorded).
 */
import { readFileSync } from 'node:fs';
import { createHash, createHmac } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CaseNotFoundError, CaseRepository } from '../functions/adapters/case-repository.ts';
import { loadTrustConfig } from '../functions/config/load-trust-config.ts';
import { isSchoolOfTrust, schoolName } from '../functions/config/trust-config.ts';
import { parseBreachReport } from '../functions/contracts/breach-report.ts';
import { categoryLabel, FLAG_LABELS } from '../functions/domain/breach-routing.ts';
import { accessDecision, type CaseRecord, decideMove, describeEntry, NOTE_MAX_LENGTH } from '../functions/domain/cases.ts';
import { formatLondonDateTime } from '../functions/domain/dates.ts';
import { CliError, stackOutputs, type Target } from './cli-commands.ts';

const CASE_ID = /^[A-Z0-9-]{4,40}$/;
const STAFF_ID = /^[A-Za-z0-9_-]{1,64}$/;

function checkIds(caseId: string, staffId: string | undefined, option: string): string {
  if (!CASE_ID.test(caseId)) throw new CliError('<caseId> must be 4-40 upper-case letters, digits or "-" (e.g. CASE-2026-000001)');
  if (!staffId) throw new CliError(`${option} <staffId> is required`);
  if (!STAFF_ID.test(staffId)) throw new CliError(`${option} must be a staff id: 1-64 letters, digits, "_" or "-"`);
  return staffId;
}

async function repository(target: Target): Promise<CaseRepository> {
  const outputs = await stackOutputs(target);
  const dataTable = outputs.DataTableName;
  const narrativeTable = outputs.NarrativeTableName;
  if (!dataTable || !narrativeTable) throw new CliError('the stack has no DataTableName or NarrativeTableName output (is it up to date?)');
  const client =
    target.kind === 'aws'
      ? new DynamoDBClient({ region: target.region })
      : new DynamoDBClient({
          endpoint: target.dynamodb,
          region: loadTrustConfig().region,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          maxAttempts: 2,
        });
  return new CaseRepository(DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }), dataTable, narrativeTable);
}

function unreachable(error: unknown, target: Target): never {
  const e = error as { code?: string; cause?: { code?: string }; message?: string };
  if (target.kind === 'local' && (e.code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED' || /ECONNREFUSED|fetch failed/.test(String(e.message)))) {
    throw new CliError('the local platform is not running (start it with npm start)');
  }
  throw error;
}

async function loadCase(repo: CaseRepository, caseId: string, target: Target): Promise<CaseRecord> {
  const record = await repo.get(caseId).catch((error: unknown) => unreachable(error, target));
  if (!record) throw new CliError(`no case ${caseId} on record`);
  return record;
}

// ---------------------------------------------------------------------------------
// report-breach

/** SHA-256 and HMAC-SHA-256 for the SigV4 signer, from node:crypto. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): string | Uint8Array =>
  typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

class NodeSha256 {
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  private readonly secret: string | Uint8Array | undefined;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined ? undefined : bytes(secret);
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}

/** POSTs the report to `url`, signed with SigV4 (service execute-api) for the route's IAM authorization. */
async function signedPost(url: URL, body: string, region: string): Promise<Response> {
  // The signer and the credential chain ship with the AWS SDK v3 (its own dependencies).
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  const signer = new SignatureV4({ service: 'execute-api', region, credentials: defaultProvider(), sha256: NodeSha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    path: url.pathname,
    query: {},
    headers: { host: url.host, 'content-type': 'application/json' },
    body,
  });
  return fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body });
}

/** The intake: validates the report here, posts it, returns the case id. */
export async function reportBreach(file: string, target: Target): Promise<string> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read ${file} as JSON: ${(error as NodeJS.ErrnoException).code ?? 'not valid JSON'}`);
  }
  const report = parseBreachReport(value);
  if (!isSchoolOfTrust(loadTrustConfig(), report.schoolId)) throw new CliError('Breach report rejected: report.schoolId is not a school of the trust');
  const body = JSON.stringify(report);

  let response: Response;
  if (target.kind === 'local') {
    response = await fetch(`${target.web}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch(() => {
      throw new CliError(`the local platform is not running (nothing answers at ${target.web}; start it with npm start)`);
    });
  } else {
    const api = (await stackOutputs(target)).ReportsApiUrl;
    if (!api) throw new CliError('the stack has no ReportsApiUrl output');
    response = await signedPost(new URL('reports', api), body, target.region);
  }
  const answer = (await response.json().catch(() => ({}))) as { caseId?: string; error?: string; announced?: boolean; duplicate?: boolean };
  if (!response.ok || !answer.caseId) {
    throw new CliError(answer.error ?? `the intake answered HTTP ${response.status}`);
  }
  if (answer.announced === false) process.stderr.write('trust-notify: the case is stored, but its notices will go out with the next hourly triage check\n');
  if (answer.duplicate) process.stderr.write('trust-notify: this report (its eventId) was already taken: the case it opened is\n');
  return answer.caseId;
}

// ---------------------------------------------------------------------------------
// case <caseId> --show --as <staffId>

/** Control characters (other than newline and tab) shown as `\u....`: a narrative cannot drive the terminal. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}


/** `case <caseId> --show --as <staffId>` against a target. */
export async function showCase(caseId: string, as: string | undefined, target: Target): Promise<string> {
  const staffId = checkIds(caseId, as, '--as');
  const repo = await repository(target);
  await loadCase(repo, caseId, target);
  return caseView(repo, caseId, staffId, new Date());
}

/**
 * The case with its narrative, for a person with a role on it. Every attempt is recorded
 * on the timeline before anything is shown; a refusal is recorded and then thrown.
 */
export async function caseView(repo: CaseRepository, caseId: string, staffId: string, at: Date): Promise<string> {
  const record = await repo.get(caseId);
  if (!record) throw new CliError(`no case ${caseId} on record`);
  const now = at.toISOString();
  const access = accessDecision(record, staffId);
  if (!access.allowed) {
    await repo.record(caseId, { kind: 'narrative-refused', at: now, by: staffId, reason: access.reason });
    throw new CliError(
      `${staffId} ${access.reason === 'subject-of-case' ? 'is the subject of' : 'has no role on'} ${caseId}: the narrative is not shown (this refusal is recorded on the case)`,
    );
  }
  await repo.record(caseId, { kind: 'narrative-read', at: now, by: staffId });
  const [stored, timeline] = await Promise.all([repo.readNarrative(caseId), repo.timeline(caseId)]);
  const config = loadTrustConfig();
  const lines = [
    `Case ${record.caseId} (${record.status})`,
    `Category:    ${categoryLabel(record.category)} (${record.category})`,
    `School:      ${schoolName(config, record.schoolId)}`,
    `Occurred on: ${record.occurredOn}`,
    `Reported:    ${formatLondonDateTime(record.reportedAt)}`,
    ...(record.ownerStaffId ? [`Owner:       ${record.ownerStaffId}`] : []),
    ...(record.routing?.flags.length ? ['Flags:', ...record.routing.flags.map((f) => `  - ${FLAG_LABELS[f]}`)] : []),
    '',
    'Narrative:',
    stored ? printable(stored.narrative) : '(no narrative on record)',
    ...(stored?.notes.length
      ? ['', 'Notes:', ...stored.notes.map((n) => `  ${formatLondonDateTime(n.at)} ${n.by}: ${printable(n.note)}`)]
      : []),
    '',
    'Timeline:',
    ...timeline.flatMap((entry) => {
      const [first = '', ...rest] = describeEntry(entry);
      return [`  ${String(entry.seq).padStart(3)}  ${formatLondonDateTime(entry.at)}  ${first}`, ...rest.map((l) => `                ${l}`)];
    }),
  ];
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------
// case <caseId> <status> --by <staffId> [--note TEXT]

/** `case <caseId> <status> --by <staffId> [--note TEXT]` against a target. */
export async function moveCase(caseId: string, to: string, by: string | undefined, note: string | undefined, target: Target): Promise<string> {
  const staffId = checkIds(caseId, by, '--by');
  const repo = await repository(target);
  await loadCase(repo, caseId, target);
  return caseMove(repo, caseId, to, staffId, note, new Date());
}

/** Moves a case; refuses (and records) an invalid move. Returns the line to print. */
export async function caseMove(repo: CaseRepository, caseId: string, to: string, staffId: string, note: string | undefined, now: Date): Promise<string> {
  if (note !== undefined && (note.trim().length === 0 || note.length > NOTE_MAX_LENGTH)) {
    throw new CliError(`--note must be 1-${NOTE_MAX_LENGTH} characters`);
  }
  const record = await repo.get(caseId);
  if (!record) throw new CliError(`no case ${caseId} on record`);
  const decision = decideMove(record, to, staffId);
  if (!decision.ok) {
    await repo.record(caseId, { kind: 'move-refused', at: now.toISOString(), by: staffId, to: to.slice(0, 40), reason: decision.reason });
    throw new CliError(decision.message);
  }
  try {
    const moved = await repo.move(caseId, { from: decision.from, to: decision.to, by: staffId, ...(note ? { note } : {}) }, now);
    if (!moved) {
      const current = await repo.get(caseId);
      throw new CliError(`${caseId} changed meanwhile: it is now ${current?.status ?? 'gone'}; nothing was changed`);
    }
  } catch (error) {
    if (error instanceof CaseNotFoundError) throw new CliError(`no case ${caseId} on record`);
    throw error;
  }
  return `${caseId}: ${decision.from} → ${decision.to} by ${staffId} at ${formatLondonDateTime(now.toISOString())}${note ? ' (note kept with the narrative)' : ''}\n`;
}
