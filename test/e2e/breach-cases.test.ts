/**
 * Breach and concern cases through the running local platform, as the README walkthrough
 * does them: `trust-notify report-breach` posts to `POST /reports`, which the local web
 * server serves from the template with the intake function; the bus routes `Breach
 * Reported` to its handler; the email sender delivers the notices; `trust-notify case`
 * shows the narrative only to a person with a role on the case and moves it on. The demo
 * trust (fixtures/demo-directory.csv) is who is told. The triage schedule is exercised in
 * test/integration/breach-cases.test.ts (a `tick` here would fire every scheduled rule).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { type CliResult, runCli } from '../support/e2e-setup.ts';
import { eventually } from '../support/poll.ts';
import { sesStore, type StoredEmail } from '../support/ses-store.ts';

const ctx = inject('e2e');
const marker = `MARKER-${randomUUID().slice(0, 8)}`;
const reportFile = join(ctx.workDir, `breach-report-${marker}.json`);
writeFileSync(
  reportFile,
  JSON.stringify({
    schoolId: 'holy-trinity',
    category: 'online-conduct-concern',
    reportedByStaffId: 'HT-T1',
    subject: { kind: 'parent' },
    occurredOn: '2026-11-18',
    narrative: `A parent posted threats about a member of staff in a community group. ${marker}`,
  }),
);

const cli = (...args: string[]): Promise<CliResult> => runCli(ctx.dataDir, args);
const noticesOf = async (caseId: string): Promise<StoredEmail[]> =>
  (await sesStore(ctx.endpoints.ses)).filter((e) => e.subject.includes(caseId));

describe('breach and concern cases on the running platform', () => {
  let caseId = '';

  it('report-breach stores the report, prints the case id, and the notices arrive (Holy Trinity: its DSL and, with no deputy anywhere, the trust DSL)', async () => {
    const result = await cli('report-breach', reportFile);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    caseId = result.stdout.trim();
    expect(caseId).toMatch(/^CASE-\d{4}-\d{6}$/);

    const notices = await eventually(async () => {
      const found = await noticesOf(caseId);
      return found.length >= 2 ? found : undefined;
    }, { timeoutMs: 30_000, what: 'the case notices' });
    expect(notices.flatMap((e) => e.destination.to)).toEqual(
      expect.arrayContaining(['emma.wright@holytrinity.example.org', 'michael.oneill@allsaints-mat.example.org']),
    );
    for (const email of notices) {
      expect(email.body.text).toContain('Routing gap');
      expect(`${email.subject}${email.body.text}${email.body.html}`).not.toContain(marker);
    }
  });

  it('a bad report is refused with the field named, exit 1', async () => {
    const bad = join(ctx.workDir, `bad-report-${marker}.json`);
    writeFileSync(bad, JSON.stringify({ schoolId: 'holy-trinity', category: 'online-conduct-concern', subject: { kind: 'parent' }, occurredOn: '2026-11-18' }));
    const result = await cli('report-breach', bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('trust-notify: Breach report rejected: report.narrative is required\n');
  });

  it('case --show: refused without a role on the case, shown to the DSL; both on the timeline', async () => {
    const refused = await cli('case', caseId, '--show', '--as', 'HT-T1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`trust-notify: HT-T1 has no role on ${caseId}: the narrative is not shown (this refusal is recorded on the case)\n`);
    expect(refused.stdout).toBe('');

    const shown = await cli('case', caseId, '--show', '--as', 'HT-DSL');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(marker);
    expect(shown.stdout).toMatch(/narrative refused to HT-T1 \(no-role-on-case\)/);
    expect(shown.stdout).toMatch(/narrative read by HT-DSL/);
  });

  it('case <status>: an invalid move is refused in one line; a valid one is recorded with who', async () => {
    const invalid = await cli('case', caseId, 'closed', '--by', 'HT-DSL');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(`trust-notify: ${caseId} is reported and cannot move to closed: from reported it can move to triaged\n`);

    const moved = await cli('case', caseId, 'triaged', '--by', 'HT-DSL', '--note', 'Parent contacted.');
    expect(moved.code).toBe(0);
    expect(moved.stdout).toMatch(new RegExp(`^${caseId}: reported → triaged by HT-DSL at `));
    const shown = await cli('case', caseId, '--show', '--as', 'T-DSL');
    expect(shown.stdout).toContain(`Case ${caseId} (triaged)`);
    expect(shown.stdout).toContain('HT-DSL: Parent contacted.');
  });

  it('the function logs hold nothing of the narrative', () => {
    expect(readFileSync(join(ctx.dataDir, 'logs', 'functions.log'), 'utf8')).not.toContain(marker);
  });
});
