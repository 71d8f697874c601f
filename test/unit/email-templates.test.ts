/**
 * The email templates (templates/<id>/): MJML sources compiled by `npm run emails` into the
 * body.html stored in SES (local/email-build.ts), rendered with sample data the way SES
 * renders a stored template (test/support/email-samples.ts). Statutory notices carry no
 * unsubscribe link and no tracking pixel (DESIGN.md "Email").
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { compileTemplate } from 'aws-ses-v2-local/dist/v2/renderTemplate.js';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEmailTemplates } from '../../functions/email/load-templates.ts';
import { TEMPLATE_IDS, type TemplateId } from '../../functions/email/template-ids.ts';
import {
  compileEmailTemplate,
  compileMjmlFile,
  EmailBuildError,
  generatedNotice,
  htmlOutputPath,
  mjmlSourcePath,
} from '../../local/email-build.ts';
import { CALL_TO_ACTION, EMAIL_SAMPLES, type RenderedEmail, renderEmail } from '../support/email-samples.ts';

const TRUST_NAME = EMAIL_SAMPLES.welcome.trustName;
/** Gmail clips a message whose HTML is larger than about 102 KB. */
const MAX_HTML_BYTES = 100 * 1024;
/** SES: a template's subject, HTML and text parts together at most 500 KB. */
const MAX_TEMPLATE_BYTES = 500 * 1024;

const stored = new Map(loadEmailTemplates('tpn').map((t) => [t.id, t]));
const storedParts = (id: TemplateId) => {
  const t = stored.get(id);
  if (!t) throw new Error(`no stored template ${id}`);
  return t;
};

/** Every `{{…}}` token in a text, counted. */
function handlebarsTokens(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const token of text.match(/\{\{[^}]*\}\}/g) ?? []) counts.set(token, (counts.get(token) ?? 0) + 1);
  return counts;
}

function addCounts(into: Map<string, number>, from: Map<string, number>, times = 1): void {
  for (const [token, n] of from) into.set(token, (into.get(token) ?? 0) + n * times);
}

interface Anchor {
  href: string | undefined;
  text: string;
}

function anchors(html: string): Anchor[] {
  return [...html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a>/gi)].map(([, attrs = '', inner = '']) => ({
    href: /\bhref\s*=\s*"([^"]*)"/i.exec(attrs)?.[1],
    text: inner.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim(),
  }));
}

/** The buttons (mj-button renders an inline-block link with a background). */
function buttons(html: string): Anchor[] {
  return [...html.matchAll(/<a\b([^>]*style="display:inline-block;background:[^"]*"[^>]*)>([\s\S]*?)<\/a>/gi)].map(
    ([, attrs = '', inner = '']) => ({
      href: /\bhref\s*=\s*"([^"]*)"/i.exec(attrs)?.[1],
      text: inner.replace(/\s+/g, ' ').trim(),
    }),
  );
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * What is wrong with a rendered email, one line per problem (empty when nothing is): the
 * checks every template must pass, kept apart from the tests so that each one can be shown
 * to fail on a broken email below.
 */
