/**
 * The compliance report (DESIGN.md "Command line": `report`): for one version of a policy,
 * who has acknowledged it and who has not, per school and trust-wide. It is how the Trust
 * Board sees that every member of staff and volunteer has been made aware of the policy
 * (§1f, §4a.ii) and how each Head of School sees who at their school still has to confirm
 * it (§4b.i). Pure: no AWS imports; the caller queries the requests and people.
 *
 * - The requests that count are those of the version reported on and of every version
 *   back to the last substantive one: an editorial change asks nobody again, so the
 *   acknowledgements of the version it edits carry forward (`effectiveAckVersion`), and
 *   people asked since (new starters) are asked for the editorial version itself.
 * - Per person, their latest open request among those decides: acknowledged, or
 *   outstanding (pending); outstanding past its due date is also overdue ("today" is a
 *   Europe/London date). Superseded and cancelled requests count for nobody.
 * - Leavers (`isActiveOn`) and requests whose person is no longer on record are left out,
 *   and counted as such so that the totals can be explained.
 * - A person is reported at the school they are at now (their record), not where they
 *   were when asked.
 */
import { daysBetween } from './dates.ts';
import type { AckRequest } from './onboarding.ts';
import { displayName, isActiveOn, type Person } from './people.ts';
import { effectiveAckVersion, type PolicyVersion } from './policy-update.ts';

/** The policy reported on when none is named: the seed policy. */
export const DEFAULT_REPORT_POLICY = 'use-of-social-media';

export interface ReportSchool {
  id: string;
  name: string;
}

export interface Figures {
  /** Acknowledged plus outstanding. */
  people: number;
  acknowledged: number;
  outstanding: number;
  /** Outstanding and past the due date (a subset of outstanding). */
  overdue: number;
  /** Acknowledged as a percentage of people, to one decimal place; null when nobody was asked. */
  percentAcknowledged: number | null;
}

export interface OutstandingPerson {
  staffId: string;
  name: string;
  dueOn: string;
  overdue: boolean;
  /** Whole days past the due date (0 when not overdue). */
  daysOverdue: number;
  /** The version they were asked to acknowledge. */
  version: number;
}

export interface SchoolReport extends Figures {
  schoolId: string;
  schoolName: string;
  /** Overdue first, then by due date and name. */
  outstandingPeople: OutstandingPerson[];
}

export interface ComplianceReport {
  policyId: string;
  title: string;
  version: number;
  change: 'substantive' | 'editorial';
  /** The versions whose requests count for this one, oldest first. */
  countedVersions: number[];
  /** The substantive version whose acknowledgements carry forward, when it is not this one. */
  carriedForwardFrom: number | null;
  /** The Europe/London date the report is as of (overdue means due before it). */
  today: string;
  /** The school the report was limited to, if any (the trust-wide figures are the whole trust's). */
  schoolFilter: string | null;
  schools: SchoolReport[];
  trustWide: Figures;
  /** People with a request who are not counted, and why. */
  excluded: { leavers: number; notOnRecord: number; supersededOrCancelled: number };
}

export type ReportedVersion = Pick<PolicyVersion, 'policyId' | 'title' | 'version'> & { change?: PolicyVersion['change'] };

/** A stored version; one registered from the configuration (version 1) has no `change` and counts as substantive. */
export type StoredVersion = { version: number; change?: PolicyVersion['change'] };

/** The versions whose requests count for `version`: back to the last substantive one, oldest first. */
export function countedVersions(versions: readonly StoredVersion[], version: number): number[] {
  const from = effectiveAckVersion(
    versions.map((v) => ({ version: v.version, change: v.change ?? 'substantive' })),
    version,
  );
  const stored = versions.map((v) => v.version).filter((v) => v >= from && v <= version);
  return [...new Set([from, ...stored, version])].sort((a, b) => a - b);
}

export interface ComplianceReportInput {
  policy: ReportedVersion;
  /** Every stored version of the policy (for the editorial carry-forward). */
  versions: readonly StoredVersion[];
  /** The requests of the counted versions (others are ignored). */
  requests: readonly AckRequest[];
  /** The people those requests are for, by staffId. */
  people: ReadonlyMap<string, Person>;
  /** The trust's schools and `trust` (central staff), in the order to show them. */
  schools: readonly ReportSchool[];
  schoolFilter?: string | undefined;
  /** Europe/London date (`londonDate(now)`). */
  today: string;
}

