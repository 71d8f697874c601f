/**
 * The trust configuration (DESIGN.md "Trust configuration"): one validated file,
 * `config/trust.json`, read by the CDK app, the local runtime and the tests.
 *
 * Two forms:
 * - the file form (`TrustConfigFile`), as people edit it; the seed policy is named by its
 *   document and its metadata (review period, owner, committee, years) is read from the
 *   document's own header;
 * - the resolved form (`TrustConfig`), with every policy's metadata filled in. The CDK app
 *   compiles the resolved form into each Lambda bundle (`TRUST_CONFIG_JSON`), so a function
 *   never reads files at run time. `parseTrustConfig` validates it again at cold start.
 *
 * No AWS imports: this module is shared by domain code, CDK and the CLI.
 */
import * as z from 'zod';
import { AUDIENCES, GOVERNING_COMMITTEES, ROLES, TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import { toFieldProblems } from '../contracts/events.ts';

const slug = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, { error: 'must be a lower-case slug' });
const year = z.string().regex(/^(19|20)\d\d$/, { error: 'must be a four-digit year' });
const isoDateOrYear = z
  .string()
  .regex(/^(19|20)\d\d(-\d\d-\d\d)?$/, { error: 'must be a year (YYYY) or a date (YYYY-MM-DD)' });

const school = z.strictObject({
  id: slug.refine((id) => id !== TRUST_SCHOOL_ID, { error: `"${TRUST_SCHOOL_ID}" is reserved for central staff` }),
  name: z.string().min(1),
});

/** Who a policy asks, beyond its audience groups. */
const requirement = z.enum(['managesOfficialChannels']);

const policyMetadata = {
  policyId: slug,
  title: z.string().min(1),
  version: z.number().int().positive(),
  /** As the document states it: a year ("2022") or a full date. */
  approved: isoDateOrYear,
  /** As the document states it: a year ("2023", read as due by 31 December) or a date. */
  reviewDue: isoDateOrYear,
  reviewPeriodMonths: z.number().int().min(1).max(60),
  ownerRole: z.enum(ROLES),
  governingCommittee: z.enum(GOVERNING_COMMITTEES),
  audience: z.array(z.enum(AUDIENCES)).min(1),
  /** Only people who also meet this are asked (e.g. §8h.i: those who manage official channels). */
  requires: requirement.optional(),
  /** The document, relative to the repository root; served at /policies/<policyId>. */
  document: z.string().min(1),
};

/** In the file, a policy is either given in full or named by a seed document whose header holds its metadata. */
const filePolicy = z.union([
  z.strictObject({ ...policyMetadata }),
  z.strictObject({
    policyId: slug,
    seed: z.string().min(1),
    audience: z.array(z.enum(AUDIENCES)).min(1),
    version: z.number().int().positive().default(1),
    requires: requirement.optional(),
  }),
]);

const reviewStage = z.union([
  z.strictObject({ id: slug, daysBefore: z.number().int().min(0).max(365) }),
  z.strictObject({ id: slug, everyDaysAfter: z.number().int().min(1).max(365) }),
]);

const officialChannel = z.strictObject({
  channelId: slug,
  name: z.string().min(1),
  platform: z.string().min(1),
  ownerSchoolId: slug,
  managedByStaffIds: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)),
});

