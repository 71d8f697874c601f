/**
 * The event contracts: one zod schema per EventBridge event `detail`, the source and
 * detail-type constants, and the two ways of reading a detail (DESIGN.md "Events").
 *
 * - Publishers (the CLI, the HR system importing this module) parse strictly: an unknown
 *   key is an error that names it.
 * - Handlers read tolerantly: unknown keys are stripped and their names (never values)
 *   returned so the handler can log them; a new HR field is not an outage.
 *
 * Errors name the field and the rule broken, never the value given: details carry
 * personal data (names, email addresses).
 *
 * JSON Schema versions of the strict schemas are written to `schemas/` by
 * `npm run schemas` (bin/write-json-schemas.ts) for publishers in other languages.
 */
import * as z from 'zod';
import { AUDIENCES, BREACH_CATEGORIES, EMPLOYMENT_TYPES, GOVERNING_COMMITTEES, ROLES, SUBJECT_KINDS } from './roles.ts';

export const EVENT_BUS_NAME = 'trust-events';

export const SOURCES = {
  hr: 'trust.hr',
  policies: 'trust.policies',
  safeguarding: 'trust.safeguarding',
} as const;
export type EventSource = (typeof SOURCES)[keyof typeof SOURCES];

export const DETAIL_TYPES = {
  staffOnboarded: 'Staff Onboarded',
  staffUpdated: 'Staff Updated',
  staffLeft: 'Staff Left',
  policyUpdated: 'Policy Updated',
  policyReviewed: 'Policy Reviewed',
  policyReviewDue: 'Policy Review Due',
  breachReported: 'Breach Reported',
  policyAcknowledged: 'Policy Acknowledged',
} as const;
export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

// ---------------------------------------------------------------------------------
// Field rules, shared by every schema.

/** `YYYY-MM-DD` that is a real calendar date (2026-02-30 is refused). */
export const isoDate = z.iso.date({ error: 'must be a real calendar date in the form YYYY-MM-DD' });
const isoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a time zone' });
export const staffId = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be 1-64 letters, digits, "_" or "-"' });
const slug = z
  .string({ error: 'must be a string' })
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, { error: 'must be a lower-case slug of 1-64 characters' });
// Names reach email templates: markup and template braces are refused outright.
const name = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, { error: 'must not be empty' })
  .max(200, { error: 'must be at most 200 characters' })
  .regex(/^[^<>{}]*$/, { error: 'must not contain < > { or }' });
const email = z.email({ error: 'must be a valid email address' }).max(254, { error: 'must be at most 254 characters' });
const role = z.enum(ROLES, { error: `must be one of the roles: ${ROLES.join(', ')}` });
const positiveInt = z
  .number({ error: 'must be a number' })
  .int({ error: 'must be a whole number' })
  .positive({ error: 'must be positive' });
const documentUrl = z.url({ error: 'must be a URL' }).refine(
  (value) => {
    // zod runs this refinement even when z.url() has already refused the value: a value
    // `new URL` cannot parse must be refused here too, not thrown as a TypeError.
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1'].includes(url.hostname));
  },
  { error: 'must be an https URL (http only for localhost)' },
);

/** Optional on every detail: the publisher's idempotency key and when the change happened. */
const envelopeFields = {
  eventId: z
    .string({ error: 'must be a string' })
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, { error: 'must be 1-128 letters, digits or . _ : -' })
    .optional(),
  occurredAt: isoDateTime.optional(),
};

// ---------------------------------------------------------------------------------
// Shapes. Each is turned into a strict and a tolerant schema below.

const staffFields = {
  staffId,
  givenName: name,
  familyName: name,
  email,
  schoolId: slug,
  roles: z.array(role, { error: 'must be a list of roles' }).min(1, { error: 'must name at least one role' }),
  employmentType: z.enum(EMPLOYMENT_TYPES, { error: `must be one of ${EMPLOYMENT_TYPES.join(', ')}` }),
  startDate: isoDate,
  lineManagerStaffId: staffId.optional(),
  managesOfficialChannels: z.boolean({ error: 'must be true or false' }).optional(),
};

const { staffId: _omitStaffId, ...changeableStaffFields } = staffFields;

type Mode = 'strict' | 'tolerant';
function object<S extends z.ZodRawShape>(shape: S, mode: Mode) {
  return mode === 'strict' ? z.strictObject(shape) : z.object(shape);
}

