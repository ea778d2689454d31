/**
 * Noise HandshakeState (Noise rev 34 §5.3) for IK, XX and their psk variants (§9) with
 * 25519 / ChaChaPoly / BLAKE2b. Sans-IO: randomness is injected, no clock is read.
 *
 * Failure semantics (spec/crypto.md §Hostile input): readMessage either succeeds completely or throws
 * a CryptoError and leaves the state exactly as it was, so a forged or corrupted message cannot
 * derail a handshake in progress; the caller drops it and `rejectedMessages` counts it.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { assertKey, dh, generateKeyPair, KEY_LENGTH, type KeyPair } from '../keys.js';
import type { RandomSource } from '../sodium.js';
import { TAGLEN } from './cipher-state.js';
import { protocolName, resolvePattern, type HandshakePattern, type PatternDefinition } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

/** Noise §3: every handshake message is at most 65535 bytes. */
export const MAX_NOISE_MESSAGE = 65535;
export const PSK_LENGTH = 32;

export interface InitiatorOptions {
  pattern: HandshakePattern;
  staticKeyPair: KeyPair;
  /** Required for IK: the responder's static public key (the key you dial). */
  remoteStaticKey?: Uint8Array;
  /** 32-byte pre-shared key: selects IKpsk2 / XXpsk3. */
  psk?: Uint8Array;
  prologue: Uint8Array;
  random: RandomSource;
  /** Fixed ephemeral key pair — test vectors only. */
  ephemeral?: KeyPair;
}

export type ResponderOptions = Omit<InitiatorOptions, 'remoteStaticKey'>;

export class HandshakeState {
  readonly pattern: PatternDefinition;
  readonly initiator: boolean;
  private readonly symmetric: SymmetricState;
  private readonly s: KeyPair;
  private e: KeyPair | null = null;
  private rs: Uint8Array | null;
  private re: Uint8Array | null = null;
  private readonly psk: Uint8Array | null;
  private readonly random: RandomSource;
  private readonly fixedEphemeral: KeyPair | null;
  private messageIndex = 0;
  private rejected = 0;

  static initiator(o: InitiatorOptions): HandshakeState {
    return new HandshakeState(true, o);
  }

  static responder(o: ResponderOptions): HandshakeState {
    return new HandshakeState(false, o);
  }

  private constructor(initiator: boolean, o: InitiatorOptions) {
    if (o.pattern !== 'IK' && o.pattern !== 'XX') {
      throw new CryptoError(CryptoErrorCode.InvalidArgument, `unknown handshake pattern ${String(o.pattern)}`);
    }
    assertKey(o.staticKeyPair?.publicKey, 'static public key');
    assertKey(o.staticKeyPair.secretKey, 'static secret key');
    if (o.psk !== undefined && (!(o.psk instanceof Uint8Array) || o.psk.length !== PSK_LENGTH)) {
      throw new CryptoError(CryptoErrorCode.InvalidArgument, `psk must be ${PSK_LENGTH} bytes`);
    }
    if (!(o.prologue instanceof Uint8Array))
      throw new CryptoError(CryptoErrorCode.InvalidArgument, 'prologue must be a Uint8Array');
    if (typeof o.random !== 'function')
      throw new CryptoError(CryptoErrorCode.InvalidArgument, 'random must be a function');
    if (o.ephemeral !== undefined) {
      assertKey(o.ephemeral.publicKey, 'ephemeral public key');
      assertKey(o.ephemeral.secretKey, 'ephemeral secret key');
    }
    this.initiator = initiator;
    this.pattern = resolvePattern(o.pattern, o.psk !== undefined);
    this.s = {
      publicKey: Uint8Array.from(o.staticKeyPair.publicKey),
      secretKey: Uint8Array.from(o.staticKeyPair.secretKey),
    };
    this.psk = o.psk === undefined ? null : Uint8Array.from(o.psk);
    this.random = o.random;
    this.fixedEphemeral =
      o.ephemeral === undefined
        ? null
        : { publicKey: Uint8Array.from(o.ephemeral.publicKey), secretKey: Uint8Array.from(o.ephemeral.secretKey) };
    this.rs = null;
    if (initiator && this.pattern.responderStaticPremessage) {
      assertKey(o.remoteStaticKey, `remote static key (required by ${this.pattern.name})`);
      this.rs = Uint8Array.from(o.remoteStaticKey);
    }

    // Initialize() (§5.3): protocol name, prologue, then pre-message public keys (§7.1).
    this.symmetric = new SymmetricState(protocolName(this.pattern));
    this.symmetric.mixHash(o.prologue);
    if (this.pattern.responderStaticPremessage) {
      this.symmetric.mixHash(initiator ? this.rs! : this.s.publicKey);
    }
  }

