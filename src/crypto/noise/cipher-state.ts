/**
 * Noise CipherState (Noise rev 34 §5.1) with ChaChaPoly (§12.3): ChaCha20-Poly1305 IETF, 96-bit
 * nonce = 32 zero bits ‖ 64-bit little-endian n. Used only during the handshake; traffic packets use
 * PacketProtection (big-endian packet-number nonces, RFC 9001 §5.3).
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { sodium } from '../sodium.js';

export const KEYLEN = 32;
export const TAGLEN = 16;
/** Noise §5.1: n = 2^64−1 is reserved; we stop far earlier (JS safe integers). */
const MAX_NONCE = Number.MAX_SAFE_INTEGER;

export class CipherState {
  private key: Uint8Array | null = null;
  private n = 0;
  private readonly nonce = new Uint8Array(12);

  /** InitializeKey(key): sets k and n = 0. */
  initializeKey(key: Uint8Array | null): void {
    this.key = key === null ? null : Uint8Array.from(key);
    this.n = 0;
  }

  hasKey(): boolean {
    return this.key !== null;
  }

  /** Snapshot for roll-back on a failed readMessage. */
  save(): { key: Uint8Array | null; n: number } {
    return { key: this.key === null ? null : Uint8Array.from(this.key), n: this.n };
  }

  restore(s: { key: Uint8Array | null; n: number }): void {
    this.key = s.key;
    this.n = s.n;
  }

  /** EncryptWithAd(ad, plaintext): ciphertext ‖ tag, or plaintext unchanged when k is empty. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.key === null) return Uint8Array.from(plaintext);
    this.setNonce();
    const out = new Uint8Array(plaintext.length + TAGLEN);
    const c = out.subarray(0, plaintext.length);
    c.set(plaintext);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      c,
      out.subarray(plaintext.length),
      c,
      ad,
      null,
      this.nonce,
      this.key,
    );
    this.n++;
    return out;
  }

  /** DecryptWithAd(ad, ciphertext): throws CryptoError(DecryptFailed); n advances only on success. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.key === null) return Uint8Array.from(ciphertext);
    if (ciphertext.length < TAGLEN)
      throw new CryptoError(CryptoErrorCode.Truncated, 'ciphertext shorter than the AEAD tag');
    this.setNonce();
    const bodyLength = ciphertext.length - TAGLEN;
    const out = new Uint8Array(bodyLength);
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        out,
        null,
        ciphertext.subarray(0, bodyLength),
        ciphertext.subarray(bodyLength),
        ad,
        this.nonce,
        this.key,
      );
    } catch (cause) {
      throw new CryptoError(CryptoErrorCode.DecryptFailed, 'handshake message failed authentication', { cause });
    }
    this.n++;
    return out;
  }

  /** The raw key (for Split); null if none. Not a copy: callers must copy. */
  rawKey(): Uint8Array | null {
    return this.key;
  }

  destroy(): void {
    if (this.key) sodium.sodium_memzero(this.key);
    this.key = null;
  }

  private setNonce(): void {
    if (this.n >= MAX_NONCE) throw new CryptoError(CryptoErrorCode.NonceExhausted, 'Noise nonce exhausted');
    const nonce = this.nonce;
    nonce.fill(0);
    let lo = this.n >>> 0;
    let hi = Math.floor(this.n / 0x1_0000_0000);
    for (let i = 4; i < 8; i++) {
      nonce[i] = lo & 0xff;
      lo >>>= 8;
    }
    for (let i = 8; i < 12; i++) {
      nonce[i] = hi & 0xff;
      hi >>>= 8;
    }
  }
}
