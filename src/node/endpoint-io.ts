/**
 * The socket side of the Node endpoint: one UDP socket, the sans-IO core, and the loop that drives
 * one with the other. src/node/endpoint.ts builds the public API (bind, connect, close) on top of it
 * and turns the core's events into Node objects (`dispatch`).
 *
 * Driving loop (see src/transport/api.ts): every input (datagram, timer, application call) marks the
 * endpoint dirty; one `setImmediate` per event-loop turn then runs `service()`: drain events, pull
 * readable streams, flush pollTransmit into the socket's send slots, drain again, re-arm the single
 * timer for nextDeadline(). Batching per turn lets one flush answer every datagram read in that turn
 * (one recvmmsg batch on the native backend, what libuv read in its poll phase on node:dgram).
 * One service() sends at most MAX_DATAGRAMS_PER_SERVICE datagrams and then yields (re-waking itself),
 * so ACKs arriving during a long send run are read promptly instead of queueing behind it.
 * Events are also drained right after each received datagram, so application code never sees stale
 * stream or connection state.
 *
 * Clock: the core is handed `now` on every call. performance.now() returns a fresh double, which V8
 * boxes (16 heap bytes) when it is passed to the core, so the packet path does not read it per
 * datagram: see `batchNow()` (one read per batch of ≤ CLOCK_BATCH datagrams). Measured by
 * bench/node-alloc.ts.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Address, ConnectionEvent, SansIoEndpoint } from '../transport/api.js';
import type { DatagramKind } from '../wire/types.js';
import { classifyDatagram } from '../wire/index.js';
import { NodeEndpointError } from './endpoint-errors.js';
import type { DatagramHandler, EndpointStats, RemoteInfo } from './endpoint-options.js';
import { isVirtualHost } from './peer-routes.js';
import { RelayViews } from './relay-views.js';
import type { PunchlineStream } from './stream.js';
import type { Traversal } from './traversal.js';
import type { UdpBackend, UdpBackendChoice, UdpReceiver, UdpSocket, UdpSocketOptions } from './udp/udp-socket.js';

/**
 * Most datagrams one service() sends before it yields to the event loop. A congestion window can be
 * thousands of datagrams (tens of ms of sendto calls); sending it in one go leaves the peer's ACKs
 * unread in the socket meanwhile, which inflates the RTT and the one-way delays the controller sees
 * and stalls the window. After this many the rest goes out on the next turn, once libuv has read
 * what arrived.
 */
const MAX_DATAGRAMS_PER_SERVICE = 64;
/**
 * Most datagrams (received or built) that share one clock reading. A receive batch (one recvmmsg, or
 * what libuv reads in one poll phase) and a flush (≤ MAX_DATAGRAMS_PER_SERVICE) are each at most
 * this long, so in practice it is one reading per batch. Datagrams of one receive batch were all
 * queued in the kernel when its first one was read, so the batch's first reading is no later than
 * any of their arrivals; a flush's datagrams reach the kernel together at its end (native backend)
 * or within the ~0.1 ms it takes to build them (dgram), so their send times are that much early at most.
 */
const CLOCK_BATCH = 64;

export abstract class EndpointIo extends EventEmitter {
  /** Set by bind() right after construction (the socket needs the receiver first). */
  protected socket!: UdpSocket;
  /** How the socket was opened (rebind() opens the next one alike). */
  protected socketOptions!: UdpSocketOptions & { readonly backend?: UdpBackendChoice };
  protected readonly core: SansIoEndpoint;
  protected readonly family: 'udp4' | 'udp6';
  private readonly handlers = new Map<DatagramKind, DatagramHandler>();
  /**
   * Streams that reported new data since the last service(), [0, readableCount), each once
   * (PunchlineStream.pullQueued). An array reused across turns: a Set would reallocate its table as
   * it empties and fills every turn (hot path).
   */
  private readonly readable: (PunchlineStream | null)[] = [];
  private readableCount = 0;
  /** Inner views of relayed datagrams in the native receive arena (relay-views.ts). */
  private readonly relayViews = new RelayViews();