const common = {
  trust: z.strictObject({ id: slug, name: z.string().min(1) }),
  region: z.string().regex(/^[a-z]{2}-[a-z]+-\d$/, { error: 'must be an AWS region such as eu-west-2' }),
  schools: z.array(school).min(1),
  sender: z.strictObject({ address: z.email(), displayName: z.string().min(1) }),
  publicBaseUrl: z.url().refine((u) => !u.endsWith('/'), { error: 'must not end with "/"' }),
  integrationContact: z.email(),
  /** Optional: subscribed by email to the operator alarm topic (lib/operations-alarms.ts). */
  operatorEmail: z.email().optional(),
  /** Optional: the operator console's sign-in in AWS (lib/operator-console.ts). */
  console: z
    .strictObject({
      /** The hosted UI at https://<prefix>.auth.<region>.amazoncognito.com; unique in the region. Default: tpn-console-<stack uuid>. */
      authDomainPrefix: z
        .string()
        .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, { error: 'must be lower-case letters, digits and hyphens (1-63)' })
        .refine((prefix) => !/aws|amazon|cognito/.test(prefix), { error: 'must not contain "aws", "amazon" or "cognito" (Cognito reserves them)' })
        .optional(),
    })
    .optional(),
  ses: z.strictObject({
    configurationSetName: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    maxSendRatePerSecond: z.number().positive().max(10_000),
    templatePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  }),
  acknowledgement: z.strictObject({
    dueDays: z.number().int().min(1).max(365),
    linkValidDays: z.number().int().min(1).max(365),
  }),
  reminders: z.strictObject({ everyDays: z.number().int().min(1), maxReminders: z.number().int().min(0).max(20) }),
  escalation: z.strictObject({ triageHours: z.number().positive().max(720) }),
  refresher: z.strictObject({ everyMonths: z.number().int().min(1).max(60) }),
  reviewStages: z.array(reviewStage).min(1),
  officialChannels: z.array(officialChannel),
  /**
   * Optional delivery timings (functions/domain/emails.ts `deliveryTimings`; defaults 300 s,
   * 5 minutes, 900 s): how long a claimed email may stay `sending` before its sender is
   * presumed dead (longer than the fan-out worker's 60 s timeout), how often the ledger sweeper
   * runs, and how long a `queued` email may wait for its queue message before the sweeper
   * queues it again.
   */
  delivery: z
    .strictObject({
      // At most 330 s: the email queue hides a message 182 s and dead-letters it after 5 receives,
      // so a crashed send, resent and crashed again, is abandoned before its message is dead-lettered
      // (test/infra/lease-timing.test.ts).
      leaseSeconds: z.number().int().min(90).max(330).optional(),
      sweepEveryMinutes: z.number().int().min(1).max(60).optional(),
      queuedGraceSeconds: z.number().int().min(30).max(86_400).optional(),
    })
    .optional(),
  /** Optional retention periods (functions/domain/retention.ts; defaults: 24 months, 6 years). */
  retention: z
    .strictObject({
      leaversMonths: z.number().int().min(1).max(1200).optional(),
      ledgerYears: z.number().int().min(1).max(100).optional(),
    })
    .optional(),
};

export const trustConfigFileSchema = z.strictObject({ ...common, policies: z.array(filePolicy).min(1) });
export const trustConfigSchema = z
  .strictObject({ ...common, policies: z.array(z.strictObject(policyMetadata)).min(1) })
  .superRefine((config, ctx) => {
    const schoolIds = new Set(config.schools.map((s) => s.id));
    config.officialChannels.forEach((channel, i) => {
      if (!schoolIds.has(channel.ownerSchoolId) && channel.ownerSchoolId !== TRUST_SCHOOL_ID) {
        ctx.addIssue({ code: 'custom', path: ['officialChannels', i, 'ownerSchoolId'], message: 'is not a school' });
      }
    });
    const ids = config.policies.map((p) => p.policyId);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) ctx.addIssue({ code: 'custom', path: ['policies', i, 'policyId'], message: 'is repeated' });
    });
  });

export type TrustConfigFile = z.infer<typeof trustConfigFileSchema>;
export type TrustConfig = z.infer<typeof trustConfigSchema>;
export type ConfiguredPolicy = TrustConfig['policies'][number];
export type ReviewStage = TrustConfig['reviewStages'][number];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function configProblems(issues: readonly z.core.$ZodIssue[], where: string): ConfigError {
  const problems = toFieldProblems(issues, 'config');
  return new ConfigError(`${where}: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`);
}

/** Validates the resolved form (used at Lambda cold start). */
export function parseTrustConfig(value: unknown, where = 'trust configuration'): TrustConfig {
  const result = trustConfigSchema.safeParse(value, { reportInput: false });
  if (!result.success) throw configProblems(result.error.issues, where);
  return result.data;
}

/** Validates the file form; `readDocument` supplies a seed document's text by its path. */
export function resolveTrustConfig(
  value: unknown,
  readDocument: (path: string) => string,
  where = 'config/trust.json',
): TrustConfig {
  const file = trustConfigFileSchema.safeParse(value, { reportInput: false });
  if (!file.success) throw configProblems(file.error.issues, where);
  const policies = file.data.policies.map((policy) => {
    if (!('seed' in policy)) return policy;
    const meta = parsePolicyHeader(readDocument(policy.seed), policy.seed);
    return {
      policyId: policy.policyId,
      title: meta.title,
      version: policy.version,
      approved: meta.approved,
      reviewDue: meta.reviewDue,
      reviewPeriodMonths: meta.reviewPeriodMonths,
      ownerRole: meta.ownerRole,
      governingCommittee: meta.governingCommittee,
      audience: policy.audience,
      document: policy.seed,
      ...(policy.requires ? { requires: policy.requires } : {}),
    };
  });
  return parseTrustConfig({ ...file.data, policies }, where);
}

