/**
 * The connection's timer table at work (cf. quinn-proto `connection/timer.rs` and its
 * `poll_timeout` / `handle_timeout`): which rows the connection's state arms, the rows derived from
 * other parts (recovery, ACK tracker, handshake, paths, liveness, path MTU discovery), the minimum
 * over them, and what each expired row does. The rows themselves are named in timers.ts; a new timer
 * is a row there and a case in `run` here.
 */
import type { Address, ConnectionHandle, EventSink } from './api.js';
import type { ConnectionStateMachine } from './connection-state.js';
import { TransportErrorCode } from './errors.js';
import type { ConnectionHandshake } from './handshake.js';
import type { Liveness } from './liveness.js';
import type { PathMigration } from './path-migration.js';
import type { Paths } from './paths.js';
import type { PathMtuDiscovery } from './pmtud.js';
import type { AckTracker } from './recovery/ack-tracker.js';
import type { LossDetection } from './recovery/loss-detection.js';
import type { RttEstimator } from './recovery/rtt-estimator.js';
import { MIN_PACKET_SIZE, type PacketSender } from './sender.js';
import { CLOSE_TIMERS, OPEN_TIMERS, SEND_TIMERS, TIMER_COUNT, Timer, type TimerTable } from './timers.js';

/** The parts whose state the rows derive from and whose timeouts the rows run. */
export interface TimerParts {
  readonly table: TimerTable;
  readonly machine: ConnectionStateMachine;
  readonly paths: Paths;
  readonly migration: PathMigration;
  readonly liveness: Liveness;
  readonly rtt: RttEstimator;
  readonly recovery: LossDetection;
  readonly ackTracker: AckTracker;
  readonly sender: PacketSender;
  readonly pmtud: PathMtuDiscovery | null;
  readonly events: EventSink;
  /** The connection, for the events the rows push. */
  readonly connection: ConnectionHandle;
  /** When the handshake times out (ms). */
  readonly handshakeDeadline: number;
}

export class ConnectionTimers {
  /** Set by start(): the connection's factories create the handshake after the connection. */
  private handshake: ConnectionHandshake | null = null;
  /** Traffic keys exist: the send timers run from then on. */
  private keysReady = false;
  private deadlineValue = Infinity;

  constructor(private readonly parts: TimerParts) {}

  /** The handshake whose retransmission timer is the HandshakeRetransmit row. */
  start(handshake: ConnectionHandshake): void {
    this.handshake = handshake;
  }

  /** The handshake completed: there are keys to send with, so the send timers run. */
  onKeysReady(): void {
    this.keysReady = true;
  }

  /** The deadline the last update() computed (Infinity: none). */
  get deadline(): number {
    return this.deadlineValue;
  }

  /**
   * The minimum over the armed rows into a field, read through `deadline`: the endpoint asks every
   * connection at every service turn (hot path), and a double returned from a call V8 does not
   * inline is boxed.
   */
  update(): void {
    const { machine, paths } = this.parts;
    if (machine.kind === 'closed') {
      this.deadlineValue = Infinity;
      return;
    }
    let mask = this.mask();
    // While the anti-amplification limit blocks sending, no send timer is armed (RFC 9002 §6.2.2.1):
    // a packet from the peer re-opens the budget.
    if ((mask & SEND_TIMERS) !== 0 && paths.active.budget < MIN_PACKET_SIZE) mask &= ~SEND_TIMERS;
    this.arm(mask);
    const at = this.parts.table.at;
    let t = Infinity;
    for (let i = 0; i < TIMER_COUNT; i++) if ((mask & (1 << i)) !== 0 && (at[i] as number) < t) t = at[i] as number;
    this.deadlineValue = t;
  }

  /** Runs the expired rows in table order, until one closes the connection. */
  onTimeout(now: number): void {
    if (this.parts.machine.kind === 'closed') return;
    const mask = this.mask();
    const at = this.parts.table.at;
    for (let i = 0; i < TIMER_COUNT; i++) {
      const bit = 1 << i;
      if ((mask & bit) === 0) continue;
      // Derived rows are computed just before they are checked: an earlier row may have changed
      // what they derive from (a PTO sets pingPending, which holds the keep-alive).
      this.arm(bit);
      if (now < (at[i] as number)) continue;
      if (!this.run(i as Timer, now)) return;
    }
  }

  /** The timers the current state runs (send timers only once there are keys to send with). */
  private mask(): number {
    const kind = this.parts.machine.kind;
    if (kind === 'closing' || kind === 'draining') return CLOSE_TIMERS;
    return this.keysReady ? OPEN_TIMERS : OPEN_TIMERS & ~SEND_TIMERS;
  }

