/**
 * One rendezvous session's state and the rules that only read and write it: its message rate (token
 * bucket), the peers it has consent with, and its allowance of unsolicited signal/punch messages.
 */
import type { RendezvousLimits } from './rendezvous-api.js';

export interface Session {
  readonly id: number;
  readonly nonce: Uint8Array;
  readonly openedAt: number;
  state: 'challenged' | 'registered';
  publicKey: Uint8Array | null;
  keyHex: string | null;
  lastActivity: number;
  tokens: number;
  lastRefill: number;
  violations: number;
  eventSeq: number;
  rttMs: number;
  pending: number;
  /** Source IP the transport session came from ('' when the adapter does not know it). */
  readonly source: string;
  /**
   * Peers (session ids) this session has consent with: one side's connect was accepted by the
   * other, or both asked for a relay. Insertion order = age (the oldest is forgotten first).
   */
  readonly consents: Set<number>;
  /** relay-allocate requests naming a peer without consent: peer session id → expiry. */
  readonly relayWanted: Map<number, number>;
  /** Unsolicited signal/punch buckets per addressed peer, and over all of them. */
  readonly unsolicited: Map<number, Bucket>;
  readonly unsolicitedTotal: Bucket;
}

interface Bucket {
  tokens: number;
  last: number;
}

export interface PendingRequest {
  readonly from: number;
  readonly to: number;
  readonly id: number;
  readonly expires: number;
}

/** A session just opened from `source`, challenged with `nonce`. */
export function newSession(
  id: number,
  nonce: Uint8Array,
  source: string,
  now: number,
  limits: RendezvousLimits,
): Session {
  return {
    id,
    nonce,
    openedAt: now,
    state: 'challenged',
    publicKey: null,
    keyHex: null,
    lastActivity: now,
    tokens: limits.messageBurst,
    lastRefill: now,
    violations: 0,
    eventSeq: 0,
    rttMs: 0,
    pending: 0,
    source,
    consents: new Set(),
    relayWanted: new Map(),
    unsolicited: new Map(),
    unsolicitedTotal: { tokens: limits.unsolicitedPerSenderBurst, last: now },
  };
}

/** Takes one message token from the session's bucket; false when it is rate-limited. */
export function takeToken(session: Session, now: number, limits: RendezvousLimits): boolean {
  const elapsed = now - session.lastRefill;
  if (elapsed > 0) {
    session.tokens = Math.min(limits.messageBurst, session.tokens + (elapsed * limits.messagesPerSecond) / 1000);
    session.lastRefill = now;
  }
  if (session.tokens < 1) return false;
  session.tokens -= 1;
  return true;
}

/** Both sessions may now address each other freely and share a relay. */
export function grantConsent(
  a: Session,
  b: Session,
  limits: RendezvousLimits,
  sessions: ReadonlyMap<number, Session>,
): void {
  for (const [self, other] of [
    [a, b],
    [b, a],
  ] as const) {
    self.consents.delete(other.id);
    self.consents.add(other.id);
    if (self.consents.size > limits.maxPeersTrackedPerSession) {
      const oldest = self.consents.values().next().value as number;
      self.consents.delete(oldest);
      sessions.get(oldest)?.consents.delete(self.id);
    }
  }
}

/**
 * Relay consent: a relay is only allocated between peers where one accepted the other's connect, or
 * where both asked for it; otherwise anyone could spend a victim's relay quota. True when `session`
 * may have a relay with `peer` now; else its wish is remembered (until the request timeout) so the
 * peer's own request completes the pair.
 */
export function relayConsent(
  session: Session,
  peer: Session,
  now: number,
  limits: RendezvousLimits,
  sessions: ReadonlyMap<number, Session>,
): boolean {
  if (session.consents.has(peer.id)) return true;
  const wanted = peer.relayWanted.get(session.id);
  if (wanted === undefined || wanted < now) {
    remember(session.relayWanted, peer.id, now + limits.requestTimeoutMs, limits.maxPeersTrackedPerSession);
    return false;
  }
  peer.relayWanted.delete(session.id);
  grantConsent(session, peer, limits, sessions);
  return true;
}

/**
 * signal/punch towards a peer without consent is unsolicited: limited per pair and per sender, so a
 * stranger can neither flood one peer nor spray every online peer. True when `session` may address
 * `peer` now (consent, or a token from both buckets).
 */
export function mayAddressPeer(session: Session, peer: Session, now: number, limits: RendezvousLimits): boolean {
  if (session.consents.has(peer.id)) return true;
  let pair = session.unsolicited.get(peer.id);
  if (pair === undefined) {
    pair = { tokens: limits.unsolicitedPerPairBurst, last: now };
    remember(session.unsolicited, peer.id, pair, limits.maxPeersTrackedPerSession);
  }
  refill(pair, now, limits.unsolicitedPerPairBurst, limits.unsolicitedPerPairPerSecond);
  refill(session.unsolicitedTotal, now, limits.unsolicitedPerSenderBurst, limits.unsolicitedPerSenderPerSecond);
  if (pair.tokens >= 1 && session.unsolicitedTotal.tokens >= 1) {
    pair.tokens -= 1;
    session.unsolicitedTotal.tokens -= 1;
    return true;
  }
  return false;
}

function refill(bucket: Bucket, now: number, burst: number, perSecond: number): void {
  const elapsed = now - bucket.last;
  if (elapsed <= 0) return;
  bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * perSecond) / 1000);
  bucket.last = now;
}

/** Map.set that forgets the oldest entry past `max` (a Map iterates in insertion order). */
function remember<V>(map: Map<number, V>, key: number, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as number);
}