function emailProblems(email: RenderedEmail, cta: { label: string; url: string } | undefined): string[] {
  const problems: string[] = [];
  const { subject, html, text } = email;
  for (const [part, value] of Object.entries({ subject, html, text })) {
    if (/\{\{|\}\}/.test(value)) problems.push(`placeholder: ${part} has an unresolved {{…}}`);
    if (/\bundefined\b|\[object Object\]/.test(value)) problems.push(`placeholder: ${part} shows undefined or [object Object]`);
  }
  const links = anchors(html);
  for (const a of links) {
    if (a.href === undefined) {
      problems.push(`link: <a> "${a.text}" has no href`);
      continue;
    }
    let protocol = '';
    try {
      protocol = new URL(a.href).protocol;
    } catch {
      protocol = 'relative';
    }
    if (protocol !== 'https:' && protocol !== 'mailto:') problems.push(`link: ${a.href} is not an absolute https (or mailto) URL`);
    if (protocol === 'https:' && !text.includes(a.href)) problems.push(`text part: lacks ${a.href}, a link of the HTML part`);
    if (/unsubscribe/i.test(a.href) || /unsubscribe/i.test(a.text)) problems.push(`unsubscribe: a link mentions unsubscribe (${a.text})`);
  }
  const ctas = buttons(html);
  if (cta) {
    if (!ctas.some((b) => b.href === cta.url && b.text === cta.label)) problems.push(`call to action: no "${cta.label}" button to ${cta.url}`);
    for (const b of ctas) if (b.text !== cta.label) problems.push(`call to action: a second kind of button, "${b.text}"`);
    if (!text.includes(cta.url)) problems.push(`call to action: the text part lacks ${cta.url}`);
  } else if (ctas.length > 0) {
    problems.push(`call to action: a button ("${ctas[0]?.text}") in an email that has no call to action`);
  }
  if (/<img\b/i.test(html)) problems.push('image: an <img> (no images, so no tracking pixel)');
  if (/\burl\s*\(|\bbackground\s*=|<link\b|@import|<script\b|<iframe\b|<object\b|<embed\b/i.test(html)) {
    problems.push('external: a background image, stylesheet link, import, script or embedded object');
  }
  // An attribute or a CSS width/height (not line-height, max-width…) of 0 or 1 pixel.
  if (/\b(width|height)\s*=\s*"?[01](px)?"?[\s>/]/i.test(html) || /(?<![-\w])(width|height)\s*:\s*[01]px/i.test(html)) {
    problems.push('pixel: an element 0 or 1 pixel wide or high (a tracking pixel)');
  }
  if (bytes(html) >= MAX_HTML_BYTES) problems.push(`size: the HTML is ${bytes(html)} bytes, Gmail clips above ~102 KB`);
  if (!/<html\b[^>]*\blang="en-GB"/.test(html)) problems.push('lang: <html> has no lang="en-GB"');
  if (!html.includes(TRUST_NAME) || !text.includes(TRUST_NAME)) problems.push('trust name: missing from the HTML or the text part');
  return problems;
}

describe('email templates: MJML sources compiled into the stored body.html (npm run emails)', () => {
  it.each(TEMPLATE_IDS)('templates/%s/body.html is what its body.mjml compiles to now', async (id) => {
    const html = readFileSync(htmlOutputPath(id), 'utf8');
    const compiled = await compileEmailTemplate(id);
    expect(html === compiled, `templates/${id}/body.html is out of date with body.mjml or templates/_layout/: run npm run emails`).toBe(true);
  });

  it.each(TEMPLATE_IDS)('templates/%s/body.html starts by saying it is generated, and is MJML output in en-GB', (id) => {
    const html = readFileSync(htmlOutputPath(id), 'utf8');
    expect(html.split('\n')[0]).toBe(generatedNotice(id));
    expect(html).toContain('<html lang="en-GB"');
    expect(html).toMatch(/<title>[^<]+<\/title>/);
  });

  it.each(TEMPLATE_IDS)('templates/%s: every placeholder and block of the source is in the HTML as often as written', (id) => {
    // Prepare: the tokens written in body.mjml and the layout files it includes
    const source = readFileSync(mjmlSourcePath(id), 'utf8');
    const expected = handlebarsTokens(source);
    for (const [, path = ''] of source.matchAll(/<mj-include\s+path="([^"]+)"/g)) {
      addCounts(expected, handlebarsTokens(readFileSync(join(dirname(mjmlSourcePath(id)), path), 'utf8')));
    }
    // mjml also writes the title into the body's aria-label
    addCounts(expected, handlebarsTokens(/<mj-title>([\s\S]*?)<\/mj-title>/.exec(source)?.[1] ?? ''));
    // Act / assess: nothing dropped, nothing repeated
    expect(Object.fromEntries(handlebarsTokens(readFileSync(htmlOutputPath(id), 'utf8')))).toEqual(Object.fromEntries(expected));
  });

  it('load-templates still reads body.html (no Lambda bundle or synthesis needs MJML)', () => {
    for (const id of TEMPLATE_IDS) expect(storedParts(id).html).toBe(readFileSync(htmlOutputPath(id), 'utf8'));
  });

  describe('a source that does not compile fails the build, naming the template and the MJML error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tpn-mjml-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, mjml: string) => {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'body.mjml'), mjml);
      return join(dir, name, 'body.mjml');
    };
    const head = (extra = '') => `<mj-head>${extra}<mj-title>t</mj-title></mj-head>`;

    it('an attribute MJML does not know', async () => {
      const file = write('bad-attribute', `<mjml lang="en-GB">${head()}<mj-body><mj-section><mj-column><mj-text colour="red">Hi</mj-text></mj-column></mj-section></mj-body></mjml>`);
      const failure = compileMjmlFile(file, 'bad-attribute');
      await expect(failure).rejects.toThrow(EmailBuildError);
      await expect(failure).rejects.toThrow(/email template bad-attribute: .*body\.mjml is not valid MJML: .*mj-text.*Attribute colour is illegal/);
    });

    it('an element where MJML does not allow it', async () => {
      const file = write('bad-child', `<mjml lang="en-GB">${head()}<mj-body><mj-text>Hi</mj-text></mj-body></mjml>`);
      await expect(compileMjmlFile(file, 'bad-child')).rejects.toThrow(/email template bad-child: .*not valid MJML: .*mj-text/);
    });

    it('an mj-include that is missing or outside templates/_layout/', async () => {
      const file = write('bad-include', `<mjml lang="en-GB">${head('<mj-include path="../_layout/head.mjml" />')}<mj-body></mj-body></mjml>`);
      await expect(compileMjmlFile(file, 'bad-include')).rejects.toThrow(/email template bad-include: .*mj-include denied/);
    });
  });
});

