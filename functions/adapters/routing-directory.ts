/**
 * Builds the directory breach routing reads (functions/domain/breach-routing.ts) from the
 * people on record: the holders of each role the case may need, at its school and at
 * trust level, and the reporter and their line manager where the row names the line
 * manager. Only what routing may look at is read.
 */
import type { Role } from '../contracts/roles.ts';
import { type CaseFacts, type Directory, directoryOf, lookupsFor } from '../domain/breach-routing.ts';
import type { Person } from '../domain/people.ts';
import type { PeopleRepository } from './people-repository.ts';

async function load(
  people: PeopleRepository,
  holders: readonly { schoolId: string; role: Role }[],
  staffIds: readonly string[] = [],
): Promise<Person[]> {
  const found = new Map<string, Person>();
  const lists = await Promise.all(holders.map(({ schoolId, role }) => people.activeWithRole(schoolId, role)));
  for (const list of lists) for (const person of list) found.set(person.staffId, person);
  const named = await Promise.all(staffIds.map((id) => people.get(id)));
  for (const person of named) if (person) found.set(person.staffId, person);
  return [...found.values()];
}

/** The directory for routing one case. */
export async function loadRoutingDirectory(people: PeopleRepository, facts: CaseFacts): Promise<Directory> {
  const { holders, needsReporterLineManager } = lookupsFor(facts);
  const staffIds: string[] = [];
  if (needsReporterLineManager && facts.reportedByStaffId) {
    const reporter = await people.get(facts.reportedByStaffId);
    staffIds.push(facts.reportedByStaffId);
    if (reporter?.lineManagerStaffId) staffIds.push(reporter.lineManagerStaffId);
  }
  return directoryOf(await load(people, holders, staffIds));
}

/** The directory for escalating one case (the roles of `escalationLookups`). */
export async function loadEscalationDirectory(
  people: PeopleRepository,
  holders: readonly { schoolId: string; role: Role }[],
): Promise<Directory> {
  return directoryOf(await load(people, holders));
}
