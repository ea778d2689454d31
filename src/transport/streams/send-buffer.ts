import { copyBytes, regrowRing } from '../bytes.js';
import { RangeSet } from '../range-set.js';

const EMPTY = new Uint8Array(0);
/**
 * Entries of the staging view cache (power of two), direct-mapped by length: frame lengths vary by a
 * few bytes with the ACK frame in front of them, and 32 consecutive lengths never collide.
 */
const STAGING_VIEW_CACHE_SIZE = 32;

/**
 * Send side of one stream (RFC 9000 §2.2, §3.1): bytes the application wrote, held in a growable
 * ring until the peer acknowledges them. Tracks what was sent, what was acknowledged out of order
 * and which ranges were declared lost and must be sent again (possibly repackaged).
 *
 * Offsets are stream offsets. Invariants: ackedPrefix <= unsent <= end; the ring holds
 * [ackedPrefix, end); end - ackedPrefix <= capacityLimit.
 *
 * Memory layout: `buf` = ring [0, cap) ‖ staging [cap, cap + staging). Hot path (copyTo, once per
 * STREAM frame): a frame's bytes are first moved into the staging area with copyWithin (same
 * buffer: no view needed, wrap-around included), then copied out through a cached view of the
 * staging area, so sending allocates nothing. (Copying straight from the ring would need a fresh
 * subarray per frame: Node 20 has no memcpy between typed arrays that takes offsets.) Where the packet
 * AEAD runs through OpenSSL, the packet builder skips copyTo for contiguous ranges: sealFrom copies
 * straight from `ring` in C.
 */
export class SendBuffer {
  /** Ring [0, cap) followed by the staging area. */
  private buf: Uint8Array;
  /** Ring capacity (a power of two). */
  private cap: number;
  /** Views buf[cap, cap + n), direct-mapped by n; reset when buf is replaced. */
  private readonly stagingViews: Uint8Array[] = [];
  /** Every byte below this offset is acknowledged and released. */
  ackedPrefix = 0;
  /** One past the last byte written by the application. */
  end = 0;
  /** First byte never sent. */
  unsent = 0;
  private readonly acked = new RangeSet();
  private readonly lost = new RangeSet();

  /**
   * @param staging bytes of the staging area: the largest frame copyTo() copies without allocating
   *   (the connection passes its maximum datagram size; larger copies fall back to a view).
   */
  constructor(
    private readonly capacityLimit: number,
    initialCapacity = 4096,
    private readonly staging = 0,
  ) {
    let cap = 1;
    while (cap < Math.min(initialCapacity, capacityLimit)) cap *= 2;
    this.cap = cap;
    this.buf = new Uint8Array(cap + staging);
    for (let i = 0; i < STAGING_VIEW_CACHE_SIZE; i++) this.stagingViews.push(EMPTY);
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
    const cap = this.cap;
    const pos = this.end % cap;
    const first = Math.min(n, cap - pos);
    copyBytes(data, 0, first, this.buf, pos);
    if (first < n) copyBytes(data, first, n, this.buf, 0);
    this.end += n;
    return n;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.cap) return;
    const old = this.buf;
    const oldCap = this.cap;
    let cap = oldCap;
    while (cap < bytes) cap *= 2;
    // Re-place live bytes [ackedPrefix, end) at their offsets modulo the new capacity.
    this.buf = regrowRing(old, oldCap, this.ackedPrefix, this.end, cap, this.staging);
    this.cap = cap;
    this.stagingViews.fill(EMPTY);
  }

  /** Copies [offset, offset+length) into dst at dstOffset. The range must be held. Hot path. */
  copyTo(offset: number, length: number, dst: Uint8Array, dstOffset: number): void {
    const buf = this.buf;
    const cap = this.cap;
    const pos = offset % cap;
    const first = Math.min(length, cap - pos);
    if (length > this.staging) {
      copyBytes(buf, pos, pos + first, dst, dstOffset);
      if (first < length) copyBytes(buf, 0, length - first, dst, dstOffset + first);
      return;
    }
    buf.copyWithin(cap, pos, pos + first);
    if (first < length) buf.copyWithin(cap + first, 0, length - first);
    const i = length & (STAGING_VIEW_CACHE_SIZE - 1);
    let view = this.stagingViews[i] as Uint8Array;
    if (view.length !== length) {
      view = buf.subarray(cap, cap + length);
      this.stagingViews[i] = view;
    }
    dst.set(view, dstOffset);
  }

  /**
   * The ring (see ringStart): for a caller that reads a held range in place, such as the packet
   * builder handing it to PacketProtection.sealFrom (one native copy into the datagram instead of
   * copyTo's two). Read-only for callers; valid until the next write().
   */
  get ring(): Uint8Array {
    return this.buf;
  }
  /** Where the held range [offset, offset+length) starts in `ring`, or -1 when it wraps around its end. */
  ringStart(offset: number, length: number): number {
    const pos = offset % this.cap;
    return pos + length <= this.cap ? pos : -1;
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
    if (this.cap > 4096) {
      this.cap = 4096;
      this.buf = new Uint8Array(4096 + this.staging);
      this.stagingViews.fill(EMPTY);
    }
  }
}
