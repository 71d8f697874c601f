/**
 * Who is told about a breach or concern (DESIGN.md "Breach and concern intake and routing",
 * "Conflict of interest", "Gaps"). The routing table is data: one row per category, each
 * row citing the policy sections it comes from; `routeCase` applies it to one case and a
 * directory of the people on record. Pure: no AWS imports, no clock.
 *
 * The rules, in the order `routeCase` applies them to each role a row names:
 * 1. The role is looked up at the case's school, then at trust level (`schoolId` `trust`).
 *    The trust-level holder of a school office is the same role at the trust, except the
 *    Head of School, whose trust-level counterpart is the Executive Headteacher, and the
 *    chair of governors, whose counterpart is the chair of trustees (the governing body
 *    above the school's).
 * 2. Conflict of interest: the case's subject (`subject.staffId`) is never told about their
 *    own case. Where they are the only holder, the next in line is told (DSL → deputy DSL,
 *    deputy DSL → DSL, Head of School → Executive Headteacher, Executive Headteacher → chair
 *    of trustees); for a role with no next in line the search goes on at trust level.
 *    The case records each conflict.
 * 3. Gaps: no holder at the school → the trust-level holder, and the gap is recorded. No
 *    holder anywhere → the case is flagged and the trust-level DSL is told (then, should
 *    the trust have no DSL who can be told, its deputy DSL, the Executive Headteacher, the
 *    chair of trustees). Only if none of those exists is the case flagged `unroutable`, for
 *    the caller to tell the integration contact: a notice is never silently dropped.
 * 4. Someone who holds a role but cannot be emailed (their address bounced) counts as
 *    absent, so the notice goes on to someone who can act on it.
 * 5. One notice per person: someone named by several rows of the table is told once, with
 *    every capacity recorded.
 *
 * DSL and deputy DSL are both told wherever the DSL is, "so that absence never delays a
 * safeguarding concern" (DESIGN.md), which is why rows that name "school DSL" list both.
 */
import type { BreachReported } from '../contracts/events.ts';
import { BREACH_CATEGORIES, type BreachCategory, type Role, TRUST_SCHOOL_ID } from '../contracts/roles.ts';

// ---------------------------------------------------------------------------------
// Flags

export const CASE_FLAGS = [
  'lado-consideration',
  'police-referral-decision',
  'parents-may-need-telling',
  'no-holder-anywhere',
  'unroutable',
] as const;
export type CaseFlag = (typeof CASE_FLAGS)[number];

/** What a flag means, as the notice and the case view say it. Fixed text: safe in any template. */
export const FLAG_LABELS: Record<CaseFlag, string> = {
  'lado-consideration': 'Allegation against staff? Consider a referral to the LADO (Local Authority Designated Officer)',
  'police-referral-decision': 'A decision is needed on referring this to the police',
  'parents-may-need-telling': 'Parents or carers may need to be told',
  'no-holder-anywhere': 'Routing gap: a role this case needs has no holder anywhere in the trust (see the case timeline)',
  unroutable: 'Nobody on record could be told about this case',
};

// ---------------------------------------------------------------------------------
// The routing table

/** A capacity in which someone is told: a role, or the reporter's line manager (§8h.ix). */
export type CaseRole = Role | 'line-manager';

export type Slot =
  | {
      kind: 'role';
      /** Holders of any of these roles are told (e.g. trustees: `trustee`, `chair-of-trustees`). */
      roles: readonly Role[];
      /** `school`: looked up at the case's school, then at trust level. `trust`: trust level only. */
      at: 'school' | 'trust';
    }
  | { kind: 'reporter-line-manager' };

/** When a flag is set. The event carries only the subject's kind, so "a student is involved" reads it. */
export type FlagCondition = 'always' | 'subject-is-student';

export interface RoutingRow {
  category: BreachCategory;
  /** The category as people read it (emails, the case view). Fixed text. */
  label: string;
  /** What belongs in this category (DESIGN.md's routing table). */
  covers: string;
  /** The policy sections this row implements. */
  policy: readonly string[];
  notify: readonly Slot[];
  flags: readonly { flag: CaseFlag; when: FlagCondition }[];
}

