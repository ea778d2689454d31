/**
 * Sans-IO relay (spec/relay.md): allocations between two authenticated peers, each side a "leg"
 * bound either to a validated UDP address (UDP relay, data plane on the server's UDP port) or to
 * a stream of the peer's WebTransport session (stream relay). Payloads are opaque, already-encrypted
 * transport packets: the relay never parses, decrypts or produces one — it can only forward what one
 * leg's owner sent to the other leg, so it can neither read nor forge.
 *
 * The same leg table holds "presence legs": a session's UDP keepalive identity (spec/relay.md
 * §Presence), validated by the same BIND/CHALLENGE exchange, which lets the server reach a peer
 * over UDP on its shared socket.
 *
 * No amplification (cf. RFC 9000 §8, RFC 8656 §9): data is only ever sent to validated addresses;
 * to an unvalidated address the server sends only a CHALLENGE in reply to a BIND, which is shorter,
 * and it keeps per-address byte counters proving sent ≤ received.
 */
import type { Address } from '../transport/api.js';
import type { RandomSource } from '../crypto/sodium.js';
import { mac } from '../traversal/rendezvous/auth.js';
import { CHANNEL_ID_LENGTH, LEG_KEY_LENGTH, bytesEqual } from '../traversal/rendezvous/messages.js';
import {
  COOKIE_LENGTH,
  RelayControlType,
  encapsulate,
  encodeBound,
  encodeChallenge,
  isControlChannel,
  parseControl,
  parseRelayDatagram,
  verifyBind,
} from '../traversal/relay/udp-control.js';
import { ServerError, ServerErrorCode } from './errors.js';
import { OutputQueue } from './output-queue.js';

export interface RelayLimits {
  /** Concurrent allocations a peer (public key) may be part of. */
  readonly maxAllocationsPerPeer: number;
  /** Sustained forwarding rate per peer (token bucket), bytes/s. */
  readonly bandwidthBytesPerSecond: number;
  /** Token bucket depth, bytes. */
  readonly burstBytes: number;
  /** Bytes a peer may send through the relay per quota window. */
  readonly maxBytesPerPeer: number;
  readonly quotaWindowMs: number;
  /** An allocation with no forwarded packet and no BIND for this long is released. */
  readonly idleTimeoutMs: number;
  /** Largest inner datagram forwarded. */
  readonly maxDatagramBytes: number;
  /** A CHALLENGE cookie stays valid for one to two of these periods. */
  readonly cookiePeriodMs: number;
  /** Unvalidated addresses tracked for amplification accounting (oldest evicted first). */
  readonly maxTrackedAddresses: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  maxAllocationsPerPeer: 8,
  bandwidthBytesPerSecond: 8 * 1024 * 1024,
  burstBytes: 1024 * 1024,
  maxBytesPerPeer: 4 * 1024 * 1024 * 1024,
  quotaWindowMs: 60 * 60 * 1000,
  idleTimeoutMs: 60_000,
  maxDatagramBytes: 1500,
  cookiePeriodMs: 30_000,
  maxTrackedAddresses: 65_536,
};

export const RelayDropReason = {
  Malformed: 'malformed',
  UnknownLeg: 'unknown-leg',
  Unvalidated: 'unvalidated',
  BadMac: 'bad-mac',
  Replay: 'replay',
  BadCookie: 'bad-cookie',
  PeerUnbound: 'peer-unbound',
  QuotaBandwidth: 'quota-bandwidth',
  QuotaBytes: 'quota-bytes',
  Oversize: 'oversize',
  Amplification: 'amplification',
  WrongSession: 'wrong-session',
} as const;
export type RelayDropReason = (typeof RelayDropReason)[keyof typeof RelayDropReason];

export type RelayOutput =
  | { readonly kind: 'udp'; readonly to: Address; readonly data: Uint8Array }
  /** An inner datagram for the relay stream `leg` of session `sessionId`. */
  | { readonly kind: 'stream'; readonly sessionId: number; readonly leg: Uint8Array; readonly data: Uint8Array }
  /** A relay leg of `sessionId` ended (its allocation was released). */
  | { readonly kind: 'leg-closed'; readonly sessionId: number; readonly leg: Uint8Array; readonly reason: string };

export interface LegGrant {
  readonly id: Uint8Array;
  readonly key: Uint8Array;
}

