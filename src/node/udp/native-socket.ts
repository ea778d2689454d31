/**
 * The native backend of UdpSocket (see udp-socket.ts) over the add-on in native/punchline_udp.c.
 *
 * Send path (hot): two arenas of SLOTS slots × datagramRoom bytes. sendSlot() hands out a cached view
 * of the next free tx slot; commit() writes its length and destination into the slot's metadata (the
 * destination parsed once per host string and cached) and flushes by itself once every slot is
 * taken; flush() gives the committed slots to the add-on in one call, which sends them with one
 * sendmmsg(2), runs to one destination coalesced with UDP GSO. The slots form a ring: when the
 * kernel takes only a prefix (send buffer full), the rest waits where it is, sendSlot() answers
 * null, and the add-on calls back once the socket is writable again.
 *
 * Receive path (hot): the add-on fills the rx arena with one recvmmsg(2) and calls onRead once. With
 * UDP GRO (on where the kernel has it) a run of datagrams the peer sent with GSO arrives as one
 * message that the add-on splits in place: up to 128 datagrams (a whole GSO send; UDP_MAX_SEGMENTS)
 * for one pass through the kernel's receive path; rx entry i names each datagram's offset and length.
 * A batch with more datagrams than rx entries comes in several onRead calls. Each datagram goes to the
 * receiver as a cached exact view of the arena (re-made only when its offset or length changes) with
 * a cached source object (re-made only when the source changes), so steady traffic from a peer
 * allocates nothing.
 *
 * The buffer from sendSlot() is valid until the next commit() or send(): build, then commit.
 */
import { constants as osConstants } from 'node:os';
import { nextTick } from 'node:process';
import { NodeEndpointError } from '../endpoint-errors.js';
import {
  COUNTER,
  COUNTER_COUNT,
  GRO_RX_ARENA_BYTES,
  GRO_RX_ENTRIES,
  META,
  META_WORDS,
  RX_META_WORDS,
  loadNativeUdp,
  nativeUdpLoadError,
  type NativeUdpBinding,
  type NativeUdpHandle,
} from './native-binding.js';
import type { Address, UdpReceiver, UdpSocket, UdpSocketOptions, UdpSocketStats } from './udp-socket.js';
import { UdpSocketError } from './udp-socket-error.js';

export { UdpSocketError };

/**
 * Slots per arena: the most datagrams one sendmmsg or recvmmsg moves. 64 is one full GSO message
 * (UDP_MAX_SEGMENTS) and enough to amortise the per-call cost to a few percent; more only delays
 * the first datagram of a batch and grows the arenas (2 × SLOTS × datagramRoom bytes).
 */
export const NATIVE_UDP_SLOTS = 64;

/** Most destination strings remembered (a server talks to many peers; bounded against junk). */
const ADDRESS_CACHE_LIMIT = 4096;
/** Source-address cache: direct-mapped, this many entries (a power of two ≤ 2^24). */
const SOURCE_CACHE_BITS = 8;
const SOURCE_CACHE_SIZE = 1 << SOURCE_CACHE_BITS;
const SOURCE_KEY_WORDS = 6; // port, scope, 4 address words

/**
 * Cached rx views per 64 KiB of arena (one GRO message): 2^7 = 128, as many segments as a GSO send
 * that reaches us unsplit can carry (UDP_MAX_SEGMENTS, Linux ≥ 6.10). Datagrams past that in one
 * block share the last place (correct, but re-made each time).
 */
const RX_PLACE_BITS = 7;
const RX_PLACE_MASK = (1 << RX_PLACE_BITS) - 1;

/** send() copies kept while the kernel send queue is full, at most (see send()). */
const MAX_DEFERRED_SENDS = 1024;

type SendCallback = (error: Error | null) => void;

interface Deferred {
  readonly data: Buffer;
  readonly to: Address;
  readonly callback: SendCallback;
}

export class NativeUdpSocket implements UdpSocket {
  readonly backend = 'native' as const;
  /** See UdpSocket.receiveArena: every received datagram is a view of rxArena (a plain field: read per relayed datagram). */
  readonly receiveArena: ArrayBufferLike;
  readonly family: 'udp4' | 'udp6';

