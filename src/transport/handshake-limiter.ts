/**
 * Handshake flood limits for the transport endpoint (RFC 9000 §8.1, §21.6 in spirit).
 *
 * A Noise first message is only an ephemeral key (XX) and the Initial's connection IDs are not
 * authenticated, so every acceptable Initial would otherwise cost the server a DH, a connection and
 * its buffers. The limiter decides, before any state exists, what an Initial gets:
 *   - `accept`: create the connection;
 *   - `retry`: under load (or always, when configured), an Initial without a valid token is answered
 *     statelessly with a Retry carrying an address-validation token (a MAC over the client's address,
 *     its Initial DCID and the time, keyed by a secret of this endpoint); the client repeats its
 *     Initial with the token, proving it receives at the address it claims (RFC 9000 §8.1.2);
 *   - `drop`: the endpoint is at its cap of half-open connections, the source holds its share, or
 *     the token is forged or expired.
 * Half-open connections (server side, handshake not yet confirmed) are counted in total and per
 * source IP; the endpoint reports when one opens and when it settles.
 *
 * Retries wait in a fixed ring (no allocation per Retry) until the endpoint's pollTransmit writes
 * them; when the ring is full further Retries are not sent (the client retransmits its Initial).
 *
 * Retries a source does not answer are budgeted (RFC 9000 §8.1.2 lets a server drop Initials
 * instead of sending Retry; §21.5 on reflection): a source IP that keeps sending token-less Initials
 * and never returns a token is a flood (or a spoofed victim), and each Retry costs this endpoint a
 * MAC and a send and reflects a datagram at that address. Unanswered Retries are counted per source
 * in a fixed count-min sketch (two rows of keyed buckets, halved every `retryBudgetHalfLifeMs`); a
 * token-less Initial from a source whose both buckets hold `maxUnansweredRetriesPerSource` is dropped
 * without a Retry. A legitimate client sends one token-less Initial per attempt, so it stays far
 * below; a flood spoofing random sources spreads over all buckets and decays below the threshold
 * (every source still gets its Retry). Fixed memory, no allocation per Initial.
 */
import { sodium, type RandomSource } from '../crypto/sodium.js';
import type { Address } from '../wire/address.js';
import { writeLongHeader } from '../wire/headers.js';
import { CONNECTION_ID_LENGTH, LongPacketType, type LongHeader } from '../wire/types.js';

export interface HandshakeLimits {
  /** Server connections whose handshake is not yet confirmed, at most (further Initials are dropped). */
  readonly maxHalfOpen: number;
  /** Half-open connections one source IP may hold. */
  readonly maxHalfOpenPerSource: number;
  /** From this many half-open connections on, Initials need an address-validation token (Retry). */
  readonly retryThreshold: number;
  /** How long a Retry token stays valid, ms. */
  readonly tokenLifetimeMs: number;
  /** Retries waiting to be sent, at most. */
  readonly maxPendingRetries: number;
  /** Unanswered Retries a source IP may have (decaying) before its token-less Initials are dropped. */
  readonly maxUnansweredRetriesPerSource: number;
  /** Half-life of the unanswered-Retry counts, ms. */
  readonly retryBudgetHalfLifeMs: number;
}

const DEFAULT_HANDSHAKE_LIMITS: HandshakeLimits = {
  maxHalfOpen: 512,
  maxHalfOpenPerSource: 32,
  retryThreshold: 32,
  tokenLifetimeMs: 10_000,
  maxPendingRetries: 256,
  maxUnansweredRetriesPerSource: 16,
  retryBudgetHalfLifeMs: 1000,
};

/** Buckets per row of the unanswered-Retry sketch (two rows). */
const SKETCH_BUCKETS = 4096;

export type HandshakeVerdict = 'accept' | 'retry' | 'drop';