const at = (where: 'school' | 'trust', ...roles: Role[]): Slot => ({ kind: 'role', roles, at: where });
/** The school DSL and deputy DSL: both told wherever the DSL is (DESIGN.md, §5e "the DSL (or deputy)"). */
const DSL_TEAM: readonly Slot[] = [at('school', 'dsl'), at('school', 'deputy-dsl')];
const HEAD_OF_SCHOOL = at('school', 'head-of-school');
/** "leadership team (school and trust)": role `leadership-team` at the school and at trust level. */
const LEADERSHIP_SCHOOL_AND_TRUST: readonly Slot[] = [at('school', 'leadership-team'), at('trust', 'leadership-team')];
/** DESIGN.md "Audience": trustees are the roles `trustee` and `chair-of-trustees`. */
const TRUSTEES = at('trust', 'trustee', 'chair-of-trustees');

export const ROUTING_TABLE: readonly RoutingRow[] = [
  {
    category: 'online-conduct-concern',
    label: "Concern about a community member's online conduct",
    covers: 'any concern about a community member’s online conduct',
    // §5e: concerns about the online conduct of any member of the community go to the DSL (or deputy).
    policy: ['§5e'],
    notify: [...DSL_TEAM],
    flags: [],
  },
  {
    category: 'personal-account-contact',
    label: 'Students or parents contacting staff on personal accounts',
    covers: 'students or parents contacting staff on personal social media accounts',
    // §6k: no contact through personal accounts; §6l: such contact is reported to the DSL (or
    // deputies); §5e: managed under the allegations against staff and child protection policies.
    policy: ['§6k', '§6l', '§5e'],
    notify: [...DSL_TEAM],
    // "Allegation against staff?" (LADO consideration) where a student is involved.
    flags: [{ flag: 'lado-consideration', when: 'subject-is-student' }],
  },
  {
    category: 'staff-abused-online',
    label: 'Staff abused online in connection with their role',
    covers: 'staff or volunteers abused on social media in connection with their role',
    // §9d: reported to the Head of School, who informs governors; §4a.iv: the Trust Board takes
    // action, up to referring the matter to the police.
    policy: ['§9d', '§4a.iv'],
    notify: [HEAD_OF_SCHOOL, at('school', 'chair-of-governors'), TRUSTEES],
    flags: [{ flag: 'police-referral-decision', when: 'always' }],
  },
  {
    category: 'staff-misconduct',
    label: 'Inappropriate use of social media by staff',
    covers: 'inappropriate use by staff, bringing the profession or institution into disrepute',
    // §4b.iii-iv: the Head of School instigates disciplinary procedures and seeks HR advice;
    // §6d: disrepute; §9b: the Trust Leadership Team may take disciplinary action; §5e: the
    // allegations against staff policy.
    policy: ['§4b.iii-iv', '§6d', '§9b', '§5e'],
    notify: [HEAD_OF_SCHOOL, ...LEADERSHIP_SCHOOL_AND_TRUST, at('school', 'hr-advisor')],
    // LADO consideration where it concerns a child (the subject is a student).
    flags: [{ flag: 'lado-consideration', when: 'subject-is-student' }],
  },
  {
    category: 'bullying-harassment',
    label: 'Online bullying or harassment',
    covers: 'online bullying or harassment',
    // §9a: dealt with as any other bullying or harassment.
    policy: ['§9a'],
    notify: [HEAD_OF_SCHOOL, ...DSL_TEAM],
    flags: [],
  },
  {
    category: 'possibly-illegal',
    label: 'Content or activity that may be illegal',
    covers: 'content or activity that may be illegal',
    // §9c: the school may be obliged to inform the police; §4a.iv: the Trust Board decides.
    policy: ['§9c', '§4a.iv'],
    notify: [at('trust', 'leadership-team'), TRUSTEES],
    flags: [{ flag: 'police-referral-decision', when: 'always' }],
  },
  {
    category: 'student-social-media',
    label: "Concern about a student's use of social media",
    covers: 'a student’s use of social media',
    // §7c: dealt with under the existing policies; §7c.i: shared with parents/carers as appropriate.
    policy: ['§7c', '§7c.i'],
    notify: [...DSL_TEAM],
    flags: [{ flag: 'parents-may-need-telling', when: 'always' }],
  },
  {
    category: 'official-channel-concern',
    label: 'Concern on an official social media channel',
    covers: 'criticism, inappropriate content or contact from students on an official channel',
    // §8h.ix: staff inform their line manager, the DSL (or deputies) and/or the headteacher.
    policy: ['§8h.ix'],
    notify: [{ kind: 'reporter-line-manager' }, ...DSL_TEAM, HEAD_OF_SCHOOL],
    flags: [],
  },
  {
    category: 'self-report',
    label: 'Staff self-report: content that conflicts with their role',
    covers: 'staff content that conflicts with their role',
    // §6i: staff notify the Leadership Team immediately.
    policy: ['§6i'],
    notify: [...LEADERSHIP_SCHOOL_AND_TRUST],
    flags: [],
  },
];

