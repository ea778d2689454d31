/**
 * Node binding of the sans-IO transport: one UDP socket per endpoint, timers, Node streams. The socket
 * is the native batched backend (sendmmsg/GSO, recvmmsg) where its add-on is built, else node:dgram
 * (src/node/udp/udp-socket.ts).
 *
 * The socket is shared by every protocol of spec/wire.md §Demultiplexing: transport packets (long and
 * short headers) go to the sans-IO core; STUN, punch probes and relay frames go to handlers that the
 * traversal layer registers with `addDatagramHandler` (dropped and counted when none is registered).
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
import { isIP, isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type {
  Address,
  CloseReason,
  ConnectionEvent,
  ConnectionHandle,
  ConnectionStats,
  ConnectOptions,
  RandomSource,
  SansIoEndpoint,
} from '../transport/api.js';
import type { KeyPair } from '../crypto/keys.js';
import type { TransportConfig } from '../transport/config.js';
import type { DatagramKind } from '../wire/types.js';
import { systemRandom } from '../crypto/sodium.js';
import { classifyDatagram } from '../wire/index.js';
import { NodeEndpointError, ConnectionClosedError, checkErrorCode, invalidArgument } from './endpoint-errors.js';
import { decodePublicKey } from '../crypto/key-text.js';
import { TraversalError, TraversalErrorCode } from '../traversal/agent/errors.js';
import type { TraversalLimits } from '../traversal/agent/limits.js';
import { type ServerAddress, parseServerAddress } from '../traversal/rendezvous/server-address.js';
import type { ConnectionPath, PeerLink } from './peer-link.js';
import { isVirtualHost } from './peer-routes.js';
import { PortMapper } from './port-mapper.js';
import { Traversal } from './traversal.js';
import { AsyncQueue } from './endpoint-queue.js';
import { PunchlineStream, type StreamHost } from './stream.js';
import { openUdpSocket } from './udp/open.js';
import type {
  UdpBackend,
  UdpBackendChoice,
  UdpReceiver,
  UdpSocket,
  UdpSocketOptions,
  UdpSocketStats,
} from './udp/udp-socket.js';

/** What the adapter hands to a core factory. */

/** Longest wait in bind() for the gateway's first port-mapping answer (ms). */
const PORT_MAPPING_BIND_WAIT_MS = 2500;
export interface CoreContext {
  readonly keyPair: KeyPair;
  readonly random: RandomSource;
  readonly now: number;
  readonly transport: Partial<TransportConfig>;
  /** Pre-shared key required from incoming handshakes (psk patterns). */
  readonly psk?: Uint8Array;
}

export type CoreFactory = (context: CoreContext) => SansIoEndpoint;

export interface BindOptions {
  /** UDP port; 0 (default) lets the OS choose. */
  readonly port?: number;
  /** Local address; default '0.0.0.0'. An IPv6 literal binds an 'udp6' socket. */
  readonly host?: string;
  readonly keyPair: KeyPair;
  /** Kernel socket buffers (bytes); default 4 MiB each. */
  readonly recvBufferSize?: number;
  readonly sendBufferSize?: number;
  /** Pre-shared key (32 bytes) required from peers dialling in (e.g. derived from a code phrase). */
  readonly psk?: Uint8Array;
  /** Transport settings (windows, payload size, congestion controller) for every connection. */
  readonly transport?: Partial<TransportConfig>;
  /** Builds the sans-IO core; default: the transport layer's Endpoint. Tests inject fakes here. */
  readonly core?: CoreFactory;
  /**
   * UDP backend: 'native' (batched sendmmsg/GSO + recvmmsg add-on), 'dgram' (node:dgram) or 'auto'
   * (default: native where its add-on is built). PUNCHLINE_UDP_BACKEND overrides it.
   */
  readonly udpBackend?: UdpBackendChoice;
  /**
   * A `punchline server` (its address string or parsed address): the endpoint registers with it and
   * can then `connect(publicKey)` and receive connections by public key from behind NATs.
   */
  readonly server?: string | ServerAddress;
  /** With `server`: which peers' connect requests to answer (default: every peer). */
  readonly acceptPeer?: (publicKey: Uint8Array) => boolean;
  /** With `server`: extra sockets this endpoint consents to open for a birthday search (default 256, 0 = none). */
  readonly birthdaySockets?: number;
  /** With `server`: traversal timers and limits (spec/traversal.md §Timers and limits). */
  readonly traversal?: Partial<TraversalLimits>;
  /**
   * With `server`: ask the default gateway for a port mapping of the socket (NAT-PMP, PCP, UPnP IGD;
   * src/node/port-mapper.ts) and offer it as a `mapped` candidate, which lets peers behind any NAT
   * reach us directly. Off by default: it talks to the gateway and sends SSDP multicast on the LAN.
   */
  readonly portMapping?: boolean;
}

