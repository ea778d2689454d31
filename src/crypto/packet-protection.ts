/**
 * Per-packet protection of short-header packets (spec/crypto.md §Packet protection), after
 * RFC 9001 §5.3 (AEAD usage), §6 (key update) and §6.6 (AEAD limits), on libsodium's
 * ChaCha20-Poly1305 IETF (RFC 8439).
 *
 *   nonce = iv XOR (0x00000000 ‖ packet_number as 64-bit big-endian)      (RFC 9001 §5.3)
 *   AAD   = packet[0, headerLength)   (the short header, key-phase bit included)
 *
 * Hot path: seal() and open() allocate nothing in steady state — nonces live in preallocated arrays,
 * and the three zero-copy subarray views (AAD, text, tag) sodium-native's AEAD binding needs are
 * cached per (packet buffer, header length, end) in small direct-mapped tables (AeadViewCache): a
 * caller that seals and opens in a few reused buffers (the transport's per-connection scratch
 * buffers) gets the same layouts again and again and allocates views only on a miss.
 * Where the node layer registered the add-on native/punchline_aead.c (openssl-aead.ts), or the caller
 * passes it as options.aead, the AEAD runs in Node's OpenSSL instead (same algorithm and bytes, ~half
 * the CPU per packet): one OpenSSL context per phase key, created with the key and freed (cleansed)
 * where the key is wiped; the view caches are then unused. A key whose context cannot be created is
 * sealed or opened with libsodium instead (per key: the bytes are the same).
 * open() never throws: it returns the plaintext length or a negative OpenResult and counts it.
 * The replay window is consulted only after the tag verifies, so unauthenticated packets can neither
 * move the window nor probe it.
 */
import { CryptoError, CryptoErrorCode } from './errors.js';
import { derivePhaseKeys, nextPhaseKeys, wipePhaseKeys, type PhaseKeys } from './key-update.js';
import { type AeadContext, type OpensslAead, registeredOpensslAead } from './openssl-aead.js';
import { ReplayCheck, ReplayWindow } from './replay-window.js';
import { packetAead } from './sodium.js';

export const AEAD_TAG_LENGTH = 16;

/** Negative results of open(). The transport drops the packet for every one of them. */
export const OpenResult = {
  /** Tag did not verify: wrong key, tampered, truncated on the wire, or forged. */
  AUTH_FAILED: -1,
  /** Authentic but already received (RFC 6479). */
  REPLAYED: -2,
  /** Authentic but older than the replay window. */
  TOO_OLD: -3,
  /** Shorter than the AEAD tag. */
  TRUNCATED: -4,
  /** Old key phase whose keys were already discarded (RFC 9001 §6.5). */
  KEY_UNAVAILABLE: -5,
  /** New key phase with a packet number below one already received in the current phase (RFC 9001 §6.4). */
  KEY_UPDATE_ERROR: -6,
  /** Integrity limit reached: the connection MUST be closed with AEAD_LIMIT_REACHED (RFC 9001 §6.6). */
  AEAD_LIMIT_REACHED: -7,
  /** Lengths/packet number/key phase out of range (caller bug or garbage). */
  INVALID_ARGUMENT: -8,
} as const;
export type OpenResult = (typeof OpenResult)[keyof typeof OpenResult];

/**
 * RFC 9001 §6.6: the integrity limit for AEAD_CHACHA20_POLY1305 is 2^36 forged packets per
 * connection; its confidentiality limit exceeds the packet-number space and can be disregarded.
 */
export const CHACHA20_POLY1305_INTEGRITY_LIMIT = 2 ** 36;
/** Default: initiate a key update after this many packets in one phase (≈ 23 GB of 1400-byte packets). */
export const DEFAULT_KEY_UPDATE_AFTER_PACKETS = 2 ** 24;
const MAX_PACKET_NUMBER = Number.MAX_SAFE_INTEGER;