const ROWS = new Map(ROUTING_TABLE.map((row) => [row.category, row]));

export function routingRow(category: BreachCategory): RoutingRow {
  const row = ROWS.get(category);
  if (!row) throw new RangeError(`no routing row for category ${category}`);
  return row;
}

export function categoryLabel(category: BreachCategory): string {
  return routingRow(category).label;
}

/** Next in line when the holder is the case's subject (DESIGN.md "Conflict of interest"). */
export const NEXT_IN_LINE: Partial<Record<Role, Role>> = {
  dsl: 'deputy-dsl',
  'deputy-dsl': 'dsl',
  'head-of-school': 'executive-headteacher',
  'executive-headteacher': 'chair-of-trustees',
};

/** Roles held at trust level only, whatever the case's school. */
const TRUST_ROLES: ReadonlySet<Role> = new Set(['executive-headteacher', 'chair-of-trustees', 'trustee']);

/** The trust-level holder of a school office, where it is not the same role. */
const TRUST_LEVEL_ROLE: Partial<Record<Role, Role>> = {
  'head-of-school': 'executive-headteacher',
  'chair-of-governors': 'chair-of-trustees',
};

/** Told when no holder exists anywhere: the trust-level DSL first (DESIGN.md "Gaps"). */
const NO_HOLDER_FALLBACK: readonly Role[] = ['dsl', 'deputy-dsl', 'executive-headteacher', 'chair-of-trustees'];

// ---------------------------------------------------------------------------------
// The directory routing reads

export interface RoutingPerson {
  staffId: string;
  schoolId: string;
  roles: readonly Role[];
  lineManagerStaffId?: string;
  /** Active, with an address that has not bounced (people.ts `canBeEmailed`). */
  reachable: boolean;
}

/** The people on record, as routing needs them. Only active people are in it. */
export interface Directory {
  /** Active holders of a role at a school (or `trust`). */
  holders(schoolId: string, role: Role): readonly RoutingPerson[];
  /** An active person by staffId. */
  person(staffId: string): RoutingPerson | undefined;
}

/** A directory over a list of people (who left are left out). */
export function directoryOf(
  people: readonly {
    staffId: string;
    schoolId: string;
    roles: readonly Role[];
    lineManagerStaffId?: string;
    status: 'active' | 'left';
    emailDeliverable: boolean;
  }[],
): Directory {
  const active: RoutingPerson[] = people
    .filter((p) => p.status === 'active')
    .map((p) => ({
      staffId: p.staffId,
      schoolId: p.schoolId,
      roles: p.roles,
      ...(p.lineManagerStaffId ? { lineManagerStaffId: p.lineManagerStaffId } : {}),
      reachable: p.emailDeliverable,
    }))
    .sort((a, b) => a.staffId.localeCompare(b.staffId));
  const byId = new Map(active.map((p) => [p.staffId, p]));
  return {
    holders: (schoolId, role) => active.filter((p) => p.schoolId === schoolId && p.roles.includes(role)),
    person: (staffId) => byId.get(staffId),
  };
}