/** Token: issue time (48-bit ms) ‖ BLAKE2b-128 MAC. */
const TIME_LENGTH = 6;
const MAC_LENGTH = 16;
export const RETRY_TOKEN_LENGTH = TIME_LENGTH + MAC_LENGTH;
const encoder = new TextEncoder();
const LABEL = encoder.encode('punchline retry token v1');

/** What the limiter tracks of a connection: enough to see it settle. */
export interface HalfOpenConnection {
  readonly handshakeConfirmed: boolean;
  readonly isFinished: boolean;
}

export interface HandshakeLimiterStats {
  halfOpen: number;
  retriesSent: number;
  retriesDropped: number;
  validatedInitials: number;
  droppedAtCap: number;
  droppedPerSource: number;
  droppedBadToken: number;
  /** Token-less Initials dropped without a Retry: their source left too many Retries unanswered. */
  droppedRetryBudget: number;
}

export class HandshakeLimiter {
  readonly limits: HandshakeLimits;
  readonly stats: HandshakeLimiterStats = {
    halfOpen: 0,
    retriesSent: 0,
    retriesDropped: 0,
    validatedInitials: 0,
    droppedAtCap: 0,
    droppedPerSource: 0,
    droppedBadToken: 0,
    droppedRetryBudget: 0,
  };
  private readonly secret = new Uint8Array(32);
  private readonly halfOpen = new Map<HalfOpenConnection, string>();
  private readonly perSource = new Map<string, number>();
  private lastRefresh = -Infinity;
  /** Unanswered Retries per source: two rows of SKETCH_BUCKETS counters, keyed hashes (seeds). */
  private readonly sketch = new Uint16Array(2 * SKETCH_BUCKETS);
  private readonly sketchSeeds = new Uint32Array(2);
  private sketchDecayedAt = 0;
  private bucket0 = 0;
  private bucket1 = 0;
  // Retry ring: destination, the client's SCID (our Retry's DCID), its Initial DCID, issue time.
  private readonly ringHosts: string[];
  private readonly ringPorts: Int32Array;
  private readonly ringCids: Uint8Array;
  private readonly ringDcids: Uint8Array;
  private readonly ringTimes: Float64Array;
  private ringHead = 0;
  private ringSize = 0;
  private readonly macInput: Uint8Array;
  private readonly mac = new Uint8Array(MAC_LENGTH);
  private readonly token = new Uint8Array(RETRY_TOKEN_LENGTH);
  private readonly retrySource = new Uint8Array(CONNECTION_ID_LENGTH);
  private readonly transmit = { destination: { host: '', port: 0 } as Address, length: 0 };

  constructor(
    private readonly random: RandomSource,
    limits: Partial<HandshakeLimits> = {},
  ) {
    this.limits = { ...DEFAULT_HANDSHAKE_LIMITS, ...limits };
    random(this.secret);
    random(new Uint8Array(this.sketchSeeds.buffer));
    const n = this.limits.maxPendingRetries;
    this.ringHosts = new Array<string>(n).fill('');
    this.ringPorts = new Int32Array(n);
    this.ringCids = new Uint8Array(n * CONNECTION_ID_LENGTH);
    this.ringDcids = new Uint8Array(n * CONNECTION_ID_LENGTH);
    this.ringTimes = new Float64Array(n);
    // label ‖ port (2) ‖ DCID (8) ‖ time (6) ‖ host (≤ 64 bytes of text, zero-padded)
    this.macInput = new Uint8Array(LABEL.length + 2 + CONNECTION_ID_LENGTH + TIME_LENGTH + 64);
    this.macInput.set(LABEL, 0);
  }

  get halfOpenCount(): number {
    return this.halfOpen.size;
  }

