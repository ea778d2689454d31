import { TransportError, TransportErrorName } from '../errors.js';
import {
  minimumWindow,
  type AckSample,
  type CongestionController,
  type CongestionControllerOptions,
} from './controller.js';
import { RecentFlightsize } from './flightsize.js';
import { OneWayDelay } from './one-way-delay.js';

/**
 * Plain LEDBAT, RFC 6817 (TransportConfig.congestionController 'ledbat'; the default is LEDBAT++,
 * ledbat-plus-plus.ts). Kept for comparison and for peers that want the RFC's behaviour.
 *
 *  - queueing delay = filtered current one-way delay − base delay (one-way-delay.ts, §3.4.2);
 *  - per ACK (§2.4.2): off_target = (TARGET − queueing delay) / TARGET,
 *    cwnd += GAIN · off_target · bytes_newly_acked · MSS / cwnd with GAIN = 1 — a linear increase
 *    below target and a linear decrease above it;
 *  - slow start (§2.4.2 allows it): cwnd += bytes acked until loss or until the queueing delay
 *    reaches TARGET / 2;
 *  - loss (§3.4.3 / RFC 5681): halve, once per RTT;
 *  - growth only when the flow was cwnd-limited (AckSample.appLimited false, RFC 9002 §7.8), and the
 *    §2.4.2 cap after every ACK: cwnd ≤ max(flightsize + ALLOWED_INCREASE · MSS, MIN_CWND · MSS),
 *    flightsize = max(bytes in flight before the ACK, bytes in flight when the acknowledged data was
 *    sent): the RFC assumes a sender that refills between ACKs, while a sender that handles a batch
 *    of datagrams before sending sees priorInFlight fall ACK by ACK, and the literal cap would then
 *    shrink the window to almost nothing within each batch; and the largest of these over the last
 *    one to two round trips (flightsize.ts), so that no single ACK at a batch boundary ratchets the
 *    window down to one batch.
 */
export class Ledbat implements CongestionController {
  readonly name = 'ledbat';
  window = 0; // a number from the start (not undefined): fractional updates are stored in place
  queueingDelay = 0;

  static readonly GAIN = 1;

  private readonly mss: number;
  private readonly target: number;
  private readonly allowedIncrease: number;
  private readonly delay = new OneWayDelay();
  private readonly flightsize = new RecentFlightsize();
  private slowStart = true;
  private recoveryStart = -Infinity;

  constructor(options: CongestionControllerOptions) {
    this.mss = options.maxDatagramSize;
    this.window = options.initialWindowPackets * this.mss;
    this.target = options.targetDelayMs;
    this.allowedIncrease = options.allowedIncrease ?? 1;
    if (!(this.allowedIncrease > 0))
      throw new TransportError(TransportErrorName.CONFIG, 'LEDBAT allowedIncrease must be > 0');
  }

  /** Base delay estimate (ms, offset by the clock difference); Infinity before any sample. */
  get baseDelayEstimate(): number {
    return this.delay.base;
  }
  get inSlowStart(): boolean {
    return this.slowStart;
  }

  onPacketSent(): void {}

  onAck(now: number, s: AckSample): void {
    const owd = s.oneWayDelay;
    if (!Number.isNaN(owd)) {
      this.delay.update(now, owd);
      this.queueingDelay = this.delay.queueingDelay;
    }
    if (s.largestAckedSentTime > this.recoveryStart) this.adjust(s);
    const flightsize = this.flightsize.update(now, Math.max(s.sentInFlight, s.priorInFlight), s.smoothedRtt);
    const cap = flightsize + this.allowedIncrease * this.mss;
    if (this.window > cap) this.window = Math.max(cap, minimumWindow(this.mss));
  }

  private adjust(s: AckSample): void {
    const delay = this.queueingDelay;
    if (this.slowStart) {
      if (delay < this.target / 2) {
        if (!s.appLimited) this.window += s.ackedBytes;
        return;
      }
      this.slowStart = false;
    }
    const offTarget = (this.target - delay) / this.target;
    // Growth needs a cwnd-limited flow; decreases always apply.
    if (offTarget > 0 && s.appLimited) return;
    this.window += (Ledbat.GAIN * offTarget * s.ackedBytes * this.mss) / this.window;
    const min = minimumWindow(this.mss);
    if (this.window < min) this.window = min;
  }

  onLoss(now: number, _lostBytes: number, largestLostSentTime: number, _bytesInFlight?: number): void {
    if (largestLostSentTime <= this.recoveryStart) return;
    this.recoveryStart = now;
    this.window = Math.max(this.window / 2, minimumWindow(this.mss));
    this.slowStart = false;
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
