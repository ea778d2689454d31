/**
 * Long-term identity: the static X25519 key pair a peer is named by (spec/crypto.md §Identity).
 * This is an edge module (file I/O); the protocol cores never call it.
 *
 * File format (UTF-8 JSON, mode 0600, parent directory created 0700):
 *   {"type":"punchline-identity","version":1,"publicKey":"<z-base-32>","secretKey":"<z-base-32>"}
 * Writes are atomic: a temporary file in the same directory is written, fsynced, then renamed (or,
 * without `overwrite`, hard-linked so an existing identity is never clobbered, even by a race).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, lstat, open, readFile, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CryptoError, CryptoErrorCode } from './errors.js';
import { generateKeyPair, KEY_LENGTH, keyPairFromSecretKey, type KeyPair } from './keys.js';
import { encodePublicKey, zBase32Decode, zBase32Encode } from './key-text.js';
import { systemRandom, type RandomSource } from './sodium.js';
import { makeDirectory } from '../make-directory.js';

const FILE_TYPE = 'punchline-identity';
const FILE_VERSION = 1;
const MAX_FILE_BYTES = 4096;

/** `$PUNCHLINE_HOME/identity` if PUNCHLINE_HOME is set, else `~/.punchline/identity`. */
export function defaultIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  const home = env['PUNCHLINE_HOME'];
  return join(home !== undefined && home !== '' ? home : join(homedir(), '.punchline'), 'identity');
}

export function generateIdentity(random: RandomSource = systemRandom): KeyPair {
  return generateKeyPair(random);
}

export function serializeIdentity(keyPair: KeyPair): string {
  return (
    JSON.stringify({
      type: FILE_TYPE,
      version: FILE_VERSION,
      publicKey: encodePublicKey(keyPair.publicKey),
      secretKey: zBase32Encode(keyPair.secretKey),
    }) + '\n'
  );
}

export function parseIdentity(text: string): KeyPair {
  const bad = (why: string, cause?: unknown): never => {
    throw new CryptoError(
      CryptoErrorCode.IdentityFormat,
      `identity file: ${why}`,
      cause === undefined ? undefined : { cause },
    );
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    bad('not JSON', cause);
  }
  if (typeof value !== 'object' || value === null) bad('not an object');
  const record = value as Record<string, unknown>;
  if (record['type'] !== FILE_TYPE || record['version'] !== FILE_VERSION)
    bad(`not a ${FILE_TYPE} v${FILE_VERSION} file`);
  const secretText = record['secretKey'];
  const publicText = record['publicKey'];
  if (typeof secretText !== 'string' || typeof publicText !== 'string') bad('publicKey/secretKey missing');
  let keyPair: KeyPair;
  try {
    keyPair = keyPairFromSecretKey(zBase32Decode(secretText as string, KEY_LENGTH));
  } catch (cause) {
    return bad('secretKey is not 32 bytes of z-base-32', cause);
  }
  if (encodePublicKey(keyPair.publicKey) !== (publicText as string).toLowerCase())
    bad('publicKey does not match secretKey');
  return keyPair;
}

export interface SaveIdentityOptions {
  /** Replace an existing file (default false: CryptoError IdentityExists). */
  overwrite?: boolean;
}

export async function saveIdentity(path: string, keyPair: KeyPair, options: SaveIdentityOptions = {}): Promise<void> {
  const text = serializeIdentity(keyPair);
  await makeDirectory(dirname(path), 0o700);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(temporary, 0o600); // in case the umask was unusual
    if (options.overwrite === true) {
      await rename(temporary, path);
    } else {
      try {
        await link(temporary, path);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new CryptoError(CryptoErrorCode.IdentityExists, `identity file ${path} already exists`, { cause });
        }
        throw cause;
      }
    }
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

export interface LoadIdentityOptions {
  /** Throw CryptoError(IdentityPermissions) instead of warning when group/others can access the file. */
  strictPermissions?: boolean;
  /** Receives the permissions warning (default: process.emitWarning). */
  onWarning?: (warning: CryptoError) => void;
}

export async function loadIdentity(path: string, options: LoadIdentityOptions = {}): Promise<KeyPair> {
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CryptoError(CryptoErrorCode.IdentityMissing, `no identity at ${path} (run 'punchline keygen')`, {
        cause,
      });
    }
    throw cause;
  }
  if (!stats.isFile()) throw new CryptoError(CryptoErrorCode.IdentityFormat, `identity ${path} is not a regular file`);
  if (stats.size > MAX_FILE_BYTES)
    throw new CryptoError(CryptoErrorCode.IdentityFormat, `identity ${path} is too large`);
  if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
    const warning = new CryptoError(
      CryptoErrorCode.IdentityPermissions,
      `identity ${path} has mode ${(stats.mode & 0o777).toString(8)}; it should be 600 (chmod 600 ${path})`,
    );
    if (options.strictPermissions === true) throw warning;
    (options.onWarning ?? ((w: CryptoError) => process.emitWarning(w.message, { code: w.code })))(warning);
  }
  return parseIdentity(await readFile(path, 'utf8'));
}