describe('email templates rendered with sample data, as SES renders them', () => {
  it('has sample data for every template id', () => {
    expect(Object.keys(EMAIL_SAMPLES).sort()).toEqual([...TEMPLATE_IDS].sort());
  });

  it.each(TEMPLATE_IDS)('%s: placeholders resolved, https links also in the text part, call to action, no image, pixel or unsubscribe, en-GB, trust name, size', (id) => {
    const email = renderEmail(id);
    expect(emailProblems(email, CALL_TO_ACTION[id])).toEqual([]);
  });

  it.each(TEMPLATE_IDS)('%s: within the SES template limit (500 KB) and the Gmail clipping size (~102 KB)', (id) => {
    const { subject, html, text } = storedParts(id);
    expect(bytes(subject) + bytes(html) + bytes(text)).toBeLessThan(MAX_TEMPLATE_BYTES);
    expect(bytes(html)).toBeLessThan(MAX_HTML_BYTES);
  });

  it.each(TEMPLATE_IDS)('%s: renders with every optional block off (flags false, optional notes absent)', (id) => {
    // Prepare: the sample without its optional notes, every flag false
    const data: Record<string, unknown> = { ...EMAIL_SAMPLES[id] };
    for (const key of ['routingNote', 'escalation', 'ownerNote']) delete data[key];
    for (const [key, value] of Object.entries(data)) if (typeof value === 'boolean') data[key] = false;
    // Act: rendered as SES does (a missing field renders empty)
    const { html, text } = storedParts(id);
    const rendered = { subject: compileTemplate(storedParts(id).subject)(data), html: compileTemplate(html)(data), text: compileTemplate(text)(data) };
    // Assess
    expect(rendered.html).not.toMatch(/\{\{|\}\}/);
    expect(rendered.html).not.toContain('Why this came to you');
    expect(rendered.text).not.toContain('Why this came to you');
    expect(emailProblems(rendered, CALL_TO_ACTION[id])).toEqual([]);
  });

  it('statutory notices (a request to read and confirm) say so in the footer, and have no unsubscribe option', () => {
    for (const id of ['welcome', 'policies-to-confirm', 'policy-updated', 'reminder', 'refresher'] as const) {
      const { html, text } = renderEmail(id);
      for (const part of [html, text]) expect(part).toContain('This is a statutory notice about your role; it has no unsubscribe option.');
    }
  });

  it('the header bar names the trust, and the school where the email is about one', () => {
    const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const id of TEMPLATE_IDS) {
      const { html } = renderEmail(id);
      expect(html, id).toMatch(new RegExp(`font-size:20px;[^"]*"\\s*>${literal(TRUST_NAME)}</div>`));
      const { schoolName } = EMAIL_SAMPLES[id] as { schoolName?: string };
      if (schoolName) expect(html, id).toMatch(new RegExp(`color:#dbe4f0;"\\s*>${literal(schoolName)}</div>`));
      else expect(html, id).not.toContain('color:#dbe4f0;');
    }
  });
});