/** Options of `connect(publicKey)`. */
export interface PeerDialOptions {
  readonly psk?: Uint8Array;
  readonly signal?: AbortSignal;
  /** Whole connect (rendezvous, first path, handshake); default the transport's handshake timeout (10 s). */
  readonly timeoutMs?: number;
}

/** Connection statistics plus how the connection was made (connections by public key). */
export interface PeerConnectionStats extends ConnectionStats {
  /** From connect() (or the peer's request) until the connection could carry data; null before. */
  readonly timeToFirstByteMs: number | null;
  /** From the same start until a direct pair carried the connection; null if it never did. */
  readonly timeToDirectMs: number | null;
  /** Punch probes this side sent for the connection. */
  readonly probesSent: number;
}

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  /** Peer's static public key (Noise IK); omit to learn it during the handshake (Noise XX). */
  readonly publicKey?: Uint8Array;
  readonly psk?: Uint8Array;
  /** Abort the handshake (and the connection). */
  readonly signal?: AbortSignal;
}

export interface RemoteInfo {
  readonly host: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Handler for a non-transport datagram kind on the shared socket (STUN, punch probes, relay). */
export type DatagramHandler = (datagram: Buffer, from: RemoteInfo) => void;

export interface EndpointStats {
  readonly datagramsReceived: number;
  readonly datagramsSent: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** Non-transport datagrams with no registered handler, and send errors. */
  readonly datagramsDropped: number;
  readonly sendErrors: number;
  /** Times the kernel send buffer was full and flushing paused until it had room again. */
  readonly sendStalls: number;
  readonly received: Readonly<Record<DatagramKind, number>>;
  /** The UDP socket's own counters (backend, system calls, GSO segments, truncated datagrams). */
  readonly socket: UdpSocketStats;
}

const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024;
/** Room offered to pollTransmit for one datagram (≥ 1500 per api.ts; ≥ the largest payload we allow). */
const MAX_DATAGRAM_ROOM = 65_536;
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
/** How long `close()` waits for connections to finish their closing handshake. */
const CLOSE_TIMEOUT_MS = 3000;

/** X25519 keys and pre-shared keys are 32 bytes. */
const KEY_BYTES = 32;

function checkKey(name: string, key: unknown): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw invalidArgument(`${name} must be a ${KEY_BYTES}-byte Uint8Array, got ${got}`);
  }
}

function checkPort(name: string, port: unknown, min: number): void {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < min || port > 65_535) {
    throw invalidArgument(`${name} must be an integer ${min}..65535, got ${String(port)}`);
  }
}

/** Rejects bad bind() options before the core or the socket exists. */
function checkBindOptions(options: BindOptions): void {
  if (options === null || typeof options !== 'object') throw invalidArgument('bind options must be an object');
  if (options.port !== undefined) checkPort('port', options.port, 0);
  if (options.host !== undefined && (typeof options.host !== 'string' || isIP(options.host) === 0)) {
    throw invalidArgument(`host must be an IPv4 or IPv6 literal, got '${String(options.host)}'`);
  }
  if (options.keyPair === null || typeof options.keyPair !== 'object') throw invalidArgument('keyPair is required');
  checkKey('keyPair.publicKey', options.keyPair.publicKey);
  checkKey('keyPair.secretKey', options.keyPair.secretKey);
  if (options.psk !== undefined) checkKey('psk', options.psk);
  for (const name of ['recvBufferSize', 'sendBufferSize'] as const) {
    const size = options[name];
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
      throw invalidArgument(`${name} must be a positive integer, got ${String(size)}`);
    }
  }
}