/**
 * Every (school, role) a case of this category may need looked up, and whether the
 * reporter's line manager is needed: what a caller loads to build the directory.
 */
export function lookupsFor(report: Pick<BreachReported, 'schoolId' | 'category'>): {
  holders: { schoolId: string; role: Role }[];
  needsReporterLineManager: boolean;
} {
  const row = routingRow(report.category);
  const roles = new Set<Role>(NO_HOLDER_FALLBACK);
  const add = (role: Role) => {
    if (roles.has(role)) return;
    roles.add(role);
    const counterpart = TRUST_LEVEL_ROLE[role];
    if (counterpart) add(counterpart);
    const next = NEXT_IN_LINE[role];
    if (next) add(next);
  };
  // The line manager's stand-in is the Head of School.
  if (row.notify.some((s) => s.kind === 'reporter-line-manager')) add('head-of-school');
  for (const slot of row.notify) if (slot.kind === 'role') for (const role of slot.roles) add(role);
  for (const role of [...roles]) add(role);
  const places = report.schoolId === TRUST_SCHOOL_ID ? [TRUST_SCHOOL_ID] : [report.schoolId, TRUST_SCHOOL_ID];
  return {
    holders: places.flatMap((schoolId) => [...roles].sort().map((role) => ({ schoolId, role }))),
    needsReporterLineManager: row.notify.some((s) => s.kind === 'reporter-line-manager'),
  };
}

// ---------------------------------------------------------------------------------
// Routing one case

/** Why someone is told (DESIGN.md "Conflict of interest", "Gaps"). */
export type RecipientWhy = 'primary' | 'next-in-line: conflict' | 'trust-level: gap at school' | 'no holder anywhere';

export interface Capacity {
  /** The capacity the row names them in, e.g. `dsl`, or the role they stand in for. */
  role: CaseRole;
  /** Where they hold the role they were found by. */
  schoolId: string;
  why: RecipientWhy;
  /** The role they actually hold, where they stand in for another (next in line, trust level, fallback). */
  asRole?: Role;
}

export interface CaseRecipient extends Capacity {
  staffId: string;
  /** Further capacities, when the table names the same person more than once. */
  alsoAs?: Capacity[];
}

export interface RoutingGap {
  role: CaseRole;
  schoolId: string;
  /** `trust`: a trust-level holder was told; `fallback`: nobody anywhere, the trust-level DSL (or next) was told; `none`: nobody could be told. */
  resolvedAt: 'trust' | 'fallback' | 'none' | 'head-of-school';
  /** Why the school had nobody to tell. */
  reason: 'no-holder' | 'holders-unreachable' | 'no-reporter' | 'no-line-manager';
}

export interface RoutingConflict {
  /** The role the subject holds, from which they were left out. */
  role: CaseRole;
  schoolId: string;
  /** Who was told instead: the next in line's role, `others` (other holders of the same role), or `trust-level`. */
  toldInstead: Role | 'others' | 'trust-level';
}

export interface Routing {
  recipients: CaseRecipient[];
  flags: CaseFlag[];
  gaps: RoutingGap[];
  conflicts: RoutingConflict[];
  /** Set when the subject is staff without a staffId: conflicts of interest could not be checked. */
  subjectUnidentified?: true;
}

export type CaseFacts = Pick<BreachReported, 'schoolId' | 'category' | 'subject' | 'reportedByStaffId'>;

/** Routes one case through the table (see the module comment for the rules). */
export function routeCase(report: CaseFacts, directory: Directory): Routing {
  const row = routingRow(report.category);
  const router = new Router(report, directory);
  for (const slot of row.notify) {
    if (slot.kind === 'role') router.roleSlot(slot.roles, slot.at);
    else router.lineManagerSlot();
  }
  for (const { flag, when } of row.flags) {
    if (when === 'always' || (when === 'subject-is-student' && report.subject.kind === 'student')) router.flag(flag);
  }
  return router.result();
}

/**
 * Who is told when a case has not been triaged in time (DESIGN.md: "escalate if not triaged
 * in time"; issue 5: "Head of School, then Executive Headteacher"): level 1 the Head of
 * School, level 2 the Executive Headteacher, with the routing table's conflict-of-interest
 * and gap rules.
 */