  /** What the UDP socket calls back into (built once: no per-datagram closures). */
  protected readonly udpReceiver: UdpReceiver = {
    onDatagram: (data, from, family) => this.onDatagram(data, from, family),
    onWritable: () => this.wake(),
    onError: (error) => this.emit('error', error),
  };
  /**
   * The clock reading shared by a batch of datagrams (see batchNow). Typed `number | null` on
   * purpose: a field that only ever held numbers gets V8's unboxed-double representation, and every
   * read of it passed to the core would box a new HeapNumber; this one holds the boxed reading itself.
   */
  private clockNow: number | null = null;
  /** Datagrams that used clockNow; ≥ CLOCK_BATCH forces a new reading. */
  private clockUses = CLOCK_BATCH;
  private serviceScheduled = false;
  private inService = false;
  private timer: NodeJS.Timeout | null = null;
  private timerDeadline = Infinity;
  protected socketClosed = false;
  /** Connecting by public key (bind with `server`); null otherwise. */
  protected traversal: Traversal | null = null;

  private counters = {
    datagramsReceived: 0,
    datagramsSent: 0,
    bytesReceived: 0,
    bytesSent: 0,
    datagramsDropped: 0,
  };
  private readonly receivedByKind: Record<DatagramKind, number> = {
    stun: 0,
    'punch-probe': 0,
    relay: 0,
    short: 0,
    long: 0,
    unknown: 0,
  };

  protected constructor(core: SansIoEndpoint, family: 'udp4' | 'udp6') {
    super();
    this.core = core;
    this.family = family;
  }

  /** Turns one core event into what the application sees (Node connections, streams, events). */
  protected abstract dispatch(event: ConnectionEvent): void;

  /** Which UDP backend this endpoint's socket uses. */
  get udpBackend(): UdpBackend {
    return this.socket.backend;
  }

  /** The bound local address. */
  address(): RemoteInfo {
    return this.socket.address();
  }

  /** A transport datagram for a connection by public key that came over the relay or a birthday socket. */
  protected deliverVirtual(datagram: Uint8Array, virtual: Address): void {
    if (this.socketClosed) return;
    this.counters.datagramsReceived++;
    this.counters.bytesReceived += datagram.length;
    this.receiveIntoCore(datagram, virtual);
  }

  /** Hands one datagram to the core, then its events to the application (see the socket path). */
  private receiveIntoCore(datagram: Uint8Array, source: Address): void {
    try {
      this.core.receive(datagram, source, this.batchNow());
    } catch (error) {
      // The core drops bad datagrams itself; a throw is a core bug. Never let it kill the socket.
      this.counters.datagramsDropped++;
      this.reportInternalError(error);
    }
    // Events now, so the application never acts on stale stream/connection state (e.g. writes to a
    // stream the peer just stopped); readable streams are pulled and packets flushed once per turn.
    // wake() even when an application listener throws out of drainEvents (ACKs must still go).
    try {
      if (!this.inService) this.drainEvents();
    } finally {
      this.wake();
    }
  }

  /**
   * Routes every datagram of `kind` ('stun' | 'punch-probe' | 'relay') to `handler` instead of
   * dropping it. Returns a function that removes the handler.
   */
  addDatagramHandler(kind: Exclude<DatagramKind, 'short' | 'long'>, handler: DatagramHandler): () => void {
    if (this.handlers.has(kind)) {
      throw new NodeEndpointError('ERR_PUNCHLINE_HANDLER_EXISTS', `a '${kind}' handler is already registered`);
    }
    this.handlers.set(kind, handler);
    return () => {
      if (this.handlers.get(kind) === handler) this.handlers.delete(kind);
    };
  }

  /**
   * Sends a raw datagram of another protocol (STUN, probes, relay) on the shared socket. The promise
   * rejects on a send error; callers that fire and forget (UDP is lossy anyway) get no unhandled rejection.
   */
  send(datagram: Uint8Array, to: Address): Promise<void> {
    const sent = new Promise<void>((resolve, reject) => {
      if (this.socketClosed) {
        reject(new NodeEndpointError('ERR_PUNCHLINE_ENDPOINT_CLOSED', 'endpoint is closed'));
        return;
      }
      this.socket.send(datagram, to, (error) => {
        if (error) reject(error);
        else {
          this.counters.datagramsSent++;
          this.counters.bytesSent += datagram.byteLength;
          resolve();
        }
      });
    });
    sent.catch(() => undefined);
    return sent;
  }

  /** Like dgram's: an unref'd endpoint does not keep the process alive. */
  unref(): this {
    this.socket.unref();
    return this;
  }

  ref(): this {
    this.socket.ref();
    return this;
  }