export interface PacketProtectionOptions {
  /** Initiate a key update once this many packets were sealed in the current phase (default 2^24). */
  keyUpdateAfterPackets?: number;
  /** Forged packets tolerated per connection before AEAD_LIMIT_REACHED (default 2^36, RFC 9001 §6.6). */
  integrityLimit?: number;
  /** Minimum replay window in packets (default 2048). */
  replayWindowSize?: number;
  /**
   * The OpenSSL packet AEAD to use, or null for libsodium; default: the one the node layer registered
   * (registerOpensslAead), else libsodium. Same bytes on the wire either way (spec/crypto.md §5.1).
   */
  aead?: OpensslAead | null;
}

export interface PacketProtectionStats {
  readonly sealed: number;
  readonly opened: number;
  readonly authFailed: number;
  readonly replayed: number;
  readonly tooOld: number;
  readonly truncated: number;
  readonly keyUnavailable: number;
  readonly keyUpdateError: number;
  readonly invalidArgument: number;
  readonly aeadLimitReached: number;
  /** Key updates this side started (updateKeys() or the packet-count trigger). */
  readonly keyUpdatesInitiated: number;
  /** Receive-side phase changes (peer's new phase authenticated). */
  readonly keyUpdatesReceived: number;
  readonly sendGeneration: number;
  readonly receiveGeneration: number;
}

export class PacketProtection {
  private send: PhaseKeys;
  private receive: PhaseKeys;
  /** Precomputed next receive keys: trying them costs the same as the current ones (RFC 9001 §6.3). */
  private receiveNext: PhaseKeys;
  private receivePrevious: PhaseKeys | null = null;
  /** OpenSSL contexts of the four keys above, when an OpenSSL AEAD is in use; else all null. */
  private readonly openssl: OpensslAead | null;
  private sendContext: AeadContext | null;
  private receiveContext: AeadContext | null;
  private receiveNextContext: AeadContext | null;
  private receivePreviousContext: AeadContext | null = null;
  /** Lowest packet number that authenticated under the current receive phase's start. */
  private receivePhaseStart = 0;
  /** Largest packet number that authenticated under the current receive keys. */
  private receivePhaseLargest = -1;
  private lastSealed = -1;
  private sealedInPhase = 0;
  private readonly sendNonce = new Uint8Array(12);
  private readonly sealViews = new AeadViewCache();
  private readonly openViews = new AeadViewCache();
  private readonly receiveNonce = new Uint8Array(12);
  private readonly window: ReplayWindow;
  private readonly keyUpdateAfterPackets: number;
  private readonly integrityLimit: number;
  private readonly counters = {
    sealed: 0,
    opened: 0,
    authFailed: 0,
    replayed: 0,
    tooOld: 0,
    truncated: 0,
    keyUnavailable: 0,
    keyUpdateError: 0,
    invalidArgument: 0,
    aeadLimitReached: 0,
    keyUpdatesInitiated: 0,
    keyUpdatesReceived: 0,
  };

  constructor(keys: { sendKey: Uint8Array; receiveKey: Uint8Array }, options: PacketProtectionOptions = {}) {
    this.keyUpdateAfterPackets = positiveInteger(
      options.keyUpdateAfterPackets,
      DEFAULT_KEY_UPDATE_AFTER_PACKETS,
      'keyUpdateAfterPackets',
    );
    this.integrityLimit = positiveInteger(options.integrityLimit, CHACHA20_POLY1305_INTEGRITY_LIMIT, 'integrityLimit');
    this.window = new ReplayWindow(options.replayWindowSize ?? 2048);
    this.openssl = options.aead === undefined ? registeredOpensslAead() : options.aead;
    this.send = derivePhaseKeys(keys.sendKey);
    this.receive = derivePhaseKeys(keys.receiveKey);
    this.receiveNext = nextPhaseKeys(this.receive);
    this.sendContext = this.contextFor(this.send);
    this.receiveContext = this.contextFor(this.receive);
    this.receiveNextContext = this.contextFor(this.receiveNext);
  }

