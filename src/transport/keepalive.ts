/**
 * Keepalive interval matched to the NAT in front of a path, sans-IO.
 *
 * A NAT forgets a UDP mapping after some idle time (RFC 4787 §4.3: at least 2 min recommended, but
 * 30 s, 20 s and even 5 s are found in the field). Once the mapping of the NATed peer is gone, the
 * public side's packets are dropped until the NATed side sends again, so the interval between
 * keepalives must stay below the mapping lifetime. It should not be much below either: every
 * keepalive wakes radios and costs both sides a packet.
 *
 * This module learns the lifetime from what the connection sees and turns it into an interval:
 *
 * - **Seed** from a measured binding lifetime (RFC 5780 §4.6, src/traversal/stun/lifetime-probe.ts):
 *   the interval starts at a safe fraction of it.
 * - **Mapping lost** (`onMappingLost(gapMs)`): after `gapMs` of quiet a keepalive went unanswered and
 *   the peer then appeared from a new address (port), or the same kind of evidence: a mapping lives
 *   less than `gapMs`. The interval drops to `LOSS_FACTOR` × that gap at once.
 * - **Quiet success** (`onQuietSurvived(gapMs)`): a keepalive after `gapMs` of quiet was answered from
 *   the same address: the mapping lives at least that long. The interval grows by `GROW_FACTOR` —
 *   after every success while no mapping was ever seen lost, after `GROW_AFTER` successes in a row
 *   once one was — never to or beyond a gap that was seen to lose the mapping.
 *
 * The interval stays within [minMs, maxMs]; maxMs also keeps it below the idle timeout so that a
 * live but quiet peer never times out (RFC 9000 §10.1.2).
 */
import type { RttEstimator } from './recovery/rtt-estimator.js';

export interface KeepAliveOptions {
  /** The interval before anything is learned (ms). */
  readonly initialMs: number;
  /** Never below this (ms): a floor against a pathological NAT or wrong evidence. */
  readonly minMs?: number;
  /** Never above this (ms). */
  readonly maxMs?: number;
}

/** Fraction of a known mapping lifetime used as the interval: margin for one lost keepalive's PTO. */
export const KEEPALIVE_SAFETY = 0.45;
/**
 * After a gap that lost the mapping: the lifetime is below the gap but may be far below (a 5 s NAT
 * seen first through a 15 s gap), so the interval drops to this fraction of it at once.
 */
const KEEPALIVE_LOSS_FACTOR = 0.25;
/** Growth never goes beyond this fraction of the shortest gap that lost the mapping. */
const KEEPALIVE_CEILING = KEEPALIVE_SAFETY;
/**
 * Once a mapping was seen lost, quiet successes in a row before the interval grows, and the growth
 * per step: slow increase, fast decrease. Every failed step costs reachability from the public side
 * for a moment, so the probe towards the lifetime is cautious (about +10 % per 5 keepalives).
 */
const KEEPALIVE_GROW_AFTER = 5;
const KEEPALIVE_CAUTIOUS_GROWTH = 1.1;
/** Growth per keepalive while no mapping was ever seen lost (most NATs keep them for minutes). */
const KEEPALIVE_GROW_FACTOR = 1.25;
export const KEEPALIVE_MIN_MS = 1_000;
/** One keepalive per ~25 s behind a NAT that keeps mappings for 2 min (RFC 4787 REQ-5 says ≥ 2 min). */
export const KEEPALIVE_MAX_MS = 25_000;

export interface KeepAliveStats {
  /** The interval now in use (ms). */
  readonly intervalMs: number;
  /** Longest quiet gap the mapping was seen to survive (ms; 0 when unknown). */
  readonly mappingAliveMs: number;
  /** Shortest quiet gap after which the mapping was seen lost (ms; Infinity when never). */
  readonly mappingLostMs: number;
}

export class KeepAliveSchedule {
  private readonly minMs: number;
  private maxMs: number;
  private interval: number;
  private aliveMs = 0;
  private lostMs = Infinity;
  private successes = 0;

  constructor(options: KeepAliveOptions) {
    this.minMs = Math.max(1, options.minMs ?? KEEPALIVE_MIN_MS);
    this.maxMs = Math.max(this.minMs, options.maxMs ?? KEEPALIVE_MAX_MS);
    this.interval = this.clamp(options.initialMs);
  }

  /** The keepalive interval to use now (ms). */
  get intervalMs(): number {
    return this.interval;
  }

  stats(): KeepAliveStats {
    return { intervalMs: this.interval, mappingAliveMs: this.aliveMs, mappingLostMs: this.lostMs };
  }

  /**
   * The negotiated idle timeout is known: keepalives must come often enough that one lost keepalive
   * and its retransmission still beat it. Half the idle timeout, as RFC 9000 §10.1.2 suggests, is
   * too cautious for a 30 s idle timeout and a 2 min NAT; idle − 5 s leaves room for a PTO or two.
   */
  limitToIdleTimeout(idleTimeoutMs: number): void {
    if (idleTimeoutMs <= 0) return;
    const cap = Math.max(idleTimeoutMs / 2, idleTimeoutMs - 5_000);
    this.maxMs = Math.max(this.minMs, Math.min(this.maxMs, cap));
    this.interval = this.clamp(this.interval);
  }

