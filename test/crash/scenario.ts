/**
 * The crash suite's scenario and its oracle (test/crash/run.ts): a seeded directory of
 * people, and who a version of the policy is intended for, computed here from the CSV
 * rows and the audience rule, never read from the system under test.
 *
 * The audience rule, re-implemented (README "Events", DESIGN.md "Audience", §2a "This policy
 * applies to all employees, governors and volunteers"; §1f, §4a.ii every member of staff and
 * volunteer is made aware of it). A person belongs to:
 *   employees   employmentType permanent, fixed-term or temporary
 *   volunteers  employmentType volunteer
 *   governors   employmentType governor, or a role governor / chair-of-governors
 *   trustees    employmentType trustee, or a role trustee / chair-of-trustees
 * and a version of the policy is for everyone active in at least one of the audience groups
 * its `Policy Updated` names (the suite publishes the configured ones). Trustees alone are not
 * in this policy's audience, so they must get nothing.
 */
import { readFileSync } from 'node:fs';

/** mulberry32: a small, fast, seedable PRNG (deterministic runs from `--seed`). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const uniform = (random: () => number, low: number, high: number) => low + (high - low) * random();
export const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

export const CSV_HEADER = 'staffId,givenName,familyName,email,schoolId,roles,employmentType,startDate,lineManagerStaffId,managesOfficialChannels';

export interface OraclePerson {
  staffId: string;
  email: string;
  schoolId: string;
  roles: string[];
  employmentType: string;
  /** From the suite's CSV, or the demo trust the platform seeds itself. */
  source: 'csv' | 'demo';
}

const EMPLOYEE_TYPES = ['permanent', 'fixed-term', 'temporary'];

export function audienceGroups(person: Pick<OraclePerson, 'employmentType' | 'roles'>): Set<string> {
  const groups = new Set<string>();
  if (EMPLOYEE_TYPES.includes(person.employmentType)) groups.add('employees');
  if (person.employmentType === 'volunteer') groups.add('volunteers');
  if (person.employmentType === 'governor' || person.roles.includes('governor') || person.roles.includes('chair-of-governors')) {
    groups.add('governors');
  }
  if (person.employmentType === 'trustee' || person.roles.includes('trustee') || person.roles.includes('chair-of-trustees')) {
    groups.add('trustees');
  }
  return groups;
}

/** Addresses (lower case) a substantive version with this audience asks: each intended recipient once. */
export function intendedRecipients(people: readonly OraclePerson[], audience: readonly string[]): Map<string, OraclePerson> {
  const intended = new Map<string, OraclePerson>();
  for (const person of people) {
    const groups = audienceGroups(person);
    if (audience.some((a) => groups.has(a))) intended.set(person.email.toLowerCase(), person);
  }
  return intended;
}

const GIVEN = ['Amira', 'Ben', 'Chloe', 'Dev', 'Ella', 'Femi', 'Grace', 'Harry', 'Isla', 'Jamal', 'Kate', 'Leo', 'Maya', 'Noah', 'Orla', 'Priya', 'Quinn', 'Rosa', 'Sam', 'Tariq', 'Una', 'Vik', 'Wren', 'Yusuf', 'Zara'];
const FAMILY = ['Adams', 'Begum', 'Clarke', 'Davies', 'Evans', 'Fraser', 'Gill', 'Hughes', 'Iqbal', 'Jones', 'Khan', 'Lewis', 'Moore', 'Nowak', 'Owen', 'Patel', 'Quinn', 'Reid', 'Shah', 'Taylor', 'Usman', 'Vaughan', 'Walsh', 'Young'];

/**
 * N people over the configured schools and `trust`, deterministic from `random`: mostly
 * employees (teachers and support staff, some with a second role), and some volunteers,
 * governors (by type or by role), trustees (not in the audience) and trustees who also sit
 * as governors (in it, through the role).
 */
export function generateDirectory(count: number, schools: readonly string[], random: () => number, runTag: string): { csv: string; people: OraclePerson[] } {
  const places = [...schools, 'trust'];
  const people: OraclePerson[] = [];
  const lines = [CSV_HEADER];
  for (let i = 1; i <= count; i++) {
    const staffId = `CR-${runTag}-${String(i).padStart(5, '0')}`;
    const roll = random();
    let schoolId = pick(random, places);
    let employmentType: string;
    let roles: string[];
    if (roll < 0.8) {
      employmentType = pick(random, ['permanent', 'permanent', 'permanent', 'fixed-term', 'temporary']);
      roles = [pick(random, ['teacher', 'teacher', 'support-staff'])];
      if (random() < 0.05) roles.push(pick(random, ['leadership-team', 'deputy-dsl']));
    } else if (roll < 0.87) {
      employmentType = 'volunteer';
      roles = ['volunteer'];
    } else if (roll < 0.94) {
      employmentType = 'governor';
      roles = ['governor'];
      if (schoolId === 'trust') schoolId = pick(random, schools);
    } else if (roll < 0.98) {
      employmentType = 'trustee';
      roles = ['trustee'];
      schoolId = 'trust';
    } else {
      // A trustee who also sits on a local governing body: in the audience through the role.
      employmentType = 'trustee';
      roles = ['trustee', 'governor'];
    }
    const given = pick(random, GIVEN);
    const family = pick(random, FAMILY);
    const email = `${staffId.toLowerCase()}.${given.toLowerCase()}@${schoolId}.crash.example.org`;
    const startDate = `20${String(10 + Math.floor(random() * 16)).padStart(2, '0')}-09-01`;
    const manages = random() < 0.02;
    lines.push([staffId, given, family, email, schoolId, roles.join(';'), employmentType, startDate, '', String(manages)].join(','));
    people.push({ staffId, email, schoolId, roles, employmentType, source: 'csv' });
  }
  return { csv: `${lines.join('\n')}\n`, people };
}

/** The demo trust the platform seeds on every start (fixtures/demo-directory.csv: plain cells, no quoting). */
export function readDemoDirectory(file: string): OraclePerson[] {
  const [header, ...rows] = readFileSync(file, 'utf8').split(/\r?\n/).filter((line) => line.trim() !== '');
  if (header?.trim() !== CSV_HEADER) throw new Error(`${file}: unexpected header (the demo directory changed shape?)`);
  return rows.map((line) => {
    const cells = line.split(',');
    if (cells.length !== 10 || line.includes('"')) throw new Error(`${file}: a row this reader cannot take (quoted or wrong width)`);
    const [staffId, , , email, schoolId, roles, employmentType] = cells as [string, string, string, string, string, string, string];
    return { staffId, email, schoolId, roles: roles.split(';').map((r) => r.trim()), employmentType, source: 'demo' as const };
  });
}
