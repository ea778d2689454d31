/**
 * Token-bucket pacer (cf. quinn-proto `connection/pacing.rs`, RFC 9002 §7.7): spreads a congestion
 * window over the RTT instead of sending it as one burst. Rate = 1.25 · window / smoothed RTT (or the
 * controller's own rate); the bucket holds about 2 ms worth of data, at least 10 and at most 256
 * datagrams, so timers with millisecond granularity still keep the pipe full.
 */
/** What the pacer reads from the congestion controller (CongestionController has it). */
export interface PacedController {
  readonly window: number;
  /** Bytes per ms the controller wants, or 0 for the default 1.25 · window / RTT. */
  pacingRate(smoothedRtt: number): number;
}

export class Pacer {
  // Hot path: every field is initialised to a number here, never left `undefined` (an ES2022 class
  // field without initialiser starts as undefined, V8 then tracks it as tagged and boxes every
  // fractional store in a fresh HeapNumber; numeric fields are stored in place).
  private tokens = 0;
  private lastRefill = 0;
  private capacity = 0;
  private rate = 0; // bytes per ms

  private static readonly BURST_INTERVAL_MS = 2;
  private static readonly MIN_BURST_PACKETS = 10;
  private static readonly MAX_BURST_PACKETS = 256;
  private static readonly GAIN = 1.25;

  constructor(private readonly mss: number) {
    this.capacity = Pacer.MIN_BURST_PACKETS * mss;
    this.tokens = this.capacity;
  }

  /**
   * Recomputes rate and burst size from the controller's window (or its own rate) and the smoothed
   * RTT; call before nextSendTime(). Takes the objects, not the numbers: fractional numbers passed
   * to a call V8 does not inline are boxed, one allocation each per packet (hot path).
   */
  update(cc: PacedController, rttEstimator: { readonly smoothedRtt: number }): void {
    const smoothedRtt = rttEstimator.smoothedRtt;
    const controllerRate = cc.pacingRate(smoothedRtt);
    const rtt = Math.max(smoothedRtt, 0.001);
    this.rate = controllerRate > 0 ? controllerRate : (Pacer.GAIN * cc.window) / rtt;
    const burst = this.rate * Pacer.BURST_INTERVAL_MS;
    this.capacity = Math.min(Math.max(burst, Pacer.MIN_BURST_PACKETS * this.mss), Pacer.MAX_BURST_PACKETS * this.mss);
    if (this.tokens > this.capacity) this.tokens = this.capacity;
  }

  /**
   * Time at which a packet of `bytes` may leave: `now` when tokens suffice, later otherwise.
   */
  nextSendTime(now: number, bytes: number): number {
    this.refill(now);
    if (this.tokens >= bytes) return now;
    if (this.rate <= 0) return now;
    const wait = (bytes - this.tokens) / this.rate;
    // Sub-microsecond waits are rounding noise: never ask for a timer that cannot move time on.
    return wait < 0.001 ? now : now + wait;
  }

  onSent(now: number, bytes: number): void {
    this.refill(now);
    this.tokens -= bytes;
    if (this.tokens < 0) this.tokens = 0;
  }

  private refill(now: number): void {
    if (now > this.lastRefill) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.lastRefill) * this.rate);
      this.lastRefill = now;
    }
  }
}