  private readonly binding: NativeUdpBinding;
  private readonly handle: NativeUdpHandle;
  private readonly receiver: UdpReceiver;
  private readonly room: number;
  private readonly slots = NATIVE_UDP_SLOTS;
  private readonly counters = new Float64Array(COUNTER_COUNT);
  private closed = false;
  private local: { host: string; port: number; family: 'IPv4' | 'IPv6' } | null = null;

  // Receive side.
  private readonly rxArena: Buffer;
  private readonly rxMeta: Int32Array;
  /** rx entries: the most datagrams one onRead delivers. */
  private readonly rxEntries: number;
  /**
   * Cached views of the rx arena, by place: (offset / 64 KiB) · RX_PLACES_PER_BLOCK + the datagram's
   * index among those starting in the same 64 KiB (a GRO message's buffer is 64 KiB). With a steady segment size
   * every place keeps its offset, so its view is reused (hot path: a view by entry index would move
   * with every message shorter than the last). Reused while offset and length repeat.
   */
  private readonly rxViews: Buffer[] = [];
  private readonly rxViewOffsets: Int32Array;
  private lastSourceKey = new Int32Array(SOURCE_KEY_WORDS).fill(-1);
  private lastSource: Address = { host: '', port: 0 };
  private readonly sourceKeys = new Int32Array(SOURCE_CACHE_SIZE * SOURCE_KEY_WORDS);
  private readonly sourceObjects: (Address | undefined)[] = new Array(SOURCE_CACHE_SIZE).fill(undefined);

  // Send side: a ring of slots; [head, head + count) committed, not yet taken by the kernel.
  private readonly txArena: Buffer;
  private readonly txMeta: Int32Array;
  /** Per slot: a view of its full room, what sendSlot() hands out. */
  private readonly txViews: Buffer[] = [];
  private head = 0;
  private count = 0;
  /** The slot sendSlot() handed out and commit() must fill; -1 when none. */
  private outSlot = -1;
  /** The kernel took only part of a batch: waiting for the add-on's onWritable. */
  private stalled = false;
  /** sendSlot() answered null: the receiver is owed an onWritable(). */
  private owedWritable = false;
  /** send() callbacks by slot, for the slots that have one. */
  private readonly slotCallbacks: (SendCallback | undefined)[];
  private callbacksPending = 0;
  /** send() calls made while stalled, in order; they go before the receiver hears onWritable(). */
  private readonly deferred: Deferred[] = [];
  private jsSendErrors = 0;

  // Destination cache: the last host string and its parsed FAMILY, SCOPE, ADDRESS words.
  private lastHost: string | null = null;
  private lastHostWords: Int32Array = new Int32Array(6);
  private readonly hostWords = new Map<string, Int32Array>();
  private readonly parseScratch = new Int32Array(META_WORDS);

  private constructor(binding: NativeUdpBinding, options: UdpSocketOptions, receiver: UdpReceiver) {
    this.binding = binding;
    this.family = options.family;
    this.receiver = receiver;
    this.room = options.datagramRoom;
    const slots = this.slots;
    // Room for UDP GRO's 64 KiB messages (the add-on falls back to plain slots where the kernel lacks
    // it). PUNCHLINE_UDP_GRO=0 keeps the plain layout (diagnosis and A/B benchmarks).
    const gro = process.env['PUNCHLINE_UDP_GRO'] !== '0';
    this.rxEntries = gro ? Math.max(GRO_RX_ENTRIES, slots) : slots;
    this.rxArena = Buffer.alloc(gro ? Math.max(GRO_RX_ARENA_BYTES, slots * this.room) : slots * this.room);
    this.receiveArena = this.rxArena.buffer;
    this.txArena = Buffer.alloc(slots * this.room);
    this.rxMeta = new Int32Array(this.rxEntries * RX_META_WORDS);
    this.txMeta = new Int32Array(slots * META_WORDS);
    const places = ((this.rxArena.length >>> 16) + 1) << RX_PLACE_BITS;
    this.rxViewOffsets = new Int32Array(places).fill(-1);
    for (let i = 0; i < places; i++) this.rxViews.push(this.rxArena.subarray(0, 0));
    for (let i = 0; i < slots; i++) this.txViews.push(this.txArena.subarray(i * this.room, (i + 1) * this.room));
    this.slotCallbacks = new Array<SendCallback | undefined>(slots).fill(undefined);
    this.handle = binding.open(
      options.family === 'udp6',
      this.rxArena,
      this.rxMeta,
      this.rxEntries,
      this.txArena,
      this.txMeta,
      slots,
      this.room,
      this.counters,
      this.onNativeRead,
      this.onNativeWritable,
    );
    if (!gro) binding.setGro(this.handle, false);
  }

