/**
 * The handler of test/support/local-durability-child.ts's functions: notes each start and
 * each completion of an invocation in `<DURABILITY_MARKERS>/<function name>.log`, and in the
 * child's first run (`DURABILITY_PHASE=first`) never completes (it sleeps until the child
 * is killed), so that the kill lands mid-invocation.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

export async function handler(event: { id?: string }, context: { functionName: string }): Promise<{ ok: true }> {
  const markers = join(process.env.DURABILITY_MARKERS ?? '.', `${context.functionName}.log`);
  appendFileSync(markers, `start ${event.id} ${process.env.DURABILITY_PHASE}\n`);
  if (process.env.DURABILITY_PHASE === 'first') await new Promise((resolve) => setTimeout(resolve, 600_000));
  appendFileSync(markers, `done ${event.id}\n`);
  return { ok: true };
}
