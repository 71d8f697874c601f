/**
 * Refreshers (§6a: the policy is "revisited and communicated via regular staff training";
 * functions/domain/refreshers.ts) with simulated dates: an acknowledgement of the current
 * version that is `refresher.everyMonths` (12) old re-opens the same request as the next
 * cycle, keeping the earlier acknowledgement; the acknowledgement page treats a link used
 * in an earlier cycle as used.
 */
import { describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import type { TokenClaims } from '../../functions/domain/ack-token.ts';
import { decideAck } from '../../functions/domain/acknowledgement.ts';
import { ledgerKey, type TemplateData } from '../../functions/domain/emails.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import type { Person } from '../../functions/domain/people.ts';
import { type CurrentPolicy, registeredPolicy } from '../../functions/domain/policies.ts';
import { decideRefresher, type RefresherContext, type RefresherItem, refresherCutoff } from '../../functions/domain/refreshers.ts';

const config = loadTrustConfig();
const [seed] = config.policies.map((p) => registeredPolicy(p, config.publicBaseUrl)) as [CurrentPolicy, ...CurrentPolicy[]];

const amira: Person = {
  staffId: 'S1',
  givenName: 'Amira',
  familyName: 'Khan',
  email: 'amira@stmarys.example.org',
  schoolId: 'st-marys',
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2025-09-01',
  managesOfficialChannels: false,
  status: 'active',
  emailDeliverable: true,
  lastChangeAt: '2025-09-01T00:00:00Z',
};

/** Asked 1 November 2025, acknowledged 10 November 2025 at 14:05 London time. */
const acknowledged: AckRequest = {
  staffId: 'S1',
  schoolId: 'st-marys',
  policyId: seed.policyId,
  version: seed.version,
  status: 'acknowledged',
  requestedAt: '2025-11-01T09:00:00.000Z',
  dueOn: '2025-11-15',
  reminderCount: 1,
  lastRemindedOn: '2025-11-22',
  acknowledgedAt: '2025-11-10T14:05:00.000Z',
  ackTokenId: 'token-cycle-0',
};

function ctx(today: string): RefresherContext {
  return {
    config,
    today,
    now: new Date(`${today}T07:00:00Z`),
    ackLink: (staffId, policyId, version, expiresAt) => `${config.publicBaseUrl}/ack/${staffId}.${policyId}.${version}.${expiresAt.toISOString()}`,
  };
}

const item = (overrides: Partial<RefresherItem> = {}): RefresherItem => ({
  request: acknowledged,
  person: amira,
  policy: seed,
  currentRequest: null,
  ...overrides,
});

describe('when a refresher is due (every 12 months)', () => {
  it('the scan asks the index for acknowledgements on or before the same day 12 months earlier', () => {
    expect(refresherCutoff('2026-11-10', 12)).toBe('2025-11-10');
    expect(refresherCutoff('2026-02-28', 12)).toBe('2025-02-28');
    expect(refresherCutoff('2026-03-31', 1)).toBe('2026-02-28');
  });

  it('not before the period has passed; on the day it has, the same request opens cycle 1', () => {
    expect(decideRefresher(item(), ctx('2026-11-09'))).toEqual({ kind: 'not-yet' });
    const decision = decideRefresher(item(), ctx('2026-11-10'));
    expect(decision.kind).toBe('refresh');
  });

  it('cycle 1: pending again, due in 14 days, counts reset, the earlier acknowledgement kept in its history', () => {
    const decision = decideRefresher(item(), ctx('2026-11-10'));
    if (decision.kind !== 'refresh') throw new Error('expected a refresher');
    expect(decision.next).toEqual({
      staffId: 'S1',
      schoolId: 'st-marys',
      policyId: seed.policyId,
      version: seed.version,
      status: 'pending',
      requestedAt: '2026-11-10T07:00:00.000Z',
      dueOn: '2026-11-24',
      reminderCount: 0,
      refreshCycle: 1,
      acknowledgements: [
        { refreshCycle: 0, requestedAt: '2025-11-01T09:00:00.000Z', acknowledgedAt: '2025-11-10T14:05:00.000Z', ackTokenId: 'token-cycle-0' },
      ],
    });
  });

  it('its email (once per cycle: the key names it) has a fresh link and says when they last confirmed', () => {
    const decision = decideRefresher(item(), ctx('2026-11-10'));
    if (decision.kind !== 'refresh' || !decision.email) throw new Error('expected a refresher email');
    expect(decision.email.key).toBe('refresher#use-of-social-media#v1#S1#r1');
    expect(decision.email.to).toEqual({ email: amira.email, staffId: 'S1' });
    expect(decision.email.data as TemplateData['refresher']).toEqual({
      givenName: 'Amira',
      trustName: config.trust.name,
      schoolName: "St Mary's Church of England Primary School",
      policyTitle: seed.title,
      version: 1,
      documentUrl: seed.documentUrl,
      ackUrl: `${config.publicBaseUrl}/ack/S1.use-of-social-media.1.2026-12-10T07:00:00.000Z`,
      dueDate: '24 November 2026',
      lastAcknowledgedOn: '10 November 2025 at 14:05',
      period: '12 months',
    });
  });

  it('cycle 2 follows cycle 1 a period after its acknowledgement, and the history grows', () => {
    const cycle1: AckRequest = {
      ...acknowledged,
      refreshCycle: 1,
      requestedAt: '2026-11-10T07:00:00.000Z',
      acknowledgedAt: '2026-11-12T09:00:00.000Z',
      ackTokenId: 'token-cycle-1',
      acknowledgements: [{ refreshCycle: 0, requestedAt: '2025-11-01T09:00:00.000Z', acknowledgedAt: '2025-11-10T14:05:00.000Z' }],
    };
    expect(decideRefresher(item({ request: cycle1 }), ctx('2027-11-11'))).toEqual({ kind: 'not-yet' });
    const decision = decideRefresher(item({ request: cycle1 }), ctx('2027-11-12'));
    if (decision.kind !== 'refresh') throw new Error('expected a refresher');
    expect(decision.next.refreshCycle).toBe(2);
    expect(decision.next.acknowledgements?.map((a) => [a.refreshCycle, a.acknowledgedAt])).toEqual([
      [0, '2025-11-10T14:05:00.000Z'],
      [1, '2026-11-12T09:00:00.000Z'],
    ]);
    expect(decision.email?.key).toBe('refresher#use-of-social-media#v1#S1#r2');
  });

  it('at most one cycle per period, also counted from when the cycle was asked', () => {
    const askedRecently = { ...acknowledged, requestedAt: '2026-11-01T09:00:00.000Z', acknowledgedAt: '2025-11-10T14:05:00.000Z' };
    expect(decideRefresher(item({ request: askedRecently }), ctx('2026-11-10'))).toEqual({ kind: 'not-yet' });
  });

  it('an undeliverable address: the cycle opens without an email (the reminder scan reports it to HR and the line manager)', () => {
    const decision = decideRefresher(item({ person: { ...amira, emailDeliverable: false } }), ctx('2026-11-10'));
    expect(decision.kind).toBe('refresh');
    expect('email' in decision ? decision.email : undefined).toBeUndefined();
  });

  it('someone who moved school is counted at their new school from this cycle on, and their email names it', () => {
    const decision = decideRefresher(item({ person: { ...amira, schoolId: 'st-johns' } }), ctx('2026-11-10'));
    expect(decision.kind === 'refresh' && decision.next.schoolId).toBe('st-johns');
    expect(decision.kind === 'refresh' && decision.email?.data).toMatchObject({ schoolName: "St John's Church of England Primary School" });
  });
});

describe('nothing to ask: the request leaves the refresher index', () => {
  it.each([
    ['person-unknown', { person: null }],
    ['left', { person: { ...amira, status: 'left' as const } }],
    ['left', { person: { ...amira, leftOn: '2026-11-10' } }],
    ['policy-unknown', { policy: null }],
    ['not-in-audience', { person: { ...amira, employmentType: 'trustee' as const, roles: ['trustee' as const] } }],
  ])('%s', (reason, overrides) => {
    expect(decideRefresher(item(overrides), ctx('2026-11-10'))).toEqual({ kind: 'drop', reason });
  });
});

describe('a newer version since the acknowledgement', () => {
  const v2: CurrentPolicy = { ...seed, version: 2, documentUrl: `${config.publicBaseUrl}/policies/${seed.policyId}/v2` };

  it('already asked for it (a substantive change): nothing more, the old one leaves the index', () => {
    const currentRequest: AckRequest = { ...acknowledged, version: 2, status: 'pending', acknowledgedAt: undefined };
    expect(decideRefresher(item({ policy: v2, currentRequest }), ctx('2026-11-10'))).toEqual({ kind: 'drop', reason: 'newer-version-requested' });
  });

  it('not asked for it (an editorial change carried the acknowledgement forward): a new request for the current version', () => {
    const decision = decideRefresher(item({ policy: v2 }), ctx('2026-11-10'));
    if (decision.kind !== 'ask-current') throw new Error('expected a request for the current version');
    expect(decision.request).toEqual({
      staffId: 'S1',
      schoolId: 'st-marys',
      policyId: seed.policyId,
      version: 2,
      status: 'pending',
      requestedAt: '2026-11-10T07:00:00.000Z',
      dueOn: '2026-11-24',
      reminderCount: 0,
    });
    if (!decision.email) throw new Error('expected a refresher email');
    expect(decision.email.key).toBe('refresher#use-of-social-media#v2#S1');
    expect((decision.email.data as TemplateData['refresher']).ackUrl).toContain('.use-of-social-media.2.');
  });
});

describe('acknowledging in a refresher cycle (functions/domain/acknowledgement.ts)', () => {
  const claims = (tokenId: string): TokenClaims => ({ staffId: 'S1', policyId: seed.policyId, version: 1, purpose: 'ack', expiresAt: 0, tokenId });
  const cycle1: AckRequest = {
    ...acknowledged,
    status: 'pending',
    acknowledgedAt: undefined,
    ackTokenId: undefined,
    refreshCycle: 1,
    acknowledgements: [{ refreshCycle: 0, requestedAt: acknowledged.requestedAt, acknowledgedAt: '2025-11-10T14:05:00.000Z', ackTokenId: 'token-cycle-0' }],
  };

  it('a new link records the new cycle', () => {
    expect(decideAck('POST', claims('token-cycle-1'), { request: cycle1, currentVersion: 1 })).toEqual({ kind: 'record', status: 200 });
  });

  it('the link used in the earlier cycle stays used: it shows that acknowledgement and records nothing', () => {
    expect(decideAck('POST', claims('token-cycle-0'), { request: cycle1, currentVersion: 1 })).toEqual({
      kind: 'already-acknowledged',
      status: 409,
      acknowledgedAt: '2025-11-10T14:05:00.000Z',
      sameToken: false,
    });
  });

  it('each cycle has its own receipt: the first keeps its key, later ones add the cycle', () => {
    expect(ledgerKey.receipt('S1', seed.policyId, 1)).toBe('person#S1#receipt#use-of-social-media#v1');
    expect(ledgerKey.receipt('S1', seed.policyId, 1, 0)).toBe('person#S1#receipt#use-of-social-media#v1');
    expect(ledgerKey.receipt('S1', seed.policyId, 1, 2)).toBe('person#S1#receipt#use-of-social-media#v1#r2');
  });
});
