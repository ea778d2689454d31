/**
 * ChaCha20-Poly1305 (RFC 8439) for the packet path through the OpenSSL Node is linked with, by the
 * add-on native/punchline_aead.c: ~0.9 us per 1436-byte packet against libsodium's ~1.8 us (sodium.ts)
 * on this class of CPU, the same algorithm and the same bytes on the wire (spec/crypto.md §Packet
 * protection). PacketProtection uses it when it loads and passes a known-answer test against libsodium
 * at load (same ciphertext and tag, each opens the other's packet, a forged tag is refused and its text
 * zeroed); otherwise, or with PUNCHLINE_AEAD=sodium, it keeps libsodium.
 *
 * Loading reads the add-on from build/Release (as sodium-native loads its own binary): the module is
 * found two levels above this file (src/crypto, dist/crypto) or three (the benchmark bundle in
 * node_modules/.cache/punchline-bench), or at $PUNCHLINE_AEAD_NATIVE_PATH. Nothing else here does I/O.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packetAead } from './sodium.js';

/** One key's OpenSSL context (opaque). */
export type AeadContext = { readonly __brand: 'punchline_aead context' };

export interface OpensslAead {
  /** A context for a 32-byte key; free() it when the key is discarded. */
  create(key: Uint8Array): AeadContext;
  /** Releases and cleanses the context's key schedule; later calls with it return -1. */
  free(context: AeadContext): void;
  /** Encrypts packet[headerLength, end) in place, tag at [end, end + 16); AAD packet[0, headerLength). Returns end + 16, or -1. */
  seal(context: AeadContext, packet: Uint8Array, headerLength: number, end: number, nonce: Uint8Array): number;
  /**
   * seal(), after copying source[sourceStart, sourceStart + length) to packet[at, at + length) in C (one
   * memcpy; JS on Node 20 needs two copies or a fresh view). Same bytes as copying, then seal(). Returns
   * end + 16, or -1.
   */
  sealFrom(
    context: AeadContext,
    packet: Uint8Array,
    headerLength: number,
    end: number,
    nonce: Uint8Array,
    source: Uint8Array,
    sourceStart: number,
    at: number,
    length: number,
  ): number;
  /** Verifies and decrypts in place; the plaintext length, or -1 (forged: the text is zeroed; or out of range). */
  open(context: AeadContext, packet: Uint8Array, headerLength: number, packetLength: number, nonce: Uint8Array): number;
}

function addonPath(): string | null {
  const configured = process.env['PUNCHLINE_AEAD_NATIVE_PATH'];
  if (configured) return configured;
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const candidate = path.resolve(here, up, 'build', 'Release', 'punchline_aead.node');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** The add-on checked against libsodium, or null (not built, not loadable, or it disagrees). */
function load(): OpensslAead | null {
  if (process.env['PUNCHLINE_AEAD'] === 'sodium') return null;
  const file = addonPath();
  if (file === null) return null;
  let aead: OpensslAead;
  try {
    aead = createRequire(import.meta.url)(file) as OpensslAead;
    return selfTest(aead) ? aead : null;
  } catch {
    return null;
  }
}

/** Known answer against libsodium: a 13-byte header and 37 bytes of text under one key and nonce. */
function selfTest(aead: OpensslAead): boolean {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 5 + 1);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
  const header = 13;
  const end = header + 37;
  const ours = Uint8Array.from({ length: end + 16 }, (_, i) => (i * 7) & 0xff);
  const theirs = Uint8Array.from(ours);
  const context = aead.create(key);
  try {
    if (aead.seal(context, ours, header, end, nonce) !== end + 16) return false;
    packetAead.seal(theirs.subarray(header, end), theirs.subarray(end), theirs.subarray(0, header), nonce, key);
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) return false;
    const forged = Uint8Array.from(ours);
    forged[end] = (forged[end] as number) ^ 1;
    if (aead.open(context, forged, header, end + 16, nonce) !== -1) return false;
    for (let i = header; i < end; i++) if (forged[i] !== 0) return false;
    // sealFrom: the middle 20 bytes of the text from another buffer, the same bytes as seal().
    const source = Uint8Array.from({ length: 29 }, (_, i) => (i * 11) & 0xff);
    const from = Uint8Array.from({ length: end + 16 }, (_, i) => (i * 7) & 0xff);
    const copied = Uint8Array.from(from);
    copied.set(source.subarray(5, 25), header + 9);
    if (typeof aead.sealFrom !== 'function') return false;
    if (aead.sealFrom(context, from, header, end, nonce, source, 5, header + 9, 20) !== end + 16) return false;
    if (aead.seal(context, copied, header, end, nonce) !== end + 16) return false;
    for (let i = 0; i < from.length; i++) if (from[i] !== copied[i]) return false;
    if (aead.open(context, ours, header, end + 16, nonce) !== end - header) return false;
    return ours[header] === ((header * 7) & 0xff);
  } finally {
    aead.free(context);
  }
}

/** The OpenSSL path, or null where PacketProtection keeps libsodium. */
export const opensslAead: OpensslAead | null = load();