  /** What to do with an Initial that would create a new server connection. */
  admit(header: LongHeader, from: Address, now: number): HandshakeVerdict {
    if (this.halfOpen.size >= this.limits.maxHalfOpen) {
      this.stats.droppedAtCap++;
      return 'drop';
    }
    if ((this.perSource.get(from.host) ?? 0) >= this.limits.maxHalfOpenPerSource) {
      this.stats.droppedPerSource++;
      return 'drop';
    }
    const token = header.token;
    if (token.length > 0) {
      if (this.tokenValid(token, from, header.destinationConnectionId, now)) {
        this.stats.validatedInitials++;
        this.answeredRetry(from.host);
        return 'accept';
      }
      // A forged, expired or replayed-elsewhere token: only under load does it matter.
      if (this.halfOpen.size >= this.limits.retryThreshold) {
        this.stats.droppedBadToken++;
        return 'drop';
      }
      return 'accept';
    }
    if (this.halfOpen.size < this.limits.retryThreshold) return 'accept';
    if (this.overRetryBudget(from.host, now)) {
      this.stats.droppedRetryBudget++;
      return 'drop';
    }
    this.queueRetry(header, from, now);
    return 'retry';
  }

  /** A server connection was created for an Initial from `from`. */
  opened(conn: HalfOpenConnection, from: Address): void {
    this.halfOpen.set(conn, from.host);
    this.perSource.set(from.host, (this.perSource.get(from.host) ?? 0) + 1);
    this.stats.halfOpen = this.halfOpen.size;
  }

  /** The connection's handshake was confirmed or it closed: it no longer counts. */
  settle(conn: HalfOpenConnection): void {
    const host = this.halfOpen.get(conn);
    if (host === undefined) return;
    this.halfOpen.delete(conn);
    const n = (this.perSource.get(host) ?? 1) - 1;
    if (n > 0) this.perSource.set(host, n);
    else this.perSource.delete(host);
    this.stats.halfOpen = this.halfOpen.size;
  }

  /**
   * Settles every tracked connection that was confirmed or finished (at most once per ms): O(half-open).
   * The endpoint does not need it (it settles each connection it sees change); for other owners.
   */
  refresh(now: number): void {
    if (now === this.lastRefresh) return;
    this.lastRefresh = now;
    for (const conn of this.halfOpen.keys()) if (conn.handshakeConfirmed || conn.isFinished) this.settle(conn);
  }

  /**
   * Writes the next pending Retry into `buffer`; null when none is pending. The returned object is
   * reused by the next call.
   */
  pollTransmit(buffer: Uint8Array): { destination: Address; length: number } | null {
    if (this.ringSize === 0) return null;
    const i = this.ringHead;
    this.ringHead = (this.ringHead + 1) % this.limits.maxPendingRetries;
    this.ringSize--;
    const host = this.ringHosts[i] as string;
    const port = this.ringPorts[i] as number;
    const clientCid = this.ringCids.subarray(i * CONNECTION_ID_LENGTH, (i + 1) * CONNECTION_ID_LENGTH);
    const initialDcid = this.ringDcids.subarray(i * CONNECTION_ID_LENGTH, (i + 1) * CONNECTION_ID_LENGTH);
    this.mint(host, port, initialDcid, this.ringTimes[i] as number);
    this.random(this.retrySource);
    const length = writeLongHeader(buffer, 0, LongPacketType.Retry, clientCid, this.retrySource, this.token, 0);
    this.stats.retriesSent++;
    this.transmit.destination = { host, port };
    this.transmit.length = length;
    return this.transmit;
  }

