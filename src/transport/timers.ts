/**
 * The connection's timers, one named row each (cf. quinn-proto `connection/timer.rs`). The connection
 * keeps every deadline in this table; `nextDeadline()` is the minimum over the rows the connection's
 * state arms, and `onTimeout(now)` runs the expired rows in the order below. A new timer is one row
 * here and one case in `ConnectionTimers.run` (connection-timers.ts).
 */
export const Timer = {
  /** Closing or draining ends (RFC 9000 §10.2). */
  Close: 0,
  /** Repeat CLOSE while closing, backed off (RFC 9000 §10.2.1). */
  CloseRetransmit: 1,
  /** The handshake did not complete in `handshakeTimeoutMs`. */
  HandshakeTimeout: 2,
  /** No packet from the peer within the idle timeout (RFC 9000 §10.1). */
  Idle: 3,
  /** Repeat the last handshake message (backed off). */
  HandshakeRetransmit: 4,
  /** Loss detection / probe timeout (RFC 9002 §6.1.2, §6.2). */
  LossDetection: 5,
  /** Send a delayed ACK (RFC 9000 §13.2.1); the ACK goes out with the next pollTransmit. */
  AckDelay: 6,
  /** Elicit an ACK before the idle timeout can fire (RFC 9000 §10.1.2). */
  KeepAlive: 7,
  /** The pacer releases the next packet (RFC 9002 §7.7). */
  Pacing: 8,
  /** Retransmit or abandon a probed path's PATH_CHALLENGE (RFC 9000 §8.2.4). */
  PathValidation: 9,
  /** A receiver that was being sent to heard nothing for 2 PTO: it speaks up (keepalive.ts ReceiveGapProbe). */
  ReceiveGap: 10,
  /** A DPLPMTUD probe counts as lost, or the raise timer starts a new search (RFC 8899 §5.1.1). */
  Pmtud: 11,
} as const;
export type Timer = (typeof Timer)[keyof typeof Timer];

export const TIMER_COUNT = 12;

/** Bit mask of a set of timers. */
function timerMask(...timers: Timer[]): number {
  let mask = 0;
  for (const t of timers) mask |= 1 << t;
  return mask;
}

/** Timers that only lead to sending: not armed while nothing may be sent (RFC 9002 §6.2.2.1). */
export const SEND_TIMERS = timerMask(
  Timer.LossDetection,
  Timer.AckDelay,
  Timer.KeepAlive,
  Timer.Pacing,
  Timer.ReceiveGap,
  Timer.Pmtud,
);
/** The only timers of a closing or draining connection. */
export const CLOSE_TIMERS = timerMask(Timer.Close, Timer.CloseRetransmit);
/** Every timer but the closing ones: the timers of a handshaking or established connection. */
export const OPEN_TIMERS = ((1 << TIMER_COUNT) - 1) & ~CLOSE_TIMERS;

/**
 * Deadlines (ms; Infinity = not armed), one Float64Array row per timer. The owner writes rows straight
 * into `at` on the hot path: an element store or load never boxes a double, where passing one through
 * a call that V8 does not inline would allocate.
 */
export class TimerTable {
  readonly at = new Float64Array(TIMER_COUNT).fill(Infinity);

  get(timer: Timer): number {
    return this.at[timer] as number;
  }

  set(timer: Timer, deadline: number): void {
    this.at[timer] = deadline;
  }

  stop(timer: Timer): void {
    this.at[timer] = Infinity;
  }
}