describe("central staff (schoolId 'trust'): the trust is named once, with no empty school line", () => {
  // emailSchoolName() (functions/config/trust-config.ts) gives '' for central staff, whose school is the trust itself.
  const SCHOOL = EMAIL_SAMPLES.receipt.schoolName;
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const count = (text: string, part: string) => text.split(part).length - 1;
  /** The header bar: from the body's first table (the preview and the title's aria-label come before it) to the greeting. */
  const header = (html: string) => html.slice(html.indexOf('<table', html.indexOf('<body')), html.indexOf('Dear '));
  const schoolLine = 'color:#dbe4f0;';
  const central = <T extends TemplateId>(id: T) => renderEmail(id, { ...EMAIL_SAMPLES[id], schoolName: '' });
  const signedOff = ['policy-updated', 'policy-changed', 'reminder', 'refresher', 'receipt'] as const;
  const withSchoolHeader = [...signedOff, 'welcome', 'policies-to-confirm'] as const;

  it.each(withSchoolHeader)('%s: the header names the trust once and has no school line; every check still passes', (id) => {
    const email = central(id);
    expect(header(email.html)).toContain('font-size:20px;');
    expect(count(header(email.html), TRUST_NAME)).toBe(1);
    expect(email.html).not.toContain(schoolLine);
    expect(header(email.html)).not.toMatch(/<div\b[^>]*>\s*<\/div>/); // no empty line in the header
    expect(emailProblems(email, CALL_TO_ACTION[id])).toEqual([]);
  });

  it.each(withSchoolHeader)('%s: a school staff member still gets the trust then their school in the header', (id) => {
    const { html } = renderEmail(id);
    expect(count(header(html), TRUST_NAME)).toBe(1);
    expect(html).toMatch(new RegExp(`${literal(schoolLine)}"\\s*>${literal(SCHOOL)}</div>`));
  });

  it.each(signedOff)('%s: the text part is signed by the trust alone; a school staff member gets "<trust>, <school>"', (id) => {
    const lines = central(id).text.split('\n');
    expect(lines).toContain(TRUST_NAME);
    expect(lines.filter((line) => line.startsWith(`${TRUST_NAME},`))).toEqual([]);
    expect(renderEmail(id).text.split('\n')).toContain(`${TRUST_NAME}, ${SCHOOL}`);
  });

  it('welcome: welcomes them to the trust (not "<trust>, part of <trust>"); school staff to their school, part of the trust', () => {
    const email = central('welcome');
    expect(email.subject).toBe(`Welcome to ${TRUST_NAME}: please read and confirm our policies`);
    expect(email.html).toContain(`<title>Welcome to ${TRUST_NAME}</title>`);
    for (const part of [email.html, email.text]) {
      expect(part).toContain(`Welcome to ${TRUST_NAME}.`);
      expect(part).not.toContain('part of');
    }
    const school = renderEmail('welcome');
    expect(school.subject).toBe(`Welcome to ${SCHOOL}: please read and confirm our policies`);
    for (const part of [school.html, school.text]) expect(part).toContain(`Welcome to ${SCHOOL}, part of ${TRUST_NAME}.`);
  });

  it('policies-to-confirm: "your record has changed", with the school only for school staff', () => {
    const email = central('policies-to-confirm');
    expect(email.subject).toBe('Policies that now apply to you: please read and confirm');
    for (const part of [email.html, email.text]) expect(part).toContain('Your record has changed, and the policies below');
    const school = renderEmail('policies-to-confirm');
    expect(school.subject).toBe(`Policies that now apply to you at ${SCHOOL}: please read and confirm`);
    for (const part of [school.html, school.text]) expect(part).toContain(`Your record at ${SCHOOL} has changed`);
  });
});

describe('the checks catch what they are for (each one shown failing on a broken email)', () => {
  const good = renderEmail('policy-updated');
  const cta = CALL_TO_ACTION['policy-updated'];
  const problemsWith = (change: Partial<RenderedEmail>) => emailProblems({ ...good, ...change }, cta);
  const inBody = (markup: string) => good.html.replace('</body>', `${markup}</body>`);

  it('a good email has none', () => {
    expect(problemsWith({})).toEqual([]);
  });

  it.each([
    ['placeholder', { html: inBody('<p>{{missing}}</p>') }],
    ['placeholder', { text: `${good.text}\nundefined` }],
    ['link', { html: inBody('<a href="http://example.org/x">x</a>') }],
    ['link', { html: inBody('<a href="/policies/x">x</a>') }],
    ['text part', { text: good.text.replaceAll(EMAIL_SAMPLES['policy-updated'].documentUrl, '') }],
    ['call to action', { html: good.html.replace('Confirm I have read it', 'Confirm') }],
    ['call to action', { text: good.text.replaceAll(EMAIL_SAMPLES['policy-updated'].ackUrl, '') }],
    ['image', { html: inBody('<img src="https://example.org/logo.png" alt="">') }],
    ['pixel', { html: inBody('<table width="1" height="1"><tr><td></td></tr></table>') }],
    ['external', { html: inBody('<div style="background-image:url(https://t.example.org/open?id=1)"></div>') }],
    ['unsubscribe', { html: inBody('<a href="mailto:unsubscribe@example.org">Stop these emails</a>') }],
    ['unsubscribe', { html: inBody('<a href="https://example.org/prefs">Unsubscribe</a>'), text: `${good.text} https://example.org/prefs` }],
    ['size', { html: inBody(`<!-- ${'x'.repeat(MAX_HTML_BYTES)} -->`) }],
    ['lang', { html: good.html.replace('lang="en-GB"', 'lang="en"') }],
    ['trust name', { text: good.text.replaceAll(TRUST_NAME, 'The trust') }],
  ] as [string, Partial<RenderedEmail>][])('%s', (kind, change) => {
    expect(problemsWith(change).some((p) => p.startsWith(`${kind}:`))).toBe(true);
  });

  it('call to action: a button in an email that has none', () => {
    expect(emailProblems(good, undefined).some((p) => p.startsWith('call to action:'))).toBe(true);
  });
});
