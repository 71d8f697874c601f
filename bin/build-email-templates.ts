#!/usr/bin/env node
/**
 * Compiles every email template's MJML source (templates/<id>/body.mjml) into the
 * templates/<id>/body.html that becomes the stored SES template: `npm run emails`.
 * Run it after editing a body.mjml or templates/_layout/, and commit the body.html files;
 * a unit test fails when one is out of date. Exits 1, naming the template and the MJML
 * error, when a source does not compile.
 */
import { buildEmailTemplates, EmailBuildError } from '../local/email-build.ts';

try {
  const built = await buildEmailTemplates();
  for (const t of built) process.stdout.write(`${t.changed ? 'wrote    ' : 'unchanged'} ${t.path}\n`);
  process.stdout.write(`${built.length} email templates compiled, ${built.filter((t) => t.changed).length} changed\n`);
} catch (error) {
  if (!(error instanceof EmailBuildError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
}
