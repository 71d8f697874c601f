/// <reference lib="dom" />
/**
 * The operator console in Debian's Chromium (issue #7, "Browser tests"), against the whole
 * local platform (`trust-notify start`, seeded with the demo trust of
 * fixtures/demo-directory.csv): a new version of the seed policy is published on the bus,
 * the dashboard's chart must show, school by school, as many people asked as the seeded
 * people who were emailed a link; then a real email from the SES store is opened, its link
 * followed and the confirmation pressed, and the dashboard's count moves by one. Cases
 * (narrative only for a person with a role, each view on the timeline), the ledger (its
 * "sent" figure equals what the SES server holds) and the dead-letter queues are checked
 * too. Screenshots: artifacts/browser/console-*.png.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import { type Chromium, launchChromium } from '../support/browser.ts';
import { runCli } from '../support/e2e-setup.ts';
import { eventually } from '../support/poll.ts';
import { type StoredEmail, sesStore } from '../support/ses-store.ts';

const ctx = inject('e2e');
const config = loadTrustConfig();
const web = ctx.endpoints.web;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const eventBridge = new EventBridgeClient({ endpoint: ctx.endpoints.bus, region: config.region, credentials, maxAttempts: 1 });

/** The seeded directory: email → school, straight from the fixture the seed loads. */
const seeded = new Map(
  readFileSync(join(REPO_ROOT, 'fixtures/demo-directory.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','))
    .map((cols) => [String(cols[3]).toLowerCase(), { staffId: String(cols[0]), schoolId: String(cols[4]) }]),
);

const ACK_LINK = /href="(http:\/\/127\.0\.0\.1:\d+\/ack\/[^"]+)"/;

/** Emails carrying an acknowledgement link for the seed policy's version 2, by recipient. */
async function askedForV2(): Promise<Map<string, StoredEmail>> {
  const asked = new Map<string, StoredEmail>();
  for (const email of await sesStore(ctx.endpoints.ses)) {
    if (!ACK_LINK.test(email.body.html ?? '') || !/Social Media/i.test(email.subject)) continue;
    for (const to of email.destination.to) asked.set(to.toLowerCase(), email);
  }
  return asked;
}

let chromium: Chromium;
let page: Page;
const problems: string[] = [];

async function chartFigures(p: Page) {
  return p.$$eval('section[data-policy="use-of-social-media"] svg g[data-school]', (groups) =>
    Object.fromEntries(
      groups.map((g) => [
        g.getAttribute('data-school'),
        { people: Number(g.getAttribute('data-people')), acknowledged: Number(g.getAttribute('data-acknowledged')), outstanding: Number(g.getAttribute('data-outstanding')) },
      ]),
    ),
  );
}

async function figure(p: Page, name: string): Promise<string> {
  return (await p.locator(`section[data-policy="use-of-social-media"] [data-figure="${name}"]`).textContent()) ?? '';
}

beforeAll(async () => {
  chromium = await launchChromium();
  page = await chromium.page();
  // Any script error or CSP violation (the console runs under default-src 'none') is a failure.
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));

  const detail = JSON.parse(readFileSync(join(REPO_ROOT, 'examples/policy-updated.json'), 'utf8')) as Record<string, unknown>;
  const out = await eventBridge.send(
    new PutEventsCommand({
      Entries: [{ EventBusName: EVENT_BUS_NAME, Source: 'trust.policies', DetailType: 'Policy Updated', Detail: JSON.stringify({ ...detail, eventId: `browser-${randomUUID()}` }) }],
    }),
  );
  expect(out.FailedEntryCount).toBe(0);
  // The fan-out is done when the number of people emailed a link stops changing.
  let last = -1;
  await eventually(
    async () => {
      const n = (await askedForV2()).size;
      const settled = n > 0 && n === last;
      last = n;
      return settled || undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1_500, what: 'the Policy Updated fan-out to settle' },
  );
});

afterAll(async () => {
  await chromium?.close();
});

