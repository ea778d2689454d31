import { copyBytes } from '../bytes.js';
import { RangeSet } from '../range-set.js';

/**
 * Receive side of one stream (RFC 9000 §2.2): reassembles possibly out-of-order, duplicated or
 * overlapping STREAM frames into in-order bytes. Storage is a growable ring indexed by stream offset;
 * flow control bounds how far ahead of the read offset the peer may send, so the ring never needs
 * more than the advertised window (the connection checks limits before calling insert()).
 */
export class ReceiveBuffer {
  private ring: Uint8Array;
  /** Next offset the application reads. */
  readOffset = 0;
  /** Highest offset + 1 received so far. */
  highestReceived = 0;
  /** Final size once known (FIN or RESET_STREAM), else -1. */
  finalSize = -1;
  private readonly received = new RangeSet();

  constructor(initialCapacity = 4096) {
    let cap = 1;
    while (cap < initialCapacity) cap *= 2;
    this.ring = new Uint8Array(cap);
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
    const cap = this.ring.length;
    let off = start;
    while (off < end) {
      const pos = off % this.ring.length;
      const run = Math.min(end - off, cap - pos);
      copyBytes(data, off - offset, off - offset + run, this.ring, pos);
      off += run;
    }
    this.received.add(start, end);
    return this.highestReceived - prevHighest;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.ring.length) return;
    let cap = this.ring.length;
    while (cap < bytes) cap *= 2;
    const next = new Uint8Array(cap);
    for (let off = this.readOffset; off < this.highestReceived; ) {
      const src = off % this.ring.length;
      const run = Math.min(this.highestReceived - off, this.ring.length - src);
      const dst = off % cap;
      const run2 = Math.min(run, cap - dst);
      next.set(this.ring.subarray(src, src + run2), dst);
      off += run2;
    }
    this.ring = next;
  }

  /** Reads up to max contiguous bytes (a fresh copy); null when nothing is readable. */
  read(max: number): Uint8Array | null {
    const n = Math.min(this.readable, max);
    if (n <= 0) return null;
    const out = new Uint8Array(n);
    const pos = this.readOffset % this.ring.length;
    const first = Math.min(n, this.ring.length - pos);
    copyBytes(this.ring, pos, pos + first, out, 0);
    if (first < n) copyBytes(this.ring, 0, n - first, out, first);
    this.readOffset += n;
    this.received.removeBelow(this.readOffset);
    return out;
  }

  /** Drops all buffered data (reset / stop): memory is released. */
  discard(): void {
    this.received.clear();
    this.readOffset = Math.max(this.readOffset, this.highestReceived);
    this.ring = new Uint8Array(16);
  }
}