// ---------------------------------------------------------------------------------
// Reading a policy document's own header (the seed states its metadata in a table of
// "<b>Label:</b> <b>Value</b>" lines, and its title as the first level-1 heading).

const REVIEW_PERIODS: Record<string, number> = {
  annually: 12,
  'every year': 12,
  'every two years': 24,
  biennially: 24,
  'every three years': 36,
  termly: 4,
};

function roleFromTitle(title: string): (typeof ROLES)[number] {
  const candidate = title.trim().toLowerCase().replace(/\s+/g, '-');
  const role = ROLES.find((r) => r === candidate);
  if (!role) throw new ConfigError(`"Person Responsible For Policy" is not a known role: use one of ${ROLES.join(', ')}`);
  return role;
}

export interface PolicyHeader {
  title: string;
  reviewPeriodMonths: number;
  ownerRole: (typeof ROLES)[number];
  governingCommittee: (typeof GOVERNING_COMMITTEES)[number];
  approved: string;
  reviewDue: string;
}

export function parsePolicyHeader(markdown: string, where: string): PolicyHeader {
  const fields = new Map<string, string>();
  for (const line of markdown.split(/\r?\n/)) {
    const match = /^<b>([^<]+?):<\/b>\s*<b>([^<]*)<\/b>\s*$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) fields.set(match[1].trim().toLowerCase(), match[2].trim());
  }
  const title = /^#\s+(.+)$/m.exec(markdown)?.[1]?.trim();
  const need = (label: string): string => {
    const value = fields.get(label);
    if (!value) throw new ConfigError(`${where}: the header has no "${label}" line`);
    return value;
  };
  if (!title) throw new ConfigError(`${where}: no "# Title" heading`);
  const period = need('review period').toLowerCase();
  const reviewPeriodMonths = REVIEW_PERIODS[period];
  if (!reviewPeriodMonths) throw new ConfigError(`${where}: review period "${period}" is not one we can read`);
  const committee = need('governing committee').toLowerCase().replace(/\s+/g, '-');
  const governingCommittee = GOVERNING_COMMITTEES.find((c) => c === committee);
  if (!governingCommittee) throw new ConfigError(`${where}: governing committee must be Trust Board or Local Governing Body`);
  const approved = need('date of trustees approval');
  const reviewDue = need('date for review');
  for (const [label, value] of [
    ['date of trustees approval', approved],
    ['date for review', reviewDue],
  ] as const) {
    if (!isoDateOrYear.safeParse(value).success) throw new ConfigError(`${where}: "${label}" must be a year or a date`);
  }
  return {
    title,
    reviewPeriodMonths,
    ownerRole: roleFromTitle(need('person responsible for policy')),
    governingCommittee,
    approved,
    reviewDue,
  };
}

/**
 * The date a review is due by: a full date as given, or 31 December of a year given alone
 * (DESIGN.md: the seed gives years only; "treat the review as due by 31 December").
 */
export function reviewDueBy(reviewDue: string): string {
  return year.safeParse(reviewDue).success ? `${reviewDue}-12-31` : reviewDue;
}

export function schoolName(config: TrustConfig, schoolId: string): string {
  if (schoolId === TRUST_SCHOOL_ID) return config.trust.name;
  return config.schools.find((s) => s.id === schoolId)?.name ?? schoolId;
}

/**
 * The school line of an email to someone about their own school (the header under the
 * trust's name, the sign-off after it): the school's name, or '' for central staff, whose
 * "school" is the trust itself, so that the trust is not named twice. Reports and emails
 * about a school concerned (a case, a new starter) keep `schoolName`.
 */
export function emailSchoolName(config: TrustConfig, schoolId: string): string {
  return schoolId === TRUST_SCHOOL_ID ? '' : schoolName(config, schoolId);
}

/** A school of the trust, or `trust` for central staff. */
export function isSchoolOfTrust(config: TrustConfig, schoolId: string): boolean {
  return schoolId === TRUST_SCHOOL_ID || config.schools.some((s) => s.id === schoolId);
}