  /**
   * Opens and binds a socket and starts reading, synchronously. Throws NodeEndpointError
   * ERR_PUNCHLINE_UDP_BACKEND if the add-on is not loaded, UdpSocketError if a system call fails
   * (e.g. systemCode 'EADDRINUSE' from bind).
   */
  static open(options: UdpSocketOptions, receiver: UdpReceiver): NativeUdpSocket {
    const binding = loadNativeUdp();
    if (!binding) {
      throw new NodeEndpointError(
        'ERR_PUNCHLINE_UDP_BACKEND',
        `the native UDP backend is not available: ${nativeUdpLoadError() ?? 'unknown reason'}`,
      );
    }
    const room = options.datagramRoom;
    if (!Number.isInteger(room) || room < 1 || room > 65_536) {
      throw new RangeError(`datagramRoom must be an integer in [1, 65536], got ${room}`);
    }
    let socket: NativeUdpSocket;
    try {
      socket = new NativeUdpSocket(binding, options, receiver);
    } catch (error) {
      // socket(2) itself failed (EMFILE, ENOBUFS, …): the same error type as a failed bind.
      const e = error as { errno?: unknown; syscall?: unknown };
      if (typeof e.errno !== 'number') throw error;
      throw new UdpSocketError(typeof e.syscall === 'string' ? e.syscall : 'socket', e.errno, null, null, error);
    }
    let syscall = 'setsockopt';
    try {
      binding.setBufferSizes(socket.handle, options.recvBufferSize, options.sendBufferSize);
      syscall = 'bind';
      binding.bind(socket.handle, options.host, options.port);
      syscall = 'uv_poll_start';
      binding.startReading(socket.handle);
    } catch (error) {
      socket.close();
      const e = error as { errno?: unknown; syscall?: unknown };
      if (typeof e.errno !== 'number') throw error;
      throw new UdpSocketError(
        typeof e.syscall === 'string' ? e.syscall : syscall,
        e.errno,
        syscall === 'bind' ? options.host : null,
        syscall === 'bind' ? options.port : null,
        error,
      );
    }
    return socket;
  }

  address(): { host: string; port: number; family: 'IPv4' | 'IPv6' } {
    if (this.local) return { ...this.local };
    if (this.closed) throw new NodeEndpointError('ERR_PUNCHLINE_UDP_CLOSED', 'the socket is closed');
    const [host, port, family] = this.binding.localAddress(this.handle);
    this.local = { host, port, family: family === 6 ? 'IPv6' : 'IPv4' };
    return { ...this.local };
  }

  /** Hot path: a cached view, no allocation. */
  sendSlot(): Buffer | null {
    if (this.stalled || this.closed || this.count === this.slots) {
      this.owedWritable = !this.closed;
      return null;
    }
    let slot = this.head + this.count;
    if (slot >= this.slots) slot -= this.slots;
    this.outSlot = slot;
    return this.txViews[slot]!;
  }

  /** Hot path: eight metadata words; a flush only when the ring is full. */
  commit(length: number, to: Address): void {
    if (this.closed) return;
    const slot = this.outSlot;
    if (slot < 0) {
      throw new NodeEndpointError(
        'ERR_PUNCHLINE_UDP_NO_SLOT',
        'commit() without a slot: call sendSlot() first, and commit before any send()',
      );
    }
    if (!(length >= 0 && length <= this.room && (length | 0) === length)) {
      throw new RangeError(`datagram length ${length} is not in [0, ${this.room}]`);
    }
    this.outSlot = -1;
    this.writeMeta(slot, length, to);
    if (++this.count === this.slots) this.flush();
  }