/** Rejects bad connect() options before the core sees them. */
function checkDialOptions(options: DialOptions): void {
  if (options === null || typeof options !== 'object') throw invalidArgument('connect options must be an object');
  if (typeof options.host !== 'string' || isIP(options.host) === 0) {
    throw invalidArgument(`host must be an IPv4 or IPv6 literal, got '${String(options.host)}'`);
  }
  checkPort('port', options.port, 1);
  if (options.publicKey !== undefined) checkKey('publicKey', options.publicKey);
  if (options.psk !== undefined) checkKey('psk', options.psk);
}

let defaultCoreFactory: CoreFactory | null = null;

/** Lets the transport layer (or the package index) install the production core without a cyclic import. */
export function setDefaultCoreFactory(factory: CoreFactory): void {
  defaultCoreFactory = factory;
}

async function loadDefaultCoreFactory(): Promise<CoreFactory> {
  if (defaultCoreFactory) return defaultCoreFactory;
  const module = (await import('./endpoint-core.js')) as { createCore: CoreFactory };
  defaultCoreFactory = module.createCore;
  return defaultCoreFactory;
}

export declare interface Endpoint {
  on(event: 'connection', listener: (connection: Connection) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class Endpoint extends EventEmitter implements AsyncIterable<Connection> {
  /** Set by bind() right after construction (the socket needs the receiver first). */
  private socket!: UdpSocket;
  /** How the socket was opened (rebind() opens the next one alike). */
  private socketOptions!: UdpSocketOptions & { readonly backend?: UdpBackendChoice };
  private readonly core: SansIoEndpoint;
  private readonly family: 'udp4' | 'udp6';
  private readonly wrappers = new Map<number, Connection>();
  private readonly incoming = new AsyncQueue<Connection>();
  private readonly handlers = new Map<DatagramKind, DatagramHandler>();
  /**
   * Streams that reported new data since the last service(), [0, readableCount), each once
   * (PunchlineStream.pullQueued). An array reused across turns: a Set would reallocate its table as
   * it empties and fills every turn (hot path).
   */
  private readonly readable: (PunchlineStream | null)[] = [];
  private readableCount = 0;
  readonly publicKey: Uint8Array;

  /** What the UDP socket calls back into (built once: no per-datagram closures). */
  private readonly udpReceiver: UdpReceiver = {
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
  private closing: Promise<void> | null = null;
  private socketClosed = false;
  /** Connecting by public key (bind with `server`); null otherwise. */
  private traversal: Traversal | null = null;
  /** The gateway port mapping (bind option `portMapping`). */
  private portMapper: PortMapper | null = null;
  /** Default bound of connect(publicKey): the transport's handshake timeout. */
  private handshakeTimeoutMs = 10_000;

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

  private constructor(core: SansIoEndpoint, family: 'udp4' | 'udp6', publicKey: Uint8Array) {
    super();
    this.core = core;
    this.family = family;
    this.publicKey = publicKey;
  }

  /** Binds a UDP socket and starts the endpoint (like net.Server.listen, but one socket for both roles). */
  // `override`: the class object inherits Function.prototype.bind; this deliberately shadows it.
  static override async bind(options: BindOptions): Promise<Endpoint> {
    checkBindOptions(options);
    const host = options.host ?? '0.0.0.0';
    const family = isIPv6(host) ? 'udp6' : 'udp4';
    const factory = options.core ?? (await loadDefaultCoreFactory());
    // The core first: a bad key or config throws before any socket exists.
    const core = factory({
      keyPair: options.keyPair,
      random: systemRandom,
      now: performance.now(),
      transport: options.transport ?? {},
      ...(options.psk ? { psk: options.psk } : {}),
    });
    // Every datagram up to 64 KiB is received whole whatever our own maxUdpPayloadSize: peers size
    // their packets by their own setting (nothing negotiates it), and STUN/relay datagrams vary. The
    // native backend's arenas are then 64 slots × 64 KiB of address space each, of which only the
    // pages datagrams touch become resident (~1.5 KB per slot at the usual sizes).
    const room = MAX_DATAGRAM_ROOM;
    const endpoint = new Endpoint(core, family, options.keyPair.publicKey);
    endpoint.socketOptions = {
      family,
      host,
      port: options.port ?? 0,
      recvBufferSize: options.recvBufferSize ?? DEFAULT_SOCKET_BUFFER,
      sendBufferSize: options.sendBufferSize ?? DEFAULT_SOCKET_BUFFER,
      datagramRoom: room,
      ...(options.udpBackend !== undefined ? { backend: options.udpBackend } : {}),
    };
    endpoint.socket = await openUdpSocket(endpoint.socketOptions, endpoint.udpReceiver, options.udpBackend);
    if (options.server !== undefined) {
      endpoint.handshakeTimeoutMs = options.transport?.handshakeTimeoutMs ?? endpoint.handshakeTimeoutMs;
      try {
        endpoint.traversal = Traversal.create(endpoint.traversalIo(), {
          server: typeof options.server === 'string' ? parseServerAddress(options.server) : options.server,
          keyPair: options.keyPair,
          ...(options.acceptPeer ? { acceptPeer: options.acceptPeer } : {}),
          ...(options.birthdaySockets !== undefined ? { birthdaySockets: options.birthdaySockets } : {}),
          ...(options.traversal ? { limits: options.traversal } : {}),
        });
        await endpoint.traversal.start();
        if (options.portMapping) {
          const mapper = PortMapper.forEndpoint(endpoint);
          endpoint.portMapper = mapper;
          // Candidates are offered when a connect starts: wait (bounded) for the gateway's first answer so
          // that a connect right after bind already carries the mapped candidate. Discovery itself is
          // bounded (port-mapper.ts), so is this wait.
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              mapper.off('mapping', done).off('unavailable', done);
              resolve();
            };
            const timer = setTimeout(done, PORT_MAPPING_BIND_WAIT_MS);
            mapper.on('mapping', done).on('unavailable', done);
          });
        }
      } catch (error) {
        endpoint.traversal?.close();
        endpoint.shutdown();
        throw error;
      }
    }
    return endpoint;
  }

