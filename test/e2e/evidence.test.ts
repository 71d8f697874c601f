/**
 * `trust-notify evidence` and `evidence verify` against the running local platform (issue 7
 * item 4): someone onboarded through the CLI and their acknowledgement (the link in their
 * welcome email, POSTed) appear in the pack for use-of-social-media v1 (§1f, §2a); the pack
 * verifies (exit 0); one CSV cell edited → exit 1 naming the row; the chain recomputed in the
 * manifest after that edit (with the pure functions) → exit 1, bad signature.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, inject, it } from 'vitest';
import { type EvidenceManifest, hashChain, publicKeyFingerprint } from '../../functions/domain/evidence.ts';
import { toCsv } from '../../functions/domain/safe-csv.ts';
import { runCli } from '../support/e2e-setup.ts';
import { examples } from '../support/examples.ts';
import { eventually } from '../support/poll.ts';
import { emailsTo } from '../support/ses-store.ts';

const ctx = inject('e2e');
const id = randomUUID().slice(0, 8);
const newcomer = {
  ...examples['Staff Onboarded'],
  staffId: `E2E-EVIDENCE-${id}`,
  givenName: 'Evidence',
  familyName: `Newcomer${id}`,
  email: `evidence.${id}@stmarys.example.org`,
  schoolId: 'st-marys',
  roles: ['teacher'],
  // Only the social media policy applies: the welcome has one confirm link.
  managesOfficialChannels: false,
  eventId: `evidence-${id}`,
};

const work = join(ctx.workDir, `evidence-${id}`);
const readCsv = (file: string) => parse(readFileSync(file, 'utf8'), { bom: true }) as string[][];

/** Copies a pack (manifest, CSV, public key) into `dir`, with the CSV rows and manifest changed as given. */
function copyPack(manifestFile: string, dir: string, edit: { rows?: string[][]; manifest?: EvidenceManifest }): string {
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as EvidenceManifest;
  const from = join(manifestFile, '..');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, manifest.csv.file), edit.rows ? toCsv(edit.rows, { bom: true }) : readFileSync(join(from, manifest.csv.file)));
  writeFileSync(join(dir, manifest.signature.publicKeyFile), readFileSync(join(from, manifest.signature.publicKeyFile)));
  const target = join(dir, 'manifest.json');
  writeFileSync(target, JSON.stringify(edit.manifest ?? manifest, null, 2));
  return target;
}

