import { copyBytes, regrowRing } from '../bytes.js';
import { RangeSet } from '../range-set.js';

/**
 * Receive side of one stream (RFC 9000 §2.2): reassembles possibly out-of-order, duplicated or
 * overlapping STREAM frames into in-order bytes. Storage is a growable ring indexed by stream offset;
 * flow control bounds how far ahead of the read offset the peer may send, so the ring never needs
 * more than the advertised window (the connection checks limits before calling insert()).
 *
 * Memory layout: `buf` = ring [0, cap) ‖ overflow [cap, cap + overflow). Hot path (insert, once per
 * STREAM frame): a frame's data is copied whole at its ring position — running on into the overflow
 * area when it crosses the end of the ring — and the overflowing part is then moved to the ring's
 * start with copyWithin. Copying a whole frame needs no subarray view, so this allocates nothing.
 */
export class ReceiveBuffer {
  /** Ring [0, cap) followed by the overflow area. */
  private buf: Uint8Array;
  /** Ring capacity (a power of two). */
  private cap: number;
  /** Next offset the application reads. */
  readOffset = 0;
  /** Highest offset + 1 received so far. */
  highestReceived = 0;
  /** Final size once known (FIN or RESET_STREAM), else -1. */
  finalSize = -1;
  private readonly received = new RangeSet();

  /**
   * @param overflow bytes of the overflow area: the largest frame insert() copies without allocating
   *   across the ring's end (the connection passes its maximum datagram size).
   */
  constructor(
    initialCapacity = 4096,
    private readonly overflow = 0,
  ) {
    let cap = 1;
    while (cap < initialCapacity) cap *= 2;
    this.cap = cap;
    this.buf = new Uint8Array(cap + overflow);
  }

  /** Contiguous bytes readable now. */
  get readable(): number {
    return this.received.contiguousEnd(this.readOffset) - this.readOffset;
  }
  /** Every byte up to the final size was read. */
  get finished(): boolean {
    return this.finalSize >= 0 && this.readOffset === this.finalSize;
  }
  /** Every byte up to the final size was received (not necessarily read). */
  get complete(): boolean {
    return this.finalSize >= 0 && this.received.contiguousEnd(this.readOffset) >= this.finalSize;
  }
  get bufferedBytes(): number {
    return this.highestReceived - this.readOffset;
  }

  /**
   * Stores data at offset (the part already read or already held is ignored). Returns the increase of
   * highestReceived (for connection-level flow control). Caller validates final size and limits.
   */
  insert(offset: number, data: Uint8Array): number {
    const end = offset + data.length;
    const prevHighest = this.highestReceived;
    if (end > this.highestReceived) this.highestReceived = end;
    let start = offset;
    if (start < this.readOffset) start = this.readOffset;
    if (end <= start) return this.highestReceived - prevHighest;
    if (this.received.covers(start, end)) return this.highestReceived - prevHighest;
    this.reserve(end - this.readOffset);
    const buf = this.buf;
    const cap = this.cap;
    const pos = start % cap;
    if (start === offset && pos + data.length <= buf.length) {
      // The whole frame (hot path): one copy, then move what ran past the ring's end to its start.
      buf.set(data, pos);
      if (pos + data.length > cap) buf.copyWithin(0, cap, pos + data.length);
    } else {
      let off = start;
      while (off < end) {
        const p = off % cap;
        const run = Math.min(end - off, cap - p);
        copyBytes(data, off - offset, off - offset + run, buf, p);
        off += run;
      }
    }
    this.received.add(start, end);
    return this.highestReceived - prevHighest;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.cap) return;
    const old = this.buf;
    const oldCap = this.cap;
    let cap = oldCap;
    while (cap < bytes) cap *= 2;
    this.buf = regrowRing(old, oldCap, this.readOffset, this.highestReceived, cap, this.overflow);
    this.cap = cap;
  }

  /** Reads up to max contiguous bytes (a fresh copy); null when nothing is readable. */
  read(max: number): Uint8Array | null {
    const n = Math.min(this.readable, max);
    if (n <= 0) return null;
    const out = new Uint8Array(n);
    const pos = this.readOffset % this.cap;
    const first = Math.min(n, this.cap - pos);
    copyBytes(this.buf, pos, pos + first, out, 0);
    if (first < n) copyBytes(this.buf, 0, n - first, out, first);
    this.readOffset += n;
    this.received.removeBelow(this.readOffset);
    return out;
  }

  /** Drops all buffered data (reset / stop): memory is released. */
  discard(): void {
    this.received.clear();
    this.readOffset = Math.max(this.readOffset, this.highestReceived);
    this.cap = 16;
    this.buf = new Uint8Array(16); // nothing is stored any more: no overflow area either
  }
}