  /** All handshake messages have been written/read. */
  get isComplete(): boolean {
    return this.messageIndex >= this.pattern.messages.length;
  }

  /** Whether the next message is ours to write. */
  get isMyTurn(): boolean {
    return !this.isComplete && (this.messageIndex % 2 === 0) === this.initiator;
  }

  /** The peer's static public key once learned (IK initiator: from the start). */
  get remoteStaticKey(): Uint8Array | null {
    return this.rs === null ? null : Uint8Array.from(this.rs);
  }

  /** h: the handshake hash (channel binding, Noise §11.2); final once isComplete. */
  get handshakeHash(): Uint8Array {
    return this.symmetric.handshakeHash();
  }

  /** Messages rejected by readMessage (each threw a CryptoError and changed nothing else). */
  get rejectedMessages(): number {
    return this.rejected;
  }

  /**
   * WriteMessage(payload) (§5.3). Throws CryptoError(WrongTurn) out of turn. `associatedData`, when
   * given, is mixed into h before the message (MixHash, as the prologue is in Initialize, §6): the
   * reader must pass the same bytes, or this message's payload (and every later one) fails to decrypt.
   * The transport binds the packet's header with it (spec/crypto.md §3.3).
   */
  writeMessage(payload: Uint8Array, associatedData?: Uint8Array): Uint8Array {
    if (!this.isMyTurn) throw new CryptoError(CryptoErrorCode.WrongTurn, 'not our turn to write a handshake message');
    const tokens = this.pattern.messages[this.messageIndex]!;
    const snapshot = this.snapshot();
    try {
      if (associatedData !== undefined) this.symmetric.mixHash(associatedData);
      const parts: Uint8Array[] = [];
      for (const token of tokens) {
        switch (token) {
          case 'e': {
            this.e = this.fixedEphemeral ?? generateKeyPair(this.random);
            parts.push(Uint8Array.from(this.e.publicKey));
            this.symmetric.mixHash(this.e.publicKey);
            if (this.pattern.usesPsk) this.symmetric.mixKey(this.e.publicKey); // §9.2
            break;
          }
          case 's':
            parts.push(this.symmetric.encryptAndHash(this.s.publicKey));
            break;
          case 'psk':
            this.symmetric.mixKeyAndHash(this.psk!);
            break;
          default:
            this.symmetric.mixKey(this.dhToken(token));
        }
      }
      parts.push(this.symmetric.encryptAndHash(payload));
      const message = concat(parts);
      if (message.length > MAX_NOISE_MESSAGE) {
        throw new CryptoError(
          CryptoErrorCode.MessageTooLong,
          `handshake message of ${message.length} bytes exceeds ${MAX_NOISE_MESSAGE}`,
        );
      }
      this.messageIndex++;
      return message;
    } catch (error) {
      this.restore(snapshot);
      throw error;
    }
  }

  /**
   * ReadMessage(message) (§5.3): returns the payload, or throws CryptoError leaving state unchanged.
   * `associatedData`: the bytes the writer passed to writeMessage (see there).
   */
  readMessage(message: Uint8Array, associatedData?: Uint8Array): Uint8Array {
    try {
      if (!(message instanceof Uint8Array))
        throw new CryptoError(CryptoErrorCode.InvalidArgument, 'message must be a Uint8Array');
      if (!this.isComplete && this.isMyTurn)
        throw new CryptoError(CryptoErrorCode.WrongTurn, 'not our turn to read a handshake message');
      if (this.isComplete) throw new CryptoError(CryptoErrorCode.WrongTurn, 'handshake already complete');
      if (message.length > MAX_NOISE_MESSAGE)
        throw new CryptoError(CryptoErrorCode.MessageTooLong, 'handshake message exceeds 65535 bytes');
      return this.readTokens(message, associatedData);
    } catch (error) {
      this.rejected++;
      if (error instanceof CryptoError) throw error;
      throw new CryptoError(CryptoErrorCode.DecryptFailed, 'handshake message rejected', { cause: error });
    }
  }

