/**
 * Typed view of the few sodium-native (libsodium) functions punchline uses. sodium-native ships no
 * type declarations, so this module loads it through createRequire and states the signatures we rely
 * on. Every primitive comes from libsodium: X25519 (crypto_scalarmult), ChaCha20-Poly1305 IETF
 * (RFC 8439) and BLAKE2b (crypto_generichash). Nothing here is hand-written cryptography.
 */
import { createRequire } from 'node:module';

export interface SodiumApi {
  readonly crypto_scalarmult_BYTES: number;
  readonly crypto_scalarmult_SCALARBYTES: number;
  readonly crypto_aead_chacha20poly1305_ietf_KEYBYTES: number;
  readonly crypto_aead_chacha20poly1305_ietf_NPUBBYTES: number;
  readonly crypto_aead_chacha20poly1305_ietf_ABYTES: number;
  readonly crypto_generichash_STATEBYTES: number;

  randombytes_buf(buffer: Uint8Array): void;
  sodium_memzero(buffer: Uint8Array): void;
  /** Constant-time equality of two equal-length buffers. */
  sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;

  /** q = X25519(n, basepoint). */
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  /** q = X25519(n, p); throws if the result is the all-zero point (low-order p). */
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;

  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: Uint8Array,
    mac: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** Throws on authentication failure, after zeroing `m` (libsodium verifies before decrypting). */
  crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    mac: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): void;

  crypto_generichash(output: Uint8Array, input: Uint8Array, key?: Uint8Array): void;
  crypto_generichash_batch(output: Uint8Array, inputs: readonly Uint8Array[], key?: Uint8Array): void;
  crypto_generichash_init(state: Uint8Array, key: Uint8Array | null, outputLength: number): void;
  crypto_generichash_update(state: Uint8Array, input: Uint8Array): void;
  crypto_generichash_final(state: Uint8Array, output: Uint8Array): void;
}

export const sodium = createRequire(import.meta.url)('sodium-native') as SodiumApi;

/**
 * Fills `buffer` with cryptographically secure random bytes: the one random source every core is given
 * (libsodium's CSPRNG in production, a seeded generator in the simulator).
 */
export type RandomSource = (buffer: Uint8Array) => void;

/** The production random source (libsodium's CSPRNG); only used at the edges as a default. */
export const systemRandom: RandomSource = (buffer) => sodium.randombytes_buf(buffer);

/**
 * In-place ChaCha20-Poly1305 IETF for the packet path. sodium-native's public functions re-check
 * every argument in JavaScript and signal failure by throwing; on 1400-byte packets that costs ~30 %
 * of a seal. sodium-native 5 also exposes the bare fast-call binding (`sodium-native/binding.js`,
 * same native module, no JS checks, integer status). We use it when present and verified by a
 * known-answer self-test at load, and fall back to the public functions otherwise.
 *
 * PRECONDITIONS (the binding checks them with C asserts, which abort the process): `mac` is exactly
 * 16 bytes, `npub` 12, `k` 32; `c` and `m` have equal length. PacketProtection guarantees them.
 */
export interface PacketAead {
  /** Encrypts `text` in place and writes the tag into `mac`. */
  seal(text: Uint8Array, mac: Uint8Array, ad: Uint8Array, npub: Uint8Array, k: Uint8Array): void;
  /**
   * Verifies `mac` then decrypts `text` in place. Returns false if it does not verify — libsodium then
   * zeroes `text` (it wipes the output buffer on failure), so the caller must drop the packet.
   */
  open(text: Uint8Array, mac: Uint8Array, ad: Uint8Array, npub: Uint8Array, k: Uint8Array): boolean;
  /** 'binding' (fast path) or 'public' (fallback), for the benchmark and diagnostics. */
  readonly kind: 'binding' | 'public';
}

interface RawAeadBinding {
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: Uint8Array,
    mac: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: Uint8Array,
    c: Uint8Array,
    mac: Uint8Array,
    ad: Uint8Array,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}

/** The fallback (exported for tests that compare both paths). */
export const publicAead: PacketAead = {
  kind: 'public',
  seal(text, mac, ad, npub, k) {
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(text, mac, text, ad, null, npub, k);
  },
  open(text, mac, ad, npub, k) {
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(text, null, text, mac, ad, npub, k);
      return true;
    } catch {
      return false;
    }
  },
};

function loadBindingAead(): PacketAead | null {
  let raw: Partial<RawAeadBinding>;
  try {
    raw = createRequire(import.meta.url)('sodium-native/binding.js') as Partial<RawAeadBinding>;
  } catch {
    return null;
  }
  const enc = raw.crypto_aead_chacha20poly1305_ietf_encrypt_detached;
  const dec = raw.crypto_aead_chacha20poly1305_ietf_decrypt_detached;
  if (typeof enc !== 'function' || typeof dec !== 'function') return null;
  const candidate: PacketAead = {
    kind: 'binding',
    seal(text, mac, ad, npub, k) {
      enc(text, mac, text, ad, npub, k);
    },
    open(text, mac, ad, npub, k) {
      return dec(text, text, mac, ad, npub, k) === 0;
    },
  };
  // Known-answer self-test against the public API (same libsodium), including a forged tag.
  try {
    const k = Uint8Array.from({ length: 32 }, (_, i) => i);
    const npub = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
    const ad = Uint8Array.of(1, 2, 3);
    const a = Uint8Array.from({ length: 37 }, (_, i) => i * 7);
    const b = Uint8Array.from(a);
    const macA = new Uint8Array(16);
    const macB = new Uint8Array(16);
    candidate.seal(a, macA, ad, npub, k);
    publicAead.seal(b, macB, ad, npub, k);
    if (!sodium.sodium_memcmp(a, b) || !sodium.sodium_memcmp(macA, macB)) return null;
    const forged = Uint8Array.from(macA);
    forged[0]! ^= 1;
    if (candidate.open(Uint8Array.from(a), forged, ad, npub, k)) return null;
    if (!candidate.open(a, macA, ad, npub, k) || a[1] !== 7) return null;
  } catch {
    return null;
  }
  return candidate;
}

export const packetAead: PacketAead = loadBindingAead() ?? publicAead;
