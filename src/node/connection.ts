/**
 * One authenticated peer as the Node binding shows it: Duplex streams, datagrams, path, stats, close.
 * The endpoint (src/node/endpoint.ts) creates it and forwards the core's events for it.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Address, CloseReason, ConnectionHandle } from '../transport/api.js';
import { NodeEndpointError, ConnectionClosedError, checkErrorCode, invalidArgument } from './endpoint-errors.js';
import { AsyncQueue } from './endpoint-queue.js';
import { type PeerGoneError, peerGoneError } from '../transport/dead-peer.js';
import type { PeerConnectionStats, RemoteInfo } from './endpoint-options.js';
import type { ConnectionPath, PeerLink } from './peer-link.js';
import { PunchlineStream, type StreamHost } from './stream.js';

/** What a connection needs from its endpoint. */
interface ConnectionOwner {
  /** Marks the core dirty (one service() per event-loop turn). */
  wake(): void;
  /** The bound local address. */
  address(): RemoteInfo;
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
  /**
   * The connection ended. `error` is a PeerGoneError (ERR_PUNCHLINE_PEER_UNREACHABLE on an idle
   * timeout, ERR_PUNCHLINE_PEER_RESET on a stateless reset) when the peer vanished without a CLOSE,
   * else null.
   */
  on(event: 'close', listener: (reason: CloseReason, error: PeerGoneError | null) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** One authenticated peer: streams, datagrams, stats. */
export class Connection extends EventEmitter implements StreamHost {
  readonly handle: ConnectionHandle;
  private readonly endpoint: ConnectionOwner;
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
  /** Why the connection failed when the peer vanished (idle timeout, stateless reset); else null. */
  private peerGone: PeerGoneError | null = null;
  /** Connections by public key: the traversal link under the transport, and when the attempt began. */
  private link: PeerLink | null = null;
  private linkStartedAt = 0;
  private establishedAt: number | null = null;
  private onRoute: ((path: ConnectionPath | null) => void) | null = null;
  private releaseLink: (() => void) | null = null;

  constructor(endpoint: ConnectionOwner, handle: ConnectionHandle) {
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

  /**
   * A PeerGoneError once the connection ended because the peer vanished without a CLOSE (idle
   * timeout: ERR_PUNCHLINE_PEER_UNREACHABLE; stateless reset: ERR_PUNCHLINE_PEER_RESET); else null.
   */
  get error(): PeerGoneError | null {
    return this.peerGone;
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
    let current = link.path;
    this.onRoute = (path) => {
      if (path === null) return;
      // Another network path under the same virtual address: the transport's RTT and congestion state
      // describe the old one (RFC 9000 §9.4). A port-only change (a NAT rebinding) is the same path.
      if (current !== null && (current.kind !== path.kind || current.remote.host !== path.remote.host)) {
        this.handle.networkPathChanged?.(performance.now());
        this.wake();
      }
      current = path;
      if (!this.closeReason) this.emit('path', { ...path, rttMs: this.handle.stats().smoothedRttMs });
    };
    const onRoute = this.onRoute;
    link.on('route', onRoute);
    // The link may outlive this connection (other connections to the same peer share it).
    this.releaseLink = () => {
      link.off('route', onRoute);
      owner.dropLink(link);
    };
  }

  /** Whether the connection still holds its link (see onClosed). */
  get holdsLink(): boolean {
    return this.releaseLink !== null;
  }

  /** Releases the link once the core has finished with the connection (state 'closed'); true when it did. */
  releaseFinishedLink(): boolean {
    if (this.handle.state !== 'closed') return false;
    this.releaseLink?.();
    this.releaseLink = null;
    return true;
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
    // Only an established connection can lose its peer; a handshake that times out is not that.
    this.peerGone = this.isEstablished ? peerGoneError(reason) : null;
    // A connection that closes still owes the peer its CLOSE (closing, draining: RFC 9000 §10.2), and
    // over a link that CLOSE goes to the peer's virtual address: the link stays until the core has
    // finished with the connection (the endpoint then calls releaseFinishedLink). Released here, the
    // CLOSE had no route, and the peer learned of the close only from its own timeouts (a `send`
    // waited ~8 s after every transfer).
    this.releaseFinishedLink();
    for (const stream of [...this.streamMap.values()]) stream.onConnectionClosed(reason, this.peerGone);
    this.streamMap.clear();
    this.incomingStreams.end();
    if (!this.isEstablished) this.rejectEstablished(new ConnectionClosedError(reason));
    this.resolveClosed(reason);
    this.emit('close', reason, this.peerGone);
  }

  private assertOpen(): void {
    if (this.closeReason) throw this.peerGone ?? new ConnectionClosedError(this.closeReason);
  }
}
