/**
 * One-way delay filters shared by the LEDBAT controllers (RFC 6817 §3.4.2).
 *
 * Samples are the peer's receive timestamp minus our send time, offset by the unknown difference of
 * the two clocks; only differences mean anything, so everything here is relative to the base.
 *  - base delay: minimum over BASE_HISTORY per-interval minima (RFC 6817: 10 one-minute buckets), so
 *    a route change to a longer path is forgotten within BASE_HISTORY intervals and the clock offset
 *    (and slow clock drift) cancels;
 *  - current delay: minimum of the last CURRENT_FILTER samples (RFC 6817 §3.4.2 noise filter);
 *  - queueing delay = current − base, ≥ 0.
 */
export class OneWayDelay {
  static readonly BASE_HISTORY = 10;
  static readonly BASE_INTERVAL_MS = 60_000;
  static readonly CURRENT_FILTER = 4;

  /** current − base (ms), ≥ 0; 0 before any sample. */
  queueingDelay = 0;
  /** Base delay estimate (ms, clock-offset); Infinity before any sample. */
  base = Infinity;
  /** Current (filtered) delay (ms, clock-offset); Infinity before any sample. */
  current = Infinity;
  hasSample = false;

  /** Per-interval minima (ring of at most BASE_HISTORY). Numbers only: no boxing on the hot path. */
  private readonly history = new Float64Array(OneWayDelay.BASE_HISTORY).fill(Infinity);
  private historyLength = 0;
  private historyHead = 0;
  private bucketStart = -Infinity;
  private readonly filter = new Float64Array(OneWayDelay.CURRENT_FILTER).fill(Infinity);
  private filterIndex = 0;

  /** Takes the number from the caller's sample object reader; `owd` must be finite. */
  update(now: number, owd: number): void {
    if (now - this.bucketStart >= OneWayDelay.BASE_INTERVAL_MS || this.historyLength === 0) {
      this.bucketStart = now;
      // Append a bucket; the ring drops the oldest when full.
      const slot = (this.historyHead + this.historyLength) % OneWayDelay.BASE_HISTORY;
      if (this.historyLength < OneWayDelay.BASE_HISTORY) this.historyLength++;
      else this.historyHead = (this.historyHead + 1) % OneWayDelay.BASE_HISTORY;
      this.history[slot] = owd;
    } else {
      const last = (this.historyHead + this.historyLength - 1) % OneWayDelay.BASE_HISTORY;
      if (owd < (this.history[last] as number)) this.history[last] = owd;
    }
    let base = Infinity;
    for (let i = 0; i < this.historyLength; i++) {
      const d = this.history[(this.historyHead + i) % OneWayDelay.BASE_HISTORY] as number;
      if (d < base) base = d;
    }
    this.base = base;
    this.filter[this.filterIndex] = owd;
    this.filterIndex = (this.filterIndex + 1) % OneWayDelay.CURRENT_FILTER;
    let current = Infinity;
    for (let i = 0; i < OneWayDelay.CURRENT_FILTER; i++) {
      const v = this.filter[i] as number;
      if (v < current) current = v;
    }
    this.current = current;
    this.queueingDelay = Math.max(current - base, 0);
    this.hasSample = true;
  }

  /**
   * The largest of the last CURRENT_FILTER samples, less the base (ms, ≥ 0): how full the queue
   * was lately, where queueingDelay (a minimum, against noise) says how full it stays. For judging a
   * loss: a buffer overflows at its fullest, and a flow sending a packet or two per RTT has samples
   * several RTTs apart, whose minimum can be far below the queue at the overflow. Not per packet.
   */
  recentMaxQueueingDelay(): number {
    let max = -Infinity;
    for (let i = 0; i < OneWayDelay.CURRENT_FILTER; i++) {
      const v = this.filter[i] as number;
      if (v < Infinity && v > max) max = v;
    }
    return max === -Infinity ? 0 : Math.max(max - this.base, 0);
  }
}
