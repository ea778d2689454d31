/**
 * X25519 key pairs (RFC 7748) on libsodium. A peer is named by its static public key.
 */
import { CryptoError, CryptoErrorCode } from './errors.js';
import { sodium, systemRandom, type RandomSource } from './sodium.js';

export const KEY_LENGTH = 32;

export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** A new X25519 key pair; the secret is 32 bytes from `random` (clamped inside X25519, RFC 7748 §5). */
export function generateKeyPair(random: RandomSource = systemRandom): KeyPair {
  const secretKey = new Uint8Array(KEY_LENGTH);
  random(secretKey);
  return keyPairFromSecretKey(secretKey);
}

/** Rebuilds the key pair from its secret key. */
export function keyPairFromSecretKey(secretKey: Uint8Array): KeyPair {
  assertKey(secretKey, 'secret key');
  const publicKey = new Uint8Array(KEY_LENGTH);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey: Uint8Array.from(secretKey) };
}

/** DH(keyPair, publicKey) (Noise §12.1): throws CryptoError(BadPublicKey) for low-order points. */
export function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(KEY_LENGTH);
  try {
    sodium.crypto_scalarmult(out, secretKey, publicKey);
  } catch (cause) {
    throw new CryptoError(CryptoErrorCode.BadPublicKey, 'X25519 with a low-order public key', { cause });
  }
  return out;
}

export function assertKey(key: unknown, what: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LENGTH) {
    throw new CryptoError(CryptoErrorCode.InvalidArgument, `${what} must be a ${KEY_LENGTH}-byte Uint8Array`);
  }
}