interface Leg {
  readonly id: Uint8Array;
  readonly mapKey: number;
  readonly key: Uint8Array;
  readonly sessionId: number;
  readonly owner: string;
  readonly channel: Channel | null; // null: presence leg
  udp: Address | null;
  udpKey: string | null;
  stream: boolean;
  lastCounter: number;
}

interface Channel {
  readonly legs: readonly [Leg, Leg];
  lastActivity: number;
  bytes: number;
}

interface PeerQuota {
  allocations: number;
  tokens: number;
  lastRefill: number;
  windowStart: number;
  windowBytes: number;
}

export interface RelayStats {
  readonly allocations: number;
  readonly presenceLegs: number;
  readonly relayedPackets: number;
  readonly relayedBytes: number;
  readonly unvalidatedBytesReceived: number;
  readonly unvalidatedBytesSent: number;
  readonly drops: Readonly<Record<RelayDropReason, number>>;
}

const SWEEP_INTERVAL_MS = 1000;

function addressKey(a: Address): string {
  return `${a.host}|${a.port}`;
}

/** A 53-bit map key from the first bytes of an 8-byte ID (collisions re-rolled at allocation, full ID checked on lookup). */
function idMapKey(id: Uint8Array): number {
  return (
    (id[0]! & 0x1f) * 0x1_0000_0000_0000 +
    id[1]! * 0x100_0000_0000 +
    id[2]! * 0x1_0000_0000 +
    ((id[3]! << 24) >>> 0) +
    (id[4]! << 16) +
    (id[5]! << 8) +
    id[6]!
  );
}

export class RelayCore {
  readonly limits: RelayLimits;
  private readonly random: RandomSource;
  private readonly cookieSecret = new Uint8Array(32);
  private readonly legs = new Map<number, Leg>();
  private readonly presence = new Map<number, Leg>(); // sessionId → presence leg
  private readonly sessionLegs = new Map<number, Set<Leg>>();
  private readonly channels = new Set<Channel>();
  private readonly quotas = new Map<string, PeerQuota>();
  private readonly unvalidated = new Map<string, { rx: number; tx: number }>();
  private readonly outputs = new OutputQueue<RelayOutput>();
  private nextSweep = 0;
  private relayedPackets = 0;
  private relayedBytes = 0;
  private unvalidatedRx = 0;
  private unvalidatedTx = 0;
  private readonly drops: Record<RelayDropReason, number>;

  constructor(options: { random: RandomSource; limits?: Partial<RelayLimits> }) {
    this.random = options.random;
    this.limits = { ...DEFAULT_RELAY_LIMITS, ...options.limits };
    // A zero period would make every cookie period "Infinity": cookies would never expire.
    if (!(this.limits.cookiePeriodMs > 0) || !Number.isFinite(this.limits.cookiePeriodMs)) {
      throw new ServerError(
        ServerErrorCode.Config,
        `relay limit cookiePeriodMs must be a positive finite number (got ${this.limits.cookiePeriodMs})`,
      );
    }
    this.random(this.cookieSecret);
    this.drops = Object.fromEntries(Object.values(RelayDropReason).map((r) => [r, 0])) as Record<
      RelayDropReason,
      number
    >;
  }

  // ---- control plane (called by the rendezvous core for authenticated sessions) --------------

  /** Creates (or returns) the UDP presence leg of a session. */
  presenceLeg(sessionId: number, owner: string): LegGrant {
    const existing = this.presence.get(sessionId);
    if (existing) return { id: existing.id, key: existing.key };
    const leg = this.newLeg(sessionId, owner, null);
    this.presence.set(sessionId, leg);
    return { id: leg.id, key: leg.key };
  }

  /** The validated UDP address of a session's presence leg, if any. */
  presenceAddress(sessionId: number): { address: Address; leg: LegGrant } | null {
    const leg = this.presence.get(sessionId);
    if (!leg?.udp) return null;
    return { address: leg.udp, leg: { id: leg.id, key: leg.key } };
  }

  /** Checks the allocation quota of both peers; null when allowed, else the exhausted side. */
  allocationRefused(ownerA: string, ownerB: string): string | null {
    for (const owner of [ownerA, ownerB]) {
      const q = this.quotas.get(owner);
      if (q && q.allocations >= this.limits.maxAllocationsPerPeer) return owner;
    }
    return null;
  }

