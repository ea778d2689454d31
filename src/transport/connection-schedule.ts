/**
 * Which of an endpoint's connections need service, without looking at the others: the endpoint's
 * timers and transmit polling cost O(connections touched or expired), not O(connections), so idle
 * and half-open connections (a handshake flood) cost nothing per turn.
 *
 *   - A deadline min-heap keyed by connection (cf. a timer wheel; RFC 9000 is silent, quinn keeps a
 *     per-connection timer table and its endpoint driver a timer per connection). A connection's
 *     deadline is a function of its state alone, and its state changes only through its own methods,
 *     so a connection is re-keyed lazily: every call that may change it marks it dirty (`touch`), and
 *     dirty connections are re-keyed once, before the next deadline is read.
 *   - A ready ring of connections that may have something to send: a touched connection joins it;
 *     one whose pollTransmit returns nothing leaves it; one that sent goes to the back (round robin).
 *     Sending that waits only on time (pacing, delayed ACKs, retransmission) waits on a timer, so a
 *     connection whose deadline has passed rejoins the ring too.
 *
 * Hot path: slots are small integers into typed arrays that grow by doubling; no allocation per call
 * once grown. A removed connection's slot is cleared at once and its stale ring or dirty entries are
 * skipped when reached.
 */

/** What the schedule needs of a connection (TransportConnection implements it). */
export interface ScheduledConnection {
  /** Recomputes `deadline` from the connection's state. */
  updateDeadline(): void;
  /** The deadline the last updateDeadline() computed (Infinity: none). */
  readonly deadline: number;
  onTimeout(now: number): void;
  /** Writes the next datagram into buf; 0 when nothing is due. */
  pollTransmit(now: number, buf: Uint8Array): number;
}

const INITIAL_CAPACITY = 16;

export class ConnectionSchedule<T extends ScheduledConnection> {
  private conns: (T | null)[] = [];
  private readonly slotOf = new Map<T, number>();
  private readonly freeSlots: number[] = [];
  private capacity = INITIAL_CAPACITY;
  // Deadline min-heap of slots; heapPos[slot] is its index in `heap` (-1: not in the heap).
  private heap = new Int32Array(INITIAL_CAPACITY);
  private heapSize = 0;
  private heapPos = new Int32Array(INITIAL_CAPACITY).fill(-1);
  private key = new Float64Array(INITIAL_CAPACITY);
  // Ready ring (each slot at most once: inReady).
  private ring = new Int32Array(INITIAL_CAPACITY);
  private ringHead = 0;
  private ringSize = 0;
  private inReady = new Uint8Array(INITIAL_CAPACITY);
  // Dirty stack (each slot at most once: inDirty).
  private dirty = new Int32Array(INITIAL_CAPACITY);
  private dirtySize = 0;
  private inDirty = new Uint8Array(INITIAL_CAPACITY);
  /** Scratch for the expired slots of onTimeout and the heap walk of promoteExpired. */
  private scratch = new Int32Array(2 * INITIAL_CAPACITY + 2);
  /** Length of the datagram the last pollTransmit wrote. */
  length = 0;

  /**
   * @param observe called for every connection re-keyed (each touched connection once per turn):
   *   the endpoint learns there that a connection finished or completed its handshake.
   */
  constructor(private readonly observe: (conn: T) => void = () => {}) {}

  get size(): number {
    return this.slotOf.size;
  }

