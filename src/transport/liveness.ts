/**
 * A connection's liveness, sans-IO: the idle timeout negotiated with the peer and the activity it
 * counts from (RFC 9000 §10.1, idle-clock.ts), keepalives (RFC 9000 §10.1.2: the interval learned
 * from the NAT, keepalive.ts; whose turn it is, keepalive-turns.ts) and the receive-gap probe
 * (keepalive.ts). The connection reports what arrives and what it sends, and reads the Idle,
 * KeepAlive and ReceiveGap rows of its timer table from here.
 */
import type { RandomSource } from './api.js';
import type { TransportConfig } from './config.js';
import { IdleClock } from './idle-clock.js';
import { KeepAliveSchedule, ReceiveGapProbe } from './keepalive.js';
import { KeepAliveTurns } from './keepalive-turns.js';
import type { RttEstimator } from './recovery/rtt-estimator.js';
import { Timer } from './timers.js';

export class Liveness {
  /** The activity the idle timeout counts from (the sender reports ack-eliciting sends to it). */
  readonly idle: IdleClock;
  /** A silent receiver speaks up when the packets it was receiving stop (a NAT rebinding). */
  private readonly receiveGap = new ReceiveGapProbe();
  /** The keepalive interval, learned from the NAT's mapping lifetime. */
  private readonly keepAlive: KeepAliveSchedule;
  /** Whose turn the next keepalive is, and what its answer says about the NAT. */
  private readonly turns: KeepAliveTurns;
  private readonly keepAliveOn: boolean;
  private idleTimeout: number;

  constructor(
    private readonly config: TransportConfig,
    now: number,
    random: RandomSource,
  ) {
    this.keepAliveOn = config.keepAliveIntervalMs > 0;
    this.idleTimeout = config.idleTimeoutMs;
    this.idle = new IdleClock(now, !this.keepAliveOn);
    this.keepAlive = new KeepAliveSchedule({ initialMs: config.keepAliveIntervalMs });
    this.turns = new KeepAliveTurns(random, this.keepAlive);
  }

  /** The idle timeout in force (ms; 0: none). */
  get idleTimeoutMs(): number {
    return this.idleTimeout;
  }

  /** The keepalive interval in force (ms; 0: keepalives off). */
  get keepAliveIntervalMs(): number {
    return this.keepAliveOn ? this.keepAlive.intervalMs : 0;
  }

  /** A measured NAT binding lifetime (RFC 5780 §4.6) sets the keepalive pace (keepalive.ts `seed`). */
  seedKeepAlive(aliveMs: number, expiredMs: number | null): void {
    this.keepAlive.seed(aliveMs, expiredMs);
  }

  /** The peer's max_idle_timeout: the smaller of the two, where 0 means none (RFC 9000 §10.1). */
  negotiateIdleTimeout(peerMs: number): void {
    const local = this.config.idleTimeoutMs;
    this.idleTimeout = local === 0 ? peerMs : peerMs === 0 ? local : Math.min(local, peerMs);
    this.keepAlive.limitToIdleTimeout(this.idleTimeout);
  }

  /** The handshake completed: the idle clock and the keepalive turns start. */
  onEstablished(now: number): void {
    this.idle.restart(now);
    this.turns.start();
  }

  /** An authenticated packet arrived. Hot path. */
  onPacketReceived(now: number): void {
    this.turns.onPacketReceived(now, this.idle.lastActivity);
    this.idle.onPacketReceived(now);
  }

  /** A packet that carried data (STREAM, DATAGRAM) arrived: arms the receive-gap probe. */
  onDataReceived(now: number, rtt: RttEstimator, peerMaxAckDelay: number): void {
    this.receiveGap.onDataReceived(now, rtt, peerMaxAckDelay);
  }

  /** A keepalive of ours waits for the first packet after it (see onKeepAliveAnswered). */
  get keepAlivePending(): boolean {
    return this.turns.pending;
  }

  /**
   * The first packet after our keepalive (KeepAliveTurns.onAnswer); `peerPacketsMissed`: its packet
   * number skipped some (packets of the peer's were lost while we were quiet).
   */
  onKeepAliveAnswered(now: number, fromActivePath: boolean, pto: number, peerPacketsMissed: boolean): void {
    this.turns.onAnswer(now, fromActivePath, pto, peerPacketsMissed);
  }

  /** Our keepalive PING is queued; `lastAckElicitingSent`: when we last sent something ack-eliciting. */
  onKeepAliveSent(now: number, lastAckElicitingSent: number): void {
    this.turns.onSent(now, Math.max(lastAckElicitingSent, this.idle.lastActivity));
  }

  /**
   * Writes the KeepAlive row while established with no PING already pending. Hot path: into the
   * table, not returned (a double returned from a call V8 does not inline is boxed).
   */
  armKeepAlive(at: Float64Array, sent: { readonly lastAckElicitingSent: number }): void {
    if (this.keepAliveOn) this.turns.arm(at, sent, this.idle);
    else at[Timer.KeepAlive] = Infinity;
  }

  /** The ReceiveGap row while established. */
  get receiveGapDeadline(): number {
    return this.receiveGap.deadline;
  }

  /** The ReceiveGap timer: true when a PING is due. */
  onReceiveGapTimeout(now: number): boolean {
    return this.receiveGap.onTimeout(now);
  }
}