  /** What the connect-by-key layer needs from this endpoint. */
  private traversalIo() {
    return {
      address: () => this.address(),
      send: (datagram: Uint8Array, to: Address) => this.send(datagram, to),
      deliver: (datagram: Uint8Array, virtual: Address) => this.deliverVirtual(datagram, virtual),
      wake: () => this.wake(),
    };
  }

  /**
   * What the endpoint learnt about its network from the server (UDP reachability, NAT mapping,
   * public address, candidates); null without `server`.
   */
  get network(): Traversal['network'] | null {
    return this.traversal?.network ?? null;
  }

  /** The port-mapping candidate slot (a NAT-PMP/PCP/UPnP client fills it); needs `server`. */
  setPortMapping(mapping: { external: Address; protocol: string } | null): void {
    this.traversal?.setPortMapping(mapping);
  }

  /**
   * Moves every connection to a new local socket — a network change (Wi-Fi to cellular, a host that
   * moved): binds `host` (default: the same) and `port` (default: a new one), closes the old socket,
   * and has every connection speak up from the new address at once. The peers validate it and move
   * (RFC 9000 §9.2, §9.3) with a fresh connection ID (§9.5); streams continue, no byte is lost.
   */
  async rebind(options: { host?: string; port?: number } = {}): Promise<RemoteInfo> {
    if (this.closing || this.socketClosed)
      throw new NodeEndpointError('ERR_PUNCHLINE_ENDPOINT_CLOSED', 'endpoint is closed');
    const host = options.host ?? this.socketOptions.host;
    if ((isIPv6(host) ? 'udp6' : 'udp4') !== this.family || isIP(host) === 0)
      throw invalidArgument(
        `rebind host must be an ${this.family === 'udp6' ? 'IPv6' : 'IPv4'} literal, got '${host}'`,
      );
    if (options.port !== undefined) checkPort('port', options.port, 0);
    const next = await openUdpSocket(
      { ...this.socketOptions, host, port: options.port ?? 0 },
      this.udpReceiver,
      this.socketOptions.backend,
    );
    const old = this.socket;
    this.socket = next;
    old.close();
    const now = this.freshNow();
    for (const c of this.wrappers.values()) c.handle.localAddressChanged?.(now);
    this.wake();
    return next.address();
  }

