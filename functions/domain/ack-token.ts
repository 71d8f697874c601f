/**
 * Signed, expiring acknowledgement tokens (DESIGN.md "Acknowledgement links").
 *
 * A token is `<payload>.<signature>`, both base64url: the payload is JSON naming the key
 * id, the person, the policy, the version, the purpose, the expiry and a random id (so two
 * links for the same request differ and a used one can be recorded); the signature is
 * HMAC-SHA256 over the payload text with the key of that id. Verification compares
 * signatures in constant time, then checks purpose and expiry.
 *
 * Keys come from configuration or a secret, never from code. A key ring has one signing
 * key and may keep retired keys that still verify until their `acceptUntil` (rotation with
 * a grace period). Single use is recorded by the acknowledgement store, not here.
 *
 * Uses node:crypto only (no AWS imports).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PURPOSES = ['ack'] as const;
export type TokenPurpose = (typeof TOKEN_PURPOSES)[number];

export interface TokenClaims {
  staffId: string;
  policyId: string;
  version: number;
  purpose: TokenPurpose;
  /** Expiry, seconds since the epoch. */
  expiresAt: number;
  /** Random token id. */
  tokenId: string;
}

export interface SigningKey {
  kid: string;
  /** Secret key material (at least 32 bytes of entropy; any string). */
  key: string;
  /** For a retired key: it verifies until this instant (ISO 8601), then no longer. */
  acceptUntil?: string;
}

/** The first key signs; the others only verify (while their grace period lasts). */
export type KeyRing = readonly [SigningKey, ...SigningKey[]];

export type TokenFailure = 'malformed' | 'unknown-key' | 'bad-signature' | 'wrong-purpose' | 'expired';

export class TokenError extends Error {
  override name = 'TokenError';
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure) {
    super(`acknowledgement token rejected: ${reason}`);
    this.reason = reason;
  }
}

const MIN_KEY_LENGTH = 32;

/** Parses a key ring from configuration text: one `{kid,key}` object or a list of them. */
export function parseKeyRing(text: string, where: string): KeyRing {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${where} is not JSON: expected {"kid":"...","key":"..."} or a list of them`);
  }
  const list = Array.isArray(value) ? value : [value];
  const keys = list.map((entry: unknown, i): SigningKey => {
    if (typeof entry !== 'object' || entry === null) throw new Error(`${where}[${i}] must be an object`);
    const { kid, key, acceptUntil } = entry as Record<string, unknown>;
    if (typeof kid !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(kid)) throw new Error(`${where}[${i}].kid must be 1-32 letters or digits`);
    if (typeof key !== 'string' || key.length < MIN_KEY_LENGTH) throw new Error(`${where}[${i}].key must be at least ${MIN_KEY_LENGTH} characters`);
    if (acceptUntil !== undefined && (typeof acceptUntil !== 'string' || Number.isNaN(Date.parse(acceptUntil)))) {
      throw new Error(`${where}[${i}].acceptUntil must be an ISO 8601 date-time`);
    }
    return { kid, key, ...(typeof acceptUntil === 'string' ? { acceptUntil } : {}) };
  });
  const [first, ...rest] = keys;
  if (!first) throw new Error(`${where} holds no key`);
  return [first, ...rest];
}

function sign(payload: string, key: string): Buffer {
  return createHmac('sha256', key).update(payload).digest();
}

interface Payload {
  kid: string;
  sub: string;
  pol: string;
  ver: number;
  pur: string;
  exp: number;
  jti: string;
}

export function signToken(
  claims: Omit<TokenClaims, 'tokenId' | 'expiresAt'> & { expiresAt: Date },
  keys: KeyRing,
): string {
  const signing = keys[0];
  const payload: Payload = {
    kid: signing.kid,
    sub: claims.staffId,
    pol: claims.policyId,
    ver: claims.version,
    pur: claims.purpose,
    exp: Math.floor(claims.expiresAt.getTime() / 1000),
    jti: randomBytes(12).toString('base64url'),
  };
  const text = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${text}.${sign(text, signing.key).toString('base64url')}`;
}

/**
 * The longest token we sign is about 300 characters; anything much longer is refused before
 * it is decoded (a link is never that long, and an oversized field must not reach a read).
 */
export const MAX_TOKEN_LENGTH = 1_024;

/**
 * A payload's fields within what we sign: a staff id as the HR contract has it, a policy
 * slug, a version, a purpose, an expiry and a 16-character id. Anything else is malformed,
 * so an oversized or odd field never reaches DynamoDB, whatever its signature.
 */
function isPayload(value: unknown): value is Payload {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return (
    typeof p.kid === 'string' &&
    /^[A-Za-z0-9_-]{1,32}$/.test(p.kid) &&
    typeof p.sub === 'string' &&
    /^[A-Za-z0-9_-]{1,64}$/.test(p.sub) &&
    typeof p.pol === 'string' &&
    /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(p.pol) &&
    typeof p.ver === 'number' &&
    Number.isInteger(p.ver) &&
    p.ver > 0 &&
    p.ver < 1_000_000 &&
    typeof p.pur === 'string' &&
    p.pur.length <= 32 &&
    typeof p.exp === 'number' &&
    Number.isInteger(p.exp) &&
    typeof p.jti === 'string' &&
    /^[A-Za-z0-9_-]{1,32}$/.test(p.jti)
  );
}

/**
 * Decodes base64url only in its one canonical spelling: the unused low bits of the last
 * character must be zero (re-encoding gives the same text), so a token has exactly one
 * spelling. Returns null for anything else.
 */
function decodeCanonical(text: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

/**
 * Verifies a token and returns its claims, or throws TokenError with the reason.
 * `purpose` is what the caller expects the token to be for.
 */
export function verifyToken(token: string, keys: KeyRing, purpose: TokenPurpose, now: Date): TokenClaims {
  if (token.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed');
  const parts = token.split('.');
  const [text, signature] = parts;
  if (parts.length !== 2 || !text || !signature) throw new TokenError('malformed');
  const payloadBytes = decodeCanonical(text);
  const given = decodeCanonical(signature);
  if (!payloadBytes || !given) throw new TokenError('malformed');
  let payload: unknown;
  try {
    payload = JSON.parse(payloadBytes.toString('utf8'));
  } catch {
    throw new TokenError('malformed');
  }
  if (!isPayload(payload)) throw new TokenError('malformed');
  const key = keys.find((k, i) => k.kid === payload.kid && (i === 0 || !k.acceptUntil || Date.parse(k.acceptUntil) > now.getTime()));
  if (!key) throw new TokenError('unknown-key');
  const expected = sign(text, key.key);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError('bad-signature');
  if (payload.pur !== purpose) throw new TokenError('wrong-purpose');
  if (payload.exp * 1000 <= now.getTime()) throw new TokenError('expired');
  return {
    staffId: payload.sub,
    policyId: payload.pol,
    version: payload.ver,
    purpose,
    expiresAt: payload.exp,
    tokenId: payload.jti,
  };
}

/** The acknowledgement page for a token, on the configured public base URL. */
export function ackUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl}/ack/${token}`;
}