  /**
   * Allocates a channel between two sessions. The caller checked both are authenticated and online
   * and that allocationRefused() is null.
   */
  allocate(
    a: { sessionId: number; owner: string },
    b: { sessionId: number; owner: string },
    now: number,
  ): [LegGrant, LegGrant] {
    const placeholder = {} as Channel;
    const legA = this.newLeg(a.sessionId, a.owner, placeholder);
    const legB = this.newLeg(b.sessionId, b.owner, placeholder);
    const channel: Channel = { legs: [legA, legB], lastActivity: now, bytes: 0 };
    (legA as { channel: Channel }).channel = channel;
    (legB as { channel: Channel }).channel = channel;
    this.channels.add(channel);
    for (const owner of new Set([a.owner, b.owner])) this.quota(owner, now).allocations += 1;
    return [
      { id: legA.id, key: legA.key },
      { id: legB.id, key: legB.key },
    ];
  }

  /** Releases the allocation a leg of `sessionId` belongs to; false if it is not that session's. */
  release(sessionId: number, legId: Uint8Array, reason: string): boolean {
    const leg = this.lookup(legId);
    if (!leg || leg.sessionId !== sessionId || !leg.channel) return false;
    this.closeChannel(leg.channel, reason);
    return true;
  }

  /** Binds a relay leg to a stream of its own session (stream relay). */
  bindStream(sessionId: number, legId: Uint8Array): boolean {
    const leg = this.lookup(legId);
    if (!leg?.channel || leg.sessionId !== sessionId) {
      this.drops[RelayDropReason.WrongSession] += 1;
      return false;
    }
    leg.stream = true;
    leg.udp = null;
    leg.udpKey = null;
    return true;
  }

  unbindStream(sessionId: number, legId: Uint8Array): void {
    const leg = this.lookup(legId);
    if (leg && leg.sessionId === sessionId) leg.stream = false;
  }

  /** Forgets every leg of a session (its rendezvous session ended). */
  closeSession(sessionId: number, reason: string): void {
    const legs = this.sessionLegs.get(sessionId);
    if (!legs) return;
    for (const leg of [...legs]) {
      if (leg.channel) this.closeChannel(leg.channel, reason);
      else this.removeLeg(leg);
    }
    this.presence.delete(sessionId);
    this.sessionLegs.delete(sessionId);
  }

  // ---- data plane ------------------------------------------------------------------------------

  /** A datagram whose first byte is 0x12 arrived on the server's UDP port. Hot path. */
  receive(datagram: Uint8Array, from: Address, now: number): void {
    const parsed = parseRelayDatagram(datagram);
    if (!parsed) {
      this.drops[RelayDropReason.Malformed] += 1;
      return;
    }
    if (isControlChannel(parsed.channel)) {
      this.receiveControl(parsed.inner, datagram.length, from, now);
      return;
    }
    const leg = this.lookup(parsed.channel);
    if (!leg) {
      this.drops[RelayDropReason.UnknownLeg] += 1;
      return;
    }
    const key = addressKey(from);
    if (leg.udpKey !== key) {
      // Not from the address this leg validated: never forwarded (an attacker can't inject or redirect).
      this.countUnvalidatedReceived(key, datagram.length);
      this.drops[RelayDropReason.Unvalidated] += 1;
      return;
    }
    this.forward(leg, parsed.inner, now);
  }

  /** An inner datagram arrived on the relay stream `legId` of session `sessionId`. */
  receiveStream(sessionId: number, legId: Uint8Array, inner: Uint8Array, now: number): void {
    const leg = this.lookup(legId);
    if (!leg || leg.sessionId !== sessionId || !leg.stream) {
      this.drops[RelayDropReason.WrongSession] += 1;
      return;
    }
    this.forward(leg, inner, now);
  }

  pollOutput(): RelayOutput | null {
    return this.outputs.poll();
  }

  nextDeadline(): number {
    return this.channels.size === 0 ? Infinity : this.nextSweep;
  }