  /** Hot path: one add-on call per contiguous run of the ring (two when it wraps). */
  flush(): void {
    if (this.closed || this.stalled) return;
    while (this.count > 0) {
      const first = this.head;
      const chunk = Math.min(this.count, this.slots - first);
      const consumed = this.binding.send(this.handle, first, chunk);
      if (this.callbacksPending > 0) this.settle(first, consumed);
      this.count -= consumed;
      this.head = first + consumed === this.slots ? 0 : first + consumed;
      if (consumed < chunk) {
        // Send buffer full: the add-on waits for POLLOUT and calls onNativeWritable.
        this.stalled = true;
        return;
      }
    }
  }

  send(data: Uint8Array, to: Address, callback: SendCallback): void {
    if (this.closed) {
      nextTick(callback, new NodeEndpointError('ERR_PUNCHLINE_UDP_CLOSED', 'the socket is closed'));
      return;
    }
    if (data.length > this.room) {
      this.jsSendErrors++;
      nextTick(callback, new UdpSocketError('send', -osConstants.errno.EMSGSIZE, to.host, to.port));
      return;
    }
    if (this.stalled || this.deferred.length > 0 || this.count === this.slots) {
      // Bounded: while the kernel queue stays full, further copies would only grow memory; the caller
      // hears ENOBUFS (UDP is lossy anyway), as from a full qdisc.
      if (this.deferred.length >= MAX_DEFERRED_SENDS) {
        this.jsSendErrors++;
        nextTick(callback, new UdpSocketError('send', -osConstants.errno.ENOBUFS, to.host, to.port));
        return;
      }
      this.deferred.push({ data: Buffer.from(data), to, callback });
      return;
    }
    this.place(data, to, callback);
    this.flush();
  }

  pendingSends(): number {
    return this.count + this.deferred.length;
  }

  stats(): UdpSocketStats {
    const c = this.counters;
    return {
      backend: 'native',
      datagramsSent: c[COUNTER.DATAGRAMS_SENT]!,
      sendErrors: c[COUNTER.SEND_ERRORS]! + this.jsSendErrors,
      sendSyscalls: c[COUNTER.SEND_SYSCALLS]!,
      gsoSegments: c[COUNTER.GSO_SEGMENTS]!,
      recvSyscalls: c[COUNTER.RECV_SYSCALLS]!,
      datagramsReceived: c[COUNTER.DATAGRAMS_RECEIVED]!,
      truncated: c[COUNTER.TRUNCATED]!,
      sendStalls: c[COUNTER.SEND_STALLS]!,
      groSegments: c[COUNTER.GRO_SEGMENTS]!,
    };
  }

  /** errno of the last datagram the kernel refused (0: none yet); for diagnostics. */
  lastSendErrno(): number {
    return this.counters[COUNTER.LAST_SEND_ERRNO]!;
  }

  /**
   * Turns UDP GRO on receive on or off (benchmarks, tests; before traffic); returns whether it is on.
   */
  setGro(enabled: boolean): boolean {
    return this.closed ? false : this.binding.setGro(this.handle, enabled);
  }

  /** Turns GSO coalescing on or off (benchmarks, tests); returns whether it is on. */
  setGso(enabled: boolean): boolean {
    return this.closed ? false : this.binding.setGso(this.handle, enabled);
  }

  /** [SO_RCVBUF, SO_SNDBUF] as the kernel applied them. */
  bufferSizes(): [recv: number, send: number] {
    if (this.closed) throw new NodeEndpointError('ERR_PUNCHLINE_UDP_CLOSED', 'the socket is closed');
    return this.binding.bufferSizes(this.handle);
  }

  ref(): void {
    if (!this.closed) this.binding.ref(this.handle, true);
  }