  /**
   * Writes the rows in `mask` that derive from other state (recovery, ACK tracker, handshake, paths,
   * activity); Close, CloseRetransmit and Pacing are set where they start. Hot path: values go
   * straight into the Float64Array (see TimerTable).
   */
  private arm(mask: number): void {
    const { table, machine, liveness, rtt, recovery, sender, paths, pmtud } = this.parts;
    const at = table.at;
    const kind = machine.kind;
    if ((mask & (1 << Timer.HandshakeTimeout)) !== 0)
      at[Timer.HandshakeTimeout] = kind === 'handshaking' ? this.parts.handshakeDeadline : Infinity;
    if ((mask & (1 << Timer.Idle)) !== 0) {
      // The idle timeout, at least three PTOs after the last activity (RFC 9000 §10.1).
      const idle = liveness.idleTimeoutMs;
      at[Timer.Idle] =
        kind === 'handshaking' || idle <= 0
          ? Infinity
          : liveness.idle.lastActivity + Math.max(idle, 3 * rtt.pto(recovery.peerMaxAckDelay));
    }
    if ((mask & (1 << Timer.HandshakeRetransmit)) !== 0)
      at[Timer.HandshakeRetransmit] = this.handshake === null ? Infinity : this.handshake.retransmitAt;
    // The loss timer is off while probes wait to be sent.
    if ((mask & (1 << Timer.LossDetection)) !== 0)
      at[Timer.LossDetection] = sender.probesPending > 0 ? Infinity : recovery.deadline();
    if ((mask & (1 << Timer.AckDelay)) !== 0) {
      const a = this.parts.ackTracker;
      at[Timer.AckDelay] = a.pending && !a.immediate ? a.deadline : Infinity;
    }
    if ((mask & (1 << Timer.KeepAlive)) !== 0) {
      if (kind !== 'established' || sender.pingPending) at[Timer.KeepAlive] = Infinity;
      else liveness.armKeepAlive(at, sender);
    }
    if ((mask & (1 << Timer.PathValidation)) !== 0) at[Timer.PathValidation] = paths.deadline;
    if ((mask & (1 << Timer.ReceiveGap)) !== 0)
      at[Timer.ReceiveGap] = kind === 'established' ? liveness.receiveGapDeadline : Infinity;
    if ((mask & (1 << Timer.Pmtud)) !== 0)
      at[Timer.Pmtud] = kind === 'established' && pmtud !== null ? pmtud.deadline : Infinity;
  }

  /** Runs an expired timer; false when it closed the connection (no later row runs). */
  private run(timer: Timer, now: number): boolean {
    const { machine, recovery, sender, liveness, pmtud } = this.parts;
    switch (timer) {
      case Timer.Close:
        return machine.onCloseTimer();
      case Timer.CloseRetransmit:
        machine.onCloseRetransmitTimer(now);
        return true;
      case Timer.HandshakeTimeout:
        machine.failWith(TransportErrorCode.HANDSHAKE_TIMEOUT, 'handshake timed out');
        return false;
      case Timer.Idle:
        machine.failWith(TransportErrorCode.IDLE_TIMEOUT, 'idle timeout');
        return false;
      case Timer.HandshakeRetransmit:
        this.handshake?.onTimeout(now);
        return true;
      case Timer.LossDetection: {
        const probes = recovery.onTimeout(now);
        // Three PTOs in a row with full-size packets: maybe the path stopped carrying them (RFC 8899 §4.3).
        if (probes > 0 && recovery.ptoCount >= 3) pmtud?.onRepeatedTimeouts(now);
        sender.onProbeTimeout(probes);
        return true;
      }
      case Timer.KeepAlive:
        // A keepalive PING (RFC 9000 §10.1.2) after `now − last activity` of quiet. Its answer tells
        // the keepalive schedule whether the NAT kept the mapping that long (KeepAliveTurns.onAnswer).
        sender.requestPing();
        liveness.onKeepAliveSent(now, sender.lastAckElicitingSent);
        return true;
      case Timer.Pmtud:
        pmtud?.onTimeout(now);
        return true;
      case Timer.ReceiveGap:
        if (liveness.onReceiveGapTimeout(now)) sender.requestPing();
        return true;
      case Timer.Pacing:
        this.parts.table.stop(Timer.Pacing);
        return true;
      case Timer.PathValidation:
        for (const remote of this.parts.migration.onTimeout(now)) this.pathValidationFailed(remote);
        return true;
      default:
        // AckDelay: the ACK goes out with the next pollTransmit (AckTracker.wantsAck).
        return true;
    }
  }

  private pathValidationFailed(remote: Address): void {
    this.parts.events.push({ type: 'path-validation-failed', connection: this.parts.connection, remote });
  }
}
