import { TransportError, TransportErrorName } from '../errors.js';
import {
  minimumWindow,
  type AckSample,
  type CongestionController,
  type CongestionControllerOptions,
} from './controller.js';

/**
 * LEDBAT, RFC 6817, with parts of LEDBAT++ (draft-irtf-iccrg-ledbat-plus-plus).
 *
 * Delay: one-way delay samples come from the ACK receive timestamps (AckSample.oneWayDelay). The
 * base delay is the minimum over a history of per-minute minima (BASE_HISTORY = 10 minutes, §3.4.2),
 * which also cancels the unknown clock offset; the current delay is the minimum of the last
 * CURRENT_FILTER samples (§3.4.2, noise filtering). queueing delay = current − base.
 *
 * In from LEDBAT++:
 *  - target 60 ms by default (config, ≤ 100 ms as RFC 6817 requires);
 *  - dynamic GAIN = 1 / min(16, ceil(2·TARGET / base_delay)) so low-latency paths ramp gently;
 *  - slowed slow start: window += GAIN · acked while queueing delay < 3/4 TARGET, exit on loss or
 *    when that delay is exceeded;
 *  - modified decrease in congestion avoidance: per RTT W += max(GAIN − C·W·(delay/target − 1), −W/2)
 *    with C = 1 (applied per ACK in proportion to bytes acknowledged), i.e. multiplicative rather than
 *    additive decrease above target;
 *  - multiplicative decrease on loss (halve, once per RTT);
 *  - growth only when the flow was cwnd-limited (AckSample.appLimited false, RFC 9002 §7.8), and
 *    RFC 6817 §2.4.2's cap after every ACK: window ≤ max(flightsize + ALLOWED_INCREASE · MSS,
 *    minimum window), flightsize = max(bytes in flight before the ACK, bytes in flight when the
 *    acknowledged data was sent), ALLOWED_INCREASE = 1 by default;
 *  - initial and periodic slowdown: 2 RTTs after slow start ends, freeze the window at 2 packets for
 *    2 RTTs, slow-start back to the previous window, and schedule the next slowdown 9× the duration
 *    of this one later (so other LEDBAT flows and the base delay can be measured on an empty queue).
 * Left for the LEDBAT++ issue: per-RTT (rather than per-ACK) application of the decrease and tuning
 * of the delay filter; measurement against real bottlenecks.
 */
export class Ledbat implements CongestionController {
  readonly name = 'ledbat';
  window = 0; // a number from the start (not undefined): fractional updates are stored in place
  queueingDelay = 0;

  private static readonly BASE_HISTORY = 10;
  private static readonly BASE_INTERVAL_MS = 60_000;
  private static readonly CURRENT_FILTER = 4;
  private static readonly MAX_GAIN_DIVISOR = 16;

  private readonly mss: number;
  private readonly target: number;
  private readonly periodicSlowdown: boolean;
  private readonly allowedIncrease: number;
  /** Per-minute minima of one-way delay (ring). */
  private readonly baseHistory: number[] = [];
  private baseBucketStart = -Infinity;
  private readonly currentFilter = new Float64Array(Ledbat.CURRENT_FILTER).fill(Infinity);
  private currentIndex = 0;
  private haveDelay = false;
  private baseDelay = Infinity;

  private slowStart = true;
  private ssthresh = Infinity;
  private recoveryStart = -Infinity;
  // Periodic slowdown state.
  private phase: 'normal' | 'wait' | 'frozen' | 'ramp' = 'normal';
  private nextSlowdownAt = Infinity;
  private slowdownStart = 0;
  private frozenUntil = 0;
  private savedWindow = 0;
  private rtt = 0;
  /** Current LEDBAT++ gain (updateGain). */
  private gain = 1;

  constructor(options: CongestionControllerOptions) {
    this.mss = options.maxDatagramSize;
    this.window = options.initialWindowPackets * this.mss;
    this.target = options.targetDelayMs;
    this.periodicSlowdown = options.periodicSlowdown;
    this.allowedIncrease = options.allowedIncrease ?? 1;
    if (!(this.allowedIncrease > 0))
      throw new TransportError(TransportErrorName.CONFIG, 'LEDBAT allowedIncrease must be > 0');
  }

  /** Base delay estimate (ms, offset by the clock difference); Infinity before any sample. */
  get baseDelayEstimate(): number {
    return this.baseDelay;
  }
  get inSlowStart(): boolean {
    return this.slowStart;
  }

  onPacketSent(): void {}

  /** Takes the sample, not its number: a double passed to a call that is not inlined is boxed (hot path). */
  private updateDelay(now: number, s: AckSample): void {
    const owd = s.oneWayDelay;
    if (now - this.baseBucketStart >= Ledbat.BASE_INTERVAL_MS || this.baseHistory.length === 0) {
      this.baseBucketStart = now;
      this.baseHistory.push(owd);
      if (this.baseHistory.length > Ledbat.BASE_HISTORY) this.baseHistory.shift();
    } else {
      const last = this.baseHistory.length - 1;
      if (owd < (this.baseHistory[last] as number)) this.baseHistory[last] = owd;
    }
    let base = Infinity;
    // Indexed, not for-of: the array iterator boxes each double element it yields (hot path).
    const history = this.baseHistory;
    for (let i = 0; i < history.length; i++) {
      const d = history[i] as number;
      if (d < base) base = d;
    }
    this.baseDelay = base;
    this.currentFilter[this.currentIndex] = owd;
    this.currentIndex = (this.currentIndex + 1) % Ledbat.CURRENT_FILTER;
    let current = Infinity;
    for (let i = 0; i < Ledbat.CURRENT_FILTER; i++) {
      const v = this.currentFilter[i] as number;
      if (v < current) current = v;
    }
    this.queueingDelay = Math.max(0, current - base);
    this.haveDelay = true;
  }

