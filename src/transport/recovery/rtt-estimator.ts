import { TIMER_GRANULARITY_MS } from '../config.js';

/** One RTT sample (ms): what RttEstimator.updateFrom reads. */
export interface RttSample {
  readonly latestRtt: number;
  /** Peer-reported ACK delay, already capped at max_ack_delay by the caller. */
  readonly ackDelay: number;
}

/** Round-trip time estimation, RFC 9002 §5. All values in milliseconds. */
export class RttEstimator {
  latestRtt = 0;
  minRtt = Infinity;
  // Initialised as numbers (not undefined until the constructor): V8 then stores these fractional
  // values in place rather than boxing each update in a fresh HeapNumber.
  smoothedRtt = 0;
  rttVar = 0;
  hasSample = false;
  /** Scratch for update() (numbers from the start: stored in place, see above). */
  private readonly scratch = { latestRtt: 0, ackDelay: 0 };

  constructor(private readonly initialRtt: number) {
    this.smoothedRtt = initialRtt;
    this.rttVar = initialRtt / 2;
  }

  /** §5.3: `ackDelay` is the peer-reported delay, already capped at max_ack_delay by the caller. */
  update(latestRtt: number, ackDelay: number): void {
    this.scratch.latestRtt = latestRtt;
    this.scratch.ackDelay = ackDelay;
    this.updateFrom(this.scratch);
  }

  /**
   * update() with the sample in an object (hot path: LossDetection.onAck keeps one). Fractional
   * doubles passed as arguments to a call V8 does not inline are boxed, a HeapNumber each per ACK;
   * read from the caller's object they are not.
   */
  updateFrom(s: RttSample): void {
    const latestRtt = s.latestRtt;
    const ackDelay = s.ackDelay;
    this.latestRtt = latestRtt;
    if (!this.hasSample) {
      this.hasSample = true;
      this.minRtt = latestRtt;
      this.smoothedRtt = latestRtt;
      this.rttVar = latestRtt / 2;
      return;
    }
    if (latestRtt < this.minRtt) this.minRtt = latestRtt;
    let adjusted = latestRtt;
    if (latestRtt >= this.minRtt + ackDelay) adjusted = latestRtt - ackDelay;
    this.rttVar = 0.75 * this.rttVar + 0.25 * Math.abs(this.smoothedRtt - adjusted);
    this.smoothedRtt = 0.875 * this.smoothedRtt + 0.125 * adjusted;
  }

  /** Probe timeout without backoff (§6.2.1): srtt + max(4·rttvar, kGranularity) + max_ack_delay. */
  pto(maxAckDelay: number): number {
    return this.smoothedRtt + Math.max(4 * this.rttVar, TIMER_GRANULARITY_MS) + maxAckDelay;
  }

  /** Loss time threshold (§6.1.2): 9/8 · max(srtt, latest_rtt), at least kGranularity. */
  lossDelay(): number {
    return Math.max((9 / 8) * Math.max(this.smoothedRtt, this.latestRtt), TIMER_GRANULARITY_MS);
  }

  reset(): void {
    this.hasSample = false;
    this.minRtt = Infinity;
    this.smoothedRtt = this.initialRtt;
    this.rttVar = this.initialRtt / 2;
    this.latestRtt = 0;
  }
}
