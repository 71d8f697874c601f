/**
 * `trust-notify evidence --policy ID --version N [--out DIR]` and `trust-notify evidence
 * verify MANIFEST [--public-key PEM]` (issue 7 item 4; the pure parts are in
 * functions/domain/evidence.ts).
 *
 * The pack is three files, named `evidence-<policy>-v<N>-<generated at>`:
 * - `.csv`: one row per acknowledgement request of the version (who was asked, when, the
 *   reminders, when each acknowledged), from the version's query pattern (gsi1, never a
 *   scan), joined with the people's names; RFC 4180, formulas neutralised, UTF-8 BOM.
 * - `.manifest.json`: policy, version, generated at, row count, the hash chain over the rows
 *   and the signature over its head (with the manifest's fields).
 * - `.public-key.pem`: the key the signature verifies with (SPKI PEM).
 *
 * Signing: locally an Ed25519 key pair generated once and kept with the local data
 * (`<dataDir>/evidence-signing-key.pem`, mode 0600); in AWS (`--region` / `--stack`) the
 * stack's KMS asymmetric key (output EvidenceKeyId, lib/evidence-key.ts, ECC_NIST_P256, `ECDSA_SHA_256`), which
 * never leaves KMS. Verification needs neither: it reads the three files only.
 */
import { generateKeyPairSync, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parse } from 'csv-parse/sync';
import { PeopleRepository } from '../functions/adapters/people-repository.ts';
import { RequestRepository } from '../functions/adapters/request-repository.ts';
import { loadTrustConfig } from '../functions/config/load-trust-config.ts';
import {
  EVIDENCE_COLUMNS,
  type EvidenceManifest,
  type EvidenceRow,
  evidenceRows,
  parseManifest,
  publicKeyFingerprint,
  type SignatureAlgorithm,
  signedPayload,
  unsignedManifest,
  verifyEvidence,
} from '../functions/domain/evidence.ts';
import type { AckRequest } from '../functions/domain/onboarding.ts';
import type { Person } from '../functions/domain/people.ts';
import { toCsv } from '../functions/domain/safe-csv.ts';
import { CliError, localDataDir, localTarget, stackOutputs, type Target } from './cli-commands.ts';

export const LOCAL_SIGNING_KEY_FILE = 'evidence-signing-key.pem';

export interface Signer {
  algorithm: SignatureAlgorithm;
  keyId: string;
  publicKeyPem: string;
  sign(payload: Buffer): Promise<Buffer>;
}

export type EvidenceArgs =
  | { kind: 'generate'; policyId: string; version: number; outDir: string; target: Target }
  | { kind: 'verify'; manifestFile: string; publicKeyFile: string | undefined };

/** Parses the command's arguments (errors name the option, as one line). */
export function parseEvidenceArgs(args: string[]): EvidenceArgs {
  if (args[0] === 'verify') {
    const { values, positionals } = parseArgs({ args: args.slice(1), options: { 'public-key': { type: 'string' } }, allowPositionals: true });
    const [file] = positionals;
    if (!file || positionals.length !== 1) throw new CliError('evidence verify needs <manifest.json>');
    return { kind: 'verify', manifestFile: file, publicKeyFile: values['public-key'] };
  }
  const { values } = parseArgs({
    args,
    options: { policy: { type: 'string' }, version: { type: 'string' }, out: { type: 'string' }, region: { type: 'string' }, stack: { type: 'string' } },
    allowPositionals: false,
  });
  if (!values.policy || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(values.policy)) throw new CliError('--policy needs a policy id (lower-case letters, digits and -)');
  if (values.version === undefined || !/^[1-9]\d{0,8}$/.test(values.version)) throw new CliError('--version must be a positive whole number');
  const target: Target =
    values.region || values.stack
      ? { kind: 'aws', region: values.region ?? loadTrustConfig().region, stack: values.stack ?? 'trust-policy-notify' }
      : localTarget();
  return { kind: 'generate', policyId: values.policy, version: Number(values.version), outDir: resolve(values.out ?? '.'), target };
}