  /** Which UDP backend this endpoint's socket uses. */
  get udpBackend(): UdpBackend {
    return this.socket.backend;
  }

  /** The bound local address. */
  address(): RemoteInfo {
    return this.socket.address();
  }

  /**
   * Dials a peer; resolves once the handshake completed (and authenticated `publicKey` if given).
   * By public key (32 bytes or z-base-32 text; needs `bind({ server })`): through the rendezvous,
   * relay first, then a direct path when punching validates one (spec/traversal.md).
   */
  connect(publicKey: Uint8Array | string, options?: PeerDialOptions): Promise<Connection>;
  connect(options: DialOptions): Promise<Connection>;
  connect(target: DialOptions | Uint8Array | string, peerOptions: PeerDialOptions = {}): Promise<Connection> {
    if (typeof target === 'string' || target instanceof Uint8Array) return this.connectByKey(target, peerOptions);
    const options = target;
    if (this.closing)
      return Promise.reject(new NodeEndpointError('ERR_PUNCHLINE_ENDPOINT_CLOSED', 'endpoint is closed'));
    try {
      checkDialOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if ((this.family === 'udp6') !== isIPv6(options.host)) {
      return Promise.reject(
        new NodeEndpointError(
          'ERR_PUNCHLINE_ADDRESS_FAMILY',
          `cannot reach ${options.host} from an ${this.family} endpoint`,
        ),
      );
    }
    const connectOptions: { remotePublicKey?: Uint8Array; psk?: Uint8Array } = {};
    if (options.publicKey) connectOptions.remotePublicKey = options.publicKey;
    if (options.psk) connectOptions.psk = options.psk;
    const handle = this.core.connect(
      { host: options.host, port: options.port },
      connectOptions as ConnectOptions,
      this.freshNow(),
    );
    const connection = new Connection(this, handle);
    this.wrappers.set(handle.id, connection);
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => {
        connection.abort(signal.reason);
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        void connection.closed.then(() => signal.removeEventListener('abort', onAbort));
      }
    }
    this.wake();
    return connection.established;
  }