export function escalationRouting(report: CaseFacts, directory: Directory, level: 1 | 2): Routing {
  const router = new Router(report, directory);
  if (level === 1) router.roleSlot(['head-of-school'], 'school');
  else router.roleSlot(['executive-headteacher'], 'trust');
  return router.result();
}

/** The roles escalation reaches at each level, for the loader (`lookupsFor` style). */
export function escalationLookups(schoolId: string): { schoolId: string; role: Role }[] {
  const roles: Role[] = ['head-of-school', ...NO_HOLDER_FALLBACK];
  const places = schoolId === TRUST_SCHOOL_ID ? [TRUST_SCHOOL_ID] : [schoolId, TRUST_SCHOOL_ID];
  return places.flatMap((place) => roles.map((role) => ({ schoolId: place, role })));
}

class Router {
  private readonly report: CaseFacts;
  private readonly directory: Directory;
  private readonly subjectId: string | undefined;
  private readonly recipients = new Map<string, CaseRecipient>();
  private readonly flags = new Set<CaseFlag>();
  private readonly gaps: RoutingGap[] = [];
  private readonly conflicts: RoutingConflict[] = [];

  constructor(report: CaseFacts, directory: Directory) {
    this.report = report;
    this.directory = directory;
    this.subjectId = report.subject.staffId;
  }

  flag(flag: CaseFlag): void {
    this.flags.add(flag);
  }

  /** Tells the holders of `roles` (any of them), following the lookup, conflict and gap rules. */
  roleSlot(roles: readonly Role[], where: 'school' | 'trust'): void {
    const capacity = roles[0];
    if (!capacity) return;
    const schoolId = this.report.schoolId;
    const places =
      where === 'trust' || schoolId === TRUST_SCHOOL_ID || roles.every((r) => TRUST_ROLES.has(r))
        ? [TRUST_SCHOOL_ID]
        : [schoolId, TRUST_SCHOOL_ID];
    let why: RecipientWhy = 'primary';
    for (const [i, place] of places.entries()) {
      // At trust level a school office is held by its trust-level counterpart (Head of School → Executive Headteacher).
      const lookFor = place === TRUST_SCHOOL_ID && where === 'school' ? roles.map((r) => TRUST_LEVEL_ROLE[r] ?? r) : [...roles];
      const holders = this.holdersOf(place, lookFor);
      const usable = holders.filter((p) => p.staffId !== this.subjectId && p.reachable);
      const subjectHolds = holders.some((p) => p.staffId === this.subjectId);
      if (i > 0 && why === 'primary') why = 'trust-level: gap at school';
      if (usable.length > 0) {
        if (subjectHolds) this.conflicts.push({ role: capacity, schoolId: place, toldInstead: 'others' });
        if (i > 0 && why === 'trust-level: gap at school') {
          this.gaps.push({ role: capacity, schoolId, resolvedAt: 'trust', reason: this.reasonAt(schoolId, roles) });
        }
        for (const person of usable) {
          const held = lookFor.find((r) => person.roles.includes(r)) ?? capacity;
          this.tell(person.staffId, { role: capacity, schoolId: place, why, ...(held === capacity ? {} : { asRole: held }) });
        }
        return;
      }
      if (subjectHolds) {
        const held = lookFor.find((r) => holders.some((p) => p.staffId === this.subjectId && p.roles.includes(r))) ?? capacity;
        const next = lookFor.length === 1 ? NEXT_IN_LINE[held] : undefined;
        if (next) {
          if (i > 0 && why === 'trust-level: gap at school') {
            this.gaps.push({ role: capacity, schoolId, resolvedAt: 'trust', reason: this.reasonAt(schoolId, roles) });
          }
          this.conflicts.push({ role: capacity, schoolId: place, toldInstead: next });
          this.nextInLine(capacity, next);
          return;
        }
        this.conflicts.push({ role: capacity, schoolId: place, toldInstead: 'trust-level' });
        why = 'next-in-line: conflict';
      }
    }
    this.noHolderAnywhere(capacity, roles);
  }