/** `trust-notify evidence …`: the text to print and the exit code (verify: 0 valid, 1 invalid). */
export async function evidenceCommand(args: string[]): Promise<{ text: string; code: number }> {
  const parsed = parseEvidenceArgs(args);
  if (parsed.kind === 'verify') return verifyPack(parsed.manifestFile, parsed.publicKeyFile);
  const written = await writePack(parsed);
  return {
    text: `wrote ${written.rowCount} row(s) for ${parsed.policyId} v${parsed.version}, chain head ${written.head}\n  ${written.csv}\n  ${written.manifest}\n  ${written.publicKey}\n`,
    code: 0,
  };
}

// ---------------------------------------------------------------------------------
// Generating

function refused(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string }; message?: string };
  return e.code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(e.message));
}

/** Every request of the version, joined with the people's names, as evidence rows. */
async function loadRows(target: Target, outputs: Record<string, string>, policyId: string, version: number): Promise<EvidenceRow[]> {
  const table = outputs.DataTableName;
  if (!table) throw new CliError('the stack has no DataTableName output (is it up to date?)');
  const client =
    target.kind === 'aws'
      ? new DynamoDBClient({ region: target.region })
      : new DynamoDBClient({
          endpoint: target.dynamodb,
          region: loadTrustConfig().region,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          maxAttempts: 2,
        });
  try {
    const db = DynamoDBDocumentClient.from(client);
    const requests = new RequestRepository(db, table);
    const peopleRepository = new PeopleRepository(db, table);
    const all: AckRequest[] = [];
    const people = new Map<string, Person>();
    for await (const page of requests.ofVersion(policyId, version)) {
      all.push(...page);
      for (const [id, person] of await peopleRepository.getMany(page.map((r) => r.staffId))) people.set(id, person);
    }
    return evidenceRows(all, people);
  } catch (error) {
    if (target.kind === 'local' && refused(error)) {
      throw new CliError(`the local platform is not running (nothing answers at ${target.dynamodb}; start it with npm start)`);
    }
    throw error;
  } finally {
    client.destroy();
  }
}

/** The local Ed25519 key pair, generated on first use and kept in the data folder (0600). */
export function localSigner(dataDir: string): Signer {
  const file = join(dataDir, LOCAL_SIGNING_KEY_FILE);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const generated = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    try {
      writeFileSync(file, generated, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    pem = readFileSync(file, 'utf8'); // another run may have written it first: use what is there
  }
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new CliError(`${LOCAL_SIGNING_KEY_FILE} is not an Ed25519 private key`);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    algorithm: 'Ed25519',
    keyId: `local:${publicKeyFingerprint(publicKeyPem).slice(0, 16)}`,
    publicKeyPem,
    sign: async (payload) => sign(null, payload, privateKey),
  };
}

