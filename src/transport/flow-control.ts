/**
 * Flow control (RFC 9000 §4) for one stream or the whole connection.
 *
 * Receive side: we advertise `limit` (MAX_DATA / MAX_STREAM_DATA). When the application has consumed
 * half a window we raise the limit to consumed + window. Window auto-tuning (as in quinn and
 * Chromium): if the previous update was less than two RTTs ago the window was the bottleneck, so it
 * doubles, up to `maxWindow` — the memory cap. A window therefore grows to cover the bandwidth-delay
 * product of the path without being configured for it.
 */
export class ReceiveFlowControl {
  /** Highest limit advertised to the peer. (Numeric fields start as numbers, not undefined, so
   * values past the small-integer range are stored in place rather than boxed per update.) */
  limit = 0;
  /** Bytes the application consumed (read or discarded). */
  consumed = 0;
  /** Highest offset (stream) or sum of highest offsets (connection) the peer sent. */
  received = 0;
  window = 0;
  private lastUpdateTime = -Infinity;
  /** An update is waiting to be sent (MAX_DATA / MAX_STREAM_DATA). */
  pendingUpdate = false;

  constructor(
    initialWindow: number,
    readonly maxWindow: number,
  ) {
    this.window = initialWindow;
    this.limit = initialWindow;
  }

  /** Records `bytes` more received; returns false when the peer exceeded the limit (FLOW_CONTROL_ERROR). */
  onReceived(bytes: number): boolean {
    this.received += bytes;
    return this.received <= this.limit;
  }

  /**
   * Records consumption; returns true when a new limit should be advertised now. `rttMs` is the
   * smoothed RTT used by auto-tuning.
   */
  onConsumed(bytes: number, now: number, rttMs: number): boolean {
    this.consumed += bytes;
    if (this.limit - this.consumed > this.window / 2) return false;
    if (now - this.lastUpdateTime < 2 * rttMs && this.window < this.maxWindow) {
      this.window = Math.min(this.window * 2, this.maxWindow);
    }
    this.lastUpdateTime = now;
    const next = this.consumed + this.window;
    if (next > this.limit) {
      this.limit = next;
      this.pendingUpdate = true;
      return true;
    }
    return false;
  }

  /** Raise the window to at least `window` (used to keep the connection window ≥ a stream window). */
  ensureWindow(window: number): void {
    if (window > this.window) this.window = Math.min(window, this.maxWindow);
  }
}

/** Send side: the peer's limit and how much of it we used. */
export class SendFlowControl {
  /** The peer's most recent MAX_DATA / MAX_STREAM_DATA. */
  limit = 0;
  /** Bytes (highest offsets) sent. */
  used = 0;
  /** Limit at which we last sent a DATA_BLOCKED / STREAM_DATA_BLOCKED (avoid repeats). */
  blockedSentAt = -1;
  constructor(initialLimit: number) {
    this.limit = initialLimit;
  }
  get available(): number {
    return Math.max(0, this.limit - this.used);
  }
  /** Applies a MAX_* frame; returns true when the limit increased. */
  update(limit: number): boolean {
    if (limit <= this.limit) return false;
    this.limit = limit;
    return true;
  }
  /** `bytes` more new data sent (connection level: the sum over streams). */
  onSent(bytes: number): void {
    this.used += bytes;
  }
  /** New data sent up to `offset` (stream level: the highest offset). */
  onSentUpTo(offset: number): void {
    this.used = offset;
  }
  /**
   * true once per limit when the limit blocks sending: a DATA_BLOCKED / STREAM_DATA_BLOCKED is due
   * (RFC 9000 §4.1), not repeated until the peer raises the limit.
   */
  takeBlocked(): boolean {
    if (this.available !== 0 || this.blockedSentAt === this.limit) return false;
    this.blockedSentAt = this.limit;
    return true;
  }
}
