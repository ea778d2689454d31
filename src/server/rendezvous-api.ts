/**
 * The rendezvous core's interface types: what it is configured with (options, limits and their
 * defaults), what it puts out, and what it counts (stats, and the reasons it drops a message).
 */
import type { KeyPair } from '../crypto/keys.js';
import type { Address } from '../transport/api.js';
import type { RandomSource } from '../crypto/sodium.js';
import type { MailboxLimits } from './mailbox-core.js';
import type { RelayLimits, RelayStats } from './relay-core.js';

export interface RendezvousLimits {
  /** A session must register within this time after the challenge. */
  readonly authTimeoutMs: number;
  /** A registered session with no message for this long expires (its presence with it). */
  readonly idleTimeoutMs: number;
  /** Per-session message rate (token bucket) and burst. */
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
  /** Outstanding connect requests a session may have. */
  readonly maxPendingRequests: number;
  readonly requestTimeoutMs: number;
  /** Protocol violations (malformed, unauthenticated, rate) tolerated before the session is closed. */
  readonly maxViolations: number;
  /** Most sessions at once (registered or not). */
  readonly maxSessions: number;
  /** Margin added to the computed punch start, ms. */
  readonly punchMarginMs: number;
  /** Sessions (registered or not) from one source IP at once. */
  readonly maxSessionsPerSource: number;
  /**
   * `signal` and `punch` between two peers with no accepted connect between them (unsolicited):
   * per pair, a token bucket of this burst refilled at this rate...
   */
  readonly unsolicitedPerPairBurst: number;
  readonly unsolicitedPerPairPerSecond: number;
  /** ...and per sender over all the strangers it addresses. */
  readonly unsolicitedPerSenderBurst: number;
  readonly unsolicitedPerSenderPerSecond: number;
  /** Peers a session remembers consent with (accepted connects) or unsolicited-rate state for. */
  readonly maxPeersTrackedPerSession: number;
}

export const DEFAULT_RENDEZVOUS_LIMITS: RendezvousLimits = {
  authTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  messagesPerSecond: 50,
  messageBurst: 100,
  maxPendingRequests: 16,
  requestTimeoutMs: 30_000,
  maxViolations: 16,
  maxSessions: 100_000,
  punchMarginMs: 20,
  maxSessionsPerSource: 64,
  unsolicitedPerPairBurst: 4,
  unsolicitedPerPairPerSecond: 0.5,
  unsolicitedPerSenderBurst: 16,
  unsolicitedPerSenderPerSecond: 4,
  maxPeersTrackedPerSession: 64,
};

export const SessionDropReason = {
  Malformed: 'malformed',
  Oversize: 'oversize',
  Unauthenticated: 'unauthenticated',
  AuthFailed: 'auth-failed',
  Replay: 'replay',
  RateLimited: 'rate-limited',
  PeerOffline: 'peer-offline',
  Quota: 'quota',
  UnknownRequest: 'unknown-request',
  NoConsent: 'no-consent',
  Unsolicited: 'unsolicited',
  SourceLimit: 'source-limit',
} as const;
export type SessionDropReason = (typeof SessionDropReason)[keyof typeof SessionDropReason];

export interface RendezvousStats {
  readonly sessions: number;
  readonly peersOnline: number;
  readonly messagesReceived: number;
  readonly messagesSent: number;
  readonly registrations: number;
  readonly connectRequests: number;
  readonly drops: Readonly<Record<SessionDropReason, number>>;
  readonly relay: RelayStats;
}

export interface RendezvousServerOptions {
  readonly staticKeyPair: KeyPair;
  readonly random: RandomSource;
  readonly limits?: Partial<RendezvousLimits>;
  readonly relayLimits?: Partial<RelayLimits>;
  readonly mailboxLimits?: Partial<MailboxLimits>;
  /**
   * SHA-256 hashes of the TLS certificates this server currently presents (the newest and, during a
   * renewal, the previous one): a client's proof must cover one of them (spec/rendezvous.md
   * §Authentication, channel binding). Default: one empty binding (no TLS channel, e.g. the simulator).
   */
  readonly channelBindings?: readonly Uint8Array[];
}

export type ServerOutput =
  /** A control message (encoded) for the session's control stream. */
  | { readonly kind: 'send'; readonly sessionId: number; readonly data: Uint8Array }
  /** Close the session's transport (the core already forgot it). */
  | { readonly kind: 'close'; readonly sessionId: number; readonly reason: string }
  | { readonly kind: 'udp'; readonly to: Address; readonly data: Uint8Array }
  /** An inner datagram to write, framed, on the session's relay stream for `leg`. */
  | { readonly kind: 'relay-stream'; readonly sessionId: number; readonly leg: Uint8Array; readonly data: Uint8Array }
  /** The relay stream for `leg` should be closed (allocation released). */
  | { readonly kind: 'relay-stream-close'; readonly sessionId: number; readonly leg: Uint8Array };
