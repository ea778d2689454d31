/**
 * The OpenSSL packet AEAD's interface (ChaCha20-Poly1305, RFC 8439, through the add-on
 * native/punchline_aead.c; spec/crypto.md §5.1) and where PacketProtection finds it.
 *
 * This core does no I/O (no file, environment or native-code access): the node layer loads the add-on
 * and checks it against libsodium (src/node/openssl-aead.ts) and registers it here once, before it
 * creates endpoints. Until then, and whenever nothing is registered (pure-core users, the simulator,
 * PUNCHLINE_AEAD=sodium), PacketProtection uses libsodium: the same algorithm and bytes on the wire.
 */

/** One key's OpenSSL context (opaque). */
export type AeadContext = { readonly __brand: 'punchline_aead context' };

export interface OpensslAead {
  /** A context for a 32-byte key; free() it when the key is discarded. Throws when OpenSSL fails. */
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

let registered: OpensslAead | null = null;

/**
 * Makes `aead` the packet AEAD of every PacketProtection created afterwards (null: back to libsodium).
 * Called by the node layer with an add-on that passed its known-answer test; existing instances keep
 * the backend they were created with.
 */
export function registerOpensslAead(aead: OpensslAead | null): void {
  registered = aead;
}

/** The registered OpenSSL AEAD, or null (PacketProtection then uses libsodium). */
export function registeredOpensslAead(): OpensslAead | null {
  return registered;
}
