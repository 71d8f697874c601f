/**
 * The daily reminder scanner (a scheduled rule, `cron(0 7 * * ? *)`, UTC). "Today" is the
 * Europe/London date of the scheduled time (DESIGN.md "Reliability rules"), so a retried or
 * simulated run (`trust-notify tick --today`) decides the same. Three steps, each by index
 * query, never a table scan:
 *
 * 1. Overdue requests (the pending index, every shard, due before today), page by page:
 *    reminders with a fresh signed link, and notices to HR and the line manager for
 *    undeliverable addresses (functions/domain/reminders.ts `planChasePage`).
 * 2. The people past their reminders: one digest per Head of School and one trust-wide
 *    roll-up per leadership recipient, on the days someone is new or due again
 *    (`planEscalations`).
 * 3. Refreshers (§6a): acknowledgements `refresher.everyMonths` old or older (the
 *    acknowledged index) open a new cycle of the same request (functions/domain/refreshers.ts).
 *
 * Exactly once under retries: every email is recorded in the ledger under its business key
 * and queued BEFORE the request is changed (its reminder or escalation count, or its new
 * cycle), and each change is conditional on the state that was read. A run that stops
 * half-way is retried (the function's async retries): it finds the same requests in the
 * same state, the ledger keys already there queue nothing new, and the changes are made.
 * Logs carry ids and counts only.
 */
import { ackKeyRing } from '../adapters/ack-keys.ts';
import { EmailQueue } from '../adapters/email-queue.ts';
import { LedgerRepository } from '../adapters/ledger-repository.ts';
import { PeopleRepository } from '../adapters/people-repository.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { TRUST_SCHOOL_ID } from '../contracts/roles.ts';
import { ackUrl, signToken } from '../domain/ack-token.ts';
import { londonDate } from '../domain/dates.ts';
import { chunk, type IntendedEmail } from '../domain/emails.ts';
import type { AckRequest } from '../domain/onboarding.ts';
import type { Person } from '../domain/people.ts';
import type { CurrentPolicy } from '../domain/policies.ts';
import { decideRefresher, type RefresherDecision, refresherCutoff } from '../domain/refreshers.ts';
import { addTally, type OutstandingEntry, planChasePage, planEscalations, type StepUpdate, type Tally } from '../domain/reminders.ts';
import { scheduledHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, sqs, secrets } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const people = new PeopleRepository(dynamo, dataTable);
const policies = new PolicyRepository(dynamo, dataTable);
const requests = new RequestRepository(dynamo, dataTable);
const ledger = new LedgerRepository(dynamo, requireEnv('LEDGER_TABLE_NAME'));
const queue = new EmailQueue(sqs, requireEnv('EMAIL_QUEUE_URL'));

/** Requests handled together: one BatchGetItem of people, a bounded number of writes in flight. */
const PART = 100;

type Origin = { detailType: string; eventId: string };

async function send(emails: readonly IntendedEmail[], origin: Origin, now: Date): Promise<number> {
  if (emails.length === 0) return 0;
  const toQueue = await ledger.recordIntended(emails, origin, now);
  await queue.enqueue(toQueue);
  return toQueue.length;
}

async function record(updates: readonly StepUpdate[], write: (u: StepUpdate) => Promise<boolean>): Promise<number> {
  let recorded = 0;
  for (const part of chunk(updates, PART)) recorded += (await Promise.all(part.map(write))).filter(Boolean).length;
  return recorded;
}

