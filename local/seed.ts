/**
 * The demo trust the local runtime starts with (DESIGN.md "Local runtime": "seeds a demo
 * trust without sending to it"): the people in fixtures/demo-directory.csv, covering every
 * role (Holy Trinity deliberately has no deputy DSL), written straight to the data table,
 * and the configured policies registered. No event is published and no email is sent.
 * Idempotent: a person already changed by a later HR event is left alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PeopleRepository } from '../functions/adapters/people-repository.ts';
import { PolicyRepository } from '../functions/adapters/policy-repository.ts';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import { isSchoolOfTrust, type TrustConfig } from '../functions/config/trust-config.ts';
import { parseDirectoryCsv } from '../functions/domain/directory-csv.ts';
import { personFromHr } from '../functions/domain/people.ts';
import { registeredPolicy } from '../functions/domain/policies.ts';

export const DEMO_DIRECTORY = join(REPO_ROOT, 'fixtures', 'demo-directory.csv');
/** Seeded people count as changed at this instant, so any real HR event is newer. */
const SEEDED_AT = '2000-01-01T00:00:00Z';

export async function seedDemoTrust(
  db: DynamoDBDocumentClient,
  dataTable: string,
  config: TrustConfig,
): Promise<{ people: number; policies: number }> {
  const parsed = parseDirectoryCsv(readFileSync(DEMO_DIRECTORY), { isSchool: (id) => isSchoolOfTrust(config, id) });
  if (parsed.rejected.length > 0) {
    throw new Error(`the demo directory has ${parsed.rejected.length} bad rows (first: line ${parsed.rejected[0]?.line})`);
  }
  const people = new PeopleRepository(db, dataTable);
  const policies = new PolicyRepository(db, dataTable);
  const now = new Date();
  await Promise.all(config.policies.map((p) => policies.registerIfAbsent(registeredPolicy(p, config.publicBaseUrl), now)));
  await Promise.all(parsed.rows.map((row) => people.putIfNotOlder(personFromHr(row.detail, SEEDED_AT, null))));
  return { people: parsed.rows.length, policies: config.policies.length };
}
