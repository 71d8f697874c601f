/**
 * The breach report the intake takes (DESIGN.md "Contracts": `report-breach <report.json>`
 * and `POST /reports` take the same JSON): the `Breach Reported` fields except `caseId`,
 * which the intake assigns, plus `narrative` (1..20,000 characters). Strict: an unknown key
 * is an error naming it. Errors name the field and the rule, never the value: a report is
 * special-category data.
 */
import * as z from 'zod';
import { ContractError, publishSchemas, toFieldProblems } from './events.ts';

export const REPORT_NAME = 'Breach report';

/** The narrative: 1..20,000 characters (DESIGN.md "Contracts": `report-breach`). */
export const NARRATIVE_MAX_LENGTH = 20_000;

export const breachReportSchema = publishSchemas['Breach Reported'].omit({ caseId: true }).extend({
  narrative: z
    .string({ error: 'must be a string' })
    .max(NARRATIVE_MAX_LENGTH, { error: `must be at most ${NARRATIVE_MAX_LENGTH.toLocaleString('en-GB')} characters` })
    .refine((text) => text.trim().length > 0, { error: 'must not be empty' }),
});

export type BreachReport = z.infer<typeof breachReportSchema>;

/** Parses a report strictly. Throws ContractError naming every bad or unknown field (`report.<field>`). */
export function parseBreachReport(value: unknown): BreachReport {
  const result = breachReportSchema.safeParse(value, { reportInput: false });
  if (!result.success) throw new ContractError(REPORT_NAME, toFieldProblems(result.error.issues, 'report'));
  return result.data;
}