  /** Key-phase bit for the next packet: write it into the short header before calling seal(). */
  get sendKeyPhase(): 0 | 1 {
    return (this.send.generation & 1) as 0 | 1;
  }

  /** Key-phase bit of the peer's current phase. */
  get receiveKeyPhase(): 0 | 1 {
    return (this.receive.generation & 1) as 0 | 1;
  }

  /** Whether previous-phase receive keys are still held for reordered packets. */
  get hasPreviousReceiveKey(): boolean {
    return this.receivePrevious !== null;
  }

  /**
   * RFC 9001 §6.1: a new update may only start once the peer has answered the last one, i.e. we
   * authenticated a packet of the peer in our current send phase.
   */
  get canUpdateKeys(): boolean {
    return this.send.generation === this.receive.generation;
  }

  /**
   * Encrypts packet[headerLength, headerLength + payloadLength) in place and writes the 16-byte tag
   * after it; AAD = packet[0, headerLength). Returns the protected length. Packet numbers must
   * strictly increase (a repeated nonce would break ChaCha20-Poly1305): violations throw CryptoError,
   * as they are bugs in the caller, never remote input. Hot path.
   */
  seal(packet: Uint8Array, headerLength: number, payloadLength: number, packetNumber: number): number {
    const end = this.checkSeal(packet, headerLength, payloadLength, packetNumber);
    const keys = this.send;
    writeNonce(this.sendNonce, keys.iv, packetNumber);
    const context = this.sendContext;
    if (context !== null) {
      if ((this.openssl as OpensslAead).seal(context, packet, headerLength, end, this.sendNonce) < 0) {
        throw new CryptoError(CryptoErrorCode.InvalidArgument, 'seal: OpenSSL refused the packet');
      }
    } else {
      const v = this.sealViews.get(packet, headerLength, end);
      packetAead.seal(v.text, v.tag, v.ad, this.sendNonce, keys.key);
    }
    return this.sealed(packetNumber, end);
  }

  /**
   * true when sealFrom() is available: the packet AEAD runs through OpenSSL (spec/crypto.md §5.1). Else
   * the caller copies the data into the packet and calls seal().
   */
  get sealsFromSource(): boolean {
    return this.sendContext !== null;
  }

  /**
   * seal(), except that the payload bytes packet[at, at + length) are not in the packet yet: the add-on
   * copies them from source[sourceStart, sourceStart + length) first (a STREAM frame's data goes from the
   * stream's send buffer into the datagram in one memcpy, instead of copyTo's two JS copies through a
   * staging area). Byte-identical to copying them in and calling seal(). Only when sealsFromSource. Hot path.
   */
  sealFrom(
    packet: Uint8Array,
    headerLength: number,
    payloadLength: number,
    packetNumber: number,
    source: Uint8Array,
    sourceStart: number,
    at: number,
    length: number,
  ): number {
    const end = this.checkSeal(packet, headerLength, payloadLength, packetNumber);
    const context = this.sendContext;
    if (context === null) throw new CryptoError(CryptoErrorCode.InvalidArgument, 'sealFrom: not available');
    writeNonce(this.sendNonce, this.send.iv, packetNumber);
    const openssl = this.openssl as OpensslAead;
    if (openssl.sealFrom(context, packet, headerLength, end, this.sendNonce, source, sourceStart, at, length) < 0) {
      throw new CryptoError(CryptoErrorCode.InvalidArgument, 'sealFrom: OpenSSL refused the packet (ranges)');
    }
    return this.sealed(packetNumber, end);
  }

