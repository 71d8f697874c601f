import { describe, expect, it } from 'vitest';
import type { TokenClaims } from '../../functions/domain/ack-token.ts';
import { decideAck, tokenFailureOutcome } from '../../functions/domain/acknowledgement.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import { ackPage } from '../../functions/http/ack-pages.ts';

const claims: TokenClaims = { staffId: 'S1', policyId: 'p', version: 2, purpose: 'ack', expiresAt: 0, tokenId: 'tok-1' };
const pending: AckRequest = {
  staffId: 'S1',
  schoolId: 'st-marys',
  policyId: 'p',
  version: 2,
  status: 'pending',
  requestedAt: '2026-11-01T00:00:00Z',
  dueOn: '2026-11-15',
  reminderCount: 0,
};

describe('acknowledgement decisions', () => {
  it('GET on a pending request shows the confirm page; only POST records', () => {
    expect(decideAck('GET', claims, { request: pending, currentVersion: 2 }).kind).toBe('confirm');
    expect(decideAck('POST', claims, { request: pending, currentVersion: 2 }).kind).toBe('record');
  });

  it('an acknowledged request answers 409, telling whether it was this very link', () => {
    const done = { ...pending, status: 'acknowledged' as const, acknowledgedAt: '2026-11-02T10:00:00Z', ackTokenId: 'tok-1' };
    expect(decideAck('POST', claims, { request: done, currentVersion: 2 })).toEqual({
      kind: 'already-acknowledged',
      status: 409,
      acknowledgedAt: '2026-11-02T10:00:00Z',
      sameToken: true,
    });
    expect(decideAck('POST', { ...claims, tokenId: 'other' }, { request: done, currentVersion: 2 })).toMatchObject({ sameToken: false });
  });

  it('a link for an older version than the current one is superseded (410)', () => {
    expect(decideAck('POST', claims, { request: pending, currentVersion: 3 })).toEqual({ kind: 'superseded', status: 410, currentVersion: 3 });
    expect(decideAck('GET', claims, { request: { ...pending, status: 'superseded' }, currentVersion: 2 }).status).toBe(410);
  });

  it('cancelled requests (people who left) get 410, unknown ones 404', () => {
    expect(decideAck('POST', claims, { request: { ...pending, status: 'cancelled' }, currentVersion: 2 }).kind).toBe('cancelled');
    expect(decideAck('POST', claims, { request: null, currentVersion: 2 }).status).toBe(404);
    expect(decideAck('POST', claims, { request: pending, currentVersion: null }).status).toBe(404);
  });

  it('token failures: expired is 410, anything else 400', () => {
    expect(tokenFailureOutcome('expired').status).toBe(410);
    for (const reason of ['malformed', 'unknown-key', 'bad-signature', 'wrong-purpose'] as const) {
      expect(tokenFailureOutcome(reason).status).toBe(400);
    }
  });

  it('pages escape what they show and post back to their own address', () => {
    const { status, html } = ackPage(
      { kind: 'confirm', status: 200 },
      { trustName: 'A & B Trust', policyTitle: '<b>Policy</b>', version: 2, actionPath: '/ack/abc', documentUrl: 'https://x.example/p?a=1&b=2' },
    );
    expect(status).toBe(200);
    expect(html).toContain('A &#38; B Trust');
    expect(html).toContain('&#60;b&#62;Policy&#60;/b&#62; (version 2)');
    expect(html).toContain('action="/ack/abc"');
    expect(html).toContain('href="https://x.example/p?a=1&#38;b=2"');
    expect(html).not.toContain('<script');
  });
});