function schemasFor(mode: Mode) {
  const subject = object(
    {
      kind: z.enum(SUBJECT_KINDS, { error: `must be one of ${SUBJECT_KINDS.join(', ')}` }),
      staffId: staffId.optional(),
    },
    mode,
  );
  return {
    'Staff Onboarded': object({ ...envelopeFields, ...staffFields }, mode),
    'Staff Updated': object(
      {
        ...envelopeFields,
        staffId,
        ...z.object(changeableStaffFields).partial().shape,
      },
      mode,
    ).refine((detail) => Object.keys(changeableStaffFields).some((key) => key in detail), {
      error: 'must change at least one of the Staff Onboarded fields',
      path: ['staffId'],
    }),
    'Staff Left': object({ ...envelopeFields, staffId, leftOn: isoDate }, mode),
    'Policy Updated': object(
      {
        ...envelopeFields,
        policyId: slug,
        title: name,
        version: positiveInt,
        approvedOn: isoDate,
        reviewPeriodMonths: positiveInt.max(60, { error: 'must be at most 60' }),
        ownerRole: role,
        governingCommittee: z.enum(GOVERNING_COMMITTEES, { error: `must be one of ${GOVERNING_COMMITTEES.join(', ')}` }),
        audience: z
          .array(z.enum(AUDIENCES, { error: `must be one of ${AUDIENCES.join(', ')}` }), { error: 'must be a list' })
          .min(1, { error: 'must name at least one audience' })
          .refine((list) => new Set(list).size === list.length, { error: 'must not repeat an audience' }),
        documentUrl,
        changeSummary: z
          .string({ error: 'must be a string' })
          .min(1, { error: 'must not be empty' })
          .max(2000, { error: 'must be at most 2000 characters' })
          .regex(/^[^<>{}]*$/, { error: 'must not contain < > { or }' }),
        change: z.enum(['substantive', 'editorial'], { error: 'must be substantive or editorial' }),
        acknowledgementDueDays: positiveInt.max(365, { error: 'must be at most 365' }).optional(),
      },
      mode,
    ),
    'Policy Reviewed': object(
      {
        ...envelopeFields,
        policyId: slug,
        version: positiveInt,
        reviewedOn: isoDate,
        note: z.string({ error: 'must be a string' }).max(2000, { error: 'must be at most 2000 characters' }).optional(),
      },
      mode,
    ),
    'Policy Review Due': object(
      {
        ...envelopeFields,
        policyId: slug,
        version: positiveInt,
        reviewDate: isoDate,
        stage: slug,
        occurrence: positiveInt,
      },
      mode,
    ),
    'Breach Reported': object(
      {
        ...envelopeFields,
        caseId: z
          .string({ error: 'must be a string' })
          .regex(/^[A-Z0-9-]{4,40}$/, { error: 'must be 4-40 upper-case letters, digits or "-"' }),
        schoolId: slug,
        category: z.enum(BREACH_CATEGORIES, { error: `must be one of ${BREACH_CATEGORIES.join(', ')}` }),
        reportedByStaffId: staffId.optional(),
        subject,
        occurredOn: isoDate,
      },
      mode,
    ),
    'Policy Acknowledged': object(
      {
        ...envelopeFields,
        policyId: slug,
        version: positiveInt,
        staffId,
        acknowledgedAt: isoDateTime,
        /** Set from the first refresher cycle on (§6a): the same version acknowledged again, with a receipt of its own. */
        refreshCycle: positiveInt.optional(),
      },
      mode,
    ),
  } satisfies Record<DetailType, z.ZodType>;
}

/** Strict schemas, for publishers: unknown keys are errors. */
export const publishSchemas = schemasFor('strict');
/** Tolerant schemas, for handlers: unknown keys are stripped. */
export const readSchemas = schemasFor('tolerant');

export type StaffOnboarded = z.infer<(typeof readSchemas)['Staff Onboarded']>;
export type StaffUpdated = z.infer<(typeof readSchemas)['Staff Updated']>;
export type StaffLeft = z.infer<(typeof readSchemas)['Staff Left']>;
export type PolicyUpdated = z.infer<(typeof readSchemas)['Policy Updated']>;
export type PolicyReviewed = z.infer<(typeof readSchemas)['Policy Reviewed']>;
export type PolicyReviewDue = z.infer<(typeof readSchemas)['Policy Review Due']>;
export type BreachReported = z.infer<(typeof readSchemas)['Breach Reported']>;
export type PolicyAcknowledged = z.infer<(typeof readSchemas)['Policy Acknowledged']>;
export type DetailOf<T extends DetailType> = z.infer<(typeof readSchemas)[T]>;

