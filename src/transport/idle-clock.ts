/**
 * The activity the idle timeout counts from (RFC 9000 §10.1): restarted by every packet received
 * and authenticated, and by the first ack-eliciting packet sent after one was received.
 */
export class IdleClock {
  // A number from the start (not undefined): V8 then stores the fractional times in place.
  private last = 0;
  private ackElicitingSinceReceive = false;

  constructor(now: number) {
    this.last = now;
  }

  get lastActivity(): number {
    return this.last;
  }

  /** The handshake completed. */
  restart(now: number): void {
    this.last = now;
  }

  onPacketReceived(now: number): void {
    this.last = now;
    this.ackElicitingSinceReceive = false;
  }

  onAckElicitingSent(now: number): void {
    if (this.ackElicitingSinceReceive) return;
    this.ackElicitingSinceReceive = true;
    this.last = Math.max(this.last, now);
  }
}