/** The stack's KMS key (ECC_NIST_P256, SIGN_VERIFY): the public key is fetched once, each signature is a KMS Sign call. */
export async function kmsSigner(kms: KMSClient, keyId: string): Promise<Signer> {
  const key = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (!key.PublicKey || !key.SigningAlgorithms?.includes('ECDSA_SHA_256')) throw new CliError('the evidence key cannot sign with ECDSA_SHA_256');
  const publicKeyPem = createPublicKey({ key: Buffer.from(key.PublicKey), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
  return {
    algorithm: 'ECDSA_SHA_256',
    // GetPublicKey answers with the key's ARN: the manifest names the key by it.
    keyId: key.KeyId ?? keyId,
    publicKeyPem,
    sign: async (payload) => {
      const out = await kms.send(new SignCommand({ KeyId: keyId, Message: payload, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
      if (!out.Signature) throw new CliError('KMS returned no signature');
      return Buffer.from(out.Signature);
    },
  };
}

const compact = (iso: string) => iso.replace(/[-:]/g, ''); // milliseconds kept: two packs in one second do not collide

export async function writePack(
  options: { policyId: string; version: number; outDir: string; target: Target },
  now: Date = new Date(),
): Promise<{ csv: string; manifest: string; publicKey: string; rowCount: number; head: string }> {
  const { policyId, version, outDir, target } = options;
  const outputs = await stackOutputs(target);
  const rows = await loadRows(target, outputs, policyId, version);
  if (rows.length === 0) throw new CliError(`--policy/--version: nobody was asked to acknowledge ${policyId} version ${version}`);

  let signer: Signer;
  let kms: KMSClient | undefined;
  if (target.kind === 'aws') {
    const keyId = outputs.EvidenceKeyId;
    if (!keyId) throw new CliError('the stack has no EvidenceKeyId output (is it up to date?)');
    kms = new KMSClient({ region: target.region });
    signer = await kmsSigner(kms, keyId);
  } else {
    signer = localSigner(localDataDir());
  }
  try {
    const generatedAt = now.toISOString();
    const base = `evidence-${policyId}-v${version}-${compact(generatedAt)}`;
    const files = { csv: `${base}.csv`, manifest: `${base}.manifest.json`, publicKey: `${base}.public-key.pem` };
    const unsigned = unsignedManifest({
      policyId,
      version,
      generatedAt,
      csvFile: files.csv,
      rows,
      signer: { algorithm: signer.algorithm, keyId: signer.keyId, publicKeyFile: files.publicKey, publicKeyPem: signer.publicKeyPem },
    });
    const signature = await signer.sign(signedPayload(unsigned));
    const manifest: EvidenceManifest = { ...unsigned, signature: { ...unsigned.signature, value: signature.toString('base64') } };

    mkdirSync(outDir, { recursive: true });
    const path = (name: string) => join(outDir, name);
    // 'wx': a pack is never overwritten.
    writeFileSync(path(files.csv), toCsv([[...EVIDENCE_COLUMNS], ...rows], { bom: true }), { flag: 'wx' });
    writeFileSync(path(files.publicKey), signer.publicKeyPem, { flag: 'wx' });
    writeFileSync(path(files.manifest), `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
    return { csv: path(files.csv), manifest: path(files.manifest), publicKey: path(files.publicKey), rowCount: rows.length, head: manifest.chain.head };
  } finally {
    kms?.destroy();
  }
}

// ---------------------------------------------------------------------------------
// Verifying

/** A file the manifest names must sit next to it: a bare file name, no folders. */
function beside(manifestFile: string, name: string, field: string): string {
  if (name !== basename(name) || name === '.' || name === '..') throw new CliError(`manifest field ${field} must be a file name next to the manifest`);
  return join(dirname(resolve(manifestFile)), name);
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`cannot read the ${what} (${basename(file)})`);
  }
}

/** Checks a pack: exit 0 with a summary when valid, 1 with the one-line reason otherwise. */
export function verifyPack(manifestFile: string, publicKeyFile?: string): { text: string; code: number } {
  let json: unknown;
  try {
    json = JSON.parse(readText(manifestFile, 'manifest'));
  } catch (error) {
    if (error instanceof CliError) throw error;
    return { text: 'invalid: the manifest is not JSON\n', code: 1 };
  }
  const parsed = parseManifest(json);
  if ('error' in parsed) return { text: `invalid: ${parsed.error}\n`, code: 1 };
  const { manifest } = parsed;
  let csv: string[][];
  try {
    csv = parse(readText(beside(manifestFile, manifest.csv.file, 'csv.file'), 'CSV'), { bom: true, relax_column_count: true }) as string[][];
  } catch (error) {
    if (error instanceof CliError) throw error;
    return { text: 'invalid: the CSV cannot be parsed\n', code: 1 };
  }
  const keyPem = readText(publicKeyFile ?? beside(manifestFile, manifest.signature.publicKeyFile, 'signature.publicKeyFile'), 'public key');
  const result = verifyEvidence(manifest, csv, keyPem);
  if (!result.valid) return { text: `invalid: ${result.reason}\n`, code: 1 };
  return {
    text: `valid: ${result.rowCount} row(s) of ${manifest.policyId} v${manifest.version} generated ${manifest.generatedAt}; chain head ${result.head}; signed by ${result.keyId} (public key SHA-256 ${result.publicKeyFingerprint})\n`,
    code: 0,
  };
}
