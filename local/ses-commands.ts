/**
 * `trust-notify inject-ses-event <event.json>`: checks the file as the platform will
 * (local/ses-injection.ts), then posts it to the local platform's `POST /admin/ses-events`,
 * which routes it from the local default bus.
 */
import { readFileSync } from 'node:fs';
import { CliError, type Target } from './cli-commands.ts';
import { sesEventFromInput } from './ses-injection.ts';

export async function injectSesEvent(file: string, target: Target): Promise<string> {
  if (target.kind !== 'local') throw new CliError('inject-ses-event works against the local platform only (in AWS, SES publishes these events)');
  let input: unknown;
  try {
    input = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read ${file} as JSON: ${(error as Error).message}`);
  }
  const event = sesEventFromInput(input, { region: 'local', account: 'local' });
  const response = await fetch(`${target.web}/admin/ses-events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  }).catch(() => {
    throw new CliError(`the local platform is not running (nothing answers at ${target.web}; start it with npm start)`);
  });
  const body = (await response.json().catch(() => ({}))) as { id?: string; error?: string };
  if (!response.ok || !body.id) throw new CliError(body.error ?? `inject-ses-event failed with HTTP ${response.status}`);
  return `injected ${event['detail-type']} as event ${body.id} on the local default bus`;
}
