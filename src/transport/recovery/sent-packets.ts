/**
 * Packets sent and not yet acknowledged or declared lost (RFC 9002 §A.1 "sent_packets"), in packet
 * number order. Records are pooled and reused; each keeps what it carried as a flat number array
 * (kind, a, b, c per frame) so acknowledging or losing a packet needs no per-packet objects.
 */

/** What a sent packet carried, for the ack/loss callbacks. Stride 4: [kind, a, b, c]. */
export const SentFrame = {
  /** a = stream id, b = offset, c = length. */
  Stream: 1,
  /** Same, with FIN. */
  StreamFin: 2,
  MaxData: 3,
  /** a = stream id. */
  MaxStreamData: 4,
  MaxStreamsBidi: 5,
  MaxStreamsUni: 6,
  /** a = stream id. */
  ResetStream: 7,
  /** a = stream id. */
  StopSending: 8,
  Ping: 9,
  DataBlocked: 10,
  /** a = stream id. */
  StreamDataBlocked: 11,
  /** a = largest packet number the ACK frame acknowledged. */
  Ack: 12,
  Datagram: 13,
  PathChallenge: 14,
  Close: 15,
  /** A DPLPMTUD probe (RFC 8899): a = packet number, b = its size. */
  PmtuProbe: 16,
  /** a = sequence number. */
  NewConnectionId: 17,
  /** a = sequence number. */
  RetireConnectionId: 18,
} as const;
export const SENT_FRAME_STRIDE = 4;

export class SentPacket {
  pn = 0;
  timeSent = 0;
  size = 0;
  ackEliciting = false;
  inFlight = false;
  /**
   * Sent while the flow was congestion-window limited (RFC 9002 §7.8): bytes in flight including
   * this packet reached window − one max datagram, or the pacer had held data back with at least
   * half the window in flight. Set by recovery.
   */
  cwndLimited = false;
  /** Bytes in flight right after this packet was sent (0 when not in flight). Set by recovery. */
  inFlightAtSend = 0;
  /** Flat records [kind, a, b, c]... */
  readonly frames: number[] = [];
  frameWords = 0;

  /** The packet builder starts packet `pn` in this record (no frames yet). */
  start(pn: number): void {
    this.pn = pn;
    this.frameWords = 0;
  }

  /** What the sender fills in once the packet is built (before recovery.onPacketSent). */
  stamp(timeSent: number, size: number, ackEliciting: boolean, inFlight: boolean): void {
    this.timeSent = timeSent;
    this.size = size;
    this.ackEliciting = ackEliciting;
    this.inFlight = inFlight;
  }

  addFrame(kind: number, a: number, b: number, c: number): void {
    const f = this.frames;
    const i = this.frameWords;
    f[i] = kind;
    f[i + 1] = a;
    f[i + 2] = b;
    f[i + 3] = c;
    this.frameWords = i + 4;
  }
}

/** Deque of SentPacket indexed by packet number (ring buffer; packet numbers only grow). */
export class SentPackets {
  // Starts small (a half-open connection sends one flight) and doubles as the flight grows.
  private slots: Array<SentPacket | null> = new Array<SentPacket | null>(16).fill(null);
  /** Packet number at slot index `head`. */
  private firstPn = 0;
  private head = 0;
  /** Number of slots in use (including holes left by acked packets). */
  private span = 0;
  /**
   * Free records: pool[0, poolCount). An explicit count instead of push/pop, which would let V8 trim
   * the array's backing store as the pool drains and reallocate it as the pool refills (per batch).
   */
  private readonly pool: SentPacket[] = [];
  private poolCount = 0;
  /** Records currently held (not holes). */
  count = 0;

  /** A fresh record for packet `pn` (must be greater than every pn added before). */
  acquire(): SentPacket {
    const p = this.poolCount > 0 ? (this.pool[--this.poolCount] as SentPacket) : new SentPacket();
    p.frameWords = 0;
    return p;
  }

  add(p: SentPacket): void {
    if (this.span === 0) {
      this.firstPn = p.pn;
      this.head = 0;
    }
    const idx = p.pn - this.firstPn;
    while (idx >= this.slots.length) this.grow();
    // Fill any skipped packet numbers with holes.
    for (let k = this.span; k < idx; k++) this.slots[(this.head + k) % this.slots.length] = null;
    this.slots[(this.head + idx) % this.slots.length] = p;
    this.span = idx + 1;
    this.count++;
  }

  private grow(): void {
    const old = this.slots;
    const next = new Array<SentPacket | null>(old.length * 2).fill(null);
    for (let k = 0; k < this.span; k++) next[k] = old[(this.head + k) % old.length] ?? null;
    this.slots = next;
    this.head = 0;
  }

  get(pn: number): SentPacket | null {
    const idx = pn - this.firstPn;
    if (idx < 0 || idx >= this.span) return null;
    return this.slots[(this.head + idx) % this.slots.length] ?? null;
  }

  /** Smallest packet number held (or -1). */
  get smallestPn(): number {
    return this.span === 0 ? -1 : this.firstPn;
  }
  /** One past the largest packet number slot. */
  get endPn(): number {
    return this.firstPn + this.span;
  }

  /** Removes pn's record (not returned to the pool: call release() when done with it). */
  remove(pn: number): SentPacket | null {
    const idx = pn - this.firstPn;
    if (idx < 0 || idx >= this.span) return null;
    const slot = (this.head + idx) % this.slots.length;
    const p = this.slots[slot] ?? null;
    if (p === null) return null;
    this.slots[slot] = null;
    this.count--;
    // Advance past leading holes.
    while (this.span > 0 && this.slots[this.head] === null) {
      this.head = (this.head + 1) % this.slots.length;
      this.firstPn++;
      this.span--;
    }
    return p;
  }

  release(p: SentPacket): void {
    this.pool[this.poolCount++] = p;
  }

  /** Calls fn for every record held, in packet-number order (tests and diagnostics; not the hot path). */
  forEach(fn: (p: SentPacket) => void): void {
    for (let k = 0; k < this.span; k++) {
      const p = this.slots[(this.head + k) % this.slots.length];
      if (p) fn(p);
    }
  }

  /**
   * Consistency check of the ring and the pool (tests; not the hot path): null when sound, else what
   * is wrong. A recycled record must never be both held and pooled, held twice, or pooled twice.
   */
  audit(): string | null {
    const held = new Set<SentPacket>();
    if (this.span > 0 && !this.slots[this.head]) return 'leading hole not advanced past';
    for (let k = 0; k < this.span; k++) {
      const p = this.slots[(this.head + k) % this.slots.length];
      if (!p) continue;
      if (p.pn !== this.firstPn + k) return `slot of pn ${this.firstPn + k} holds the record of pn ${p.pn}`;
      if (held.has(p)) return `record of pn ${p.pn} held twice`;
      held.add(p);
    }
    if (held.size !== this.count) return `count ${this.count} but ${held.size} records held`;
    const pooled = new Set<SentPacket>();
    for (let i = 0; i < this.poolCount; i++) {
      const p = this.pool[i] as SentPacket;
      if (held.has(p)) return `record of pn ${p.pn} is both held and pooled`;
      if (pooled.has(p)) return `record of pn ${p.pn} pooled twice`;
      pooled.add(p);
    }
    return null;
  }

  /** Oldest ack-eliciting in-flight record, or null. */
  oldestAckEliciting(): SentPacket | null {
    for (let k = 0; k < this.span; k++) {
      const p = this.slots[(this.head + k) % this.slots.length];
      if (p?.ackEliciting && p.inFlight) return p;
    }
    return null;
  }
}
