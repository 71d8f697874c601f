/**
 * `trust-notify erase` decisions (functions/domain/erasure.ts; DESIGN.md "Data") and the
 * configurable retention of leavers' profiles (functions/domain/retention.ts).
 */
import { describe, expect, it } from 'vitest';
import { trustConfigSchema } from '../../functions/config/trust-config.ts';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import {
  type ErasureInput,
  ERASED,
  EVIDENCE_REASON,
  IN_FLIGHT_REASON,
  LEDGER_REASON,
  ledgerRowConcerns,
  planErasure,
  SAFEGUARDING_REASON,
  summarise,
} from '../../functions/domain/erasure.ts';
import { DEFAULT_RETENTION, leaverExpiresAt, retentionOf } from '../../functions/domain/retention.ts';

const leaver = { status: 'left' as const, leftOn: '2026-10-31' };
const base: ErasureInput = { staffId: 'SM-T9', today: '2026-11-25', profile: leaver, requests: [], ledger: [], cases: [] };

describe('planErasure', () => {
  it('refuses someone still active (HR events would write their data again)', () => {
    expect(planErasure({ ...base, profile: { status: 'active' } }).kind).toBe('refused');
    expect(planErasure({ ...base, profile: { status: 'active', leftOn: '2026-12-31' } }).kind).toBe('refused');
    expect(planErasure({ ...base, profile: { status: 'active', leftOn: '2026-11-25' } }).kind).toBe('plan');
  });

  it('deletes the profile and requests never acknowledged; redacts acknowledged ones as evidence (§6a)', () => {
    const plan = planErasure({
      ...base,
      requests: [
        { sk: 'REQUEST#a#000001', status: 'cancelled' },
        { sk: 'REQUEST#b#000001', status: 'pending' },
        { sk: 'REQUEST#c#000001', status: 'superseded' },
        { sk: 'REQUEST#d#000001', status: 'acknowledged', ackTokenId: 't1' },
        { sk: 'REQUEST#e#000001', status: 'cancelled', acknowledgements: [{}] },
        { sk: 'REQUEST#f#000001', status: 'acknowledged', erasedAt: '2026-11-01T00:00:00Z' },
      ],
    });
    expect(plan).toEqual({
      kind: 'plan',
      decisions: [
        { item: 'profile', action: 'delete' },
        { item: 'request', sk: 'REQUEST#a#000001', action: 'delete' },
        { item: 'request', sk: 'REQUEST#b#000001', action: 'delete' },
        { item: 'request', sk: 'REQUEST#c#000001', action: 'delete' },
        { item: 'request', sk: 'REQUEST#d#000001', action: 'redact', reason: EVIDENCE_REASON },
        { item: 'request', sk: 'REQUEST#e#000001', action: 'redact', reason: EVIDENCE_REASON },
      ],
    });
  });

  it('never deletes a ledger row: redacts settled rows, defers rows in flight, skips rows already erased', () => {
    const plan = planErasure({
      ...base,
      profile: null,
      ledger: [
        { pk: 'person#SM-T9#welcome', state: 'sent', recipient: 'x@example.org', templateData: '{}' },
        { pk: 'reminder#p#v1#SM-T9#1', state: 'failed', recipient: 'x@example.org', templateData: '{}' },
        { pk: 'person#SM-T9#receipt#p#v1', state: 'queued', recipient: 'x@example.org', templateData: '{}' },
        { pk: 'person#SM-T9#policies-to-confirm#e1', state: 'sent', recipient: ERASED, templateData: ERASED },
        { pk: 'person#SM-T90#welcome', state: 'sent', recipient: 'y@example.org', templateData: '{}' },
      ],
    });
    expect(plan.kind === 'plan' && plan.decisions).toEqual([
      { item: 'ledger', pk: 'person#SM-T9#welcome', action: 'redact', state: 'sent', reason: LEDGER_REASON },
      { item: 'ledger', pk: 'reminder#p#v1#SM-T9#1', action: 'redact', state: 'failed', reason: LEDGER_REASON },
      { item: 'ledger', pk: 'person#SM-T9#receipt#p#v1', action: 'defer', reason: IN_FLIGHT_REASON },
    ]);
  });

  it('finds rows by a key segment, by recipient, or by the name in their data; not by a longer id', () => {
    expect(ledgerRowConcerns({ pk: 'policy#p#SM-T9#x', state: 'sent' }, 'SM-T9')).toBe(true);
    expect(ledgerRowConcerns({ pk: 'case#C#SM-T9#notice', state: 'sent' }, 'SM-T9')).toBe(true);
    expect(ledgerRowConcerns({ pk: 'digest#H#2026-11-25', state: 'sent', recipientStaffId: 'SM-T9' }, 'SM-T9')).toBe(true);
    expect(ledgerRowConcerns({ pk: 'digest#H#2026-11-25', state: 'sent', templateData: '{"n":"Ann Lee"}' }, 'SM-T9', ['Ann Lee'])).toBe(true);
    expect(ledgerRowConcerns({ pk: 'person#SM-T91#welcome', state: 'sent' }, 'SM-T9')).toBe(false);
  });

  it('keeps every case where they are subject, reporter, recipient or owner, with the safeguarding reason', () => {
    const plan = planErasure({
      ...base,
      profile: null,
      cases: [
        { caseId: 'CASE-2026-000001', subject: { staffId: 'SM-T9' }, participants: [], erasureRecorded: false },
        { caseId: 'CASE-2026-000002', reportedByStaffId: 'SM-T9', participants: ['SM-T9'], ownerStaffId: 'SM-T9', erasureRecorded: true },
        { caseId: 'CASE-2026-000003', subject: { staffId: 'OTHER' }, participants: ['OTHER'], erasureRecorded: false },
      ],
    });
    expect(plan.kind === 'plan' && plan.decisions).toEqual([
      { item: 'case', caseId: 'CASE-2026-000001', action: 'keep', roles: ['subject'], reason: SAFEGUARDING_REASON, alreadyRecorded: false },
      { item: 'case', caseId: 'CASE-2026-000002', action: 'keep', roles: ['reporter', 'recipient', 'owner'], reason: SAFEGUARDING_REASON, alreadyRecorded: true },
    ]);
    expect(SAFEGUARDING_REASON).toMatch(/Working Together to Safeguard Children/);
    expect(SAFEGUARDING_REASON).toMatch(/KCSIE/);
  });

  it('a second run has nothing left to erase (kept cases already recorded)', () => {
    const plan = planErasure({
      ...base,
      profile: null,
      requests: [{ sk: 'REQUEST#d#000001', status: 'acknowledged', erasedAt: '2026-11-25T00:00:00Z' }],
      ledger: [{ pk: 'person#SM-T9#welcome', state: 'sent', recipient: ERASED, templateData: ERASED }],
      cases: [{ caseId: 'CASE-2026-000001', subject: { staffId: 'SM-T9' }, erasureRecorded: true }],
    });
    if (plan.kind !== 'plan') throw new Error('refused');
    const summary = summarise(plan.decisions);
    expect(summary).toMatchObject({ changed: false, profileDeleted: 0, requestsDeleted: 0, ledgerRedacted: 0, casesKept: ['CASE-2026-000001'], casesNewlyRecorded: 0 });
  });
});