const OPEN = new Set<AckRequest['status']>(['pending', 'acknowledged']);

const percent = (part: number, whole: number): number | null => (whole === 0 ? null : Math.round((part / whole) * 1000) / 10);

function figures(acknowledged: number, outstanding: number, overdue: number): Figures {
  const people = acknowledged + outstanding;
  return { people, acknowledged, outstanding, overdue, percentAcknowledged: percent(acknowledged, people) };
}

export function buildComplianceReport(input: ComplianceReportInput): ComplianceReport {
  const { policy, today } = input;
  const counted = countedVersions(input.versions, policy.version);
  const countedSet = new Set(counted);

  // Each person's requests among the counted versions.
  const byPerson = new Map<string, AckRequest[]>();
  for (const request of input.requests) {
    if (request.policyId !== policy.policyId || !countedSet.has(request.version)) continue;
    const list = byPerson.get(request.staffId) ?? [];
    list.push(request);
    byPerson.set(request.staffId, list);
  }

  const excluded = { leavers: 0, notOnRecord: 0, supersededOrCancelled: 0 };
  const tallies = new Map<string, { acknowledged: number; outstanding: OutstandingPerson[] }>();
  const tally = (schoolId: string) => {
    let t = tallies.get(schoolId);
    if (!t) {
      t = { acknowledged: 0, outstanding: [] };
      tallies.set(schoolId, t);
    }
    return t;
  };
  for (const [staffId, requests] of byPerson) {
    const person = input.people.get(staffId);
    if (!person) {
      excluded.notOnRecord++;
      continue;
    }
    if (!isActiveOn(person, today)) {
      excluded.leavers++;
      continue;
    }
    const latest = requests.filter((r) => OPEN.has(r.status)).sort((a, b) => b.version - a.version)[0];
    if (!latest) {
      excluded.supersededOrCancelled++;
      continue;
    }
    const t = tally(person.schoolId);
    if (latest.status === 'acknowledged') {
      t.acknowledged++;
      continue;
    }
    const daysOverdue = Math.max(0, daysBetween(latest.dueOn, today));
    t.outstanding.push({
      staffId,
      name: displayName(person),
      dueOn: latest.dueOn,
      overdue: daysOverdue > 0,
      daysOverdue,
      version: latest.version,
    });
  }

  // Every configured school (even with nobody asked), then any other school people are at.
  const known = new Set(input.schools.map((s) => s.id));
  const schools: ReportSchool[] = [
    ...input.schools,
    ...[...tallies.keys()].filter((id) => !known.has(id)).sort().map((id) => ({ id, name: id })),
  ];
  const all = schools.map((school): SchoolReport => {
    const t = tallies.get(school.id) ?? { acknowledged: 0, outstanding: [] };
    const outstandingPeople = [...t.outstanding].sort(
      (a, b) =>
        Number(b.overdue) - Number(a.overdue) ||
        a.dueOn.localeCompare(b.dueOn) ||
        a.name.localeCompare(b.name, 'en-GB') ||
        a.staffId.localeCompare(b.staffId),
    );
    return {
      schoolId: school.id,
      schoolName: school.name,
      ...figures(t.acknowledged, outstandingPeople.length, outstandingPeople.filter((p) => p.overdue).length),
      outstandingPeople,
    };
  });
  const sum = (pick: (s: SchoolReport) => number) => all.reduce((total, s) => total + pick(s), 0);
  const from = counted[0] ?? policy.version;
  return {
    policyId: policy.policyId,
    title: policy.title,
    version: policy.version,
    change: policy.change ?? 'substantive',
    countedVersions: counted,
    carriedForwardFrom: from < policy.version ? from : null,
    today,
    schoolFilter: input.schoolFilter ?? null,
    schools: input.schoolFilter === undefined ? all : all.filter((s) => s.schoolId === input.schoolFilter),
    trustWide: figures(
      sum((s) => s.acknowledged),
      sum((s) => s.outstanding),
      sum((s) => s.overdue),
    ),
    excluded,
  };
}
