/**
 * The activity the idle timeout counts from (RFC 9000 §10.1): restarted by every packet received
 * and authenticated, and — only when this side sends no keepalives — by the first ack-eliciting
 * packet sent after one was received.
 *
 * Why not always the RFC's second rule: it keeps a connection that was quiet for long from timing
 * out right after it sends, but on a passive receiver whose own keepalive is that first
 * ack-eliciting packet it moves the deadline from last-receive + idle to keepalive + idle (45 s
 * instead of 30 s with a 15 s keepalive), so a dead peer is noticed late. While keepalives run, a
 * live peer answers (or sends) well within the idle timeout anyway: receiving alone restarts the
 * clock, and a dead peer is detected at last-receive + idle on both sides (dead-peer.ts).
 */
export class IdleClock {
  // A number from the start (not undefined): V8 then stores the fractional times in place.
  private last = 0;
  private ackElicitingSinceReceive = false;

  /** @param sendRestarts RFC 9000 §10.1's restart on sending; false while keepalives run. */
  constructor(
    now: number,
    private readonly sendRestarts = true,
  ) {
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
    if (this.sendRestarts) this.last = Math.max(this.last, now);
  }
}