describe('retention (configurable; DESIGN.md "Data")', () => {
  it('defaults to 24 months for leavers and 6 years for the ledger, and takes what is configured', () => {
    expect(retentionOf({})).toEqual(DEFAULT_RETENTION);
    expect(DEFAULT_RETENTION).toEqual({ leaversMonths: 24, ledgerYears: 6 });
    expect(retentionOf({ retention: { leaversMonths: 12 } })).toEqual({ leaversMonths: 12, ledgerYears: 6 });
  });

  it('a leaver profile expires leaversMonths after leftOn (epoch seconds, 00:00 UTC)', () => {
    expect(leaverExpiresAt('2026-10-31', { leaversMonths: 24 })).toBe(Date.parse('2028-10-31T00:00:00Z') / 1000);
    expect(leaverExpiresAt('2026-01-31', { leaversMonths: 1 })).toBe(Date.parse('2026-02-28T00:00:00Z') / 1000);
  });

  it('the trust config accepts an optional retention and refuses bad values by field', () => {
    const config = loadTrustConfig();
    expect(trustConfigSchema.safeParse({ ...config, retention: { leaversMonths: 36, ledgerYears: 7 } }).success).toBe(true);
    const bad = trustConfigSchema.safeParse({ ...config, retention: { leaversMonths: 0 } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['retention', 'leaversMonths']);
  });
});