  /** The checks common to seal and sealFrom; returns the end of the text. */
  private checkSeal(packet: Uint8Array, headerLength: number, payloadLength: number, packetNumber: number): number {
    const end = headerLength + payloadLength;
    if (
      !(
        Number.isInteger(headerLength) &&
        Number.isInteger(payloadLength) &&
        headerLength >= 0 &&
        payloadLength >= 0 &&
        end + AEAD_TAG_LENGTH <= packet.length
      )
    ) {
      throw new CryptoError(
        CryptoErrorCode.InvalidArgument,
        'seal: header/payload lengths do not fit the buffer (+16 tag bytes)',
      );
    }
    if (!(Number.isInteger(packetNumber) && packetNumber > this.lastSealed && packetNumber <= MAX_PACKET_NUMBER)) {
      throw new CryptoError(
        CryptoErrorCode.NonceExhausted,
        `seal: packet number ${packetNumber} not above ${this.lastSealed}`,
      );
    }
    return end;
  }

  /** Bookkeeping after a packet was sealed; returns the protected length. */
  private sealed(packetNumber: number, end: number): number {
    this.lastSealed = packetNumber;
    this.counters.sealed++;
    if (++this.sealedInPhase >= this.keyUpdateAfterPackets) this.updateKeys();
    return end + AEAD_TAG_LENGTH;
  }

  /**
   * Verifies and decrypts packet[headerLength, packetLength) in place (the last 16 bytes are the tag).
   * `packetNumber` is the full packet number the caller reconstructed from the truncated one,
   * `keyPhase` the header's key-phase bit. Returns the plaintext length (≥ 0) — the plaintext is at
   * packet[headerLength, headerLength + result) — or a negative OpenResult. Never throws. Hot path.
   */
  open(packet: Uint8Array, headerLength: number, packetLength: number, packetNumber: number, keyPhase: 0 | 1): number {
    if (
      !(packet instanceof Uint8Array) ||
      !Number.isInteger(headerLength) ||
      !Number.isInteger(packetLength) ||
      headerLength < 0 ||
      packetLength > packet.length ||
      !Number.isInteger(packetNumber) ||
      packetNumber < 0 ||
      packetNumber > MAX_PACKET_NUMBER ||
      (keyPhase !== 0 && keyPhase !== 1)
    ) {
      this.counters.invalidArgument++;
      return OpenResult.INVALID_ARGUMENT;
    }
    const bodyLength = packetLength - headerLength - AEAD_TAG_LENGTH;
    if (bodyLength < 0) {
      this.counters.truncated++;
      return OpenResult.TRUNCATED;
    }
    if (this.counters.authFailed >= this.integrityLimit) {
      this.counters.aeadLimitReached++;
      return OpenResult.AEAD_LIMIT_REACHED;
    }

    // Which keys (RFC 9001 §6.3–6.5): same bit → current; other bit and a packet number below the
    // start of the current phase → previous; otherwise → next (the peer may be updating).
    let keys: PhaseKeys;
    let context: AeadContext | null;
    if (keyPhase === (this.receive.generation & 1)) {
      keys = this.receive;
      context = this.receiveContext;
    } else if (packetNumber < this.receivePhaseStart) {
      if (this.receivePrevious === null) {
        this.counters.keyUnavailable++;
        return OpenResult.KEY_UNAVAILABLE;
      }
      keys = this.receivePrevious;
      context = this.receivePreviousContext;
    } else {
      keys = this.receiveNext;
      context = this.receiveNextContext;
    }

    writeNonce(this.receiveNonce, keys.iv, packetNumber);
    const bodyEnd = headerLength + bodyLength;
    // libsodium verifies the tag before decrypting; on failure it zeroes the payload bytes (never
    // releases unverified plaintext), and so does the OpenSSL path (punchline_aead.c). The packet is
    // dropped either way; no state has changed.
    let authentic: boolean;
    if (context !== null) {
      authentic =
        (this.openssl as OpensslAead).open(context, packet, headerLength, packetLength, this.receiveNonce) ===
        bodyLength;
    } else {
      const v = this.openViews.get(packet, headerLength, bodyEnd);
      authentic = packetAead.open(v.text, v.tag, v.ad, this.receiveNonce, keys.key);
    }
    if (!authentic) {
      this.counters.authFailed++;
      if (this.counters.authFailed >= this.integrityLimit) {
        this.counters.aeadLimitReached++;
        return OpenResult.AEAD_LIMIT_REACHED;
      }
      return OpenResult.AUTH_FAILED;
    }

    // Authentic. Only now consult the replay window (RFC 6479 §3): forged packets cannot move it.
    const replay = this.window.check(packetNumber);
    if (replay !== ReplayCheck.Ok) {
      if (replay === ReplayCheck.Replayed) {
        this.counters.replayed++;
        return OpenResult.REPLAYED;
      }
      this.counters.tooOld++;
      return OpenResult.TOO_OLD;
    }
    if (keys === this.receiveNext) {
      // RFC 9001 §6.4: a new phase must not go back below packets of the current phase.
      if (packetNumber < this.receivePhaseLargest) {
        this.counters.keyUpdateError++;
        return OpenResult.KEY_UPDATE_ERROR;
      }
      this.rotateReceiveKeys(packetNumber);
    } else if (keys === this.receive && packetNumber > this.receivePhaseLargest) {
      this.receivePhaseLargest = packetNumber;
    }
    this.window.update(packetNumber);
    // Once the window has moved past every previous-phase packet number, those keys can never be used.
    if (this.receivePrevious !== null && this.window.largest - this.receivePhaseStart >= this.window.size) {
      this.discardPreviousReceiveKey();
    }
    this.counters.opened++;
    return bodyLength;
  }