  /**
   * Split() (§5.2) oriented for this side: sendKey encrypts our packets, receiveKey the peer's.
   * These are the traffic secrets PacketProtection derives its keys from (spec/crypto.md).
   */
  split(): { sendKey: Uint8Array; receiveKey: Uint8Array } {
    if (!this.isComplete) throw new CryptoError(CryptoErrorCode.NotComplete, 'split() before the handshake completed');
    const [k1, k2] = this.symmetric.split();
    return this.initiator ? { sendKey: k1, receiveKey: k2 } : { sendKey: k2, receiveKey: k1 };
  }

  /** Zeroes the secrets this state holds. */
  destroy(): void {
    this.symmetric.destroy();
    this.s.secretKey.fill(0);
    this.e?.secretKey.fill(0);
    this.psk?.fill(0);
  }

  private readTokens(message: Uint8Array, associatedData: Uint8Array | undefined): Uint8Array {
    const tokens = this.pattern.messages[this.messageIndex]!;
    const snapshot = this.snapshot();
    try {
      if (associatedData !== undefined) this.symmetric.mixHash(associatedData);
      let offset = 0;
      const take = (n: number): Uint8Array => {
        if (offset + n > message.length) {
          throw new CryptoError(CryptoErrorCode.Truncated, `handshake message truncated (${message.length} bytes)`);
        }
        const out = message.subarray(offset, offset + n);
        offset += n;
        return out;
      };
      for (const token of tokens) {
        switch (token) {
          case 'e': {
            const re = Uint8Array.from(take(KEY_LENGTH));
            this.re = re;
            this.symmetric.mixHash(re);
            if (this.pattern.usesPsk) this.symmetric.mixKey(re); // §9.2
            break;
          }
          case 's': {
            const length = KEY_LENGTH + (this.symmetric.cipher.hasKey() ? TAGLEN : 0);
            this.rs = this.symmetric.decryptAndHash(take(length));
            break;
          }
          case 'psk':
            this.symmetric.mixKeyAndHash(this.psk!);
            break;
          default:
            this.symmetric.mixKey(this.dhToken(token));
        }
      }
      // A received ephemeral that this message does not use in a DH (XX message 1) is checked now,
      // so a low-order key is refused here rather than making our next writeMessage throw.
      if (tokens[0] === 'e' && !tokens.some((t) => t.length === 2)) dh(this.s.secretKey, this.re!);
      const rest = message.subarray(offset);
      if (this.symmetric.cipher.hasKey() && rest.length < TAGLEN) {
        throw new CryptoError(CryptoErrorCode.Truncated, 'handshake payload shorter than the AEAD tag');
      }
      const payload = this.symmetric.decryptAndHash(rest);
      this.messageIndex++;
      return payload;
    } catch (error) {
      this.restore(snapshot);
      throw error;
    }
  }

  /** DH tokens (§5.3): ee, es, se, ss from the initiator's perspective, mirrored for the responder. */
  private dhToken(token: 'ee' | 'es' | 'se' | 'ss'): Uint8Array {
    const e = this.e;
    const need = <T>(v: T | null, what: string): T => {
      if (v === null) throw new CryptoError(CryptoErrorCode.InvalidArgument, `${what} missing for token ${token}`);
      return v;
    };
    switch (token) {
      case 'ee':
        return dh(need(e, 'local ephemeral').secretKey, need(this.re, 'remote ephemeral'));
      case 'ss':
        return dh(this.s.secretKey, need(this.rs, 'remote static'));
      case 'es':
        return this.initiator
          ? dh(need(e, 'local ephemeral').secretKey, need(this.rs, 'remote static'))
          : dh(this.s.secretKey, need(this.re, 'remote ephemeral'));
      case 'se':
        return this.initiator
          ? dh(this.s.secretKey, need(this.re, 'remote ephemeral'))
          : dh(need(e, 'local ephemeral').secretKey, need(this.rs, 'remote static'));
    }
  }

  private snapshot() {
    return { symmetric: this.symmetric.save(), e: this.e, re: this.re, rs: this.rs, messageIndex: this.messageIndex };
  }

  private restore(s: ReturnType<HandshakeState['snapshot']>): void {
    this.symmetric.restore(s.symmetric);
    this.e = s.e;
    this.re = s.re;
    this.rs = s.rs;
    this.messageIndex = s.messageIndex;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
