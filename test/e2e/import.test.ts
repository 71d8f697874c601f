/**
 * `trust-notify import` against the running local platform (DESIGN.md "Directory CSV",
 * "Command line"): good rows load and bad rows are reported by line and field, new people
 * are onboarded unless `--silent`, and the exit code says how it went (0 all loaded, 2 some
 * rejected, 1 none loaded).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import { runCli } from '../support/e2e-setup.ts';
import { examples } from '../support/examples.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: ctx.endpoints.dynamodb, region: config.region, credentials }));
const eventBridge = new EventBridgeClient({ endpoint: ctx.endpoints.bus, region: config.region, credentials, maxAttempts: 1 });
const dataTable = (JSON.parse(readFileSync(join(ctx.dataDir, 'stack-outputs.json'), 'utf8')) as Record<string, string>).DataTableName;
const fixture = (name: string) => join(REPO_ROOT, 'test', 'fixtures', name);

async function person(staffId: string): Promise<Record<string, unknown> | undefined> {
  const out = await db.send(new GetCommand({ TableName: dataTable, Key: { pk: `PERSON#${staffId}`, sk: 'PROFILE' } }));
  return out.Item;
}

async function firstEmail(to: string, match: (e: StoredEmail) => boolean = () => true): Promise<StoredEmail> {
  return eventually(async () => (await emailsTo(ctx.endpoints.ses, to)).find(match), { timeoutMs: 30_000, what: `an email to ${to}` });
}

type Stats = Record<string, { invocations: number }>;
async function staffOnboardedInvocations(): Promise<number> {
  const stats = (await (await fetch(`${ctx.endpoints.web}/admin/functions`)).json()) as Stats;
  const ids = Object.keys(stats).filter((id) => id.startsWith('StaffOnboardedFunction'));
  expect(ids).toHaveLength(1);
  return stats[ids[0] ?? '']?.invocations ?? Number.NaN;
}

/**
 * Publishes a control `Staff Onboarded` event and waits for its welcome email. The bus
 * delivers in order, so anything published before it has been routed by then: a test can
 * then assert that something did not happen without sleeping.
 */
async function barrier(): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const detail = { ...examples['Staff Onboarded'], staffId: `E2E-BARRIER-${id}`, email: `barrier.${id}@stmarys.example.org`, eventId: `barrier-${id}` };
  await eventBridge.send(
    new PutEventsCommand({
      Entries: [{ EventBusName: EVENT_BUS_NAME, Source: 'trust.hr', DetailType: 'Staff Onboarded', Detail: JSON.stringify(detail) }],
    }),
  );
  await firstEmail(detail.email);
}

/** Each `line N: field …` the import printed. */
function reportedProblems(stdout: string): string[] {
  return [...stdout.matchAll(/^\s+line (\d+): (\S+) /gm)].map((m) => `${m[1]}:${m[2]}`);
}

