/**
 * RFC 6817 §2.4.2's "flightsize" for the ALLOWED_INCREASE cap (cwnd ≤ flightsize + ALLOWED_INCREASE ·
 * MSS), taken as the largest bytes in flight over the last one to two round trips, not at one ACK.
 *
 * Why: this core sends and acknowledges in batches (one recvmmsg batch, then one flush per
 * event-loop turn). Bytes in flight at any single ACK depend on where that ACK fell in the sender's
 * batch: the smallest such sample, applied as a cap ACK after ACK, ratchets the window down to about
 * one batch plus ALLOWED_INCREASE, whatever the path holds. Measured on the 1500-MTU veth bench
 * (0.3–2 ms RTT): the window sat at 136–150 KB = 64 datagrams (the sender's per-turn batch) + 32
 * while the flow was window-limited. The cap exists so that a window the flow does not use cannot
 * grow (the RFC's intent); the largest use within the last round trips says that just as well.
 */
export class RecentFlightsize {
  // Hot path: numbers from the start (V8 keeps them unboxed).
  private current = 0;
  private previous = 0;
  private roundEnd = -Infinity;

  /** Records one ACK's figures; returns the flightsize for the cap. */
  update(now: number, inFlight: number, smoothedRtt: number): number {
    if (now >= this.roundEnd) {
      // A new round of at least one smoothed RTT: the last one becomes the previous.
      this.previous = this.current;
      this.current = 0;
      this.roundEnd = now + Math.max(smoothedRtt, 0.001);
    }
    if (inFlight > this.current) this.current = inFlight;
    return Math.max(this.current, this.previous);
  }
}
