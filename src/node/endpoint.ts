/**
 * Node binding of the sans-IO transport: one UDP socket per endpoint, timers, Node streams. The socket
 * is the native batched backend (sendmmsg/GSO, recvmmsg) where its add-on is built, else node:dgram
 * (src/node/udp/udp-socket.ts).
 *
 * The socket is shared by every protocol of spec/wire.md §Demultiplexing: transport packets (long and
 * short headers) go to the sans-IO core; STUN, punch probes and relay frames go to handlers that the
 * traversal layer registers with `addDatagramHandler` (dropped and counted when none is registered).
 *
 * The socket and the loop that drives the core are in src/node/endpoint-io.ts; connections in
 * src/node/connection.ts; option types and their checks in src/node/endpoint-options.ts.
 */
import { isIP, isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Address, ConnectionEvent, ConnectionHandle, ConnectOptions, SansIoEndpoint } from '../transport/api.js';
import { systemRandom } from '../crypto/sodium.js';
import { NodeEndpointError, invalidArgument } from './endpoint-errors.js';
import { decodePublicKey } from '../crypto/key-text.js';
import { TraversalError, TraversalErrorCode } from '../traversal/agent/errors.js';
import { parseServerAddress } from '../traversal/rendezvous/server-address.js';
import { Connection } from './connection.js';
import { EndpointIo } from './endpoint-io.js';
import {
  type BindOptions,
  type CoreFactory,
  type DialOptions,
  type PeerDialOptions,
  type RemoteInfo,
  checkBindOptions,
  checkDialOptions,
  checkKey,
  checkPort,
} from './endpoint-options.js';
import { isVirtualHost } from './peer-routes.js';
import { PortMapper } from './port-mapper.js';
import { Traversal } from './traversal.js';
import { AsyncQueue } from './endpoint-queue.js';
import { openUdpSocket } from './udp/open.js';
import { type LifetimeCallOptions, probeBindingLifetime } from './stun-lifetime.js';
import type { LifetimeResult } from '../traversal/stun/index.js';

export { Connection, type OpenStreamOptions } from './connection.js';
export type {
  BindOptions,
  CoreContext,
  CoreFactory,
  DatagramHandler,
  DialOptions,
  EndpointStats,
  PeerConnectionStats,
  PeerDialOptions,
  RemoteInfo,
} from './endpoint-options.js';

/** Longest wait in bind() for the gateway's first port-mapping answer (ms). */
const PORT_MAPPING_BIND_WAIT_MS = 2500;
const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024;
/** Room offered to pollTransmit for one datagram (≥ 1500 per api.ts; ≥ the largest payload we allow). */
const MAX_DATAGRAM_ROOM = 65_536;
/** How long `close()` waits for connections to finish their closing handshake. */
const CLOSE_TIMEOUT_MS = 3000;

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

export class Endpoint extends EndpointIo implements AsyncIterable<Connection> {
  private readonly wrappers = new Map<number, Connection>();
  /** Closed for the application, still sending or answering CLOSE over a traversal link (Connection.onClosed). */
  private readonly closingOverLinks = new Set<Connection>();
  /** close(): resolves its wait once closingOverLinks is empty. */
  private linksReleased: (() => void) | null = null;
  private readonly incoming = new AsyncQueue<Connection>();
  readonly publicKey: Uint8Array;
  private closing: Promise<void> | null = null;
  /** The gateway port mapping (bind option `portMapping`). */
  private portMapper: PortMapper | null = null;
  /** Default bound of connect(publicKey): the transport's handshake timeout. */
  private handshakeTimeoutMs = 10_000;
  /** A measured NAT binding lifetime (setBindingLifetime): seeds every connection's keepalive. */
  private bindingLifetime: { readonly aliveMs: number; readonly expiredMs: number | null } | null = null;
  /** Stops the background binding-lifetime measurement (bind option `measureBindingLifetime`). */
  private readonly lifetimeAbort = new AbortController();