  /** Releases idle allocations (spec/relay.md §Expiry). */
  onTimeout(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const channel of [...this.channels]) {
      if (now - channel.lastActivity >= this.limits.idleTimeoutMs) this.closeChannel(channel, 'idle');
    }
    for (const [owner, q] of this.quotas) {
      if (q.allocations === 0 && now - q.windowStart >= this.limits.quotaWindowMs) this.quotas.delete(owner);
    }
  }

  stats(): RelayStats {
    return {
      allocations: this.channels.size,
      presenceLegs: this.presence.size,
      relayedPackets: this.relayedPackets,
      relayedBytes: this.relayedBytes,
      unvalidatedBytesReceived: this.unvalidatedRx,
      unvalidatedBytesSent: this.unvalidatedTx,
      drops: { ...this.drops },
    };
  }

  /** Bytes received from / sent to an address while it was unvalidated (for tests and audits). */
  unvalidatedTraffic(address: Address): { received: number; sent: number } {
    const t = this.unvalidated.get(addressKey(address));
    return { received: t?.rx ?? 0, sent: t?.tx ?? 0 };
  }

  // ---- internals -------------------------------------------------------------------------------

  private receiveControl(inner: Uint8Array, datagramLength: number, from: Address, now: number): void {
    const control = parseControl(inner);
    if (!control || control.type !== RelayControlType.Bind) {
      this.drops[RelayDropReason.Malformed] += 1;
      return;
    }
    const key = addressKey(from);
    const leg = this.lookup(control.leg);
    if (!leg) {
      this.countUnvalidatedReceived(key, datagramLength);
      this.drops[RelayDropReason.UnknownLeg] += 1;
      return;
    }
    if (!verifyBind(control, leg.key)) {
      this.countUnvalidatedReceived(key, datagramLength);
      this.drops[RelayDropReason.BadMac] += 1;
      return;
    }
    if (control.counter <= leg.lastCounter) {
      this.countUnvalidatedReceived(key, datagramLength);
      this.drops[RelayDropReason.Replay] += 1;
      return;
    }
    leg.lastCounter = control.counter;
    if (leg.udpKey === key) {
      // Keepalive from the validated address.
      this.touch(leg, now);
      this.outputs.push({ kind: 'udp', to: from, data: encodeBound(leg.id, leg.key, control.counter, from) });
      return;
    }
    if (control.cookie.length === COOKIE_LENGTH) {
      if (this.cookieValid(control.cookie, leg.id, key, now)) {
        // The source address echoed a cookie we sent only to it: it is validated (RFC 9000 §8.1.2).
        leg.udp = { host: from.host, port: from.port };
        leg.udpKey = key;
        leg.stream = false;
        this.unvalidated.delete(key);
        this.touch(leg, now);
        this.outputs.push({ kind: 'udp', to: from, data: encodeBound(leg.id, leg.key, control.counter, from) });
        return;
      }
      this.countUnvalidatedReceived(key, datagramLength);
      this.drops[RelayDropReason.BadCookie] += 1;
      return;
    }
    this.countUnvalidatedReceived(key, datagramLength);
    const challenge = encodeChallenge(leg.id, this.cookie(leg.id, key, Math.floor(now / this.limits.cookiePeriodMs)));
    const traffic = this.unvalidated.get(key)!;
    if (traffic.tx + challenge.length > traffic.rx) {
      this.drops[RelayDropReason.Amplification] += 1;
      return;
    }
    traffic.tx += challenge.length;
    this.unvalidatedTx += challenge.length;
    this.outputs.push({ kind: 'udp', to: from, data: challenge });
  }

  private forward(leg: Leg, inner: Uint8Array, now: number): void {
    const channel = leg.channel;
    if (!channel) {
      this.drops[RelayDropReason.UnknownLeg] += 1;
      return;
    }
    if (inner.length > this.limits.maxDatagramBytes) {
      this.drops[RelayDropReason.Oversize] += 1;
      return;
    }
    const other = channel.legs[0] === leg ? channel.legs[1] : channel.legs[0];
    if (!other.udp && !other.stream) {
      this.drops[RelayDropReason.PeerUnbound] += 1;
      return;
    }
    const q = this.quota(leg.owner, now);
    const elapsed = now - q.lastRefill;
    if (elapsed > 0) {
      q.tokens = Math.min(this.limits.burstBytes, q.tokens + (elapsed * this.limits.bandwidthBytesPerSecond) / 1000);
      q.lastRefill = now;
    }
    if (q.tokens < inner.length) {
      this.drops[RelayDropReason.QuotaBandwidth] += 1;
      return;
    }
    if (now - q.windowStart >= this.limits.quotaWindowMs) {
      q.windowStart = now;
      q.windowBytes = 0;
    }
    if (q.windowBytes + inner.length > this.limits.maxBytesPerPeer) {
      this.drops[RelayDropReason.QuotaBytes] += 1;
      return;
    }
    q.tokens -= inner.length;
    q.windowBytes += inner.length;
    channel.bytes += inner.length;
    channel.lastActivity = now;
    this.relayedPackets += 1;
    this.relayedBytes += inner.length;
    if (other.udp) {
      this.outputs.push({ kind: 'udp', to: other.udp, data: encapsulate(other.id, inner) });
    } else {
      this.outputs.push({ kind: 'stream', sessionId: other.sessionId, leg: other.id, data: inner.slice() });
    }
  }

  private touch(leg: Leg, now: number): void {
    if (leg.channel) leg.channel.lastActivity = now;
  }

  private quota(owner: string, now: number): PeerQuota {
    let q = this.quotas.get(owner);
    if (!q) {
      q = { allocations: 0, tokens: this.limits.burstBytes, lastRefill: now, windowStart: now, windowBytes: 0 };
      this.quotas.set(owner, q);
    }
    return q;
  }

  private newLeg(sessionId: number, owner: string, channel: Channel | null): Leg {
    const id = new Uint8Array(CHANNEL_ID_LENGTH);
    let mapKey: number;
    do {
      this.random(id);
      mapKey = idMapKey(id);
    } while (isControlChannel(id) || this.legs.has(mapKey));
    const key = new Uint8Array(LEG_KEY_LENGTH);
    this.random(key);
    const leg: Leg = {
      id,
      mapKey,
      key,
      sessionId,
      owner,
      channel,
      udp: null,
      udpKey: null,
      stream: false,
      lastCounter: 0,
    };
    this.legs.set(mapKey, leg);
    let set = this.sessionLegs.get(sessionId);
    if (!set) {
      set = new Set();
      this.sessionLegs.set(sessionId, set);
    }
    set.add(leg);
    return leg;
  }

  private lookup(id: Uint8Array): Leg | undefined {
    const leg = this.legs.get(idMapKey(id));
    return leg && bytesEqual(leg.id, id) ? leg : undefined;
  }

  private removeLeg(leg: Leg): void {
    this.legs.delete(leg.mapKey);
    this.sessionLegs.get(leg.sessionId)?.delete(leg);
  }

  private closeChannel(channel: Channel, reason: string): void {
    if (!this.channels.delete(channel)) return;
    const owners = new Set<string>();
    for (const leg of channel.legs) {
      this.removeLeg(leg);
      owners.add(leg.owner);
      this.outputs.push({ kind: 'leg-closed', sessionId: leg.sessionId, leg: leg.id, reason });
    }
    for (const owner of owners) {
      const q = this.quotas.get(owner);
      if (q) q.allocations = Math.max(0, q.allocations - 1);
    }
  }

  private cookie(legId: Uint8Array, addrKey: string, period: number): Uint8Array {
    const p = new Uint8Array(8);
    new DataView(p.buffer).setFloat64(0, period);
    return mac(this.cookieSecret, [legId, new TextEncoder().encode(addrKey), p], COOKIE_LENGTH);
  }

  private cookieValid(cookie: Uint8Array, legId: Uint8Array, addrKey: string, now: number): boolean {
    const period = Math.floor(now / this.limits.cookiePeriodMs);
    return (
      bytesEqual(cookie, this.cookie(legId, addrKey, period)) ||
      bytesEqual(cookie, this.cookie(legId, addrKey, period - 1))
    );
  }

  private countUnvalidatedReceived(key: string, bytes: number): void {
    let t = this.unvalidated.get(key);
    if (!t) {
      if (this.unvalidated.size >= this.limits.maxTrackedAddresses) {
        const oldest = this.unvalidated.keys().next().value;
        if (oldest !== undefined) this.unvalidated.delete(oldest);
      }
      t = { rx: 0, tx: 0 };
      this.unvalidated.set(key, t);
    }
    t.rx += bytes;
    this.unvalidatedRx += bytes;
  }
}
