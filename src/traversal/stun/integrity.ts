/**
 * MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5), MESSAGE-INTEGRITY-SHA256 (§14.6), FINGERPRINT
 * (CRC-32 xor 0x5354554e, §14.7) and the key derivations of §9.1.2 (short-term) and §9.2.2 (long-term).
 *
 * Limit: passwords are used as UTF-8 as given; OpaqueString (RFC 8265) preparation is the caller's job
 * (RFC 5769's long-term sample gives the already-prepared "TheMatrIX").
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const FINGERPRINT_XOR = 0x5354554e;
export const HMAC_SHA1_LENGTH = 20;
export const HMAC_SHA256_LENGTH = 32;

export type IntegrityAlgorithm = 'sha1' | 'sha256';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC / zlib polynomial, as FINGERPRINT requires: RFC 8489 §14.7). */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** FINGERPRINT value over `bytes` (header with final length field + attributes before FINGERPRINT). */
export function fingerprintOf(bytes: Uint8Array): number {
  return (crc32(bytes) ^ FINGERPRINT_XOR) >>> 0;
}

/** HMAC over `bytes` (header with adjusted length + attributes before the integrity attribute). */
export function hmacOf(algorithm: IntegrityAlgorithm, key: Uint8Array, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(algorithm, key).update(bytes).digest());
}

/** Short-term credential key: the password itself (RFC 8489 §9.1.2). */
export function shortTermKey(password: string): Uint8Array {
  return new Uint8Array(Buffer.from(password, 'utf8'));
}

/** Long-term credential key: MD5 or SHA-256 of `username:realm:password` (RFC 8489 §9.2.2). */
export function longTermKey(
  username: string,
  realm: string,
  password: string,
  algorithm: 'md5' | 'sha256' = 'md5',
): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(`${username}:${realm}:${password}`, 'utf8').digest());
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
