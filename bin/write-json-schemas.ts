#!/usr/bin/env node
/**
 * Writes the JSON Schema of every event detail (zod's toJSONSchema of the strict,
 * publisher-side schemas) to schemas/<cli-name>.schema.json, for publishers in other
 * languages. `npm run schemas`; a unit test fails when the files are out of date.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../functions/config/load-trust-config.ts';
import { jsonSchemaFiles } from '../functions/contracts/json-schemas.ts';

const dir = join(REPO_ROOT, 'schemas');
mkdirSync(dir, { recursive: true });
for (const [file, text] of Object.entries(jsonSchemaFiles())) {
  writeFileSync(join(dir, file), text);
  process.stdout.write(`wrote schemas/${file}\n`);
}
