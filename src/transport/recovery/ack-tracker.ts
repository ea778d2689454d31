import { MAX_TRACKED_ACK_RANGES } from '../config.js';
import { RangeSet } from '../range-set.js';

/**
 * Received packet numbers and when to acknowledge them (RFC 9000 §13.2): duplicate detection,
 * ACK after `threshold` ack-eliciting packets or after max_ack_delay, immediately on a gap or
 * reordering. Also remembers when the largest packet arrived, for the ACK's delay and receive
 * timestamp fields (the latter feeds the peer's LEDBAT one-way delay).
 */
export class AckTracker {
  /** Received packet numbers, as [start, end) ranges (bounded). */
  readonly ranges = new RangeSet(MAX_TRACKED_ACK_RANGES);
  largest = -1;
  largestTime = 0;
  /** Ack-eliciting packets received since the last ACK we sent. */
  private elicitingSinceAck = 0;
  /** An ACK should go out now (gap, threshold). */
  immediate = false;
  /** Time by which a delayed ACK must be sent (Infinity when none is pending). */
  deadline = Infinity;
  /** Something new was received since the last ACK (an ACK frame would carry news). */
  pending = false;

  constructor(
    private readonly threshold: number,
    private readonly maxAckDelay: number,
  ) {}

  /** true when pn was already received (or is too old to tell): drop the packet. */
  isDuplicate(pn: number): boolean {
    // Packet numbers below what we still remember count as duplicates (the sender has long since
    // declared them lost and repackaged their frames).
    return pn < this.floor || this.ranges.has(pn);
  }
  /** Packet numbers below this are treated as already received. */
  private floor = 0;

  /** Records a received, authenticated packet. */
  onPacket(pn: number, ackEliciting: boolean, now: number): void {
    const hadLargest = this.largest;
    // Gap detection (§13.2.1): out-of-order arrival, or a new gap below this packet.
    const outOfOrder = pn < hadLargest || (hadLargest >= 0 && pn > hadLargest + 1);
    this.ranges.add(pn, pn + 1);
    if (this.ranges.count >= MAX_TRACKED_ACK_RANGES && this.ranges.min > this.floor) this.floor = this.ranges.min;
    if (pn > this.largest) {
      this.largest = pn;
      this.largestTime = now;
    }
    this.pending = true;
    if (!ackEliciting) return;
    this.elicitingSinceAck++;
    if (outOfOrder || this.elicitingSinceAck >= this.threshold) {
      this.immediate = true;
    } else if (this.deadline === Infinity) {
      this.deadline = now + this.maxAckDelay;
    }
  }

  /** Should an ACK-only packet be sent at `now`? */
  wantsAck(now: number): boolean {
    return this.pending && (this.immediate || now >= this.deadline);
  }

  /** Next time an ACK becomes due (Infinity when none). */
  nextDeadline(): number {
    if (!this.pending) return Infinity;
    return this.immediate ? 0 : this.deadline;
  }

  /** Called when an ACK frame was written into a packet. */
  onAckSent(): void {
    this.elicitingSinceAck = 0;
    this.immediate = false;
    this.deadline = Infinity;
    this.pending = false;
  }

  /**
   * The peer acknowledged a packet of ours that carried an ACK whose largest was `largestAcked`:
   * stop repeating ranges below it (§13.2.4), keeping the latest one.
   */
  onAckOfAck(largestAcked: number): void {
    if (largestAcked < 0) return;
    // Keep the range containing largestAcked and above; older ones need not be repeated.
    const keepFrom = this.ranges.has(largestAcked) ? largestAcked : largestAcked + 1;
    let lowest = keepFrom;
    for (let i = 0; i < this.ranges.count; i++) {
      if (this.ranges.start(i) <= keepFrom && keepFrom < this.ranges.end(i)) {
        lowest = this.ranges.start(i);
        break;
      }
    }
    this.ranges.removeBelow(lowest);
    if (lowest > this.floor) this.floor = lowest;
  }
}