  stats(): EndpointStats {
    const socket = this.socket.stats();
    return {
      ...this.counters,
      sendErrors: socket.sendErrors,
      sendStalls: socket.sendStalls,
      received: { ...this.receivedByKind },
      socket,
    };
  }

  // --- internal -------------------------------------------------------------------------------

  /** Marks the core dirty: one service() per event-loop turn. */
  wake(): void {
    if (this.serviceScheduled || this.socketClosed) return;
    this.serviceScheduled = true;
    setImmediate(this.runService);
  }

  private readonly runService = (): void => {
    this.serviceScheduled = false;
    this.service();
  };

  /**
   * Hot path: called once per received datagram. `msg` may be a view into the socket's reused receive
   * arena, valid only during this call: the core copies what it keeps (stream data into its
   * reassembly buffers, datagram frames); other protocols' handlers get a copy.
   */
  private onDatagram(msg: Buffer, from: Address, family: 'IPv4' | 'IPv6'): void {
    this.counters.datagramsReceived++;
    this.counters.bytesReceived += msg.length;
    const kind = classifyDatagram(msg);
    this.receivedByKind[kind]++;
    if (kind === 'short' || kind === 'long') {
      // A direct pair of a connection by public key: the core knows the peer by its virtual address.
      const source = this.traversal === null ? from : (this.traversal.routes.virtualFor(from) ?? from);
      this.receiveIntoCore(msg, source);
      return;
    }
    if (this.traversal !== null) {
      try {
        if (kind === 'relay') {
          // Relay data of a live link (hot path on a relayed connection): matched in place and handed
          // on as a view, no copy, no address object (spec/wire.md §Relay). Control and strays below.
          const virtual = this.traversal.relayedPeer(msg, from);
          if (virtual !== null) {
            this.traversal.deliver(this.relayViews.inner(msg, this.socket.receiveArena), virtual);
            return;
          }
        }
        if (this.traversal.onDatagram(kind, Buffer.from(msg), { host: from.host, port: from.port })) {
          this.wake();
          return;
        }
      } catch (error) {
        this.reportInternalError(error);
        return;
      }
    }
    const handler = this.handlers.get(kind);
    if (!handler) {
      this.counters.datagramsDropped++;
      return;
    }
    try {
      handler(Buffer.from(msg), { host: from.host, port: from.port, family });
    } catch (error) {
      this.reportInternalError(error);
    }
  }