  /** §8h.ix: the reporter's line manager. Missing: the gap is recorded and the Head of School (told by the same row) stands in. */
  lineManagerSlot(): void {
    const schoolId = this.report.schoolId;
    const reporterId = this.report.reportedByStaffId;
    const reporter = reporterId ? this.directory.person(reporterId) : undefined;
    if (!reporter) {
      this.gaps.push({ role: 'line-manager', schoolId, resolvedAt: 'head-of-school', reason: 'no-reporter' });
      return;
    }
    const manager = reporter.lineManagerStaffId ? this.directory.person(reporter.lineManagerStaffId) : undefined;
    if (manager && manager.staffId === this.subjectId) {
      this.conflicts.push({ role: 'line-manager', schoolId: manager.schoolId, toldInstead: 'head-of-school' });
      this.nextInLine('line-manager', 'head-of-school');
      return;
    }
    if (!manager?.reachable) {
      this.gaps.push({
        role: 'line-manager',
        schoolId,
        resolvedAt: 'head-of-school',
        reason: manager ? 'holders-unreachable' : 'no-line-manager',
      });
      return;
    }
    this.tell(manager.staffId, { role: 'line-manager', schoolId: manager.schoolId, why: 'primary' });
  }

  result(): Routing {
    return {
      recipients: [...this.recipients.values()],
      flags: CASE_FLAGS.filter((f) => this.flags.has(f)),
      gaps: this.gaps,
      conflicts: this.conflicts,
      ...(this.report.subject.kind === 'staff' && !this.subjectId ? { subjectUnidentified: true as const } : {}),
    };
  }

  /** The next in line stands in for `capacity`: looked up where that role is held, never the subject. */
  private nextInLine(capacity: CaseRole, next: Role): void {
    const schoolId = this.report.schoolId;
    const places = TRUST_ROLES.has(next) || schoolId === TRUST_SCHOOL_ID ? [TRUST_SCHOOL_ID] : [schoolId, TRUST_SCHOOL_ID];
    const seen = new Set<Role>([next]);
    let role: Role | undefined = next;
    // Follow the chain while the subject is the only holder (a Head of School who is the
    // subject, at a trust whose Executive Headteacher is also the subject, is not possible:
    // one subject per case; the loop guards against a directory where it looks so).
    while (role) {
      for (const place of places) {
        const lookFor = place === TRUST_SCHOOL_ID ? (TRUST_LEVEL_ROLE[role] ?? role) : role;
        const holders = this.holdersOf(place, [lookFor]);
        const usable = holders.filter((p) => p.staffId !== this.subjectId && p.reachable);
        if (usable.length > 0) {
          if (place !== places[0]) this.gaps.push({ role: capacity, schoolId, resolvedAt: 'trust', reason: 'no-holder' });
          for (const person of usable) this.tell(person.staffId, { role: capacity, schoolId: place, why: 'next-in-line: conflict', asRole: lookFor });
          return;
        }
      }
      const following: Role | undefined = NEXT_IN_LINE[role];
      role = following && !seen.has(following) ? following : undefined;
      if (role) seen.add(role);
    }
    this.noHolderAnywhere(capacity, [next]);
  }

  /** Nobody anywhere: the case is flagged and the trust-level DSL (or the next who can be told) stands in. */
  private noHolderAnywhere(capacity: CaseRole, roles: readonly Role[]): void {
    this.flags.add('no-holder-anywhere');
    const schoolId = this.report.schoolId;
    for (const role of NO_HOLDER_FALLBACK) {
      const usable = this.holdersOf(TRUST_SCHOOL_ID, [role]).filter((p) => p.staffId !== this.subjectId && p.reachable);
      if (usable.length > 0) {
        this.gaps.push({ role: capacity, schoolId, resolvedAt: 'fallback', reason: this.reasonAt(schoolId, roles) });
        for (const person of usable) this.tell(person.staffId, { role: capacity, schoolId: TRUST_SCHOOL_ID, why: 'no holder anywhere', asRole: role });
        return;
      }
    }
    this.gaps.push({ role: capacity, schoolId, resolvedAt: 'none', reason: this.reasonAt(schoolId, roles) });
    this.flags.add('unroutable');
  }

