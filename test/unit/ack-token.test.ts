import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type KeyRing, MAX_TOKEN_LENGTH, parseKeyRing, signToken, TokenError, verifyToken } from '../../functions/domain/ack-token.ts';

const key1 = { kid: 'k1', key: 'a'.repeat(16) + 'local-test-key-one-0123456789' };
const key2 = { kid: 'k2', key: 'b'.repeat(16) + 'local-test-key-two-0123456789' };
const now = new Date('2026-11-25T12:00:00Z');
const inAWeek = new Date('2026-12-02T12:00:00Z');
const claims = { staffId: 'HR-1', policyId: 'use-of-social-media', version: 3, purpose: 'ack' as const, expiresAt: inAWeek };

function reason(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('acknowledgement tokens', () => {
  it('round-trips the person, policy, version and purpose', () => {
    const token = signToken(claims, [key1]);
    expect(verifyToken(token, [key1], 'ack', now)).toMatchObject({
      staffId: 'HR-1',
      policyId: 'use-of-social-media',
      version: 3,
      purpose: 'ack',
      expiresAt: Math.floor(inAWeek.getTime() / 1000),
    });
  });

  it('gives two links for the same request different token ids', () => {
    const a = verifyToken(signToken(claims, [key1]), [key1], 'ack', now);
    const b = verifyToken(signToken(claims, [key1]), [key1], 'ack', now);
    expect(a.tokenId).not.toBe(b.tokenId);
  });

  it('rejects a token whose payload was changed (another version)', () => {
    const [payload, signature] = signToken(claims, [key1]).split('.');
    const decoded = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...decoded, ver: 4 })).toString('base64url');
    expect(reason(() => verifyToken(`${forged}.${signature}`, [key1], 'ack', now))).toBe('bad-signature');
  });

  it('rejects a token whose signature was changed', () => {
    const [payload, signature = ''] = signToken(claims, [key1]).split('.');
    // The first character of the signature carries 6 whole bits (the last one carries only 4).
    const changed = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    expect(reason(() => verifyToken(`${payload}.${changed}`, [key1], 'ack', now))).toBe('bad-signature');
  });

  it('rejects an expired token, at and after its expiry', () => {
    const token = signToken(claims, [key1]);
    expect(reason(() => verifyToken(token, [key1], 'ack', inAWeek))).toBe('expired');
    expect(reason(() => verifyToken(token, [key1], 'ack', new Date(inAWeek.getTime() - 1000)))).toBe('accepted');
  });

  it('rejects a token signed with another key under the same key id', () => {
    const token = signToken(claims, [{ kid: 'k1', key: key2.key }]);
    expect(reason(() => verifyToken(token, [key1], 'ack', now))).toBe('bad-signature');
  });

  it('rejects a token whose key id is unknown', () => {
    expect(reason(() => verifyToken(signToken(claims, [key2]), [key1], 'ack', now))).toBe('unknown-key');
  });

  it('rejects malformed tokens', () => {
    for (const bad of ['', 'abc', 'a.b.c', 'not base64!.x', `${Buffer.from('[1]').toString('base64url')}.abc`]) {
      expect(reason(() => verifyToken(bad, [key1], 'ack', now))).toBe('malformed');
    }
  });

  it('has exactly one spelling: every other last character of the signature or payload is refused', () => {
    const token = signToken(claims, [key1]);
    const [payload = '', signature = ''] = token.split('.');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const accepted: string[] = [];
    for (const c of alphabet) {
      for (const variant of [`${payload}.${signature.slice(0, -1)}${c}`, `${payload.slice(0, -1)}${c}.${signature}`]) {
        if (variant !== token && reason(() => verifyToken(variant, [key1], 'ack', now)) === 'accepted') accepted.push(variant);
      }
    }
    expect(accepted).toEqual([]);
    expect(reason(() => verifyToken(token, [key1], 'ack', now))).toBe('accepted');
  });

  it('refuses oversized tokens and fields before anything reads them, even correctly signed', () => {
    const forge = (payload: Record<string, unknown>) => {
      const text = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return `${text}.${createHmac('sha256', key1.key).update(text).digest('base64url')}`;
    };
    const good = { kid: 'k1', sub: 'HR-1', pol: 'use-of-social-media', ver: 3, pur: 'ack', exp: Math.floor(inAWeek.getTime() / 1000), jti: 'abcdefghijklmnop' };
    expect(reason(() => verifyToken(forge(good), [key1], 'ack', now))).toBe('accepted');
    for (const bad of [
      { sub: 'x'.repeat(5_000) },
      { sub: 'HR 1' },
      { pol: 'Use Of Social Media' },
      { ver: 0 },
      { ver: 1.5 },
      { jti: 'j'.repeat(100) },
      { pur: 'p'.repeat(100) },
      { exp: 1.5 },
    ]) {
      expect(reason(() => verifyToken(forge({ ...good, ...bad }), [key1], 'ack', now)), JSON.stringify(bad).slice(0, 40)).toBe('malformed');
    }
    expect(reason(() => verifyToken(`${'a'.repeat(MAX_TOKEN_LENGTH)}.b`, [key1], 'ack', now))).toBe('malformed');
  });

  it('rotation: a retired key verifies during its grace period and not after', () => {
    const old = signToken(claims, [key1]);
    const ring: KeyRing = [key2, { ...key1, acceptUntil: '2026-11-30T00:00:00Z' }];
    expect(reason(() => verifyToken(old, ring, 'ack', now))).toBe('accepted');
    expect(reason(() => verifyToken(old, ring, 'ack', new Date('2026-11-30T00:00:01Z')))).toBe('unknown-key');
    // New links are signed with the first key of the ring.
    expect(verifyToken(signToken(claims, ring), [key2], 'ack', now).staffId).toBe('HR-1');
  });

  it('parses key rings from configuration and refuses weak or malformed ones by name', () => {
    expect(parseKeyRing(JSON.stringify(key1), 'ACK_TOKEN_KEYS')).toEqual([key1]);
    expect(parseKeyRing(JSON.stringify([key2, key1]), 'ACK_TOKEN_KEYS').map((k) => k.kid)).toEqual(['k2', 'k1']);
    expect(() => parseKeyRing('{"kid":"k1","key":"short"}', 'ACK_TOKEN_KEYS')).toThrow(/ACK_TOKEN_KEYS\[0\]\.key/);
    expect(() => parseKeyRing('[]', 'ACK_TOKEN_KEYS')).toThrow(/holds no key/);
    expect(() => parseKeyRing('nope', 'ACK_TOKEN_KEYS')).toThrow(/not JSON/);
  });
});