  /** A throwing handler or core must not take the shared socket down: 'error' if listened to, else a warning. */
  protected reportInternalError(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error instanceof Error ? error : String(error), 'PunchlineWarning');
  }

  /**
   * A new clock reading, handed to the core and shared with the datagrams that follow (so the times
   * the core sees never go backwards). Used wherever the time is not per datagram.
   */
  protected freshNow(): number {
    this.clockNow = performance.now();
    this.clockUses = 0;
    return this.clockNow;
  }

  /**
   * The clock for one received or built datagram (hot path): the last reading while it is shared by
   * fewer than CLOCK_BATCH datagrams, in the same event-loop turn, and no application code may have
   * run since (drainEvents and service() start a new batch); else a new one. Passing the same boxed
   * reading to the core allocates nothing; a reading per datagram costs a HeapNumber each.
   */
  private batchNow(): number {
    if (this.clockUses >= CLOCK_BATCH) {
      this.clockNow = performance.now();
      this.clockUses = 0;
    }
    this.clockUses++;
    return this.clockNow as number;
  }

  protected service(): void {
    if (this.inService || this.socketClosed) return;
    this.inService = true;
    try {
      const now = this.freshNow();
      if (this.core.nextDeadline() <= now) this.core.onTimeout(now);
      this.drainEvents();
      // Reading frees credit and writes queue data: flush, then serve what sending changed, repeating
      // (bounded) while the application keeps feeding the core within this turn.
      let budget = MAX_DATAGRAMS_PER_SERVICE;
      for (let round = 0; round < 4 && budget > 0; round++) {
        const pulled = this.pullReadable();
        const sent = this.flush(budget);
        budget -= sent;
        const events = this.drainEvents();
        if (sent === 0 && events === 0 && pulled === 0) break;
      }
      // Budget spent: more may be due; continue on the next turn, after incoming datagrams.
      if (budget <= 0) this.wake();
      this.armTimer(performance.now());
    } finally {
      this.inService = false;
      // The next turn's datagrams take a new reading.
      this.clockUses = CLOCK_BATCH;
    }
  }

  /**
   * Streams with new data are pulled once per turn, not once per datagram: one larger chunk per
   * stream instead of one per packet (hot path).
   */
  private pullReadable(): number {
    const readable = this.readable;
    // Streams queued while pulling (none today: pulling drains no events) are served in this loop too.
    let i = 0;
    for (; i < this.readableCount; i++) {
      const stream = readable[i] as PunchlineStream;
      readable[i] = null;
      stream.pullQueued = false;
      stream.onReadable();
    }
    this.readableCount = 0;
    return i;
  }

  /**
   * Sends what the core has due now, at most `max` datagrams; returns the number built. Each datagram
   * is built straight into the socket's next send slot (no copy) and handed to the kernel in one batch
   * at the end (the native backend: one sendmmsg; dgram: one sendto each, at once). Hot path.
   */
  private flush(max: number): number {
    const core = this.core;
    const socket = this.socket;
    let sent = 0;
    // A new reading for this flush (application code ran since the last): its datagrams share it.
    this.clockUses = CLOCK_BATCH;
    while (sent < max) {
      const slot = socket.sendSlot();
      if (slot === null) break; // kernel queue full: onWritable() wakes us
      const transmit = core.pollTransmit(this.batchNow(), slot);
      if (!transmit) break;
      sent++;
      let length = transmit.length;
      let destination = transmit.destination;
      if (this.traversal !== null && isVirtualHost(destination.host)) {
        // A connection by public key: its route decides (peer-routes.ts).
        const route = this.traversal.routes.route(destination.host);
        if (!route) continue; // no path right now: lost, the transport retransmits
        if (route.to === null) {
          route.send(Buffer.from(slot.subarray(0, length)));
          this.counters.datagramsSent++;
          this.counters.bytesSent += length;
          continue;
        }
        if (route.header !== null) {
          slot.copyWithin(route.header.length, 0, length);
          slot.set(route.header, 0);
          length += route.header.length;
        }
        destination = route.to;
      }
      this.counters.datagramsSent++;
      this.counters.bytesSent += length;
      socket.commit(length, destination);
    }
    if (sent > 0) socket.flush();
    return sent;
  }

  protected drainEvents(): number {
    let count = 0;
    let event: ConnectionEvent | null;
    while ((event = this.core.pollEvent())) {
      count++;
      // Every other event may run application code (listeners, write callbacks): however long it
      // takes, the datagrams after it take a new clock reading.
      if (event.type !== 'stream-readable') this.clockUses = CLOCK_BATCH;
      this.dispatch(event);
    }
    return count;
  }

  /** Queues a stream that reported new data, once, for the next pullReadable() (hot path). */
  protected queueReadable(stream: PunchlineStream): void {
    if (stream.pullQueued) return;
    stream.pullQueued = true;
    this.readable[this.readableCount++] = stream;
  }

  private armTimer(now: number): void {
    const deadline = this.core.nextDeadline();
    if (deadline === Infinity) return;
    // An earlier (or equal) timer is already armed: it will re-arm when it fires.
    if (this.timer && this.timerDeadline <= deadline) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDeadline = deadline;
    // setTimeout resolution is 1 ms: a deadline already due is served on the next turn; anything later
    // waits ≥ 1 ms (the pacer's bucket holds ~2 ms, so sub-ms pacing gaps lose no throughput).
    const delay = deadline - now;
    if (delay <= 0.05) {
      this.timer = null;
      this.timerDeadline = Infinity;
      this.wake();
      return;
    }
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(delay)));
    // The socket keeps the process alive while the endpoint is open; the timer alone need not.
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerDeadline = Infinity;
    const now = this.freshNow();
    if (this.core.nextDeadline() <= now) this.core.onTimeout(now);
    this.service();
  };

  /** Lets queued datagrams (e.g. CONNECTION_CLOSE) reach the kernel before the socket closes. */
  protected waitSendsDrained(): Promise<void> {
    return new Promise((resolve) => {
      let tries = 0;
      const check = (): void => {
        if (this.socket.pendingSends() === 0 || ++tries > 1000) resolve();
        else setTimeout(check, 1);
      };
      check();
    });
  }

  /** Stops the timer and the loop for good (before the socket closes): nothing is sent afterwards. */
  protected stopDriving(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socketClosed = true;
  }
}