/** Which source publishes each detail-type, and the CLI's name for it. */
export const CATALOGUE: Record<DetailType, { source: EventSource; cliName: string }> = {
  'Staff Onboarded': { source: SOURCES.hr, cliName: 'staff-onboarded' },
  'Staff Updated': { source: SOURCES.hr, cliName: 'staff-updated' },
  'Staff Left': { source: SOURCES.hr, cliName: 'staff-left' },
  'Policy Updated': { source: SOURCES.policies, cliName: 'policy-updated' },
  'Policy Reviewed': { source: SOURCES.policies, cliName: 'policy-reviewed' },
  'Policy Review Due': { source: SOURCES.policies, cliName: 'policy-review-due' },
  'Breach Reported': { source: SOURCES.safeguarding, cliName: 'breach-reported' },
  'Policy Acknowledged': { source: SOURCES.policies, cliName: 'policy-acknowledged' },
};

export const DETAIL_TYPE_LIST = Object.keys(CATALOGUE) as DetailType[];

// ---------------------------------------------------------------------------------
// Errors and parsing.

export interface FieldProblem {
  /** Dotted path of the field, e.g. `detail.roles.0`. */
  field: string;
  /** The rule broken. Never contains the value given. */
  problem: string;
}

/** A detail that breaks its contract. The message names each field; it never holds a value. */
export class ContractError extends Error {
  override name = 'ContractError';
  readonly detailType: string;
  readonly problems: FieldProblem[];
  constructor(detailType: string, problems: FieldProblem[]) {
    super(`${detailType} rejected: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`);
    this.detailType = detailType;
    this.problems = problems;
  }
  get fields(): string[] {
    return this.problems.map((p) => p.field);
  }
}

function pathOf(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(String)].join('.');
}

/**
 * Turns zod issues into field problems. Zod's own messages for the issue kinds we do not
 * override never include the input; `unrecognized_keys` is expanded so that each unknown
 * key is named as a field of its own.
 */
export function toFieldProblems(issues: readonly z.core.$ZodIssue[], prefix = 'detail'): FieldProblem[] {
  return issues.flatMap((issue): FieldProblem[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: pathOf(prefix, [...issue.path, key]), problem: 'is not a known field' }));
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      return [{ field: pathOf(prefix, issue.path), problem: 'is required' }];
    }
    if (issue.code === 'invalid_type' && issue.path.length === 0) {
      return [{ field: prefix, problem: 'must be a JSON object' }];
    }
    return [{ field: pathOf(prefix, issue.path), problem: issue.message }];
  });
}

export function isDetailType(value: unknown): value is DetailType {
  return typeof value === 'string' && value in CATALOGUE;
}

/** Strict parse for publishers. Throws ContractError naming every bad or unknown field. */
export function parseForPublish<T extends DetailType>(detailType: T, detail: unknown): DetailOf<T> {
  const result = publishSchemas[detailType].safeParse(detail, { reportInput: false });
  if (!result.success) throw new ContractError(detailType, toFieldProblems(result.error.issues));
  return result.data as DetailOf<T>;
}

export interface TolerantRead<T extends DetailType> {
  detail: DetailOf<T>;
  /** Dotted paths of keys that were stripped. Names only; log these, never values. */
  unknownKeys: string[];
}

/** Tolerant read for handlers. Unknown keys are stripped and named; anything else bad throws. */
export function readDetail<T extends DetailType>(detailType: T, detail: unknown): TolerantRead<T> {
  const result = readSchemas[detailType].safeParse(detail, { reportInput: false });
  if (!result.success) throw new ContractError(detailType, toFieldProblems(result.error.issues));
  const strict = publishSchemas[detailType].safeParse(detail, { reportInput: false });
  const unknownKeys = strict.success
    ? []
    : toFieldProblems(strict.error.issues.filter((issue) => issue.code === 'unrecognized_keys')).map((p) => p.field);
  return { detail: result.data as DetailOf<T>, unknownKeys };
}
