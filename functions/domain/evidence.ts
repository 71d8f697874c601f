/**
 * The evidence pack (issue 7 item 4): what an auditor keeps to show who was asked to read
 * and confirm a policy version (§1f, §2a), when, how often they were reminded, and when each
 * confirmed. Pure: the rows, their canonical JSON, the hash chain, the signed payload and
 * the verification. Reading the data, the signing key and the files is the CLI's
 * (local/evidence-command.ts); nothing here reaches AWS.
 *
 * - Rows are the cells exactly as the CSV holds them (formulas already neutralised,
 *   functions/domain/safe-csv.ts), so what is hashed is what the auditor reads.
 * - A row's canonical JSON is an object of column → cell, keys in code-unit order, no
 *   whitespace. hash(row n) = SHA-256(hash(row n-1) + "\n" + canonical JSON), lower-case hex;
 *   the seed (row 0) is 64 zeros; the head is the last row's hash.
 * - The manifest lists every row's hash, so a verifier names the first row whose content no
 *   longer matches. Someone who edits a row and recomputes every hash changes the head, and
 *   the head is signed (with the manifest's fields): the signature no longer verifies.
 * - Signatures: Ed25519 (the local key pair) or ECDSA P-256 with SHA-256, DER-encoded (a KMS
 *   asymmetric key, `ECDSA_SHA_256`); both verify offline with the public key (SPKI PEM)
 *   written next to the pack.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import * as z from 'zod';
import type { Person } from './people.ts';
import type { AckRequest } from './onboarding.ts';
import { type CsvValue, neutraliseFormula } from './safe-csv.ts';

export const EVIDENCE_FORMAT = 'trust-policy-notify/evidence@1';
export const CHAIN_SEED = '0'.repeat(64);

export const EVIDENCE_COLUMNS = [
  'row',
  'staffId',
  'name',
  'schoolId',
  'status',
  'requestedAt',
  'dueOn',
  'reminderCount',
  'lastRemindedOn',
  'acknowledgedAt',
  'refreshCycle',
  'earlierAcknowledgements',
] as const;

/** One row: a cell per column, as the CSV holds it. */
export type EvidenceRow = readonly string[];

