/**
 * Reads the email templates from `templates/<id>/` (subject.txt, body.html, body.txt):
 * versioned files in the repository that become stored SES templates, created by the
 * deployment (lib/) and by the local runtime and test setup (DESIGN.md "Email").
 * Node side only; Lambda functions name templates but never read them.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT } from '../config/load-trust-config.ts';
import { TEMPLATE_IDS, sesTemplateName, type TemplateId } from './template-ids.ts';

export interface EmailTemplateFiles {
  id: TemplateId;
  /** The stored SES template's name: `<templatePrefix>-<id>`. */
  name: string;
  subject: string;
  html: string;
  text: string;
}

export function loadEmailTemplates(templatePrefix: string): EmailTemplateFiles[] {
  return TEMPLATE_IDS.map((id) => {
    const read = (file: string) => readFileSync(resolve(REPO_ROOT, 'templates', id, file), 'utf8');
    return {
      id,
      name: sesTemplateName(templatePrefix, id),
      subject: read('subject.txt').trim(),
      html: read('body.html'),
      text: read('body.txt'),
    };
  });
}