describe('operator console in Chromium', () => {
  it('the dashboard chart shows, per school, the seeded people who were asked, none acknowledged yet', async () => {
    const asked = await askedForV2();
    const expected: Record<string, { people: number; acknowledged: number; outstanding: number }> = {};
    for (const address of asked.keys()) {
      const person = seeded.get(address);
      expect(person, `${address} is a seeded person`).toBeDefined();
      const schoolId = person?.schoolId ?? '';
      const school = expected[schoolId] ?? { people: 0, acknowledged: 0, outstanding: 0 };
      school.people++;
      school.outstanding++;
      expected[schoolId] = school;
    }
    const response = await page.goto(`${web}/`);
    expect(response?.status()).toBe(200);
    const headers = response?.headers() ?? {};
    expect(headers['content-security-policy']).toContain("default-src 'none'");
    expect(headers['x-frame-options']).toBe('DENY');

    expect(await chartFigures(page)).toEqual(expected);
    expect(Number(await figure(page, 'people'))).toBe(asked.size);
    expect(await figure(page, 'acknowledged')).toBe('0');
    await expect(page.locator('h1').first().textContent()).resolves.toBe('Policy compliance');
    await chromium.screenshot(page, 'console-dashboard');
    expect(problems).toEqual([]);
  });

  it('following the link in a real email and confirming moves the dashboard count by one', async () => {
    const asked = await askedForV2();
    const [address, email] = [...asked.entries()].find(([a]) => seeded.get(a)?.schoolId === 'st-marys') ?? [];
    if (!address || !email?.body.html) throw new Error('nobody at St Mary’s was emailed a link');
    const before = await (async () => {
      await page.goto(`${web}/`);
      return chartFigures(page);
    })();

    // The email itself, as a mail client shows it (a page of its own, without the console's
    // CSP); its button is clicked, and opens the link in a new tab as mail clients do.
    const mail = await chromium.page();
    await mail.setContent(email.body.html);
    await chromium.screenshot(mail, 'console-email-with-link');
    const link = mail.locator('a[href*="/ack/"]').first();
    await expect(link.isVisible()).resolves.toBe(true);
    const opensTab = (await link.getAttribute('target')) === '_blank';
    const [ack] = opensTab ? await Promise.all([chromium.context.waitForEvent('page'), link.click()]) : [mail, await link.click()];
    await ack.waitForLoadState('load');
    ack.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    expect(ack.url(), `the link ${(await link.getAttribute('href'))?.replace(/\/ack\/.*/, '/ack/…')} opened; the platform is at ${web}`).toMatch(/\/ack\//);
    await expect(ack.locator('h1').textContent()).resolves.toMatch(/^Confirm you have read/);
    await chromium.screenshot(ack, 'console-ack-page');
    await Promise.all([ack.waitForURL(/\/ack\//), ack.getByRole('button', { name: 'I have read and understood this policy' }).click()]);
    await expect(ack.locator('h1').textContent()).resolves.toBe('Thank you');
    await chromium.screenshot(ack, 'console-ack-confirmed');
    await ack.close();
    if (ack !== mail) await mail.close();

    await page.goto(`${web}/`);
    const after = await chartFigures(page);
    expect(after['st-marys']).toEqual({
      people: before['st-marys']?.people,
      acknowledged: (before['st-marys']?.acknowledged ?? 0) + 1,
      outstanding: (before['st-marys']?.outstanding ?? 0) - 1,
    });
    expect(await figure(page, 'acknowledged')).toBe('1');
    await chromium.screenshot(page, 'console-dashboard-after-ack');

    // The drill-down no longer lists them.
    await page.getByRole('link', { name: "St Mary's", exact: false }).first().click();
    await expect(page.locator('h1').textContent()).resolves.toMatch(/outstanding$/);
    const staffIds = await page.$$eval('tbody tr td:nth-child(2)', (cells) => cells.map((c) => c.textContent));
    expect(staffIds).not.toContain(seeded.get(address)?.staffId);
    expect(staffIds).toHaveLength((after['st-marys']?.outstanding ?? 0));
    await chromium.screenshot(page, 'console-school-outstanding');
    expect(problems).toEqual([]);
  });

  it('a case: listed without its narrative; the narrative only when viewing as a person with a role, and each view recorded', async () => {
    const reportFile = join(ctx.workDir, 'browser-breach.json');
    writeFileSync(reportFile, readFileSync(join(REPO_ROOT, 'examples/breach-report.json')));
    const result = await runCli(ctx.dataDir, ['report-breach', reportFile]);
    expect(result.code).toBe(0);
    const caseId = result.stdout.trim().split(/\s+/).find((w) => /^CASE-\d{4}-\d{6}$/.test(w)) ?? '';
    expect(caseId).toMatch(/^CASE-/);
    const narrative = JSON.parse(readFileSync(reportFile, 'utf8')).narrative as string;

    // The people told about the case are its participants: take one from the notices sent.
    const notice = await eventually(
      async () => (await sesStore(ctx.endpoints.ses)).find((e) => e.subject.includes(caseId) || (e.body.text ?? '').includes(caseId)),
      { timeoutMs: 30_000, what: 'a notice of the case' },
    );
    const participant = notice.destination.to[0] ?? '';

    await page.goto(`${web}/cases`);
    await expect(page.locator(`tr[data-case="${caseId}"]`).isVisible()).resolves.toBe(true);
    expect(await page.content()).not.toContain(narrative.slice(0, 40));
    await chromium.screenshot(page, 'console-cases');

    await page.goto(`${web}/cases/${caseId}`);
    await expect(page.locator('[data-narrative-refused]').getAttribute('data-narrative-refused')).resolves.toBe('not-identified');

    // View as someone with no role on the case (another school's teacher): refused, recorded.
    const outsider = [...seeded.entries()].find(([, p]) => p.schoolId === 'st-johns')?.[0] ?? '';
    await page.getByLabel('View as (email of a member of staff)').fill(outsider);
    await Promise.all([page.waitForURL(new RegExp(`/cases/${caseId}$`)), page.getByRole('button', { name: 'View as' }).click()]);
    await expect(page.locator('[data-narrative-refused]').getAttribute('data-narrative-refused')).resolves.toBe('no-role-on-case');

    await page.getByLabel('View as (email of a member of staff)').fill(participant);
    await Promise.all([page.waitForURL(new RegExp(`/cases/${caseId}$`)), page.getByRole('button', { name: 'View as' }).click()]);
    await expect(page.locator('[data-narrative]').textContent()).resolves.toBe(narrative);
    const timeline = (await page.locator('ol').last().textContent()) ?? '';
    expect(timeline).toContain(`narrative read by ${seeded.get(participant.toLowerCase())?.staffId}`);
    // Someone the case does not name is recorded by the identity they signed in with (here: viewed as).
    expect(timeline).toContain(`narrative refused to ${outsider} (no-role-on-case)`);
    await chromium.screenshot(page, 'console-case-narrative');
    expect(problems).toEqual([]);
  });

  it('the ledger counts every email the SES server holds as sent; the dead-letter queues are listed and empty', async () => {
    const held = (await sesStore(ctx.endpoints.ses)).reduce((n, e) => n + e.destination.to.length, 0);
    await eventually(
      async () => {
        await page.goto(`${web}/ledger`);
        return (await page.locator('[data-figure="sent"]').textContent()) === String(held) || undefined;
      },
      { timeoutMs: 20_000, what: `the ledger to show ${held} sent` },
    );
    expect(await page.locator('[data-figure="failed"]').textContent()).toBe('0');
    await chromium.screenshot(page, 'console-ledger');

    await page.goto(`${web}/queues`);
    const queues = await page.$$eval('tr[data-queue]', (rows) => rows.map((r) => r.getAttribute('data-queue')));
    expect(queues.length).toBeGreaterThanOrEqual(10);
    await expect(page.locator('main p').first().textContent()).resolves.toBe('All empty.');
    await chromium.screenshot(page, 'console-queues');
    expect(problems).toEqual([]);
  });

  it('is usable from the keyboard and every control has a label', async () => {
    await page.goto(`${web}/`);
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
    for (const path of ['/', '/cases', '/ledger', '/queues']) {
      await page.goto(`${web}${path}`);
      const unlabelled = await page.$$eval('input:not([type=hidden]), select', (controls) =>
        controls.filter((c) => !(c.id && document.querySelector(`label[for="${c.id}"]`))).map((c) => c.outerHTML),
      );
      expect(unlabelled, path).toEqual([]);
      await expect(page.evaluate(() => document.documentElement.lang)).resolves.toBe('en-GB');
      expect(await page.locator('nav[aria-label="Console"] a[aria-current="page"]').count(), path).toBe(1);
    }
  });
});