  /**
   * A measured binding lifetime (RFC 5780 §4.6): `aliveMs` survived, `expiredMs` (if known) did not.
   */
  seed(aliveMs: number, expiredMs: number | null): void {
    if (aliveMs > this.aliveMs) this.aliveMs = aliveMs;
    if (expiredMs !== null && expiredMs < this.lostMs) this.lostMs = expiredMs;
    const lifetime = expiredMs ?? Math.max(aliveMs, this.interval / KEEPALIVE_SAFETY);
    this.interval = this.clamp(Math.min(lifetime, this.lostMs) * KEEPALIVE_SAFETY);
    this.successes = 0;
  }

  /**
   * Evidence that the mapping did not survive `gapMs` of quiet: a keepalive sent after that much
   * quiet went unanswered, and the peer then appeared from a new address (or its next packet
   * arrived only after ours were lost). Shortens the interval at once.
   */
  onMappingLost(gapMs: number): void {
    if (!(gapMs > 0)) return;
    if (gapMs < this.lostMs) this.lostMs = gapMs;
    // The gap, not the current interval, is what lost the mapping; an interval already below the
    // safe fraction of it is not lengthened.
    this.interval = this.clamp(Math.min(this.interval, gapMs * KEEPALIVE_LOSS_FACTOR));
    if (this.aliveMs >= this.lostMs) this.aliveMs = 0; // the NAT changed: old evidence is void
    this.successes = 0;
  }

  /**
   * A keepalive after `gapMs` of quiet was answered from the peer's known address: the mapping
   * survived. Grows the interval slowly.
   */
  onQuietSurvived(gapMs: number): void {
    if (!(gapMs > 0)) return;
    if (gapMs > this.aliveMs) this.aliveMs = gapMs;
    // A gap that survived is stronger evidence than an old loss at a shorter gap (the NAT changed).
    if (this.lostMs <= gapMs) this.lostMs = Infinity;
    // Not a test of the current interval (the sides take turns at 0.7–1.0 of it, see the connection).
    if (gapMs < this.interval * 0.65) return;
    this.successes++;
    // Until a mapping was ever seen lost, every success grows the interval (most NATs keep mappings
    // for minutes, RFC 4787 REQ-5); after a loss, growth needs several successes in a row.
    if (this.lostMs !== Infinity && this.successes < KEEPALIVE_GROW_AFTER) return;
    this.successes = 0;
    const grown = this.interval * (this.lostMs === Infinity ? KEEPALIVE_GROW_FACTOR : KEEPALIVE_CAUTIOUS_GROWTH);
    // Never grow into a gap known to lose the mapping.
    const ceiling = this.lostMs === Infinity ? Infinity : this.lostMs * KEEPALIVE_CEILING;
    this.interval = this.clamp(Math.min(grown, Math.max(this.interval, ceiling)));
  }

  private clamp(ms: number): number {
    return Math.min(this.maxMs, Math.max(this.minMs, ms));
  }
}

/** Silence after active receiving that makes a receiver speak up (ms, at least). */
const RECEIVE_GAP_MIN_MS = 200;
/** Probes per silence (the second at twice the gap); the keepalive takes over after that. */
const RECEIVE_GAP_PROBES = 2;

/**
 * A receiver that only acknowledges sends nothing while nothing arrives. When its NAT forgets the
 * mapping mid-transfer (a rebinding), the sender's packets are dropped at the NAT and the receiver
 * stays silent until its next keepalive: a stall of a whole keepalive interval. So when packets
 * were arriving continuously and then stop for `max(200 ms, 2 PTO)`, the receiver sends a PING (at
 * most twice per silence): through a new mapping if the old one is gone, so the peer sees the new
 * address at once and validates it (RFC 9000 §9.3), otherwise just an ACK round trip.
 *
 * Armed only while the peer was actively sending (two ack-eliciting packets within one gap), so the
 * peer's lone keepalive PINGs never trigger it.
 */
export class ReceiveGapProbe {
  private lastAt = -Infinity;
  private active = false;
  private probes = 0;
  private gapMs = RECEIVE_GAP_MIN_MS;
  /** When to send the next PING (Infinity: not armed). A field: read on every nextDeadline. */
  deadline = Infinity;

  /** An ack-eliciting packet from the peer; `ptoMs` is the current probe timeout. */
  onAckElicitingReceived(now: number, ptoMs: number): void {
    this.gapMs = Math.max(RECEIVE_GAP_MIN_MS, 2 * ptoMs);
    this.onArrival(now);
  }

  /**
   * onAckElicitingReceived with the probe timeout read from `rtt` here. Hot path (every data packet):
   * a computed PTO passed as an argument would be boxed when V8 does not inline the call.
   */
  onDataReceived(now: number, rtt: RttEstimator, peerMaxAckDelay: number): void {
    this.gapMs = Math.max(RECEIVE_GAP_MIN_MS, 2 * rtt.pto(peerMaxAckDelay));
    this.onArrival(now);
  }

  private onArrival(now: number): void {
    this.active = now - this.lastAt <= this.gapMs;
    this.lastAt = now;
    this.probes = 0;
    this.deadline = this.active ? now + this.gapMs : Infinity;
  }

  /** True when a PING is due now (the connection queues one). */
  onTimeout(now: number): boolean {
    if (now < this.deadline) return false;
    this.probes++;
    this.deadline = this.probes < RECEIVE_GAP_PROBES ? this.lastAt + this.gapMs * 2 ** this.probes : Infinity;
    return true;
  }

  /** The connection is quiet by design (closing, or no data expected): disarm. */
  disarm(): void {
    this.active = false;
    this.deadline = Infinity;
  }
}
