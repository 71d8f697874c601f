/// <reference lib="dom" />
/**
 * Every email template (templates/<id>/body.html, compiled from MJML by `npm run emails`)
 * rendered with its sample data as SES renders it (test/support/email-samples.ts) and opened
 * in Debian's Chromium: the call to action is visible, and nothing is wider than the window
 * at 600 px (desktop email width) or at 375 px (a phone). Screenshots at desktop width:
 * artifacts/browser/email-<id>.png.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMPLATE_IDS } from '../../functions/email/template-ids.ts';
import { type Chromium, launchChromium } from '../support/browser.ts';
import { CALL_TO_ACTION, renderEmail } from '../support/email-samples.ts';

const DESKTOP = 600;
const MOBILE = 375;

let chromium: Chromium;
let page: Page;

beforeAll(async () => {
  chromium = await launchChromium();
  page = await chromium.page();
});

afterAll(async () => {
  await chromium?.close();
});

/** How wide the page is against the window, and the first elements reaching past its edges. */
async function horizontalLayout(width: number) {
  await page.setViewportSize({ width, height: 900 });
  return page.evaluate(() => {
    const root = document.documentElement;
    const beyond = [...document.body.querySelectorAll('*')]
      .filter((el) => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && (box.right > root.clientWidth + 0.5 || box.left < -0.5);
      })
      .slice(0, 5)
      .map((el) => `<${el.tagName.toLowerCase()}> "${(el.textContent ?? '').trim().slice(0, 40)}"`);
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, beyond };
  });
}

/** The call-to-action button: shown, inside the window, in 16 px text, linking where the sample says. */
async function callToAction(label: string, url: string) {
  const button = page.locator(`a[href="${url}"]`, { hasText: label }).first();
  const visible = await button.isVisible();
  const box = await button.boundingBox();
  const fontSize = visible ? await button.evaluate((a) => getComputedStyle(a).fontSize) : undefined;
  return { visible, insideWindow: box !== null && box.x >= 0 && box.x + box.width <= (page.viewportSize()?.width ?? 0), fontSize };
}

describe('email templates in Chromium', () => {
  it.each(TEMPLATE_IDS)('%s: call to action visible, no horizontal overflow at 375 px or 600 px', async (id) => {
    // Prepare: the template rendered with its sample data, as SES would send it
    const { html } = renderEmail(id);
    const cta = CALL_TO_ACTION[id];
    await page.setViewportSize({ width: MOBILE, height: 900 });
    await page.setContent(html);

    // Assess: a phone
    const mobile = await horizontalLayout(MOBILE);
    expect(mobile.beyond, `${id} at ${MOBILE} px`).toEqual([]);
    expect(mobile.scrollWidth).toBeLessThanOrEqual(mobile.clientWidth);
    if (cta) expect(await callToAction(cta.label, cta.url), `${id} at ${MOBILE} px`).toEqual({ visible: true, insideWindow: true, fontSize: '16px' });

    // Assess: desktop email width, screenshot
    const desktop = await horizontalLayout(DESKTOP);
    expect(desktop.beyond, `${id} at ${DESKTOP} px`).toEqual([]);
    expect(desktop.scrollWidth).toBeLessThanOrEqual(desktop.clientWidth);
    if (cta) expect(await callToAction(cta.label, cta.url), `${id} at ${DESKTOP} px`).toEqual({ visible: true, insideWindow: true, fontSize: '16px' });
    // The body text is 16 px: the first paragraph after the header.
    expect(await page.locator('p').first().evaluate((p) => getComputedStyle(p).fontSize)).toBe('16px');
    await chromium.screenshot(page, `email-${id}`);
  });
});