export const handler = scheduledHandler(async (now, event) => {
  const today = londonDate(now);
  const origin: Origin = { detailType: 'Scheduled Event', eventId: event.id };
  const keys = await ackKeyRing(secrets);
  const ackLink = (staffId: string, policyId: string, version: number, expiresAt: Date) =>
    ackUrl(config.publicBaseUrl, signToken({ staffId, policyId, version, purpose: 'ack', expiresAt }, keys));
  const [current, hrAdvisors] = await Promise.all([policies.listCurrent(), people.activeWithRole(TRUST_SCHOOL_ID, 'hr-advisor', today)]);
  const policyById = new Map<string, CurrentPolicy>(current.map((p) => [p.policyId, p]));
  const counts = {
    overdue: 0,
    reminders: 0,
    remindersRecorded: 0,
    undeliverableNotices: 0,
    escalated: 0,
    escalationsRecorded: 0,
    digestsAndRollups: 0,
    emailsQueued: 0,
    skipped: 0,
    refresherCandidates: 0,
    refreshersStarted: 0,
    askedCurrentVersion: 0,
    leftRefresherIndex: 0,
    failed: 0,
  };
  const fail = (step: string, error: unknown) => {
    // One part failing does not stop the others; the run fails at the end, so it is retried.
    counts.failed++;
    logger.error('Reminder scan step failed', { step, errorName: (error as Error).name, errorMessage: (error as Error).message });
  };

  // 1. Reminders and undeliverable notices, page by page.
  const outstanding: OutstandingEntry[] = [];
  const tally: Tally = {};
  for await (const page of requests.overdue(today)) {
    for (const part of chunk(page, PART)) {
      try {
        const byId = await people.getMany(part.map((r) => r.staffId));
        const managerIds = [...byId.values()].filter((p) => !p.emailDeliverable && p.lineManagerStaffId).map((p) => p.lineManagerStaffId as string);
        const lineManagers = managerIds.length > 0 ? await people.getMany(managerIds) : new Map<string, Person>();
        const plan = planChasePage(
          part.map((request) => ({ request, person: byId.get(request.staffId) ?? null, policy: policyById.get(request.policyId) ?? null })),
          { config, today, now, ackLink, hrAdvisors, lineManagers },
        );
        counts.emailsQueued += await send(plan.emails, origin, now);
        counts.remindersRecorded += await record(plan.reminders, (u) => requests.recordReminder(u.request, u.n, today));
        counts.overdue += part.length - Object.values(plan.skipped).reduce((a, b) => a + b, 0);
        counts.skipped += Object.values(plan.skipped).reduce((a, b) => a + b, 0);
        counts.reminders += plan.reminders.length;
        counts.undeliverableNotices += plan.emails.filter((e) => e.templateId === 'undeliverable-notice').length;
        outstanding.push(...plan.outstanding);
        addTally(tally, plan.tally);
      } catch (error) {
        fail('reminders', error);
      }
    }
  }

  // 2. One digest per Head of School, and the trust-wide roll-up, when someone is new or due again.
  if (outstanding.some((e) => e.escalation !== undefined)) {
    try {
      const schools = [...new Set(outstanding.map((e) => e.person.schoolId))].filter((id) => id !== TRUST_SCHOOL_ID);
      const [heads, executiveHeadteachers] = await Promise.all([
        Promise.all(schools.map(async (id) => [id, await people.activeWithRole(id, 'head-of-school', today)] as const)),
        people.activeWithRole(TRUST_SCHOOL_ID, 'executive-headteacher', today),
      ]);
      const plan = planEscalations(outstanding, tally, { config, today, headsOfSchool: new Map(heads), executiveHeadteachers, hrAdvisors });
      counts.digestsAndRollups = plan.emails.length;
      counts.emailsQueued += await send(plan.emails, origin, now);
      counts.escalated = plan.escalations.length;
      counts.escalationsRecorded = await record(plan.escalations, (u) => requests.recordEscalation(u.request, u.n, today));
    } catch (error) {
      fail('escalations', error);
    }
  }

  // 3. Refreshers (§6a).
  for await (const page of requests.acknowledgedOnOrBefore(refresherCutoff(today, config.refresher.everyMonths))) {
    for (const part of chunk(page, PART)) {
      try {
        const byId = await people.getMany(part.map((r) => r.staffId));
        const items = await Promise.all(
          part.map(async (request) => {
            const policy = policyById.get(request.policyId) ?? null;
            const currentRequest =
              policy && request.version < policy.version ? await requests.get(request.staffId, policy.policyId, policy.version) : null;
            return { request, person: byId.get(request.staffId) ?? null, policy, currentRequest };
          }),
        );
        const decisions = items.map((item) => [item.request, decideRefresher(item, { config, today, now, ackLink })] as const);
        counts.refresherCandidates += part.length;
        counts.emailsQueued += await send(
          decisions.flatMap(([, d]) => ('email' in d && d.email ? [d.email] : [])),
          origin,
          now,
        );
        const results = await Promise.all(decisions.map(([request, decision]) => applyRefresher(request, decision)));
        for (const result of results) if (result) counts[result]++;
      } catch (error) {
        fail('refreshers', error);
      }
    }
  }

  logger.info('Reminder scan done', { today, ...counts });
  if (counts.failed > 0) throw new Error(`${counts.failed} part(s) of the reminder scan failed; a retry of this run completes them`);
});

/** Makes the refresher decision's change, after its email is queued. Returns what it counted. */
async function applyRefresher(
  read: AckRequest,
  decision: RefresherDecision,
): Promise<'refreshersStarted' | 'askedCurrentVersion' | 'leftRefresherIndex' | undefined> {
  switch (decision.kind) {
    case 'not-yet':
      return undefined;
    case 'refresh':
      return (await requests.startRefresherCycle(read, decision.next)) ? 'refreshersStarted' : undefined;
    case 'ask-current':
      await requests.createIfAbsent([decision.request]);
      await requests.leaveRefresherIndex(read);
      return 'askedCurrentVersion';
    case 'drop':
      return (await requests.leaveRefresherIndex(read)) ? 'leftRefresherIndex' : undefined;
  }
}