  add(conn: T): void {
    if (this.slotOf.has(conn)) return;
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.conns.length;
      if (slot >= this.capacity) this.grow();
      this.conns.push(conn);
    } else {
      this.conns[slot] = conn;
    }
    this.slotOf.set(conn, slot);
    this.key[slot] = Infinity;
    this.touchSlot(slot);
  }

  remove(conn: T): void {
    const slot = this.slotOf.get(conn);
    if (slot === undefined) return;
    this.slotOf.delete(conn);
    this.heapRemove(slot);
    this.conns[slot] = null;
    this.freeSlots.push(slot);
  }

  /** Something may have changed the connection's deadline or given it something to send. */
  touch(conn: T): void {
    const slot = this.slotOf.get(conn);
    if (slot !== undefined) this.touchSlot(slot);
  }

  /** The earliest deadline of any connection (Infinity: none). */
  nextDeadline(): number {
    this.refresh();
    return this.heapSize === 0 ? Infinity : (this.key[this.heap[0] as number] as number);
  }

  /** Runs onTimeout of every connection whose deadline is ≤ now; returns how many ran. */
  onTimeout(now: number): number {
    this.refresh();
    let n = 0;
    const scratch = this.scratch;
    while (this.heapSize > 0 && (this.key[this.heap[0] as number] as number) <= now) {
      const slot = this.heap[0] as number;
      this.heapRemove(slot);
      scratch[n++] = slot;
    }
    for (let i = 0; i < n; i++) {
      const slot = scratch[i] as number;
      const conn = this.conns[slot];
      if (conn === null || conn === undefined) continue;
      conn.onTimeout(now);
      this.touchSlot(slot);
    }
    return n;
  }

  /**
   * The next connection that writes a datagram into buf (its length in `length`), round robin among
   * the ready ones; null when none has anything to send. Hot path.
   */
  pollTransmit(now: number, buf: Uint8Array): T | null {
    if (this.heapSize > 0 && (this.key[this.heap[0] as number] as number) <= now) this.promoteExpired(now);
    for (let n = this.ringSize; n > 0; n--) {
      const slot = this.ring[this.ringHead] as number;
      this.ringHead = this.ringHead + 1 === this.capacity ? 0 : this.ringHead + 1;
      this.ringSize--;
      const conn = this.conns[slot];
      if (conn === null || conn === undefined) {
        this.inReady[slot] = 0;
        continue;
      }
      const length = conn.pollTransmit(now, buf);
      this.markDirty(slot);
      if (length > 0) {
        this.pushReady(slot);
        this.length = length;
        return conn;
      }
      this.inReady[slot] = 0;
    }
    return null;
  }

  /** Re-keys every dirty connection. */
  private refresh(): void {
    const dirty = this.dirty;
    while (this.dirtySize > 0) {
      const slot = dirty[--this.dirtySize] as number;
      this.inDirty[slot] = 0;
      const conn = this.conns[slot];
      if (conn === null || conn === undefined) continue;
      conn.updateDeadline();
      const deadline = conn.deadline;
      if (deadline === Infinity) this.heapRemove(slot);
      else this.heapSet(slot, deadline);
      this.observe(conn);
    }
  }

  /** Puts every connection whose deadline passed into the ready ring: walks only the expired top of the heap. */
  private promoteExpired(now: number): void {
    const stack = this.scratch;
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const i = stack[--top] as number;
      if (i >= this.heapSize) continue;
      const slot = this.heap[i] as number;
      if ((this.key[slot] as number) > now) continue;
      if (this.inReady[slot] === 0) this.pushReady(slot);
      stack[top++] = 2 * i + 1;
      stack[top++] = 2 * i + 2;
    }
  }

  private touchSlot(slot: number): void {
    this.markDirty(slot);
    if (this.inReady[slot] === 0) this.pushReady(slot);
  }

  private markDirty(slot: number): void {
    if (this.inDirty[slot] !== 0) return;
    this.inDirty[slot] = 1;
    this.dirty[this.dirtySize++] = slot;
  }

  private pushReady(slot: number): void {
    this.inReady[slot] = 1;
    let i = this.ringHead + this.ringSize;
    if (i >= this.capacity) i -= this.capacity;
    this.ring[i] = slot;
    this.ringSize++;
  }

  // --- the heap

  private heapSet(slot: number, deadline: number): void {
    const pos = this.heapPos[slot] as number;
    const old = this.key[slot] as number;
    this.key[slot] = deadline;
    if (pos < 0) {
      const i = this.heapSize++;
      this.heap[i] = slot;
      this.heapPos[slot] = i;
      this.siftUp(i);
    } else if (deadline < old) {
      this.siftUp(pos);
    } else if (deadline > old) {
      this.siftDown(pos);
    }
  }

  private heapRemove(slot: number): void {
    const pos = this.heapPos[slot] as number;
    if (pos < 0) return;
    this.heapPos[slot] = -1;
    const last = --this.heapSize;
    if (pos === last) return;
    const moved = this.heap[last] as number;
    this.heap[pos] = moved;
    this.heapPos[moved] = pos;
    this.siftUp(pos);
    this.siftDown(this.heapPos[moved] as number);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const key = this.key;
    const slot = heap[i] as number;
    const k = key[slot] as number;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as number;
      if ((key[p] as number) <= k) break;
      heap[i] = p;
      this.heapPos[p] = i;
      i = parent;
    }
    heap[i] = slot;
    this.heapPos[slot] = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const key = this.key;
    const n = this.heapSize;
    const slot = heap[i] as number;
    const k = key[slot] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (key[heap[r] as number] as number) < (key[heap[l] as number] as number) ? r : l;
      const cs = heap[c] as number;
      if ((key[cs] as number) >= k) break;
      heap[i] = cs;
      this.heapPos[cs] = i;
      i = c;
    }
    heap[i] = slot;
    this.heapPos[slot] = i;
  }

  /** Doubles every per-slot array (the ring is laid out from index 0 again). */
  private grow(): void {
    const old = this.capacity;
    const cap = old * 2;
    const heap = new Int32Array(cap);
    heap.set(this.heap);
    this.heap = heap;
    const heapPos = new Int32Array(cap).fill(-1);
    heapPos.set(this.heapPos);
    this.heapPos = heapPos;
    const key = new Float64Array(cap);
    key.set(this.key);
    this.key = key;
    const ring = new Int32Array(cap);
    for (let i = 0; i < this.ringSize; i++) ring[i] = this.ring[(this.ringHead + i) % old] as number;
    this.ring = ring;
    this.ringHead = 0;
    const inReady = new Uint8Array(cap);
    inReady.set(this.inReady);
    this.inReady = inReady;
    const dirty = new Int32Array(cap);
    dirty.set(this.dirty);
    this.dirty = dirty;
    const inDirty = new Uint8Array(cap);
    inDirty.set(this.inDirty);
    this.inDirty = inDirty;
    this.scratch = new Int32Array(2 * cap + 2);
    this.capacity = cap;
  }
}
