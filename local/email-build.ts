/**
 * Compiles the email templates' MJML sources into the HTML part of the stored SES templates
 * (DESIGN.md "Email"): `templates/<id>/body.mjml`, which includes the shared look from
 * `templates/_layout/`, becomes `templates/<id>/body.html`.
 *
 * Build time only (`npm run emails`, bin/build-email-templates.ts). The generated body.html
 * files are committed: functions/email/load-templates.ts reads them, so synthesis stays
 * synchronous and no Lambda bundle contains MJML. test/unit/email-templates.test.ts fails
 * when a body.html is not what its body.mjml compiles to now.
 *
 * MJML leaves Handlebars alone: `{{placeholders}}` in text and attributes, and blocks
 * (`{{#if}}`, `{{#each}}`) inside mj-text / mj-table or in mj-raw between sections, pass
 * through for SES to personalise at send time.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import mjml2html from 'mjml';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import { TEMPLATE_IDS, type TemplateId } from '../functions/email/template-ids.ts';

export const TEMPLATES_DIR = join(REPO_ROOT, 'templates');
/** The shared head (mj-attributes, styles), header bars and footers. */
export const LAYOUT_DIR = join(TEMPLATES_DIR, '_layout');

export class EmailBuildError extends Error {
  override name = 'EmailBuildError';
}

export function mjmlSourcePath(id: TemplateId): string {
  return join(TEMPLATES_DIR, id, 'body.mjml');
}

export function htmlOutputPath(id: TemplateId): string {
  return join(TEMPLATES_DIR, id, 'body.html');
}

/** The first line of every generated body.html (no `--` inside: it would end the comment). */
export function generatedNotice(id: string): string {
  return `<!-- Generated from templates/${id}/body.mjml (and templates/_layout/) by "npm run emails". Do not edit by hand: edit body.mjml and run npm run emails. -->`;
}

/**
 * Compiles one template's body.mjml (strict validation: any MJML error fails, naming the
 * template) and returns the text of its body.html.
 */
export async function compileEmailTemplate(id: TemplateId): Promise<string> {
  return compileMjmlFile(mjmlSourcePath(id), id);
}

/**
 * Compiles an MJML file into body.html text: the generated notice, then MJML's HTML with each
 * line's indentation and the blank lines removed (a quarter smaller, same rendering: nothing
 * in it is whitespace-sensitive, and every template is stored in the CloudFormation template).
 * `name` is the template's id, for the error message.
 */
export async function compileMjmlFile(filePath: string, name: string): Promise<string> {
  const where = relative(REPO_ROOT, filePath);
  let source: string;
  try {
    source = readFileSync(filePath, 'utf8');
  } catch (cause) {
    throw new EmailBuildError(`email template ${name}: cannot read ${where}`, { cause });
  }
  let html: string;
  try {
    const result = await mjml2html(source, {
      validationLevel: 'strict',
      filePath,
      ignoreIncludes: false,
      includePath: LAYOUT_DIR,
      // No web fonts (MJML links Google Fonts for a few family names by default), no comments.
      fonts: {},
      keepComments: false,
    });
    html = result.html;
  } catch (cause) {
    const message = cause instanceof Error ? cause.message.replace(/^ValidationError:\s*/, '').trim() : String(cause);
    throw new EmailBuildError(`email template ${name}: ${where} is not valid MJML: ${message}`, { cause });
  }
  // mjml reports some failed mj-includes as validation errors, but a missing file or one outside
  // the allowed folders (the file's own and templates/_layout/) only as a comment in the output.
  const include = /<!-- mj-include (denied|fails[^>]*?)\s*-->/.exec(html);
  if (include) {
    throw new EmailBuildError(
      `email template ${name}: ${where} is not valid MJML: mj-include ${include[1]?.trim()} (an included file must exist, in the template's folder or templates/_layout/)`,
    );
  }
  const compact = html
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('\n');
  return `${generatedNotice(name)}\n${compact}\n`;
}

export interface BuiltTemplate {
  id: TemplateId;
  /** Relative to the repository root. */
  path: string;
  changed: boolean;
}

/** Compiles every template, then writes the body.html files that changed (none when one fails). */
export async function buildEmailTemplates(ids: readonly TemplateId[] = TEMPLATE_IDS): Promise<BuiltTemplate[]> {
  const compiled: [TemplateId, string][] = [];
  for (const id of ids) compiled.push([id, await compileEmailTemplate(id)]);
  return compiled.map(([id, html]) => {
    const out = htmlOutputPath(id);
    let current: string | undefined;
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      current = undefined;
    }
    const changed = current !== html;
    if (changed) writeFileSync(out, html);
    return { id, path: relative(REPO_ROOT, out), changed };
  });
}
