/**
 * JSON Schema (draft 2020-12) for every event detail, generated from the strict zod
 * schemas with zod's `toJSONSchema`. Checks that JSON Schema cannot say (a real calendar
 * date, https-only URLs) stay in zod; the schemas carry the rest.
 */
import * as z from 'zod';
import { CATALOGUE, DETAIL_TYPE_LIST, publishSchemas } from './events.ts';

/** File name → file text, e.g. `staff-onboarded.schema.json`. */
export function jsonSchemaFiles(): Record<string, string> {
  return Object.fromEntries(
    DETAIL_TYPE_LIST.map((type) => {
      const schema = z.toJSONSchema(publishSchemas[type], { unrepresentable: 'any', io: 'input' });
      const doc = {
        $id: `https://trust-policy-notify.example/schemas/${CATALOGUE[type].cliName}.schema.json`,
        title: `${type} (${CATALOGUE[type].source})`,
        description: `The detail of an EventBridge event with source "${CATALOGUE[type].source}" and detail-type "${type}".`,
        ...schema,
      };
      return [`${CATALOGUE[type].cliName}.schema.json`, `${JSON.stringify(doc, null, 2)}\n`];
    }),
  );
}