describe('trust-notify evidence against the running platform', () => {
  let manifestFile = '';
  let ourRow: string[] = [];
  let version = '';

  it('writes a pack with the onboarded person, their acknowledgement, and a local Ed25519 key kept with the data', async () => {
    mkdirSync(work, { recursive: true });
    const detailFile = join(work, 'staff-onboarded.json');
    writeFileSync(detailFile, JSON.stringify(newcomer));
    const published = await runCli(ctx.dataDir, ['publish', 'staff-onboarded', detailFile]);
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);

    const welcome = await eventually(async () => (await emailsTo(ctx.endpoints.ses, newcomer.email))[0], { timeoutMs: 30_000, what: 'the welcome email' });
    // The welcome lists each policy as "- <title> (version N)", then its links. The social media
    // policy's current version is 1 on a fresh platform (other e2e files may register more policies).
    const items = [...(welcome.body.text ?? '').matchAll(/- (.+) \(version (\d+)\)\n\s+Read it: \S+\n\s+Confirm: (\S+\/ack\/\S+)/g)];
    const social = items.filter((m) => /Social Media/.test(m[1] ?? ''));
    expect(social).toHaveLength(1);
    version = social[0]?.[2] ?? '';
    expect(version).toBe('1');
    // The link carries the configured public base URL; the platform's web server is on a free port.
    const confirmed = await fetch(`${ctx.endpoints.web}${new URL(social[0]?.[3] ?? '').pathname}`, { method: 'POST' });
    expect(confirmed.status).toBe(200);

    const result = await runCli(ctx.dataDir, ['evidence', '--policy', 'use-of-social-media', '--version', version, '--out', join(work, 'pack')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const names = readdirSync(join(work, 'pack'));
    const manifestName = names.find((n) => n.endsWith('.manifest.json')) ?? '';
    expect(manifestName).toMatch(/^evidence-use-of-social-media-v1-\d{8}T\d{6}\.\d{3}Z\.manifest\.json$/);
    manifestFile = join(work, 'pack', manifestName);
    expect(result.stdout).toContain(manifestFile);

    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as EvidenceManifest;
    expect(manifest).toMatchObject({ policyId: 'use-of-social-media', version: 1, signature: { algorithm: 'Ed25519' } });
    const csv = readCsv(join(work, 'pack', manifest.csv.file));
    expect(csv[0]).toEqual(manifest.csv.columns);
    expect(csv.length - 1).toBe(manifest.rowCount);
    expect(manifest.chain.rowHashes).toHaveLength(manifest.rowCount);
    expect(manifest.chain.head).toBe(manifest.chain.rowHashes.at(-1));
    ourRow = csv.find((row) => row[1] === newcomer.staffId) ?? [];
    const column = (name: string) => ourRow[manifest.csv.columns.indexOf(name)];
    expect(column('name')).toBe(`Evidence Newcomer${id}`);
    expect(column('schoolId')).toBe('st-marys');
    expect(column('status')).toBe('acknowledged');
    expect(column('acknowledgedAt')).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(column('reminderCount')).toBe('0');

    // The key pair is generated once and kept with the local data; the public key sits next to the pack.
    const keyFile = join(ctx.dataDir, 'evidence-signing-key.pem');
    expect(existsSync(keyFile)).toBe(true);
    expect(readFileSync(keyFile, 'utf8')).toContain('BEGIN PRIVATE KEY');
    const publicKey = readFileSync(join(work, 'pack', manifest.signature.publicKeyFile), 'utf8');
    expect(publicKeyFingerprint(publicKey)).toBe(manifest.signature.publicKeyFingerprint);
  });

  it('verify: the pack as written is valid (exit 0)', async () => {
    const result = await runCli(ctx.dataDir, ['evidence', 'verify', manifestFile]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^valid: \d+ row\(s\) of use-of-social-media v1 /);
  });

  it('verify: one CSV cell edited → exit 1 naming the row; the chain recomputed after the edit → exit 1, bad signature', async () => {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as EvidenceManifest;
    const csv = readCsv(join(manifestFile, '..', manifest.csv.file));
    const rowNumber = Number(ourRow[0]);
    const ackColumn = manifest.csv.columns.indexOf('acknowledgedAt');
    const edited = csv.map((row, i) => (i === rowNumber ? row.map((cell, j) => (j === ackColumn ? '2026-01-01T09:00:00.000Z' : cell)) : row));
    expect(edited[rowNumber]?.[1]).toBe(newcomer.staffId);

    const tampered = copyPack(manifestFile, join(work, 'tampered'), { rows: edited });
    const broken = await runCli(ctx.dataDir, ['evidence', 'verify', tampered]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toBe('');
    expect(broken.stderr).toBe(`trust-notify: invalid: chain broken at row ${rowNumber} (CSV line ${rowNumber + 1}): the row does not match its hash in the manifest\n`);

    const rowHashes = hashChain(manifest.csv.columns, edited.slice(1));
    const recomputed = copyPack(manifestFile, join(work, 'recomputed'), {
      rows: edited,
      manifest: { ...manifest, chain: { ...manifest.chain, rowHashes, head: rowHashes.at(-1) ?? '' } },
    });
    const forged = await runCli(ctx.dataDir, ['evidence', 'verify', recomputed]);
    expect(forged.code).toBe(1);
    expect(forged.stderr).toMatch(/^trust-notify: invalid: bad signature/);
    expect(forged.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses an unknown policy version with one line and exit code 1', async () => {
    const result = await runCli(ctx.dataDir, ['evidence', '--policy', 'use-of-social-media', '--version', '999', '--out', join(work, 'none')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('trust-notify: --policy/--version: nobody was asked to acknowledge use-of-social-media version 999\n');
  });
});
