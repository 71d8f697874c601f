/**
 * The evidence pack's pure parts (functions/domain/evidence.ts, issue 7 item 4): rows with
 * formulas neutralised, the canonical row JSON, the hash chain, and verification. A
 * tampered row is named by its number; a chain recomputed after an edit is caught by the
 * signature; a removed or reordered row is caught; a different key is refused.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CHAIN_SEED,
  canonicalRowJson,
  EVIDENCE_COLUMNS,
  type EvidenceManifest,
  type EvidenceRow,
  evidenceRows,
  hashChain,
  parseManifest,
  rowHash,
  signedPayload,
  unsignedManifest,
  verifyEvidence,
} from '../../functions/domain/evidence.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import type { Person } from '../../functions/domain/people.ts';

const columns = [...EVIDENCE_COLUMNS];

const request = (staffId: string, schoolId: string, extra: Partial<AckRequest> = {}): AckRequest => ({
  staffId,
  schoolId,
  policyId: 'use-of-social-media',
  version: 1,
  status: 'pending',
  requestedAt: '2026-11-01T09:00:00.000Z',
  dueOn: '2026-11-22',
  reminderCount: 0,
  ...extra,
});

const person = (staffId: string, givenName: string, familyName: string) => ({ staffId, givenName, familyName }) as Person;

const requests = [
  request('SM-002', 'st-marys', { status: 'acknowledged', acknowledgedAt: '2026-11-03T10:00:00.000Z' }),
  request('HT-001', 'holy-trinity', { reminderCount: 2, lastRemindedOn: '2026-11-20' }),
  request('SM-001', 'st-marys'),
  request('SJ-001', 'st-johns', {
    refreshCycle: 1,
    acknowledgements: [{ refreshCycle: 0, requestedAt: '2025-01-01T09:00:00.000Z', acknowledgedAt: '2025-01-02T09:00:00.000Z' }],
  }),
];
const people = new Map([
  ['SM-002', person('SM-002', 'Amira', 'Haddad')],
  ['HT-001', person('HT-001', '=HYPERLINK("http://x","Click")', 'Jones')],
  ['SM-001', person('SM-001', 'Grace', 'Okafor')],
]);

function pack(rows: EvidenceRow[] = evidenceRows(requests, people)) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const unsigned = unsignedManifest({
    policyId: 'use-of-social-media',
    version: 1,
    generatedAt: '2026-11-25T12:00:00.000Z',
    csvFile: 'pack.csv',
    rows,
    signer: { algorithm: 'Ed25519', keyId: 'local:test', publicKeyFile: 'pack.public-key.pem', publicKeyPem },
  });
  const manifest: EvidenceManifest = {
    ...unsigned,
    signature: { ...unsigned.signature, value: sign(null, signedPayload(unsigned), privateKey).toString('base64') },
  };
  return { manifest, csv: [columns, ...rows.map((r) => [...r])], publicKeyPem };
}

describe('evidence rows', () => {
  it('one row per request, by school then staff id, numbered from 1, with names joined and formulas neutralised', () => {
    const rows = evidenceRows(requests, people);
    expect(rows.map((r) => [r[0], r[1], r[3]])).toEqual([
      ['1', 'HT-001', 'holy-trinity'],
      ['2', 'SJ-001', 'st-johns'],
      ['3', 'SM-001', 'st-marys'],
      ['4', 'SM-002', 'st-marys'],
    ]);
    expect(rows[0]?.[2]).toBe(`'=HYPERLINK("http://x","Click") Jones`);
    expect(rows[0]?.slice(7, 9)).toEqual(['2', '2026-11-20']);
    expect(rows[1]?.[2]).toBe(''); // no longer on record
    expect(rows[1]?.[11]).toBe('cycle 0: asked 2025-01-01T09:00:00.000Z, acknowledged 2025-01-02T09:00:00.000Z');
    expect(rows[3]?.[9]).toBe('2026-11-03T10:00:00.000Z');
    for (const row of rows) expect(row).toHaveLength(columns.length);
  });
});

describe('canonical row JSON and the chain', () => {
  it('keys in code-unit order, no whitespace, whatever the column order', () => {
    expect(canonicalRowJson(['b', 'a', 'C'], ['2', '1', '3'])).toBe('{"C":"3","a":"1","b":"2"}');
  });

  it('each hash covers the previous one: the chain starts at the seed, and changing a row changes every hash after it', () => {
    const rows = evidenceRows(requests, people);
    const hashes = hashChain(columns, rows);
    expect(hashes).toHaveLength(4);
    expect(hashes[0]).toBe(rowHash(CHAIN_SEED, columns, rows[0] ?? []));
    expect(hashes[1]).toBe(rowHash(hashes[0] ?? '', columns, rows[1] ?? []));
    const edited = rows.map((r, i) => (i === 1 ? r.map((c, j) => (j === 8 ? '2026-11-21' : c)) : r));
    const after = hashChain(columns, edited);
    expect(after[0]).toBe(hashes[0]);
    for (const i of [1, 2, 3]) expect(after[i]).not.toBe(hashes[i]);
  });
});

describe('verifyEvidence', () => {
  it('a pack as written verifies', () => {
    const { manifest, csv, publicKeyPem } = pack();
    expect(verifyEvidence(manifest, csv, publicKeyPem)).toMatchObject({ valid: true, rowCount: 4, head: manifest.chain.head });
  });

  it('a tampered row is detected at its row number', () => {
    const { manifest, csv, publicKeyPem } = pack();
    const tampered = csv.map((r, i) => (i === 3 ? r.map((c, j) => (j === 9 ? '2026-11-04T08:00:00.000Z' : c)) : r));
    expect(verifyEvidence(manifest, tampered, publicKeyPem)).toMatchObject({ valid: false, row: 3, reason: expect.stringMatching(/^chain broken at row 3 \(CSV line 4\)/) });
  });

  it('a chain recomputed after the edit (every hash and the head) is detected by the signature', () => {
    const { manifest, csv, publicKeyPem } = pack();
    const tampered = csv.map((r, i) => (i === 3 ? r.map((c, j) => (j === 9 ? '2026-11-04T08:00:00.000Z' : c)) : r));
    const rowHashes = hashChain(columns, tampered.slice(1));
    const forged: EvidenceManifest = { ...manifest, chain: { ...manifest.chain, rowHashes, head: rowHashes.at(-1) ?? '' } };
    const result = verifyEvidence(forged, tampered, publicKeyPem);
    expect(result).toMatchObject({ valid: false, reason: expect.stringMatching(/^bad signature/) });
  });

  it('a removed row is detected: in the middle at the row that moved up, at the end as missing', () => {
    const { manifest, csv, publicKeyPem } = pack();
    expect(verifyEvidence(manifest, csv.filter((_, i) => i !== 2), publicKeyPem)).toMatchObject({ valid: false, row: 2 });
    expect(verifyEvidence(manifest, csv.slice(0, -1), publicKeyPem)).toMatchObject({ valid: false, row: 4, reason: expect.stringMatching(/^row 4 is missing/) });
  });

  it('reordered rows are detected at the first row out of place', () => {
    const { manifest, csv, publicKeyPem } = pack();
    const [header, a, b, c, d] = csv;
    expect(verifyEvidence(manifest, [header ?? [], a ?? [], c ?? [], b ?? [], d ?? []], publicKeyPem)).toMatchObject({ valid: false, row: 2 });
  });

  it('an added row, another header, a changed manifest field or another key is refused', () => {
    const { manifest, csv, publicKeyPem } = pack();
    expect(verifyEvidence(manifest, [...csv, csv[1] ?? []], publicKeyPem)).toMatchObject({ valid: false, row: 5 });
    expect(verifyEvidence(manifest, [['x', ...columns.slice(1)], ...csv.slice(1)], publicKeyPem)).toMatchObject({ valid: false });
    expect(verifyEvidence({ ...manifest, version: 2 }, csv, publicKeyPem)).toMatchObject({ valid: false, reason: expect.stringMatching(/^bad signature/) });
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifyEvidence(manifest, csv, other)).toMatchObject({ valid: false, reason: expect.stringMatching(/fingerprint differs/) });
  });

  it('an ECDSA P-256 signature (as KMS ECDSA_SHA_256 returns it, DER) verifies too', () => {
    const rows = evidenceRows(requests, people);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const unsigned = unsignedManifest({
      policyId: 'use-of-social-media',
      version: 1,
      generatedAt: '2026-11-25T12:00:00.000Z',
      csvFile: 'pack.csv',
      rows,
      signer: { algorithm: 'ECDSA_SHA_256', keyId: 'arn:aws:kms:eu-west-2:111111111111:key/test', publicKeyFile: 'k.pem', publicKeyPem },
    });
    const manifest = { ...unsigned, signature: { ...unsigned.signature, value: sign('sha256', signedPayload(unsigned), privateKey).toString('base64') } };
    expect(verifyEvidence(manifest, [columns, ...rows.map((r) => [...r])], publicKeyPem)).toMatchObject({ valid: true });
  });

  it('a malformed manifest is refused with the field named', () => {
    const { manifest } = pack();
    expect(parseManifest({ ...manifest, chain: { ...manifest.chain, head: 'nope' } })).toEqual({ error: 'manifest field chain.head is not valid' });
    expect(parseManifest(manifest)).toEqual({ manifest });
  });
});