  private constructor(core: SansIoEndpoint, family: 'udp4' | 'udp6', publicKey: Uint8Array) {
    super(core, family);
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
        if (options.measureBindingLifetime !== false) endpoint.measureBindingLifetime(endpoint.traversal);
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

  /**
   * Matches every connection's keepalive interval to a measured NAT binding lifetime (RFC 5780 §4.6):
   * the mapping survived `aliveMs` of silence and did not survive `expiredMs` (null: unknown). The
   * connections open now are seeded at once, later ones as they connect; each then keeps adapting
   * (src/transport/keepalive.ts). The interval in use is `connection.stats().keepAliveIntervalMs`.
   */
  setBindingLifetime(lifetime: { readonly aliveMs: number; readonly expiredMs: number | null }): void {
    const { aliveMs, expiredMs } = lifetime ?? {};
    if (!(Number.isFinite(aliveMs) && aliveMs >= 0))
      throw invalidArgument(`aliveMs must be a non-negative number, got ${String(aliveMs)}`);
    if (expiredMs !== null && !(Number.isFinite(expiredMs) && expiredMs > 0))
      throw invalidArgument(`expiredMs must be a positive number or null, got ${String(expiredMs)}`);
    this.bindingLifetime = { aliveMs, expiredMs };
    for (const c of this.wrappers.values()) c.handle.seedKeepAlive?.(aliveMs, expiredMs);
    this.wake();
  }

  /**
   * The NAT binding lifetime the keepalives are matched to (setBindingLifetime, probeBindingLifetime
   * or the background measurement of bind option `measureBindingLifetime`), or null while unknown.
   */
  get natBindingLifetime(): { readonly aliveMs: number; readonly expiredMs: number | null } | null {
    return this.bindingLifetime;
  }

  /**
   * Measures the NAT's binding lifetime with the RFC 5780 §4.6 probe against a STUN server that
   * supports OTHER-ADDRESS (on two sockets of its own, behind the same NAT; it takes minutes) and
   * seeds every connection's keepalive with the result (setBindingLifetime).
   */
  async probeBindingLifetime(server: Address, options: LifetimeCallOptions = {}): Promise<LifetimeResult> {
    const result = await probeBindingLifetime(server, options);
    if (!this.socketClosed) this.setBindingLifetime(result);
    return result;
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

  /** Incoming connections, as they complete their handshake. Ends when the endpoint closes. */
  connections(): AsyncIterable<Connection> {
    return this.incoming;
  }

  [Symbol.asyncIterator](): AsyncIterator<Connection> {
    return this.incoming[Symbol.asyncIterator]();
  }

  /**
   * Behind a NAT (the server saw another address than ours), measures the NAT's binding lifetime in
   * the background against the rendezvous server's STUN service (RFC 5780 §4.6, RESPONSE-PORT; two
   * sockets of its own, silences of 2 s doubling up to 60 s: about half a minute behind a 5 s NAT)
   * and seeds every connection's keepalive with it. Nothing waits for it; a server without STUN
   * just makes it fail quietly (the keepalive still learns adaptively, src/transport/keepalive.ts).
   * 60 s is enough: beyond 25 s / 0.45 the keepalive interval is at its ceiling anyway.
   */
  private measureBindingLifetime(traversal: Traversal): void {
    const { udp, reflexive, candidates } = traversal.network;
    if (!udp || reflexive === null) return;
    if (candidates.some((c) => c.type === 'host' && c.host === reflexive.host)) return; // no NAT
    const server = traversal.serverUdp;
    this.probeBindingLifetime(server, {
      signal: this.lifetimeAbort.signal,
      background: true,
      initialMs: 2_000,
      maxMs: 60_000,
      resolutionMs: 1_000,
    }).catch(() => undefined);
  }

  /** Closes every connection gracefully, waits (bounded) for them to finish, then closes the socket. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.lifetimeAbort.abort();
    this.closing = (async () => {
      this.core.close(this.freshNow());
      this.service();
      const pending = [...this.wrappers.values()].map((c) => c.closed);
      // Over a traversal link a connection's CLOSE needs the link until the peer answered it (or the
      // closing period ended): wait for those too, within the same bound.
      const linksDone = new Promise<void>((resolve) => {
        this.linksReleased = resolve;
        this.releaseFinishedLinks();
      });
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...pending, linksDone]),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timeout);
      this.linksReleased = null;
      // The gateway mapping is deleted (bounded wait) while the socket still exists.
      await this.portMapper?.close().catch(() => undefined);
      await this.waitSendsDrained();
      // Last: the connections' closing packets still needed their routes (relay or direct).
      this.traversal?.close();
      this.shutdown();
    })();
    return this.closing;
  }

  protected dispatch(event: ConnectionEvent): void {
    const handle = event.connection;
    let connection = this.wrappers.get(handle.id);
    if (!connection) {
      if (event.type === 'closed') return;
      connection = new Connection(this, handle);
      this.wrappers.set(handle.id, connection);
    }
    switch (event.type) {
      case 'incoming':
        // Counted as the link's user from its first message, not only once connected: an earlier
        // connection over the same link may still be draining (it keeps the link until then) and
        // must not take the link away in the middle of this one's handshake.
        this.attachIncomingLink(connection, handle);
        break;
      case 'connected':
        if (!handle.isClient) this.attachIncomingLink(connection, handle);
        if (this.bindingLifetime) handle.seedKeepAlive?.(this.bindingLifetime.aliveMs, this.bindingLifetime.expiredMs);
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
        if (stream) this.queueReadable(stream);
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
        if (connection.holdsLink) this.closingOverLinks.add(connection);
        break;
    }
  }

  /** A server-side connection over a traversal link (its remote is the link's virtual address). */
  private attachIncomingLink(connection: Connection, handle: ConnectionHandle): void {
    if (this.traversal === null || !isVirtualHost(handle.remoteAddress.host)) return;
    const link = this.traversal.linkFor(handle.remoteAddress.host);
    if (link) connection.attachLink(link, this.traversal, link.startedAt);
  }

  protected override service(): void {
    super.service();
    if (this.closingOverLinks.size > 0 || this.linksReleased !== null) this.releaseFinishedLinks();
  }

  /** Releases the links of connections the core has finished with (see closingOverLinks). */
  private releaseFinishedLinks(): void {
    for (const connection of this.closingOverLinks) {
      if (connection.releaseFinishedLink()) this.closingOverLinks.delete(connection);
    }
    if (this.closingOverLinks.size === 0) this.linksReleased?.();
  }

  private shutdown(): void {
    // Also when bind fails after the background lifetime measurement started.
    this.lifetimeAbort.abort();
    if (this.socketClosed) return;
    this.stopDriving();
    for (const connection of this.wrappers.values()) {
      connection.onClosed({ errorCode: 0, application: false, reason: 'endpoint closed', remote: false });
    }
    this.wrappers.clear();
    // traversal.close() (before this) closed every link.
    this.closingOverLinks.clear();
    this.incoming.end();
    this.socket.close();
    this.emit('close');
  }
}
