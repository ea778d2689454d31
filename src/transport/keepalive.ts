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
 *   less than `gapMs`. The interval drops to `SAFETY` × the smallest such gap at once.
 * - **Quiet success** (`onQuietSurvived(gapMs)`): a keepalive after `gapMs` of quiet was answered from
 *   the same address: the mapping lives at least that long. After `GROW_AFTER` such successes in a
 *   row the interval grows by `GROW_FACTOR`, never to or beyond a gap that was seen to lose the mapping.
 *
 * The interval stays within [minMs, maxMs]; maxMs also keeps it below the idle timeout so that a
 * live but quiet peer never times out (RFC 9000 §10.1.2).
 */

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
/** Quiet successes in a row before the interval grows (slow increase, fast decrease). */
export const KEEPALIVE_GROW_AFTER = 3;
/** Growth per step. */
export const KEEPALIVE_GROW_FACTOR = 1.25;
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
    this.interval = this.clamp(Math.min(this.interval, gapMs * KEEPALIVE_SAFETY));
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
    if (gapMs < this.interval * 0.9) return; // not a test of the current interval
    this.successes++;
    if (this.successes < KEEPALIVE_GROW_AFTER) return;
    this.successes = 0;
    const grown = this.interval * KEEPALIVE_GROW_FACTOR;
    // Never grow into a gap known to lose the mapping.
    const ceiling = this.lostMs === Infinity ? Infinity : this.lostMs * KEEPALIVE_SAFETY * 1.5;
    this.interval = this.clamp(Math.min(grown, Math.max(this.interval, ceiling)));
  }

  private clamp(ms: number): number {
    return Math.min(this.maxMs, Math.max(this.minMs, ms));
  }
}
