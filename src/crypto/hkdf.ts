/**
 * HMAC-BLAKE2b and the HKDF of the Noise Protocol Framework (rev 34, §4.3), plus the labelled
 * expansion punchline uses for traffic keys (spec/crypto.md §Key derivation).
 *
 * HMAC is RFC 2104 over BLAKE2b-512 (block length 128, HASHLEN 64), as Noise §4.3 requires — not
 * BLAKE2b's keyed mode. Not on the per-packet path; only at handshake and key-update time.
 */
import { CryptoError, CryptoErrorCode } from './errors.js';
import { sodium } from './sodium.js';

export const HASHLEN = 64;
const BLOCKLEN = 128;

const ipadKey = new Uint8Array(BLOCKLEN);
const opadKey = new Uint8Array(BLOCKLEN);
const inner = new Uint8Array(HASHLEN);
const hashState = new Uint8Array(sodium.crypto_generichash_STATEBYTES);

/** HMAC-BLAKE2b(key, data...) → 64 bytes written into `out` (RFC 2104). */
function hmacBlake2b(out: Uint8Array, key: Uint8Array, ...data: Uint8Array[]): void {
  ipadKey.fill(0);
  if (key.length > BLOCKLEN) sodium.crypto_generichash(ipadKey.subarray(0, HASHLEN), key);
  else ipadKey.set(key);
  for (let i = 0; i < BLOCKLEN; i++) {
    const b = ipadKey[i]!;
    opadKey[i] = b ^ 0x5c;
    ipadKey[i] = b ^ 0x36;
  }
  sodium.crypto_generichash_init(hashState, null, HASHLEN);
  sodium.crypto_generichash_update(hashState, ipadKey);
  for (const d of data) sodium.crypto_generichash_update(hashState, d);
  sodium.crypto_generichash_final(hashState, inner);
  sodium.crypto_generichash_init(hashState, null, HASHLEN);
  sodium.crypto_generichash_update(hashState, opadKey);
  sodium.crypto_generichash_update(hashState, inner);
  sodium.crypto_generichash_final(hashState, out);
  ipadKey.fill(0);
  opadKey.fill(0);
  inner.fill(0);
}

const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);
const THREE = Uint8Array.of(0x03);

/**
 * Noise HKDF(chaining_key, input_key_material, num_outputs) (Noise §4.3): returns 2 or 3 outputs of
 * HASHLEN bytes each.
 */
export function noiseHkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const tempKey = new Uint8Array(HASHLEN);
  hmacBlake2b(tempKey, chainingKey, ikm);
  const o1 = new Uint8Array(HASHLEN);
  hmacBlake2b(o1, tempKey, ONE);
  const o2 = new Uint8Array(HASHLEN);
  hmacBlake2b(o2, tempKey, o1, TWO);
  if (outputs === 2) {
    tempKey.fill(0);
    return [o1, o2];
  }
  const o3 = new Uint8Array(HASHLEN);
  hmacBlake2b(o3, tempKey, o2, THREE);
  tempKey.fill(0);
  return [o1, o2, o3];
}

const LABEL_PREFIX = new TextEncoder().encode('punchline/1 ');

/**
 * Labelled expansion, the HKDF-Expand-Label of RFC 8446 §7.1 reduced to one block:
 * `HMAC-BLAKE2b(secret, "punchline/1 " ‖ label ‖ 0x01)` truncated to `length` (≤ 64) bytes.
 * One block suffices because every output we derive is at most 32 bytes.
 */
export function expandLabel(secret: Uint8Array, label: string, length: number): Uint8Array {
  if (length > HASHLEN) throw new CryptoError(CryptoErrorCode.InvalidArgument, 'expandLabel: length > 64');
  const full = new Uint8Array(HASHLEN);
  hmacBlake2b(full, secret, LABEL_PREFIX, new TextEncoder().encode(label), ONE);
  const out = full.slice(0, length);
  full.fill(0);
  return out;
}
