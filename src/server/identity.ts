/**
 * The server's persistent identity in its data directory: the static X25519 key clients pin
 * (crypto's identity file format, spec/crypto.md §Identity) and the self-signed TLS certificate.
 *
 * A hash-pinned certificate may be valid for at most 14 days (certificate.ts), so a generated
 * certificate is reused while it has more than `renewBeforeMs` left and replaced otherwise — at
 * start-up and, while the server runs, by its renewal timer (server.ts). Clients never pin it ahead
 * of time: they authenticate the server by its static key and bind the proof to the certificate they
 * see (spec/rendezvous.md §Authentication), so a renewal needs no operator action.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CryptoError, CryptoErrorCode } from '../crypto/errors.js';
import { loadIdentity, saveIdentity, generateIdentity } from '../crypto/identity.js';
import type { KeyPair } from '../crypto/keys.js';
import { certificateInfo, generateSelfSignedCertificate, keyMatchesCertificate } from './certificate.js';
import { ServerError, ServerErrorCode } from './errors.js';
import { makeDirectory } from '../make-directory.js';

const SERVER_IDENTITY_FILE = 'server-identity';
const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';
/** A generated certificate is replaced when less than this is left of its validity. */
export const DEFAULT_RENEW_BEFORE_MS = 24 * 60 * 60 * 1000;

export async function loadOrCreateServerKey(dataDir: string): Promise<{ keyPair: KeyPair; created: boolean }> {
  const path = join(dataDir, SERVER_IDENTITY_FILE);
  try {
    return { keyPair: await loadIdentity(path, { strictPermissions: true }), created: false };
  } catch (error) {
    if (!(error instanceof CryptoError) || error.code !== CryptoErrorCode.IdentityMissing) throw error;
  }
  const keyPair = generateIdentity();
  await saveIdentity(path, keyPair);
  return { keyPair, created: true };
}

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly sha256: Uint8Array;
  readonly notAfter: Date;
  readonly selfSigned: boolean;
  readonly created: boolean;
}

/** Reads an operator-provided certificate and key (PEM files). */
export async function loadCertificateFiles(certPath: string, keyPath: string): Promise<TlsMaterial> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  } catch (cause) {
    throw new ServerError(ServerErrorCode.Certificate, `cannot read certificate or key: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (!keyMatchesCertificate(cert, key))
    throw new ServerError(ServerErrorCode.Certificate, `key ${keyPath} does not belong to certificate ${certPath}`);
  const info = certificateInfo(cert);
  return { cert, key, sha256: info.sha256, notAfter: info.notAfter, selfSigned: false, created: false };
}

/** Reuses the generated certificate in `dataDir` while it is valid long enough, else makes a new one. */
export async function loadOrCreateSelfSigned(
  dataDir: string,
  names: readonly string[],
  options: { now?: Date; renewBeforeMs?: number; validityMs?: number } = {},
): Promise<TlsMaterial> {
  const now = options.now ?? new Date();
  const renewBeforeMs = options.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS;
  const certPath = join(dataDir, CERT_FILE);
  const keyPath = join(dataDir, KEY_FILE);
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    const info = certificateInfo(cert);
    if (
      keyMatchesCertificate(cert, key) &&
      info.notBefore <= now &&
      info.notAfter.getTime() - now.getTime() > renewBeforeMs
    ) {
      return { cert, key, sha256: info.sha256, notAfter: info.notAfter, selfSigned: true, created: false };
    }
  } catch {
    // missing or unreadable: generate below
  }
  const generated = generateSelfSignedCertificate({
    names,
    now,
    ...(options.validityMs === undefined ? {} : { validityMs: options.validityMs }),
  });
  await makeDirectory(dataDir, 0o700);
  await writeFile(`${keyPath}.tmp`, generated.key, { mode: 0o600 });
  await writeFile(`${certPath}.tmp`, generated.cert, { mode: 0o644 });
  await rename(`${keyPath}.tmp`, keyPath);
  await rename(`${certPath}.tmp`, certPath);
  return {
    cert: generated.cert,
    key: generated.key,
    sha256: generated.sha256,
    notAfter: generated.notAfter,
    selfSigned: true,
    created: true,
  };
}
