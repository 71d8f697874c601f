/**
 * The evidence command's local parts (local/evidence-command.ts): the local Ed25519 key is
 * generated once, kept with the data (mode 0600) and reused; a pack written from it verifies
 * from its files alone; arguments are checked with the option named.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EVIDENCE_COLUMNS, evidenceRows, signedPayload, unsignedManifest } from '../../functions/domain/evidence.ts';
import { toCsv } from '../../functions/domain/safe-csv.ts';
import { LOCAL_SIGNING_KEY_FILE, localSigner, parseEvidenceArgs, verifyPack } from '../../local/evidence-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'tpn-evidence-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('localSigner', () => {
  it('generates the Ed25519 key once, readable by its owner only, and reuses it', () => {
    const first = localSigner(join(dir, 'data'));
    const file = join(dir, 'data', LOCAL_SIGNING_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = localSigner(join(dir, 'data'));
    expect(second.publicKeyPem).toBe(first.publicKeyPem);
    expect(first.keyId).toMatch(/^local:[0-9a-f]{16}$/);
  });
});

describe('verifyPack', () => {
  it('a pack signed with the local key verifies from its files; a bare file name is required for the files it names', async () => {
    const signer = localSigner(join(dir, 'data'));
    const rows = evidenceRows(
      [{ staffId: 'SM-1', schoolId: 'st-marys', policyId: 'p', version: 1, status: 'pending', requestedAt: '2026-11-01T09:00:00.000Z', dueOn: '2026-11-22', reminderCount: 1 }],
      new Map(),
    );
    const unsigned = unsignedManifest({
      policyId: 'p',
      version: 1,
      generatedAt: '2026-11-25T12:00:00.000Z',
      csvFile: 'pack.csv',
      rows,
      signer: { ...signer, publicKeyFile: 'pack.pem' },
    });
    const manifest = { ...unsigned, signature: { ...unsigned.signature, value: (await signer.sign(signedPayload(unsigned))).toString('base64') } };
    writeFileSync(join(dir, 'pack.csv'), toCsv([[...EVIDENCE_COLUMNS], ...rows], { bom: true }));
    writeFileSync(join(dir, 'pack.pem'), signer.publicKeyPem);
    writeFileSync(join(dir, 'pack.json'), JSON.stringify(manifest));
    expect(verifyPack(join(dir, 'pack.json'))).toMatchObject({ code: 0, text: expect.stringMatching(/^valid: 1 row\(s\) of p v1 /) });

    writeFileSync(join(dir, 'escape.json'), JSON.stringify({ ...manifest, csv: { ...manifest.csv, file: '../pack.csv' } }));
    expect(() => verifyPack(join(dir, 'escape.json'))).toThrow('manifest field csv.file must be a file name next to the manifest');
    writeFileSync(join(dir, 'bad.json'), '{');
    expect(verifyPack(join(dir, 'bad.json'))).toEqual({ code: 1, text: 'invalid: the manifest is not JSON\n' });
  });
});

describe('parseEvidenceArgs', () => {
  it('checks the options, naming them', () => {
    expect(() => parseEvidenceArgs(['--version', '1'])).toThrow('--policy needs a policy id');
    expect(() => parseEvidenceArgs(['--policy', 'use-of-social-media', '--version', '0'])).toThrow('--version must be a positive whole number');
    expect(() => parseEvidenceArgs(['--policy', '../x', '--version', '1'])).toThrow('--policy needs a policy id');
    expect(() => parseEvidenceArgs(['verify'])).toThrow('evidence verify needs <manifest.json>');
    expect(parseEvidenceArgs(['verify', 'm.json', '--public-key', 'k.pem'])).toEqual({ kind: 'verify', manifestFile: 'm.json', publicKeyFile: 'k.pem' });
  });
});
