/**
 * `trust-notify report` and `GET /reports/compliance` against the running local platform
 * (DESIGN.md "Command line"; issue 4 item 5): a person onboarded through the event bus
 * shows up as outstanding at their school, in JSON, CSV and on the page; an unknown policy
 * or school is a one-line error with exit code 1.
 */
import { randomUUID } from 'node:crypto';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { describe, expect, inject, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import type { ComplianceReport } from '../../functions/domain/compliance-report.ts';
import { runCli } from '../support/e2e-setup.ts';
import { examples } from '../support/examples.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo } from '../support/ses-store.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const eventBridge = new EventBridgeClient({ endpoint: ctx.endpoints.bus, region: config.region, credentials, maxAttempts: 1 });

const id = randomUUID().slice(0, 8);
const newcomer = {
  ...examples['Staff Onboarded'],
  staffId: `E2E-REPORT-${id}`,
  givenName: 'Report',
  familyName: `Newcomer${id}`,
  email: `report.${id}@stjohns.example.org`,
  schoolId: 'st-johns',
  roles: ['teacher'],
  managesOfficialChannels: false,
  eventId: `report-${id}`,
};

async function reportJson(...args: string[]): Promise<ComplianceReport> {
  const result = await runCli(ctx.dataDir, ['report', '--format', 'json', ...args]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as ComplianceReport;
}

describe('trust-notify report against the running platform', () => {
  it('lists a newly onboarded person as outstanding at their school (JSON), and the figures add up', async () => {
    await eventBridge.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: EVENT_BUS_NAME, Source: 'trust.hr', DetailType: 'Staff Onboarded', Detail: JSON.stringify(newcomer) }],
      }),
    );
    // The request is written before the welcome is queued: once the welcome is there, so is the request.
    await eventually(async () => (await emailsTo(ctx.endpoints.ses, newcomer.email))[0], { timeoutMs: 30_000, what: 'the welcome email' });

    const report = await reportJson('--school', 'st-johns');
    expect(report.policyId).toBe('use-of-social-media');
    expect(report.schools.map((s) => s.schoolId)).toEqual(['st-johns']);
    const school = report.schools[0];
    expect(school?.outstandingPeople.find((p) => p.staffId === newcomer.staffId)).toMatchObject({
      name: `Report Newcomer${id}`,
      overdue: false,
    });
    expect((school?.acknowledged ?? 0) + (school?.outstanding ?? 0)).toBe(school?.people);

    const whole = await reportJson();
    const sum = whole.schools.reduce((n, s) => n + s.people, 0);
    expect(whole.trustWide.people).toBe(sum);
    expect(whole.trustWide).toEqual(report.trustWide);
  });

  it('writes formula-safe CSV and an aligned table', async () => {
    const csv = await runCli(ctx.dataDir, ['report', '--format', 'csv']);
    expect(csv.code).toBe(0);
    expect(csv.stdout.startsWith('\uFEFFpolicyId,version,asOf,kind,schoolId,school,')).toBe(true);
    expect(csv.stdout).toContain(`,${newcomer.staffId},Report Newcomer${id},`);
    const table = await runCli(ctx.dataDir, ['report']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^Trust-wide\s+\d+\s+\d+\s+\d+\s+\d+\s+[\d.]+%$/m);
  });

  it('refuses an unknown policy, school or format with one line and exit code 1', async () => {
    for (const [args, message] of [
      [['--policy', 'no-such-policy'], 'trust-notify: --policy: no policy "no-such-policy" on record'],
      [['--school', 'nowhere'], 'trust-notify: --school: no school "nowhere" in this trust'],
      [['--format', 'xlsx'], 'trust-notify: --format must be one of table, csv, json'],
    ] as const) {
      const result = await runCli(ctx.dataDir, ['report', ...args]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr.startsWith(message)).toBe(true);
    }
  });

  it('serves the same report as a page (GET /reports/compliance)', async () => {
    const response = await fetch(`${ctx.endpoints.web}/reports/compliance?school=st-johns`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const body = await response.text();
    expect(body).toContain(`<th scope="row">Report Newcomer${id}</th><td>${newcomer.staffId}</td>`);
  });
});
