/**
 * Whose turn it is to send the next keepalive PING (RFC 9000 §10.1.2), and what its answer says
 * about the NAT mapping, sans-IO. The interval itself is KeepAliveSchedule's (keepalive.ts).
 *
 * The two sides take turns: after we sent a keepalive ours waits 0.9–1 of the interval, after the
 * peer's beat ours 0.7–0.8 (random within, so two sides never tie). So the side that can observe a
 * lost mapping (the one whose keepalive into the NAT goes unanswered) gets its turn within two rounds.
 */
import type { RandomSource } from './api.js';
import type { IdleClock } from './idle-clock.js';
import type { KeepAliveSchedule } from './keepalive.js';
import { Timer } from './timers.js';

export class KeepAliveTurns {
  /** The pending keepalive: when it went out (NaN: none) and after how much quiet. */
  private sentAt = Number.NaN;
  private gap = 0;
  /** Fraction of the interval before our next keepalive (see the module comment). */
  private spread = 1;
  private readonly spreadByte = new Uint8Array(1);

  constructor(
    private readonly random: RandomSource,
    private readonly schedule: KeepAliveSchedule,
  ) {}

  /** A keepalive of ours is waiting for the first packet after it. */
  get pending(): boolean {
    return !Number.isNaN(this.sentAt);
  }

  /** The connection is established: the first turn. */
  start(): void {
    this.spread = this.randomSpread(0.85);
  }

  /**
   * An authenticated packet arrived, `now − lastActivity` after the previous one. Hot path: one
   * comparison unless the peer's keepalive beat ours — then ours goes first next time.
   */
  onPacketReceived(now: number, lastActivity: number): void {
    if (Number.isNaN(this.sentAt) && now - lastActivity >= 0.7 * this.schedule.intervalMs)
      this.spread = this.randomSpread(0.7);
  }

  /** Our keepalive PING is queued at `now`, after quiet since `quietSince`. */
  onSent(now: number, quietSince: number): void {
    this.gap = now - quietSince;
    this.sentAt = now;
    this.spread = this.randomSpread(0.9);
  }

  /**
   * The first packet after our keepalive. Answered within two PTOs from the known address, with no
   * packet of the peer's missing: the NAT kept the mapping through the quiet gap. Later (our PING
   * was lost, the peer's own packet got through first), from a new address, or with packet numbers
   * of the peer's skipped (`peerPacketsMissed`): the mapping was gone — the interval shortens.
   *
   * The last case is the one a port-preserving NAT leaves: our keepalive re-creates the mapping on
   * the same port and is answered at once, so it looks like success, but the peer's keepalives sent
   * into the lapsed mapping meanwhile were dropped; their packet numbers never arrive (packet
   * numbers are consecutive, RFC 9000 §12.3). Without it the side behind the NAT grows its interval
   * while only the public side's keepalives keep the mapping alive.
   */
  onAnswer(now: number, fromActivePath: boolean, pto: number, peerPacketsMissed: boolean): void {
    const waited = now - this.sentAt;
    this.sentAt = Number.NaN;
    if (waited <= 2 * pto && fromActivePath && !peerPacketsMissed) this.schedule.onQuietSurvived(this.gap);
    else this.schedule.onMappingLost(this.gap);
  }

  /**
   * Writes the KeepAlive row of the timer table: due after quiet since the later of the last
   * ack-eliciting send and the last activity. Hot path: it takes the objects, not their times, and
   * writes the table rather than returning (doubles passed to or returned from a call V8 does not
   * inline are boxed).
   */
  arm(at: Float64Array, sent: { readonly lastAckElicitingSent: number }, idle: IdleClock): void {
    at[Timer.KeepAlive] =
      Math.max(sent.lastAckElicitingSent, idle.lastActivity) + this.schedule.intervalMs * this.spread;
  }

  /** A spread in [low, low + 0.1). Not on the hot path (once per quiet round). */
  private randomSpread(low: number): number {
    this.random(this.spreadByte);
    return low + (0.1 * (this.spreadByte[0] as number)) / 256;
  }
}
