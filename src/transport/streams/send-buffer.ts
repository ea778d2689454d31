import { copyBytes } from '../bytes.js';
import { RangeSet } from '../range-set.js';

/**
 * Send side of one stream (RFC 9000 §2.2, §3.1): bytes the application wrote, held in a growable
 * ring until the peer acknowledges them. Tracks what was sent, what was acknowledged out of order
 * and which ranges were declared lost and must be sent again (possibly repackaged).
 *
 * Offsets are stream offsets. Invariants: ackedPrefix <= unsent <= end; the ring holds
 * [ackedPrefix, end); end - ackedPrefix <= capacityLimit.
 */
export class SendBuffer {
  private ring: Uint8Array;
  /** Every byte below this offset is acknowledged and released. */
  ackedPrefix = 0;
  /** One past the last byte written by the application. */
  end = 0;
  /** First byte never sent. */
  unsent = 0;
  private readonly acked = new RangeSet();
  private readonly lost = new RangeSet();

  constructor(private readonly capacityLimit: number, initialCapacity = 4096) {
    let cap = 1;
    while (cap < Math.min(initialCapacity, capacityLimit)) cap *= 2;
    this.ring = new Uint8Array(cap);
  }

  /** Bytes written and not yet acknowledged (memory held). */
  get buffered(): number {
    return this.end - this.ackedPrefix;
  }
  /** Room for write(). */
  get space(): number {
    return Math.max(0, this.capacityLimit - this.buffered);
  }
  /** true when something (retransmission or new data) waits to be sent. */
  hasRetransmit(): boolean {
    return !this.lost.isEmpty;
  }
  get hasUnsent(): boolean {
    return this.unsent < this.end;
  }
  /** Every written byte is acknowledged. */
  get allAcked(): boolean {
    return this.ackedPrefix === this.end;
  }

  /** Copies as much of data as fits; returns bytes accepted. */
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.space);
    if (n === 0) return 0;
    this.reserve(this.buffered + n);
    const cap = this.ring.length;
    const pos = this.end % this.ring.length;
    const first = Math.min(n, cap - pos);
    copyBytes(data, 0, first, this.ring, pos);
    if (first < n) copyBytes(data, first, n, this.ring, 0);
    this.end += n;
    return n;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.ring.length) return;
    let cap = this.ring.length;
    while (cap < bytes) cap *= 2;
    const next = new Uint8Array(cap);
    // Re-place live bytes [ackedPrefix, end) at their offsets modulo the new capacity.
    for (let off = this.ackedPrefix; off < this.end; ) {
      const src = off % this.ring.length;
      const run = Math.min(this.end - off, this.ring.length - src);
      const dst = off % cap;
      const run2 = Math.min(run, cap - dst);
      next.set(this.ring.subarray(src, src + run2), dst);
      off += run2;
    }
    this.ring = next;
  }

  /** Copies [offset, offset+length) into dst at dstOffset. The range must be held. */
  copyTo(offset: number, length: number, dst: Uint8Array, dstOffset: number): void {
    const cap = this.ring.length;
    const pos = offset % this.ring.length;
    const first = Math.min(length, cap - pos);
    copyBytes(this.ring, pos, pos + first, dst, dstOffset);
    if (first < length) copyBytes(this.ring, 0, length - first, dst, dstOffset + first);
  }

  /** Start of the first range to retransmit, or -1. */
  nextRetransmitOffset(): number {
    return this.lost.isEmpty ? -1 : this.lost.start(0);
  }
  /** Length available to retransmit at nextRetransmitOffset(), capped at max. */
  nextRetransmitLength(max: number): number {
    return this.lost.isEmpty ? 0 : Math.min(max, this.lost.end(0) - this.lost.start(0));
  }
  /** Marks [offset, offset+length) as (re)sent: removes it from the retransmission queue. */
  markRetransmitted(offset: number, length: number): void {
    this.lost.remove(offset, offset + length);
  }
  /** Marks new bytes as sent (advances `unsent`). */
  markSent(length: number): void {
    this.unsent += length;
  }

  onAck(offset: number, length: number): void {
    const endOff = offset + length;
    if (endOff <= this.ackedPrefix) return;
    this.lost.remove(offset, endOff);
    this.acked.add(Math.max(offset, this.ackedPrefix), endOff);
    if (this.acked.min === this.ackedPrefix) {
      const e = this.acked.end(0);
      this.ackedPrefix = e;
      this.acked.removeBelow(e);
    }
  }

  /** Queues the not-yet-acknowledged part of [offset, offset+length) for retransmission. */
  onLost(offset: number, length: number): void {
    let s = Math.max(offset, this.ackedPrefix);
    const e = offset + length;
    while (s < e) {
      // skip acknowledged pieces
      const ackEnd = this.acked.contiguousEnd(s);
      if (ackEnd > s) {
        s = ackEnd;
        continue;
      }
      // find next acked start after s
      let next = e;
      for (let i = 0; i < this.acked.count; i++) {
        const as = this.acked.start(i);
        if (as > s) {
          next = Math.min(next, as);
          break;
        }
      }
      this.lost.add(s, next);
      s = next;
    }
  }

  /** Drops everything (stream reset): releases memory. */
  discard(): void {
    this.ackedPrefix = this.end;
    this.unsent = this.end;
    this.acked.clear();
    this.lost.clear();
    if (this.ring.length > 4096) {
      this.ring = new Uint8Array(4096);
    }
  }
}
