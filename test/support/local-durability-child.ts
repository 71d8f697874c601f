/**
 * A child process for test/integration/local-durability.test.ts: the local event bus routed
 * to two local Lambda functions (local/lambda-runner.ts), with both journals on, in
 * `DURABILITY_DIR` (as local/platform.ts wires them). The test kills its process group
 * with SIGKILL and runs it again on the same folder.
 *
 * - `slow-ok` (MaximumRetryAttempts 2) and `no-retry` (0, on-failure destination recorded in
 *   `<DURABILITY_DIR>/destination.jsonl`) run test/support/local-durability-handler.ts.
 * - An event goes to the function named by its `detail.function`; with `detail.hold` the
 *   first run never routes it (it stays in the bus's journal, as between PutEvents' answer
 *   and the routing).
 * - On start it resumes both journals, prints `{"bus": url}` on one line, and with
 *   `DURABILITY_PHASE=restart` waits for every async invocation to finish, prints `settled`
 *   and exits.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BusEvent, startLocalEventBus } from '../../local/event-bus.ts';
import { LocalLambda, type LocalFunctionSpec } from '../../local/lambda-runner.ts';

const dir = process.env.DURABILITY_DIR;
const phase = process.env.DURABILITY_PHASE;
if (!dir || (phase !== 'first' && phase !== 'restart')) throw new Error('DURABILITY_DIR and DURABILITY_PHASE (first|restart) are needed');
const markers = join(dir, 'markers');
mkdirSync(markers, { recursive: true });
const DESTINATION = 'arn:aws:sqs:eu-west-2:000000000000:no-retry-failures';

const spec = (name: string, maxRetries: number, onFailureArn?: string): LocalFunctionSpec => ({
  logicalId: name,
  name,
  arn: `arn:aws:lambda:eu-west-2:000000000000:function:${name}`,
  modulePath: fileURLToPath(new URL('./local-durability-handler.ts', import.meta.url)),
  exportName: 'handler',
  env: { DURABILITY_MARKERS: markers, DURABILITY_PHASE: phase },
  timeoutMs: 900_000,
  memoryMb: 128,
  async: { maxRetries, maxEventAgeMs: 3_600_000, ...(onFailureArn ? { onFailureArn } : {}) },
});
const deps = {
  sendToQueue: async (arn: string, body: string) => appendFileSync(join(dir, 'destination.jsonl'), `${JSON.stringify({ arn, body })}\n`),
  log: (line: string) => process.stderr.write(`[child ${phase}] ${line}\n`),
  asyncRetryDelayMs: 10,
  asyncJournalDir: join(dir, 'async'),
};
const functions = new Map([
  ['slow-ok', new LocalLambda(spec('slow-ok', 2), deps)],
  ['no-retry', new LocalLambda(spec('no-retry', 0, DESTINATION), deps)],
]);

let ready = false;
const bus = await startLocalEventBus({
  region: 'eu-west-2',
  account: '000000000000',
  busNames: ['trust-events'],
  journalDir: join(dir, 'accepted-events'),
  deliver: (_busName, event: BusEvent) => {
    if (!ready) throw new Error('not ready');
    if (event.detail.hold === true && phase === 'first') return new Promise<void>(() => {});
    const target = functions.get(String(event.detail.function));
    if (!target) throw new Error(`no function ${String(event.detail.function)}`);
    target.invokeAsync(event);
  },
  log: deps.log,
});
ready = true;
for (const fn of functions.values()) fn.resumeJournal();
bus.redeliverJournal();
process.stdout.write(`${JSON.stringify({ bus: bus.url })}\n`);

if (phase === 'restart') {
  await bus.close();
  await Promise.all([...functions.values()].map((fn) => fn.settle()));
  // The bus removes a journal file on the turn after the deliveries settle.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await Promise.all([...functions.values()].map((fn) => fn.stop()));
  process.stdout.write('settled\n');
}