  /**
   * Starts a key update (RFC 9001 §6.1): the next sealed packet uses the next phase. Returns false
   * (and does nothing) while the previous update is unanswered (see canUpdateKeys). Call it from a
   * timer for time-based rekeying; the packet-count trigger calls it too.
   */
  updateKeys(): boolean {
    if (!this.canUpdateKeys) return false;
    this.advanceSendKeys();
    this.counters.keyUpdatesInitiated++;
    return true;
  }

  /** Drops the previous receive keys (RFC 9001 §6.5: the transport calls this ~3 PTO after an update). */
  discardPreviousReceiveKey(): void {
    if (this.receivePrevious !== null) {
      wipePhaseKeys(this.receivePrevious);
      this.receivePrevious = null;
      this.release(this.receivePreviousContext);
      this.receivePreviousContext = null;
    }
  }

  stats(): PacketProtectionStats {
    return { ...this.counters, sendGeneration: this.send.generation, receiveGeneration: this.receive.generation };
  }

  /** Zeroes every key held. The object must not be used afterwards. */
  destroy(): void {
    this.sealViews.clear();
    this.openViews.clear();
    wipePhaseKeys(this.send);
    wipePhaseKeys(this.receive);
    wipePhaseKeys(this.receiveNext);
    this.release(this.sendContext);
    this.release(this.receiveContext);
    this.release(this.receiveNextContext);
    this.sendContext = this.receiveContext = this.receiveNextContext = null;
    this.discardPreviousReceiveKey();
  }

  /**
   * An OpenSSL context for `keys` (copies the key into OpenSSL's schedule), or null without the add-on
   * or when OpenSSL could not make one (out of memory): that key then runs on libsodium, which needs
   * no context. Anything but an object is no context (a failed native call must not become a "context"
   * that makes seal() throw and open() break its never-throw contract).
   */
  private contextFor(keys: PhaseKeys): AeadContext | null {
    if (this.openssl === null) return null;
    try {
      const context = this.openssl.create(keys.key);
      return typeof context === 'object' && context !== null ? context : null;
    } catch {
      return null;
    }
  }

  /** Frees a context whose key is being wiped: OpenSSL cleanses its copy of the key now, not at GC. */
  private release(context: AeadContext | null): void {
    if (context !== null) (this.openssl as OpensslAead).free(context);
  }