  /**
   * Looks up the source's two buckets (left in bucket0/bucket1 for countRetry) after decaying the
   * sketch; true when both hold the budget. FNV-1a over the host text, one seed per row.
   */
  private overRetryBudget(host: string, now: number): boolean {
    const halfLife = this.limits.retryBudgetHalfLifeMs;
    if (now - this.sketchDecayedAt >= halfLife) {
      // Halve once per elapsed half-life (at most 16 times: the counters are 16-bit).
      const halvings = Math.min(16, Math.floor((now - this.sketchDecayedAt) / halfLife));
      const sketch = this.sketch;
      for (let i = 0; i < sketch.length; i++) sketch[i] = (sketch[i] as number) >>> halvings;
      this.sketchDecayedAt = now;
    }
    let h0 = (this.sketchSeeds[0] as number) ^ 0x811c9dc5;
    let h1 = (this.sketchSeeds[1] as number) ^ 0x811c9dc5;
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      h0 = Math.imul(h0 ^ c, 0x01000193);
      h1 = Math.imul(h1 ^ c, 0x01000193);
    }
    this.bucket0 = (h0 >>> 0) % SKETCH_BUCKETS;
    this.bucket1 = SKETCH_BUCKETS + ((h1 >>> 0) % SKETCH_BUCKETS);
    const max = this.limits.maxUnansweredRetriesPerSource;
    return (this.sketch[this.bucket0] as number) >= max && (this.sketch[this.bucket1] as number) >= max;
  }

  /** A source returned a valid token: it answers its Retries (its buckets are cleared). */
  private answeredRetry(host: string): void {
    this.overRetryBudget(host, this.sketchDecayedAt);
    this.sketch[this.bucket0] = 0;
    this.sketch[this.bucket1] = 0;
  }

  private queueRetry(header: LongHeader, from: Address, now: number): void {
    // Counted when queued (bucket0/bucket1 from overRetryBudget just before).
    const sketch = this.sketch;
    sketch[this.bucket0] = Math.min(0xffff, (sketch[this.bucket0] as number) + 1);
    sketch[this.bucket1] = Math.min(0xffff, (sketch[this.bucket1] as number) + 1);
    const n = this.limits.maxPendingRetries;
    if (this.ringSize >= n) {
      this.stats.retriesDropped++;
      return;
    }
    const i = (this.ringHead + this.ringSize) % n;
    this.ringSize++;
    this.ringHosts[i] = from.host;
    this.ringPorts[i] = from.port;
    this.ringCids.set(header.sourceConnectionId, i * CONNECTION_ID_LENGTH);
    this.ringDcids.set(header.destinationConnectionId, i * CONNECTION_ID_LENGTH);
    this.ringTimes[i] = now;
  }

  /** token = time ‖ MAC(secret; label, port, Initial DCID, time, host). */
  private mint(host: string, port: number, dcid: Uint8Array, issuedAt: number): void {
    const t = Math.max(0, Math.floor(issuedAt));
    for (let b = 0, v = t; b < TIME_LENGTH; b++, v = Math.floor(v / 256)) this.token[TIME_LENGTH - 1 - b] = v % 256;
    this.computeMac(host, port, dcid, this.token.subarray(0, TIME_LENGTH));
    this.token.set(this.mac, TIME_LENGTH);
  }

  private computeMac(host: string, port: number, dcid: Uint8Array, time: Uint8Array): void {
    const input = this.macInput;
    let o = LABEL.length;
    input[o++] = port >>> 8;
    input[o++] = port & 0xff;
    input.set(dcid, o);
    o += CONNECTION_ID_LENGTH;
    input.set(time, o);
    o += TIME_LENGTH;
    const written = encoder.encodeInto(host, input.subarray(o)).written;
    input.fill(0, o + written);
    sodium.crypto_generichash(this.mac, input, this.secret);
  }

  private tokenValid(token: Uint8Array, from: Address, dcid: Uint8Array, now: number): boolean {
    if (token.length !== RETRY_TOKEN_LENGTH) return false;
    let issuedAt = 0;
    for (let b = 0; b < TIME_LENGTH; b++) issuedAt = issuedAt * 256 + (token[b] as number);
    if (issuedAt > now || now - issuedAt > this.limits.tokenLifetimeMs) return false;
    this.computeMac(from.host, from.port, dcid, token.subarray(0, TIME_LENGTH));
    let diff = 0;
    for (let b = 0; b < MAC_LENGTH; b++) diff |= (this.mac[b] as number) ^ (token[TIME_LENGTH + b] as number);
    return diff === 0;
  }
}