  private reasonAt(schoolId: string, roles: readonly Role[]): RoutingGap['reason'] {
    const holders = this.holdersOf(schoolId, roles).filter((p) => p.staffId !== this.subjectId);
    return holders.length > 0 ? 'holders-unreachable' : 'no-holder';
  }

  private holdersOf(place: string, roles: readonly Role[]): RoutingPerson[] {
    const found = new Map<string, RoutingPerson>();
    for (const role of roles) for (const p of this.directory.holders(place, role)) found.set(p.staffId, p);
    return [...found.values()];
  }

  private tell(staffId: string, capacity: Capacity): void {
    const existing = this.recipients.get(staffId);
    if (!existing) {
      this.recipients.set(staffId, { staffId, ...capacity });
      return;
    }
    const same = (c: Capacity) => c.role === capacity.role && c.schoolId === capacity.schoolId;
    const already = [existing, ...(existing.alsoAs ?? [])].find(same);
    if (already) {
      // Told in this capacity in their own right as well as standing in: say so.
      if (capacity.why === 'primary') {
        already.why = 'primary';
        delete already.asRole;
      }
      return;
    }
    existing.alsoAs = [...(existing.alsoAs ?? []), capacity];
  }
}

// ---------------------------------------------------------------------------------
// Reading a routing back (the case view, the timeline)

export const ROLE_LABELS: Record<CaseRole, string> = {
  teacher: 'Teacher',
  'support-staff': 'Support staff',
  volunteer: 'Volunteer',
  governor: 'Governor',
  'chair-of-governors': 'Chair of governors',
  trustee: 'Trustee',
  'chair-of-trustees': 'Chair of trustees',
  'head-of-school': 'Head of School',
  'executive-headteacher': 'Executive Headteacher',
  dsl: 'DSL',
  'deputy-dsl': 'Deputy DSL',
  'trust-network-manager': 'Trust Network Manager',
  'director-of-finance-and-resources': 'Director of Finance and Resources',
  'hr-advisor': 'HR advisor',
  'leadership-team': 'Leadership team',
  'line-manager': "Reporter's line manager",
};

/** One line per recipient, gap and conflict: staff ids and roles, never names. */
export function describeRouting(routing: Routing): string[] {
  const place = (schoolId: string) => (schoolId === TRUST_SCHOOL_ID ? 'trust level' : schoolId);
  const capacity = (c: Capacity) =>
    `${ROLE_LABELS[c.role]} (${place(c.schoolId)}${c.asRole && c.asRole !== c.role ? `, as ${ROLE_LABELS[c.asRole]}` : ''}): ${c.why}`;
  return [
    ...routing.recipients.map((r) => `told ${r.staffId}: ${[r, ...(r.alsoAs ?? [])].map(capacity).join('; ')}`),
    ...routing.gaps.map(
      (g) =>
        `gap: ${ROLE_LABELS[g.role]} at ${place(g.schoolId)} (${g.reason}) → ${
          { trust: 'trust-level holder told', fallback: 'trust-level DSL told', none: 'nobody could be told', 'head-of-school': 'the Head of School stands in' }[
            g.resolvedAt
          ]
        }`,
    ),
    ...routing.conflicts.map(
      (c) =>
        `conflict of interest: the subject holds ${ROLE_LABELS[c.role]} at ${place(c.schoolId)}; left out, ${
          c.toldInstead === 'others'
            ? 'the other holders told'
            : c.toldInstead === 'trust-level'
              ? 'the trust-level holders told'
              : `${ROLE_LABELS[c.toldInstead]} told instead`
        }`,
    ),
    ...(routing.subjectUnidentified ? ['the subject is staff but no staffId was given: conflicts of interest could not be checked'] : []),
    ...routing.flags.map((f) => `flag: ${FLAG_LABELS[f]}`),
  ];
}

/** Every category has exactly one row (checked at load, so a new category cannot go unrouted). */
for (const category of BREACH_CATEGORIES) routingRow(category);