export const SIGNATURE_ALGORITHMS = ['Ed25519', 'ECDSA_SHA_256'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
export const evidenceManifestSchema = z.object({
  format: z.literal(EVIDENCE_FORMAT),
  policyId: z.string().min(1),
  version: z.number().int().positive(),
  generatedAt: z.iso.datetime(),
  rowCount: z.number().int().nonnegative(),
  csv: z.object({ file: z.string().min(1), columns: z.array(z.string()) }),
  chain: z.object({ algorithm: z.literal('SHA-256'), seed: hex64, rowHashes: z.array(hex64), head: hex64 }),
  signature: z.object({
    algorithm: z.enum(SIGNATURE_ALGORITHMS),
    /** `local:<fingerprint>` or the KMS key ARN. */
    keyId: z.string().min(1),
    publicKeyFile: z.string().min(1),
    /** SHA-256 of the public key's DER (SPKI), hex: compare it with the key the trust publishes. */
    publicKeyFingerprint: hex64,
    value: z.string().min(1),
  }),
});
export type EvidenceManifest = z.infer<typeof evidenceManifestSchema>;

/** The manifest without its signature value: what is signed. */
export type UnsignedManifest = Omit<EvidenceManifest, 'signature'> & { signature: Omit<EvidenceManifest['signature'], 'value'> };

// ---------------------------------------------------------------------------------
// Rows

const cell = (value: CsvValue): string => (value === null || value === undefined ? '' : neutraliseFormula(String(value)));

/**
 * Every request of the version as rows (one per request, ordered by school then staff id,
 * numbered from 1), joined with the person's name (`people`; empty when no longer on record).
 */
export function evidenceRows(requests: readonly AckRequest[], people: ReadonlyMap<string, Person>): EvidenceRow[] {
  const sorted = [...requests].sort((a, b) => a.schoolId.localeCompare(b.schoolId, 'en') || (a.staffId < b.staffId ? -1 : a.staffId > b.staffId ? 1 : 0));
  return sorted.map((r, i) => {
    const person = people.get(r.staffId);
    const earlier = (r.acknowledgements ?? []).map((a) => `cycle ${a.refreshCycle}: asked ${a.requestedAt}, acknowledged ${a.acknowledgedAt}`).join('; ');
    return [
      i + 1,
      r.staffId,
      person ? `${person.givenName} ${person.familyName}` : null,
      r.schoolId,
      r.status,
      r.requestedAt,
      r.dueOn,
      r.reminderCount,
      r.lastRemindedOn,
      r.acknowledgedAt,
      r.refreshCycle ?? 0,
      earlier,
    ].map(cell);
  });
}

// ---------------------------------------------------------------------------------
// Chain

/** The row as an object of column → cell, keys in code-unit order, no whitespace. */
export function canonicalRowJson(columns: readonly string[], row: EvidenceRow): string {
  const entries = columns.map((column, i) => [column, row[i] ?? ''] as const);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(Object.fromEntries(entries));
}

export function rowHash(previous: string, columns: readonly string[], row: EvidenceRow): string {
  return createHash('sha256').update(`${previous}\n${canonicalRowJson(columns, row)}`, 'utf8').digest('hex');
}

/** Every row's hash, in order (the head is the last; the seed when there are no rows). */
export function hashChain(columns: readonly string[], rows: readonly EvidenceRow[]): string[] {
  const hashes: string[] = [];
  let previous = CHAIN_SEED;
  for (const row of rows) {
    previous = rowHash(previous, columns, row);
    hashes.push(previous);
  }
  return hashes;
}

export const chainHead = (hashes: readonly string[]): string => hashes.at(-1) ?? CHAIN_SEED;

/** The manifest (signature value still to come) for these rows. */
export function unsignedManifest(input: {
  policyId: string;
  version: number;
  generatedAt: string;
  csvFile: string;
  rows: readonly EvidenceRow[];
  signer: { algorithm: SignatureAlgorithm; keyId: string; publicKeyFile: string; publicKeyPem: string };
}): UnsignedManifest {
  const columns = [...EVIDENCE_COLUMNS];
  const rowHashes = hashChain(columns, input.rows);
  return {
    format: EVIDENCE_FORMAT,
    policyId: input.policyId,
    version: input.version,
    generatedAt: input.generatedAt,
    rowCount: input.rows.length,
    csv: { file: input.csvFile, columns },
    chain: { algorithm: 'SHA-256', seed: CHAIN_SEED, rowHashes, head: chainHead(rowHashes) },
    signature: {
      algorithm: input.signer.algorithm,
      keyId: input.signer.keyId,
      publicKeyFile: input.signer.publicKeyFile,
      publicKeyFingerprint: publicKeyFingerprint(input.signer.publicKeyPem),
    },
  };
}

/**
 * The bytes that are signed: the canonical JSON of the manifest's fields that matter to
 * the evidence (policy, version, generated at, row count, columns, the head, and which key).
 * The per-row hashes are not in it: they are checked against the CSV and must end in the head.
 */
export function signedPayload(manifest: UnsignedManifest | EvidenceManifest): Buffer {
  const fields = {
    columns: manifest.csv.columns,
    format: manifest.format,
    generatedAt: manifest.generatedAt,
    head: manifest.chain.head,
    keyId: manifest.signature.keyId,
    policyId: manifest.policyId,
    publicKeyFingerprint: manifest.signature.publicKeyFingerprint,
    rowCount: manifest.rowCount,
    seed: manifest.chain.seed,
    signatureAlgorithm: manifest.signature.algorithm,
    version: manifest.version,
  };
  return Buffer.from(JSON.stringify(fields), 'utf8');
}

/** SHA-256 of the public key's DER (SPKI), hex. */
export function publicKeyFingerprint(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

// ---------------------------------------------------------------------------------
// Verification

export type Verification =
  | { valid: true; rowCount: number; head: string; keyId: string; publicKeyFingerprint: string }
  | { valid: false; reason: string; row?: number };

const invalid = (reason: string, row?: number): Verification => ({ valid: false, reason, ...(row === undefined ? {} : { row }) });

/** Parses a manifest; a bad one is refused with the field named (never the value). */
export function parseManifest(json: unknown): { manifest: EvidenceManifest } | { error: string } {
  const parsed = evidenceManifestSchema.safeParse(json);
  if (parsed.success) return { manifest: parsed.data };
  const issue = parsed.error.issues[0];
  return { error: `manifest field ${issue?.path.join('.') || '(root)'} is not valid` };
}

/**
 * Checks the CSV (header first, then the rows) against the manifest's chain, and the
 * signature over the head with `publicKeyPem`. The first failure is the reason: a row whose
 * hash differs (tampered, removed or moved rows show as the first row that differs), a
 * missing or extra row, a chain that does not end in its head, a different public key, or a
 * signature that does not verify (the chain recomputed after an edit).
 */
export function verifyEvidence(manifest: EvidenceManifest, csv: readonly (readonly string[])[], publicKeyPem: string): Verification {
  const [header, ...rows] = csv;
  const columns = manifest.csv.columns;
  if (!header || header.length !== columns.length || header.some((c, i) => c !== columns[i])) {
    return invalid('the CSV header does not match the manifest columns');
  }
  const expected = manifest.chain.rowHashes;
  if (expected.length !== manifest.rowCount) return invalid('the manifest lists a different number of row hashes than its row count');
  let previous = manifest.chain.seed;
  for (let i = 0; i < Math.min(rows.length, expected.length); i++) {
    const row = rows[i] ?? [];
    if (row.length !== columns.length) return invalid(`row ${i + 1} (CSV line ${i + 2}) has ${row.length} cells, not ${columns.length}`, i + 1);
    previous = rowHash(previous, columns, row);
    if (previous !== expected[i]) return invalid(`chain broken at row ${i + 1} (CSV line ${i + 2}): the row does not match its hash in the manifest`, i + 1);
  }
  if (rows.length < expected.length) return invalid(`row ${rows.length + 1} is missing: the CSV has ${rows.length} rows, the manifest ${expected.length}`, rows.length + 1);
  if (rows.length > expected.length) return invalid(`row ${expected.length + 1} is not in the manifest: the CSV has ${rows.length} rows, the manifest ${expected.length}`, expected.length + 1);
  if (chainHead(expected) !== manifest.chain.head) return invalid('the chain does not end in the manifest head');

  let fingerprint: string;
  try {
    fingerprint = publicKeyFingerprint(publicKeyPem);
  } catch {
    return invalid('the public key cannot be read');
  }
  if (fingerprint !== manifest.signature.publicKeyFingerprint) return invalid('the public key is not the one the manifest names (fingerprint differs)');
  let ok = false;
  try {
    ok = verify(
      manifest.signature.algorithm === 'Ed25519' ? null : 'sha256',
      signedPayload(manifest),
      createPublicKey(publicKeyPem),
      Buffer.from(manifest.signature.value, 'base64'),
    );
  } catch {
    ok = false;
  }
  if (!ok) return invalid('bad signature: the manifest head and fields are not what the key signed');
  return { valid: true, rowCount: rows.length, head: manifest.chain.head, keyId: manifest.signature.keyId, publicKeyFingerprint: fingerprint };
}
