/**
 * Loads the compliance report (functions/domain/compliance-report.ts) from the data table,
 * for the CLI (`trust-notify report`) and the local web server (`GET /reports/compliance`).
 * Query patterns only, never a table scan (lib/data-tables.ts):
 *   - the policy's versions:        pk = POLICY#<policyId>, sk begins_with VERSION#
 *   - each counted version's requests: gsi1pk = POLICYVERSION#<policyId>#<version>
 *   - the people of each school:    gsi1pk = SCHOOL#<schoolId>
 *   - anyone not found there (a school no longer configured): GetItem by staffId.
 * For 10,000 people that is a few dozen paged requests.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { isSchoolOfTrust, schoolName, type TrustConfig } from '../config/trust-config.ts';
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import {
  buildComplianceReport,
  type ComplianceReport,
  countedVersions,
  DEFAULT_REPORT_POLICY,
  type ReportSchool,
} from '../domain/compliance-report.ts';
import { londonDate } from '../domain/dates.ts';
import type { AckRequest } from '../domain/onboarding.ts';
import type { Person } from '../domain/people.ts';

/** A report asked for something that does not exist; `field` names the option. */
export class ReportQueryError extends Error {
  override name = 'ReportQueryError';
  readonly field: 'policy' | 'version' | 'school';
  constructor(field: 'policy' | 'version' | 'school', message: string) {
    super(message);
    this.field = field;
  }
}

export interface ReportQuery {
  policyId?: string | undefined;
  version?: number | undefined;
  schoolId?: string | undefined;
  /** Europe/London date the report is as of; today by default. */
  today?: string | undefined;
}

export interface ReportSource {
  db: DynamoDBDocumentClient;
  table: string;
  config: TrustConfig;
}

/** The trust's schools in configuration order, then central (trust) staff. */
export function reportSchools(config: TrustConfig): ReportSchool[] {
  return [...config.schools.map((s) => ({ id: s.id, name: s.name })), { id: TRUST_SCHOOL_ID, name: schoolName(config, TRUST_SCHOOL_ID) }];
}

async function collect<T>(pages: AsyncGenerator<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...page);
  return out;
}

export async function loadComplianceReport(source: ReportSource, query: ReportQuery = {}): Promise<ComplianceReport> {
  return (await loadComplianceReportWithVersions(source, query)).report;
}

/** The report and every version of the policy on record (oldest first), from the one read of them. */
export async function loadComplianceReportWithVersions(
  source: ReportSource,
  query: ReportQuery = {},
): Promise<{ report: ComplianceReport; versions: number[] }> {
  const { db, table, config } = source;
  const policies = new PolicyRepository(db, table);
  const requests = new RequestRepository(db, table);
  const peopleRepo = new PeopleRepository(db, table);
  const policyId = query.policyId ?? DEFAULT_REPORT_POLICY;
  const today = query.today ?? londonDate(new Date());

  if (query.schoolId !== undefined && !isSchoolOfTrust(config, query.schoolId)) {
    throw new ReportQueryError('school', `no school "${query.schoolId}" in this trust (schools: ${reportSchools(config).map((s) => s.id).join(', ')})`);
  }
  // The current version is read only when no version is named.
  const [versions, current] = await Promise.all([
    policies.listVersions(policyId),
    query.version === undefined ? policies.getCurrent(policyId) : Promise.resolve(null),
  ]);
  if (versions.length === 0 || (query.version === undefined && !current)) throw new ReportQueryError('policy', `no policy "${policyId}" on record`);
  const version = query.version ?? current?.version ?? 0;
  const reported = versions.find((v) => v.version === version);
  if (!reported) {
    throw new ReportQueryError('version', `${policyId} has no version ${version} (stored: ${versions.map((v) => v.version).join(', ')})`);
  }

  const schools = reportSchools(config);
  const [requestPages, schoolPeople] = await Promise.all([
    Promise.all(countedVersions(versions, version).map((v) => collect(requests.ofVersion(policyId, v)))),
    Promise.all(schools.map((s) => collect(peopleRepo.inSchool(s.id)))),
  ]);
  const allRequests: AckRequest[] = requestPages.flat();
  const people = new Map<string, Person>(schoolPeople.flat().map((p) => [p.staffId, p]));
  // Someone at a school that is no longer configured: read them one by one (rare).
  const missing = [...new Set(allRequests.map((r) => r.staffId))].filter((id) => !people.has(id));
  for (let i = 0; i < missing.length; i += 8) {
    const found = await Promise.all(missing.slice(i, i + 8).map((id) => peopleRepo.get(id)));
    for (const person of found) if (person) people.set(person.staffId, person);
  }

  const report = buildComplianceReport({
    policy: reported,
    versions,
    requests: allRequests,
    people,
    schools,
    schoolFilter: query.schoolId,
    today,
  });
  return { report, versions: versions.map((v) => v.version).sort((a, b) => a - b) };
}