  /**
   * LEDBAT++ dynamic gain into `this.gain`; the sample's min RTT bounds the base one-way delay when
   * offsets hide it. (A field, not a return value: no boxed double per ACK.)
   */
  private updateGain(s: AckSample): void {
    const minRtt = s.minRtt;
    // The one-way base delay is offset by the clock difference; half the min RTT is its estimate.
    const baseOneWay = Number.isFinite(minRtt) ? Math.max(minRtt / 2, 0.001) : this.target;
    const divisor = Math.min(Ledbat.MAX_GAIN_DIVISOR, Math.ceil((2 * this.target) / baseOneWay));
    this.gain = 1 / Math.max(1, divisor);
  }

  onAck(now: number, s: AckSample): void {
    this.adjust(now, s);
    // RFC 6817 §2.4.2: cwnd = max(min(cwnd, flightsize + ALLOWED_INCREASE · MSS), MIN_CWND · MSS).
    // Keeps an application- or CPU-limited sender from holding a window it never used. flightsize
    // is the larger of the flight before this ACK (RFC 6817) and the flight when the acknowledged
    // data was sent: the RFC assumes the sender refills between ACKs, while a sender that handles a
    // batch of datagrams before sending sees priorInFlight fall ACK by ACK, and the literal cap
    // would then shrink the window to almost nothing within each batch.
    const flightsize = Math.max(s.sentInFlight, s.priorInFlight);
    const cap = flightsize + this.allowedIncrease * this.mss;
    if (this.window > cap) this.window = Math.max(cap, minimumWindow(this.mss));
  }

  private adjust(now: number, s: AckSample): void {
    if (Number.isFinite(s.oneWayDelay)) this.updateDelay(now, s);
    this.rtt = s.smoothedRtt;
    this.advanceSlowdown(now);
    if (this.phase === 'frozen') return;
    if (s.largestAckedSentTime <= this.recoveryStart) return;
    this.updateGain(s);
    const gain = this.gain;
    const delay = this.haveDelay ? this.queueingDelay : 0;
    if (this.slowStart) {
      if (delay > (3 / 4) * this.target) {
        this.exitSlowStart(now, s.smoothedRtt);
      } else {
        if (!s.appLimited) this.window += gain * s.ackedBytes;
        if (this.window >= this.ssthresh) {
          this.window = this.ssthresh;
          this.exitSlowStart(now, s.smoothedRtt);
        }
        return;
      }
    }
    let change: number;
    if (delay < this.target) {
      change = gain * this.mss; // per RTT
      if (s.appLimited) change = 0;
    } else {
      change = Math.max(gain * this.mss - this.window * (delay / this.target - 1), -this.window / 2);
    }
    // Apply the per-RTT change in proportion to the bytes this ACK covers.
    this.window += (change * s.ackedBytes) / this.window;
    const min = minimumWindow(this.mss);
    if (this.window < min) this.window = min;
  }

  private exitSlowStart(now: number, rtt: number): void {
    this.slowStart = false;
    if (this.phase === 'ramp') {
      // Back at the pre-slowdown window: next slowdown 9× this slowdown's duration later.
      this.phase = 'normal';
      this.nextSlowdownAt = now + 9 * Math.max(now - this.slowdownStart, rtt);
    } else if (this.periodicSlowdown && this.nextSlowdownAt === Infinity) {
      // Initial slowdown: 2 RTTs after the first slow start ends.
      this.phase = 'wait';
      this.nextSlowdownAt = now + 2 * rtt;
    }
  }

  /** Uses this.rtt (the smoothed RTT just stored). */
  private advanceSlowdown(now: number): void {
    if (!this.periodicSlowdown) return;
    const rtt = this.rtt;
    if ((this.phase === 'wait' || this.phase === 'normal') && now >= this.nextSlowdownAt) {
      this.phase = 'frozen';
      this.savedWindow = this.window;
      this.slowdownStart = now;
      this.frozenUntil = now + 2 * rtt;
      this.window = minimumWindow(this.mss);
    } else if (this.phase === 'frozen' && now >= this.frozenUntil) {
      this.phase = 'ramp';
      this.slowStart = true;
      this.ssthresh = Math.max(this.savedWindow, minimumWindow(this.mss));
    }
  }

  onLoss(now: number, _lostBytes: number, largestLostSentTime: number, _bytesInFlight?: number): void {
    if (largestLostSentTime <= this.recoveryStart) return;
    this.recoveryStart = now;
    this.window = Math.max(this.window / 2, minimumWindow(this.mss));
    this.ssthresh = this.window;
    if (this.phase === 'frozen' || this.phase === 'ramp') {
      this.phase = 'normal';
      this.nextSlowdownAt = now + 9 * Math.max(now - this.slowdownStart, 1);
    }
    if (this.slowStart) {
      this.slowStart = false;
      if (this.periodicSlowdown && this.nextSlowdownAt === Infinity) {
        this.phase = 'wait';
        this.nextSlowdownAt = now + 2 * this.rtt;
      }
    }
  }

  onPersistentCongestion(now: number): void {
    this.window = minimumWindow(this.mss);
    this.recoveryStart = now;
  }

  pacingRate(): number {
    return 0;
  }
}

export const ledbatFactory = (options: CongestionControllerOptions): Ledbat => new Ledbat(options);
