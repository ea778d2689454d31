/**
 * Noise SymmetricState (Noise rev 34 §5.2) over BLAKE2b (HASHLEN 64) and ChaChaPoly.
 */
import { HASHLEN, noiseHkdf } from '../hkdf.js';
import { sodium } from '../sodium.js';
import { CipherState, KEYLEN } from './cipher-state.js';

export interface SymmetricSnapshot {
  ck: Uint8Array;
  h: Uint8Array;
  cipher: ReturnType<CipherState['save']>;
}

export class SymmetricState {
  private ck: Uint8Array = new Uint8Array(HASHLEN);
  private h: Uint8Array = new Uint8Array(HASHLEN);
  readonly cipher = new CipherState();

  /** InitializeSymmetric(protocol_name) (§5.2): h = name padded to HASHLEN, or HASH(name) if longer. */
  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= HASHLEN) this.h.set(name);
    else sodium.crypto_generichash(this.h, name);
    this.ck.set(this.h);
    this.cipher.initializeKey(null);
  }

  /** MixKey(ikm) (§5.2): ck, temp_k = HKDF(ck, ikm, 2); temp_k truncated to 32 bytes (HASHLEN 64). */
  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = noiseHkdf(this.ck, ikm, 2) as [Uint8Array, Uint8Array];
    this.ck = ck;
    this.cipher.initializeKey(tempK.subarray(0, KEYLEN));
    tempK.fill(0);
  }

  /** MixHash(data) (§5.2): h = HASH(h ‖ data). */
  mixHash(data: Uint8Array): void {
    sodium.crypto_generichash_batch(this.h, [this.h, data]);
  }

  /** MixKeyAndHash(ikm) (§5.2), used by the psk token (§9). */
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = noiseHkdf(this.ck, ikm, 3) as [Uint8Array, Uint8Array, Uint8Array];
    this.ck = ck;
    this.mixHash(tempH);
    this.cipher.initializeKey(tempK.subarray(0, KEYLEN));
    tempK.fill(0);
  }

  /** GetHandshakeHash() (§5.2): a copy of h. */
  handshakeHash(): Uint8Array {
    return Uint8Array.from(this.h);
  }

  /** EncryptAndHash(plaintext) (§5.2). */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /** DecryptAndHash(ciphertext) (§5.2); throws CryptoError on authentication failure. */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipher.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Split() (§5.2): two 32-byte keys, the first for initiator→responder. */
  split(): [Uint8Array, Uint8Array] {
    const [t1, t2] = noiseHkdf(this.ck, new Uint8Array(0), 2) as [Uint8Array, Uint8Array];
    const k1 = t1.slice(0, KEYLEN);
    const k2 = t2.slice(0, KEYLEN);
    t1.fill(0);
    t2.fill(0);
    return [k1, k2];
  }

  save(): SymmetricSnapshot {
    return { ck: Uint8Array.from(this.ck), h: Uint8Array.from(this.h), cipher: this.cipher.save() };
  }

  restore(s: SymmetricSnapshot): void {
    this.ck = s.ck;
    this.h = s.h;
    this.cipher.restore(s.cipher);
  }

  destroy(): void {
    sodium.sodium_memzero(this.ck);
    this.cipher.destroy();
  }
}