  private rotateReceiveKeys(firstPacketNumber: number): void {
    this.discardPreviousReceiveKey();
    this.receivePrevious = this.receive;
    this.receivePreviousContext = this.receiveContext;
    this.receive = this.receiveNext;
    this.receiveContext = this.receiveNextContext;
    this.receiveNext = nextPhaseKeys(this.receive);
    this.receiveNextContext = this.contextFor(this.receiveNext);
    this.receivePrevious.secret.fill(0); // only key and iv are needed for late packets
    this.receivePhaseStart = firstPacketNumber;
    this.receivePhaseLargest = firstPacketNumber;
    this.counters.keyUpdatesReceived++;
    // RFC 9001 §6.2: answer a peer-initiated update by updating our send keys too.
    if (this.send.generation < this.receive.generation) this.advanceSendKeys();
  }

  private advanceSendKeys(): void {
    const old = this.send;
    this.send = nextPhaseKeys(old);
    // The new context first: the old one is freed only once it is no longer in this.sendContext.
    const oldContext = this.sendContext;
    this.sendContext = this.contextFor(this.send);
    wipePhaseKeys(old);
    this.release(oldContext);
    this.sealedInPhase = 0;
  }
}

/** The three views of one packet layout: AAD [0, header), text [header, end), tag [end, end + 16). */
interface AeadViews {
  packet: Uint8Array | null;
  headerLength: number;
  end: number;
  ad: Uint8Array;
  text: Uint8Array;
  tag: Uint8Array;
}

const EMPTY = new Uint8Array(0);
/** Entries per cache (power of two): distinct (buffer, header, end) layouts a connection cycles through. */
const VIEW_CACHE_SIZE = 16;

/**
 * Direct-mapped cache of AeadViews keyed by (packet buffer, header length, end). Views alias the
 * packet buffer, so reusing them for the same layout is exactly equivalent to making new ones. An
 * entry holds a reference to its buffer (at most VIEW_CACHE_SIZE buffers are kept alive). Hot path.
 */
class AeadViewCache {
  private readonly entries: AeadViews[] = [];

  constructor() {
    for (let i = 0; i < VIEW_CACHE_SIZE; i++) {
      this.entries.push({ packet: null, headerLength: -1, end: -1, ad: EMPTY, text: EMPTY, tag: EMPTY });
    }
  }

  get(packet: Uint8Array, headerLength: number, end: number): AeadViews {
    const e = this.entries[(end * 4 + headerLength) & (VIEW_CACHE_SIZE - 1)] as AeadViews;
    if (e.packet !== packet || e.headerLength !== headerLength || e.end !== end) {
      e.packet = packet;
      e.headerLength = headerLength;
      e.end = end;
      e.ad = packet.subarray(0, headerLength);
      e.text = packet.subarray(headerLength, end);
      e.tag = packet.subarray(end, end + AEAD_TAG_LENGTH);
    }
    return e;
  }

  clear(): void {
    for (const e of this.entries) {
      e.packet = null;
      e.headerLength = -1;
      e.ad = e.text = e.tag = EMPTY;
    }
  }
}

/** nonce = iv XOR (4 zero bytes ‖ 64-bit big-endian packet number) (RFC 9001 §5.3). */
function writeNonce(nonce: Uint8Array, iv: Uint8Array, packetNumber: number): void {
  let low = packetNumber >>> 0;
  let high = Math.floor(packetNumber / 0x1_0000_0000) >>> 0;
  nonce[0] = iv[0]!;
  nonce[1] = iv[1]!;
  nonce[2] = iv[2]!;
  nonce[3] = iv[3]!;
  for (let i = 7; i >= 4; i--) {
    nonce[i] = iv[i]! ^ (high & 0xff);
    high >>>= 8;
  }
  for (let i = 11; i >= 8; i--) {
    nonce[i] = iv[i]! ^ (low & 0xff);
    low >>>= 8;
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new CryptoError(CryptoErrorCode.InvalidArgument, `${name} must be a positive integer`);
  }
  return value;
}