  unref(): void {
    if (!this.closed) this.binding.ref(this.handle, false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.binding.close(this.handle);
    // Dropped, as the contract says; send() callers still hear about it (as libuv's ECANCELED).
    const pending: SendCallback[] = [];
    for (let i = 0; i < this.slots; i++) {
      const callback = this.slotCallbacks[i];
      if (callback) pending.push(callback);
      this.slotCallbacks[i] = undefined;
    }
    for (const d of this.deferred) pending.push(d.callback);
    this.deferred.length = 0;
    this.callbacksPending = 0;
    this.count = 0;
    if (pending.length > 0) {
      const error = new NodeEndpointError(
        'ERR_PUNCHLINE_UDP_CLOSED',
        'the socket was closed before the datagram was sent',
      );
      for (const callback of pending) nextTick(callback, error);
    }
  }

  // ---------------------------------------------------------------------------------------------

  private writeMeta(slot: number, length: number, to: Address): void {
    const meta = this.txMeta;
    const m = slot * META_WORDS;
    meta[m + META.LENGTH] = length;
    // An out-of-range port would wrap in the Int32Array (4294967376 → 80): send to port 0 instead,
    // which the add-on refuses and counts as a send error, like dgram's refusal.
    const port = to.port;
    meta[m + META.PORT] = port >= 0 && port <= 65_535 && port === Math.floor(port) ? port : 0;
    let words = this.lastHostWords;
    if (to.host !== this.lastHost) {
      words = this.hostWords.get(to.host) ?? this.parseHost(to.host);
      this.lastHost = to.host;
      this.lastHostWords = words;
    }
    meta[m + META.FAMILY] = words[0]!;
    meta[m + META.SCOPE] = words[1]!;
    meta[m + META.ADDRESS] = words[2]!;
    meta[m + META.ADDRESS + 1] = words[3]!;
    meta[m + META.ADDRESS + 2] = words[4]!;
    meta[m + META.ADDRESS + 3] = words[5]!;
  }

  /** Cache miss: the add-on parses (inet_pton, if_nametoindex for a %zone); family 0 if not a literal. */
  private parseHost(host: string): Int32Array {
    const scratch = this.parseScratch;
    const family = typeof host === 'string' ? this.binding.parseAddress(host, scratch, 0) : 0;
    const words = new Int32Array(6);
    if (family !== 0) words.set(scratch.subarray(META.FAMILY, META.ADDRESS + 4));
    if (this.hostWords.size >= ADDRESS_CACHE_LIMIT) this.hostWords.clear();
    this.hostWords.set(host, words);
    return words;
  }

  /** Copies `data` into the next slot and commits it with a callback. Requires a free slot. */
  private place(data: Uint8Array, to: Address, callback: SendCallback): void {
    let slot = this.head + this.count;
    if (slot >= this.slots) slot -= this.slots;
    this.txViews[slot]!.set(data);
    // A slot handed out but not committed is abandoned by this send (see the class comment).
    this.outSlot = -1;
    this.writeMeta(slot, data.length, to);
    this.slotCallbacks[slot] = callback;
    this.callbacksPending++;
    this.count++;
  }

  /** send() callbacks of slots [first, first + consumed), now sent or refused. */
  private settle(first: number, consumed: number): void {
    for (let slot = first; slot < first + consumed; slot++) {
      const callback = this.slotCallbacks[slot];
      if (!callback) continue;
      this.slotCallbacks[slot] = undefined;
      this.callbacksPending--;
      const m = slot * META_WORDS;
      const result = this.txMeta[m + META.LENGTH]!;
      let error: Error | null = null;
      if (result < 0) error = new UdpSocketError('send', result, this.formatTx(m), this.txMeta[m + META.PORT]!);
      nextTick(callback, error);
    }
  }

  private formatTx(m: number): string | null {
    const family = this.txMeta[m + META.FAMILY];
    return family === 4 || family === 6 ? this.binding.formatAddress(this.txMeta, m) : null;
  }

  private readonly onNativeWritable = (): void => {
    if (this.closed) return;
    this.stalled = false;
    this.flush();
    // Deferred send()s go first, in order, as far as the ring and the kernel take them.
    const deferred = this.deferred;
    let taken = 0;
    while (!this.stalled && taken < deferred.length && this.count < this.slots) {
      const d = deferred[taken++]!;
      this.place(d.data, d.to, d.callback);
      if (this.count === this.slots) this.flush();
    }
    if (taken > 0) {
      deferred.splice(0, taken);
      this.flush();
    }
    if (!this.stalled && this.owedWritable && !this.closed) {
      this.owedWritable = false;
      this.receiver.onWritable();
    }
  };

  /** Hot path: one call per recvmmsg batch. */
  private readonly onNativeRead = (count: number): void => {
    if (count < 0) {
      if (!this.closed) this.receiver.onError(new UdpSocketError('recvmmsg', count, null, null));
      return;
    }
    const meta = this.rxMeta;
    const receiver = this.receiver;
    const offsets = this.rxViewOffsets;
    const views = this.rxViews;
    let block = -1;
    let place = 0;
    // A throwing callback must not cost the rest of the batch (up to rxSlots datagrams, any peer's):
    // deliver them all, then rethrow the first error (it reaches the add-on, which reports it as an
    // uncaught exception, like a throwing dgram 'message' listener).
    let failure: unknown = null;
    let failed = false;
    for (let i = 0; i < count; i++) {
      if (this.closed) break;
      const m = i * RX_META_WORDS;
      const length = meta[m + META.LENGTH]!;
      const offset = meta[m + META.RX_OFFSET]!;
      if (offset >>> 16 !== block) {
        block = offset >>> 16;
        place = block << RX_PLACE_BITS;
      } else if ((place & RX_PLACE_MASK) !== RX_PLACE_MASK) {
        place++;
      }
      if (length < 0) continue; // truncated (counted by the add-on)
      let view = views[place]!;
      if (view.length !== length || offsets[place] !== offset) {
        view = this.rxArena.subarray(offset, offset + length);
        views[place] = view;
        offsets[place] = offset;
      }
      try {
        receiver.onDatagram(view, this.source(m), meta[m + META.FAMILY] === 6 ? 'IPv6' : 'IPv4');
      } catch (error) {
        if (!failed) {
          failed = true;
          failure = error;
        }
      }
    }
    if (failed) throw failure;
  };

  /** The source of rx slot metadata at m: the same object while the source repeats (hot path). */
  private source(m: number): Address {
    const meta = this.rxMeta;
    const port = meta[m + META.PORT]!;
    const scope = meta[m + META.SCOPE]!;
    const a0 = meta[m + META.ADDRESS]!;
    const a1 = meta[m + META.ADDRESS + 1]!;
    const a2 = meta[m + META.ADDRESS + 2]!;
    const a3 = meta[m + META.ADDRESS + 3]!;
    const last = this.lastSourceKey;
    if (last[0] === port && last[5] === a3 && last[2] === a0 && last[1] === scope && last[3] === a1 && last[4] === a2) {
      return this.lastSource;
    }
    // Direct-mapped cache: a server's many peers mostly hit too.
    const index = Math.imul(a0 ^ a1 ^ a2 ^ a3 ^ scope ^ (port << 16) ^ port, 0x9e3779b1) >>> (32 - SOURCE_CACHE_BITS);
    const k = index * SOURCE_KEY_WORDS;
    const keys = this.sourceKeys;
    let from = this.sourceObjects[index];
    if (
      from === undefined ||
      keys[k] !== port ||
      keys[k + 1] !== scope ||
      keys[k + 2] !== a0 ||
      keys[k + 3] !== a1 ||
      keys[k + 4] !== a2 ||
      keys[k + 5] !== a3
    ) {
      // Frozen: the object is handed out again for every datagram from this source (and reaches
      // application code, e.g. 'path-changed'); a caller's edit must not re-address later datagrams.
      from = Object.freeze({ host: this.binding.formatAddress(meta, m), port });
      this.sourceObjects[index] = from;
      keys[k] = port;
      keys[k + 1] = scope;
      keys[k + 2] = a0;
      keys[k + 3] = a1;
      keys[k + 4] = a2;
      keys[k + 5] = a3;
    }
    last[0] = port;
    last[1] = scope;
    last[2] = a0;
    last[3] = a1;
    last[4] = a2;
    last[5] = a3;
    this.lastSource = from;
    return from;
  }
}