  private async connectByKey(target: Uint8Array | string, options: PeerDialOptions): Promise<Connection> {
    if (this.closing) throw new NodeEndpointError('ERR_PUNCHLINE_ENDPOINT_CLOSED', 'endpoint is closed');
    let peer: Uint8Array;
    try {
      peer = typeof target === 'string' ? decodePublicKey(target) : target;
    } catch (cause) {
      throw invalidArgument(`not a public key: ${(cause as Error).message}`);
    }
    checkKey('publicKey', peer);
    if (options === null || typeof options !== 'object') throw invalidArgument('connect options must be an object');
    if (options.psk !== undefined) checkKey('psk', options.psk);
    const timeoutMs = options.timeoutMs ?? this.handshakeTimeoutMs;
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0))
      throw invalidArgument(`timeoutMs must be a positive number, got ${String(options.timeoutMs)}`);
    const traversal = this.traversal;
    if (!traversal) throw invalidArgument('connecting by public key needs Endpoint.bind({ server })');
    const startedAt = performance.now();
    const deadline = startedAt + timeoutMs;
    const link = await traversal.dial(peer, { timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
    const handle = this.core.connect(
      link.virtual,
      (options.psk ? { remotePublicKey: peer, psk: options.psk } : { remotePublicKey: peer }) as ConnectOptions,
      this.freshNow(),
    );
    const connection = new Connection(this, handle);
    this.wrappers.set(handle.id, connection);
    connection.attachLink(link, traversal, startedAt);
    this.wake();
    // The transport's own handshake timeout also applies; this one covers the rest of timeoutMs.
    const timer = setTimeout(
      () => connection.abortWith(new TraversalError(TraversalErrorCode.NoPath, 'no handshake with the peer in time')),
      Math.max(1, deadline - performance.now()),
    );
    timer.unref();
    const onAbort = (): void => connection.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await connection.established;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A transport datagram for a connection by public key that came over the relay or a birthday socket. */
  private deliverVirtual(datagram: Uint8Array, virtual: Address): void {
    if (this.socketClosed) return;
    this.counters.datagramsReceived++;
    this.counters.bytesReceived += datagram.length;
    try {
      this.core.receive(datagram, virtual, this.batchNow());
    } catch (error) {
      this.counters.datagramsDropped++;
      this.reportInternalError(error);
    }
    try {
      if (!this.inService) this.drainEvents();
    } finally {
      this.wake();
    }
  }

  /** Incoming connections, as they complete their handshake. Ends when the endpoint closes. */
  connections(): AsyncIterable<Connection> {
    return this.incoming;
  }

  [Symbol.asyncIterator](): AsyncIterator<Connection> {
    return this.incoming[Symbol.asyncIterator]();
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

  /** Closes every connection gracefully, waits (bounded) for them to finish, then closes the socket. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.core.close(this.freshNow());
      this.service();
      const pending = [...this.wrappers.values()].map((c) => c.closed);
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(pending),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timeout);
      // The gateway mapping is deleted (bounded wait) while the socket still exists.
      await this.portMapper?.close().catch(() => undefined);
      await this.waitSendsDrained();
      // Last: the connections' closing packets still needed their routes (relay or direct).
      this.traversal?.close();
      this.shutdown();
    })();
    return this.closing;
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
      try {
        // A direct pair of a connection by public key: the core knows the peer by its virtual address.
        const source = this.traversal === null ? from : (this.traversal.routes.virtualFor(from) ?? from);
        this.core.receive(msg, source, this.batchNow());
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
      return;
    }
    if (this.traversal !== null) {
      try {
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
  private reportInternalError(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error instanceof Error ? error : String(error), 'PunchlineWarning');
  }

  /**
   * A new clock reading, handed to the core and shared with the datagrams that follow (so the times
   * the core sees never go backwards). Used wherever the time is not per datagram.
   */
  private freshNow(): number {
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

  private service(): void {
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

  private drainEvents(): number {
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

  private dispatch(event: ConnectionEvent): void {
    const handle = event.connection;
    let connection = this.wrappers.get(handle.id);
    if (!connection) {
      if (event.type === 'closed') return;
      connection = new Connection(this, handle);
      this.wrappers.set(handle.id, connection);
    }
    switch (event.type) {
      case 'incoming':
        break;
      case 'connected':
        if (!handle.isClient && this.traversal !== null && isVirtualHost(handle.remoteAddress.host)) {
          const link = this.traversal.linkFor(handle.remoteAddress.host);
          if (link) connection.attachLink(link, this.traversal, link.startedAt);
        }
        connection.onConnected();
        if (!handle.isClient) {
          if (this.closing) void connection.close(0, 'endpoint closing');
          // Listeners of 'connection' get it; without any, it waits for the async iterator.
          else if (this.listenerCount('connection') > 0) this.emit('connection', connection);
          else this.incoming.push(connection);
        }
        break;
      case 'stream-opened':
        connection.onStreamOpened(event.streamId);
        break;
      case 'stream-readable': {
        const stream = connection.streamById(event.streamId);
        if (stream && !stream.pullQueued) {
          stream.pullQueued = true;
          this.readable[this.readableCount++] = stream;
        }
        break;
      }
      case 'stream-writable':
        connection.streamById(event.streamId)?.onWritable();
        break;
      case 'stream-reset':
        connection.streamById(event.streamId)?.onReset(event.errorCode);
        break;
      case 'stream-stop-sending':
        connection.streamById(event.streamId)?.onStopSending(event.errorCode);
        break;
      case 'datagram':
        connection.emit('datagram', Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength));
        break;
      case 'path-changed':
        connection.emit('path-changed', event.remote);
        break;
      case 'closed':
        this.wrappers.delete(handle.id);
        connection.onClosed(event.reason);
        break;
    }
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
  private waitSendsDrained(): Promise<void> {
    return new Promise((resolve) => {
      let tries = 0;
      const check = (): void => {
        if (this.socket.pendingSends() === 0 || ++tries > 1000) resolve();
        else setTimeout(check, 1);
      };
      check();
    });
  }

  private shutdown(): void {
    if (this.socketClosed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socketClosed = true;
    for (const connection of this.wrappers.values()) {
      connection.onClosed({ errorCode: 0, application: false, reason: 'endpoint closed', remote: false });
    }
    this.wrappers.clear();
    this.incoming.end();
    this.socket.close();
    this.emit('close');
  }
}

export interface OpenStreamOptions {
  /** Default true. A unidirectional stream is write-only here and read-only at the peer. */
  readonly bidirectional?: boolean;
  readonly highWaterMark?: number;
}

export declare interface Connection {
  on(event: 'stream', listener: (stream: PunchlineStream) => void): this;
  on(event: 'datagram', listener: (data: Buffer) => void): this;
  on(event: 'path-changed', listener: (remote: Address) => void): this;
  /** Connections by public key: the path changed (relay → direct, direct → relay, ...). */
  on(event: 'path', listener: (path: ConnectionPath) => void): this;
  on(event: 'close', listener: (reason: CloseReason) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** One authenticated peer: streams, datagrams, stats. */
export class Connection extends EventEmitter implements StreamHost {
  readonly handle: ConnectionHandle;
  private readonly endpoint: Endpoint;
  private readonly streamMap = new Map<number, PunchlineStream>();
  private readonly incomingStreams = new AsyncQueue<PunchlineStream>();
  /** Resolves with this connection once the handshake is done; rejects if it closes first. */
  readonly established: Promise<Connection>;
  /** Resolves (never rejects) with the reason once the connection is closed. */
  readonly closed: Promise<CloseReason>;
  private resolveEstablished!: (connection: Connection) => void;
  private rejectEstablished!: (error: Error) => void;
  private resolveClosed!: (reason: CloseReason) => void;
  private isEstablished = false;
  private closeReason: CloseReason | null = null;
  /** Connections by public key: the traversal link under the transport, and when the attempt began. */
  private link: PeerLink | null = null;
  private linkStartedAt = 0;
  private establishedAt: number | null = null;
  private onRoute: ((path: ConnectionPath | null) => void) | null = null;
  private releaseLink: (() => void) | null = null;

  constructor(endpoint: Endpoint, handle: ConnectionHandle) {
    super();
    this.endpoint = endpoint;
    this.handle = handle;
    this.established = new Promise((resolve, reject) => {
      this.resolveEstablished = resolve;
      this.rejectEstablished = reject;
    });
    // Callers that never await `established` (incoming connections) must not see an unhandled rejection.
    this.established.catch(() => undefined);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  get remoteAddress(): Address {
    return this.link?.path?.remote ?? this.handle.remoteAddress;
  }

  /**
   * The network path (connections by public key; by address: always `direct`): its kind, local and
   * remote addresses (for a relay, the server's), and the smoothed RTT.
   */
  get path(): ConnectionPath {
    const rttMs = this.handle.stats().smoothedRttMs;
    const path = this.link?.path;
    if (path) return { ...path, rttMs };
    const local = this.endpoint.address();
    return { kind: 'direct', local: { host: local.host, port: local.port }, remote: this.handle.remoteAddress, rttMs };
  }

  get remotePublicKey(): Uint8Array | null {
    return this.handle.remotePublicKey;
  }

  get isClient(): boolean {
    return this.handle.isClient;
  }

  get state(): ConnectionHandle['state'] {
    return this.handle.state;
  }

  /** Opens a stream; a Node Duplex that works with stream.pipeline. */
  openStream(options: OpenStreamOptions = {}): PunchlineStream {
    this.assertOpen();
    const bidirectional = options.bidirectional ?? true;
    const id = this.handle.openStream(bidirectional);
    const stream = new PunchlineStream(this, id, {
      readable: bidirectional,
      writable: true,
      ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {}),
    });
    this.streamMap.set(id, stream);
    this.wake();
    return stream;
  }

  /** Streams the peer opens, in order. Ends when the connection closes. */
  streams(): AsyncIterable<PunchlineStream> {
    return this.incomingStreams;
  }

  /** Unreliable datagram; false if it is too large or the queue is full (it is then not sent). */
  sendDatagram(data: Uint8Array): boolean {
    this.assertOpen();
    const queued = this.handle.sendDatagram(data);
    if (queued) this.wake();
    return queued;
  }

  maxDatagramSize(): number {
    return this.handle.maxDatagramSize();
  }

  stats(): PeerConnectionStats {
    const agent = this.link?.agentStats();
    const directAt = this.link?.directAt ?? null;
    return {
      ...this.handle.stats(),
      timeToFirstByteMs: this.establishedAt === null ? null : this.establishedAt - this.linkStartedAt,
      timeToDirectMs: directAt === null ? null : Math.max(0, directAt - this.linkStartedAt),
      probesSent: agent?.probesSent ?? 0,
    };
  }

  /** Graceful close (data written before is delivered unless errorCode ≠ 0); resolves when closed. */
  close(errorCode = 0, reason = ''): Promise<CloseReason> {
    try {
      checkErrorCode(errorCode);
      if (typeof reason !== 'string') throw invalidArgument('close reason must be a string');
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.closeReason && this.handle.state !== 'closed') {
      this.handle.close(errorCode, reason);
      this.wake();
    }
    return this.closed;
  }

  /** Abandons a pending connect: `established` rejects now, the core closes the connection. */
  abort(reason?: unknown): void {
    if (!this.isEstablished && !this.closeReason) {
      this.rejectEstablished(
        new NodeEndpointError(
          'ERR_PUNCHLINE_ABORTED',
          'connect was aborted',
          reason === undefined ? undefined : { cause: reason },
        ),
      );
    }
    void this.close(0, 'aborted');
  }

  // --- StreamHost -----------------------------------------------------------------------------

  wake(): void {
    this.endpoint.wake();
  }

  release(streamId: number): void {
    this.streamMap.delete(streamId);
  }

  // --- called by Endpoint ---------------------------------------------------------------------

  /** Connections by public key: the link whose route carries this connection. */
  attachLink(
    link: PeerLink,
    owner: { markUsed(link: PeerLink): void; dropLink(link: PeerLink): void },
    startedAt: number,
  ): void {
    if (this.link) return;
    this.link = link;
    this.linkStartedAt = startedAt;
    owner.markUsed(link);
    this.onRoute = (path) => {
      if (path && !this.closeReason) this.emit('path', { ...path, rttMs: this.handle.stats().smoothedRttMs });
    };
    link.on('route', this.onRoute);
    this.releaseLink = () => owner.dropLink(link);
  }

  /** Abandons a pending connect with a specific error. */
  abortWith(error: Error): void {
    if (!this.isEstablished && !this.closeReason) this.rejectEstablished(error);
    void this.close(0, 'aborted');
  }

  streamById(id: number): PunchlineStream | undefined {
    return this.streamMap.get(id);
  }

  onConnected(): void {
    if (this.isEstablished) return;
    this.isEstablished = true;
    this.establishedAt = performance.now();
    this.resolveEstablished(this);
  }

  onStreamOpened(id: number): void {
    if (this.streamMap.has(id)) return;
    // Stream IDs follow QUIC (RFC 9000 §2.1): bit 0x2 set = unidirectional (read-only for the receiver).
    const bidirectional = (id & 0x2) === 0;
    const stream = new PunchlineStream(this, id, { readable: true, writable: bidirectional });
    this.streamMap.set(id, stream);
    // Listeners of 'stream' get it; without any, it waits for the async iterator.
    if (this.listenerCount('stream') > 0) this.emit('stream', stream);
    else this.incomingStreams.push(stream);
  }

  onClosed(reason: CloseReason): void {
    if (this.closeReason) return;
    this.closeReason = reason;
    this.releaseLink?.();
    this.releaseLink = null;
    for (const stream of [...this.streamMap.values()]) stream.onConnectionClosed(reason);
    this.streamMap.clear();
    this.incomingStreams.end();
    if (!this.isEstablished) this.rejectEstablished(new ConnectionClosedError(reason));
    this.resolveClosed(reason);
    this.emit('close', reason);
  }

  private assertOpen(): void {
    if (this.closeReason) throw new ConnectionClosedError(this.closeReason);
  }
}
