import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { jsonSchemaFiles } from '../../functions/contracts/json-schemas.ts';

describe('JSON Schema files for publishers in other languages (schemas/)', () => {
  const files = jsonSchemaFiles();

  it.each(Object.keys(files))('schemas/%s is up to date (run npm run schemas)', (file) => {
    expect(readFileSync(`${REPO_ROOT}/schemas/${file}`, 'utf8')).toBe(files[file]);
  });

  it('is strict like the publisher schemas: unknown keys are not allowed, required fields listed', () => {
    const staff = JSON.parse(files['staff-onboarded.schema.json'] ?? '{}');
    expect(staff.additionalProperties).toBe(false);
    expect(staff.required).toEqual(
      expect.arrayContaining(['staffId', 'givenName', 'familyName', 'email', 'schoolId', 'roles', 'employmentType', 'startDate']),
    );
    expect(staff.required).not.toContain('eventId');
    const breach = JSON.parse(files['breach-reported.schema.json'] ?? '{}');
    expect(Object.keys(breach.properties)).not.toContain('narrative');
    expect(breach.properties.subject.additionalProperties).toBe(false);
  });
});