describe('trust-notify import against the running platform', () => {
  it('the mixed fixture really has a BOM, CRLF line ends, quoted commas and accents', () => {
    const bytes = readFileSync(fixture('e2e-import.csv'));
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.toString('utf8');
    expect(text).toContain('\r\n');
    expect(text.replaceAll('\r\n', '')).not.toContain('\n');
    expect(text).toContain('"O\'Brien, Jr."');
    expect(text).toContain('Zoë');
    expect(text).toContain('José');
  });

  it('loads the good rows, onboards the new people, updates the known one and reports each bad row by line and field (exit 2)', async () => {
    const before = await staffOnboardedInvocations();

    const result = await runCli(ctx.dataDir, ['import', fixture('e2e-import.csv')]);

    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/3 good rows: 1 updated, 0 added silently, 2 onboarded/);
    expect(reportedProblems(result.stdout)).toEqual(['4:email', '5:schoolId', '6:roles', '6:startDate', '7:staffId', '9:row']);
    expect(result.stdout).toContain('line 7: staffId repeats the staffId on line 2');
    for (const value of ['amara-at-stmarys', 'st-nowhere', 'wizard', '2026-02-30', 'Morgan', "O'Neill"]) {
      expect(result.stdout).not.toContain(value); // rows carry personal data: fields are named, values never shown
    }

    // The new people are onboarded: their welcome, and their Head of School's notice with the name intact.
    const zoe = await firstEmail('zoe.obrien@stmarys.example.org');
    expect(zoe.body.text).toContain('Dear Zoë,');
    await firstEmail('grace.okafor@stmarys.example.org', (e) => (e.body.text ?? '').includes("Zoë O'Brien, Jr. (teacher) joins"));
    const jose = await firstEmail('jose.nunez@stjohns.example.org');
    expect(jose.body.text).toContain('Dear José,');
    expect(await person('E2E-IMP-01')).toMatchObject({ givenName: 'Zoë', familyName: "O'Brien, Jr.", schoolId: 'st-marys', roles: ['teacher'], status: 'active' });
    expect(await person('E2E-IMP-02')).toMatchObject({ givenName: 'José', familyName: 'Núñez, de la Cruz', roles: ['support-staff', 'deputy-dsl'] });
    // Only those two were published (the bus routes a PutEvents call's entries together), so the
    // seeded person on line 8 was updated in place and not welcomed a second time.
    expect((await staffOnboardedInvocations()) - before).toBe(2);
    // (Other e2e files may email the demo people about other things: only welcomes count here.)
    const welcomes = (await emailsTo(ctx.endpoints.ses, 'oliver.hughes@stmarys.example.org')).filter((e) => e.subject.startsWith('Welcome'));
    expect(welcomes).toEqual([]);
    expect(await person('SM-T1')).toMatchObject({ familyName: 'Hughes, né Smith', managesOfficialChannels: true, status: 'active' });
    // Bad rows wrote nothing; the repeated staffId did not overwrite the first row.
    for (const staffId of ['E2E-IMP-03', 'E2E-IMP-04', 'E2E-IMP-05', 'E2E-IMP-06']) expect(await person(staffId)).toBeUndefined();
    expect((await person('E2E-IMP-01'))?.email).toBe('zoe.obrien@stmarys.example.org');
  });

  it('--silent adds the people with no email sent (exit 0)', async () => {
    const before = await staffOnboardedInvocations();

    const result = await runCli(ctx.dataDir, ['import', fixture('e2e-import-silent.csv'), '--silent']);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/2 good rows: 0 updated, 2 added silently, 0 onboarded/);
    expect(await person('E2E-SIL-01')).toMatchObject({ givenName: 'Siân', familyName: 'Llywelyn', schoolId: 'holy-trinity', status: 'active' });
    expect(await person('E2E-SIL-02')).toMatchObject({ givenName: 'Mårten', familyName: 'Ångström, PhD', employmentType: 'governor' });
    await barrier();
    expect((await staffOnboardedInvocations()) - before).toBe(1); // the barrier's own event only
    expect(await emailsTo(ctx.endpoints.ses, 'sian.llywelyn@holytrinity.example.org')).toEqual([]);
    expect(await emailsTo(ctx.endpoints.ses, 'marten.angstrom@allsaintshigh.example.org')).toEqual([]);
  });

  it('a file where every row is bad loads nothing, lists every problem and exits 1', async () => {
    const before = await staffOnboardedInvocations();

    const result = await runCli(ctx.dataDir, ['import', fixture('e2e-import-all-bad.csv')]);

    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^0 good rows/);
    expect(reportedProblems(result.stdout)).toEqual(['2:email', '3:roles', '4:employmentType', '4:managesOfficialChannels']);
    expect(result.stdout).not.toContain('noah-reed-at-example');
    expect(result.stdout).not.toContain('contractor');
    for (const staffId of ['E2E-BAD-01', 'E2E-BAD-02', 'E2E-BAD-03']) expect(await person(staffId)).toBeUndefined();
    await barrier();
    expect((await staffOnboardedInvocations()) - before).toBe(1);
  });
});
