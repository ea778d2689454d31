/**
 * One connection by public key, below the transport (spec/traversal.md §Node integration): the
 * traversal agent's driver (timers, probes on the endpoint's socket and on birthday sockets), the
 * relay leg, and the choice of route for the connection's virtual address (peer-routes.ts):
 * relay first, direct as soon as the agent validates a pair, back to a relay if the direct pair
 * loses consent, and punching again.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Address } from '../transport/api.js';
import type { PunchSession, PunchSessionStats } from '../traversal/agent/agent.js';
import type { Role } from '../traversal/agent/pairs.js';
import { type BirthdaySocket, openBirthdaySockets } from './birthday-sockets.js';
import { type PathKind, type PeerRoutes, type Route, relayUdpRoute } from './peer-routes.js';
import type { RelayAllocation, StreamRelay } from './rendezvous-client.js';

/** What `connection.path` reports. */
export interface ConnectionPath {
  readonly kind: PathKind;
  readonly local: Address;
  readonly remote: Address;
  readonly rttMs: number;
}

/** What a link needs from its endpoint and the rendezvous session. */
export interface LinkHost {
  readonly routes: PeerRoutes;
  readonly serverUdp: Address;
  /** The endpoint's bound address (local side of direct and UDP relay paths). */
  localAddress(): Address;
  /** Raw datagram on the endpoint's socket. */
  send(datagram: Uint8Array, to: Address): void;
  /** A transport datagram that arrived for `virtual` on another carrier. */
  deliver(datagram: Uint8Array, virtual: Address): void;
  /** The route of a virtual address changed: wake the endpoint (queued packets go the new way). */
  wake(): void;
  releaseRelay(channel: Uint8Array): void;
  /** Asks the server for a coordinated punch (initiator only). */
  requestPunch(link: PeerLink): void;
  /** Asks for a new relay allocation (initiator only) after the relay was released or lost. */
  requestRelay(link: PeerLink): void;
  /** Birthday sockets: how many of `count` this endpoint may open now (a budget over all links). */
  reserveSockets(count: number): number;
  releaseSockets(count: number): void;
}

/** How long the relay stays allocated after the connection moved to a direct pair. */
const RELAY_GRACE_MS = 3000;
/** Pause before another punching attempt (after a failed attempt or a lost direct pair). */
const RETRY_DELAYS_MS = [2000, 8000, 30_000];

export declare interface PeerLink {
  on(event: 'route', listener: (path: ConnectionPath | null) => void): this;
  on(event: 'direct', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class PeerLink extends EventEmitter {
  readonly virtual: Address;
  readonly startedAt = performance.now();
  directAt: number | null = null;
  private session: PunchSession | null = null;
  private relay: { channel: Uint8Array; route: Route; stream: StreamRelay | null } | null = null;
  private direct: { socket: number; remote: Address; route: Route } | null = null;
  private sockets: BirthdaySocket[] = [];
  private readonly provenSockets = new Set<number>();
  private socketsWanted = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private releaseTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retries = 0;
  private closed = false;
  /** The peer signalled that its relay leg is bound (forwarding works both ways). */
  peerRelayReady = false;
  /** The peer signalled that it sends on a direct pair. */
  private peerDirect = false;

  constructor(
    private readonly host: LinkHost,
    readonly peer: Uint8Array,
    readonly role: Role,
    readonly sessionId: Uint8Array,
  ) {
    super();
    this.virtual = host.routes.allocate();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The route in use: a validated direct pair, else the relay (once both legs are bound). */
  get path(): ConnectionPath | null {
    const local = this.host.localAddress();
    if (this.direct) {
      const birthday = this.direct.socket > 0 ? this.sockets.find((s) => s.index === this.direct!.socket) : undefined;
      return {
        kind: 'direct',
        local: birthday ? { host: local.host, port: birthday.port } : local,
        remote: this.direct.remote,
        rttMs: this.session?.path?.rttMs ?? 0,
      };
    }
    if (this.relay && this.peerRelayReady) {
      return {
        kind: this.relay.stream ? 'relay-stream' : 'relay-udp',
        local,
        remote: this.host.serverUdp,
        rttMs: 0,
      };
    }
    return null;
  }

  agentStats(): PunchSessionStats | null {
    return this.session?.stats() ?? null;
  }

  setSession(session: PunchSession): void {
    this.session = session;
    this.service();
  }

  /** The coordinated simultaneous open fires `delayMs` from now. */
  punchAt(delayMs: number): void {
    if (!this.session || this.closed) return;
    this.session.start(performance.now() + delayMs);
    this.service();
  }

  /** Our UDP relay leg is bound. */
  setRelayUdp(allocation: RelayAllocation): void {
    if (this.closed) return this.host.releaseRelay(allocation.channel);
    this.replaceRelay({
      channel: allocation.channel,
      route: relayUdpRoute(this.host.serverUdp, allocation.channel),
      stream: null,
    });
  }

  /** Our relay leg is a WebTransport stream (UDP blocked). */
  setRelayStream(stream: StreamRelay): void {
    if (this.closed) {
      stream.close();
      return this.host.releaseRelay(stream.channel);
    }
    stream.on('datagram', (inner: Uint8Array) => this.host.deliver(inner, this.virtual));
    stream.on('close', () => {
      if (this.relay?.stream === stream) this.dropRelay();
    });
    this.replaceRelay({
      channel: stream.channel,
      route: { kind: 'relay-stream', to: null, send: (d) => void stream.send(d) },
      stream,
    });
  }

  get hasRelay(): boolean {
    return this.relay !== null;
  }

  /** A session exists and no attempt runs or is scheduled: a punch-go is for us. */
  get awaitingPunch(): boolean {
    return this.session !== null && !this.session.punching && !this.closed;
  }

  markPeerDirect(): void {
    this.peerDirect = true;
    if (this.direct) this.scheduleRelayRelease();
  }

  markPeerRelayReady(): void {
    this.peerRelayReady = true;
    this.update();
  }

  /** True when `channel` is our relay leg. */
  ownsChannel(channel: Uint8Array): boolean {
    if (!this.relay) return false;
    const c = this.relay.channel;
    for (let i = 0; i < c.length; i++) if (c[i] !== channel[i]) return false;
    return true;
  }

  /** True when the 8 channel bytes at `offset` of `datagram` are our relay leg (compared in place). */
  ownsChannelAt(datagram: Uint8Array, offset: number): boolean {
    if (!this.relay) return false;
    const c = this.relay.channel;
    for (let i = 0; i < c.length; i++) if (c[i] !== datagram[offset + i]) return false;
    return true;
  }

  /** The server released our relay leg (idle, peer gone, released). */
  relayClosed(channel: Uint8Array): void {
    if (this.ownsChannel(channel)) this.dropRelay();
  }

  /** A punch probe on socket 0 or a birthday socket; false when it is not this session's. */
  receiveProbe(datagram: Uint8Array, from: Address, socket: number): boolean {
    if (!this.session || this.closed) return false;
    const consumed = this.session.receive(datagram, from, performance.now(), socket);
    if (consumed) this.service();
    return consumed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session?.close();
    if (this.timer) clearTimeout(this.timer);
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const s of this.sockets) this.closeSocket(s);
    this.sockets = [];
    const relay = this.relay;
    this.relay = null;
    if (relay) {
      relay.stream?.close();
      this.host.releaseRelay(relay.channel);
    }
    this.host.routes.remove(this.virtual);
    this.removeAllListeners();
  }

  // ---- internals -------------------------------------------------------------------------------

  private replaceRelay(relay: { channel: Uint8Array; route: Route; stream: StreamRelay | null }): void {
    const previous = this.relay;
    this.relay = relay;
    if (previous) {
      // Closing a stream leg reports 'close' synchronously: it must no longer be ours by then.
      previous.stream?.close();
      this.host.releaseRelay(previous.channel);
    }
    this.update();
  }

  private dropRelay(): void {
    this.relay = null;
    this.peerRelayReady = false;
    this.update();
  }

  /** Re-points the virtual address at the best route and reports a change. */
  private lastKind: string | null = null;
  private update(): void {
    if (this.closed) return;
    const route = this.direct?.route ?? (this.relay && this.peerRelayReady ? this.relay.route : null);
    this.host.routes.set(this.virtual, route);
    const path = this.path;
    const kind = path ? `${path.kind}|${path.remote.host}|${path.remote.port}|${path.local.port}` : null;
    if (kind !== this.lastKind) {
      this.lastKind = kind;
      this.host.wake();
      this.emit('route', path);
    }
  }

  private service(): void {
    const session = this.session;
    if (!session || this.closed) return;
    const now = performance.now();
    if (session.nextDeadline() <= now) session.onTimeout(now);
    for (let e = session.pollEvent(); e; e = session.pollEvent()) this.onAgentEvent(e);
    for (let t = session.pollTransmit(now); t; t = session.pollTransmit(now)) {
      if (t.socket === 0) this.host.send(t.data, t.destination);
      else this.sockets.find((s) => s.index === t.socket)?.send(t.data, t.destination, t.ttl);
    }
    for (let e = session.pollEvent(); e; e = session.pollEvent()) this.onAgentEvent(e);
    this.arm(session.nextDeadline());
  }

  private arm(deadline: number): void {
    if (this.closed || deadline === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = deadline;
    if (deadline === Infinity) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Infinity;
        this.service();
      },
      Math.max(0, Math.ceil(deadline - performance.now())),
    );
    this.timer.unref();
  }

  private onAgentEvent(e: NonNullable<ReturnType<PunchSession['pollEvent']>>): void {
    switch (e.type) {
      case 'peer-address':
        if (e.socket === 0) this.host.routes.addSource(e.remote, this.virtual);
        else this.provenSockets.add(e.socket);
        return;
      case 'open-sockets':
        // A new search numbers its sockets from 1 again: the previous search's kept sockets go (a new
        // search only starts after the direct pair was lost).
        for (const socket of this.sockets) this.closeSocket(socket);
        this.sockets = [];
        this.provenSockets.clear();
        this.socketsWanted = e.count;
        void this.openSockets(e.count);
        return;
      case 'close-sockets':
        this.socketsWanted = 0;
        this.sockets = this.sockets.filter((s) => {
          if (e.keep.includes(s.index)) return true;
          this.closeSocket(s);
          return false;
        });
        return;
      case 'selected': {
        const socket = e.socket > 0 ? this.sockets.find((s) => s.index === e.socket) : undefined;
        const route: Route = socket
          ? { kind: 'direct', to: null, send: (d) => socket.send(d, e.remote) }
          : { kind: 'direct', to: e.remote, header: null };
        if (e.socket === 0) this.host.routes.addSource(e.remote, this.virtual);
        this.direct = { socket: e.socket, remote: e.remote, route };
        this.directAt ??= performance.now();
        this.retries = 0;
        this.update();
        this.emit('direct');
        if (this.peerDirect) this.scheduleRelayRelease();
        return;
      }
      case 'lost':
        if (this.direct && this.direct.socket === e.socket) {
          this.direct = null;
          this.peerDirect = false;
          this.update();
          if (!this.relay && this.role === 'controlling') this.host.requestRelay(this);
          this.scheduleRetry();
        }
        return;
      case 'attempt-failed':
        if (e.retry) this.scheduleRetry();
        return;
    }
  }

  private async openSockets(wanted: number): Promise<void> {
    const local = this.host.localAddress();
    // However many searches run at once (a peer may start many), the endpoint's budget bounds them.
    const count = this.host.reserveSockets(wanted);
    const sockets = await openBirthdaySockets(count, local.host, (index, data, from) =>
      this.onBirthdayDatagram(index, data, from),
    );
    this.host.releaseSockets(count - sockets.length);
    if (this.closed || this.socketsWanted === 0) {
      for (const s of sockets) this.closeSocket(s);
      return;
    }
    this.sockets = sockets;
    this.session?.socketsOpened(sockets.length);
    this.service();
  }

  private closeSocket(socket: BirthdaySocket): void {
    if (socket.close()) this.host.releaseSockets(1);
  }

  private onBirthdayDatagram(index: number, data: Buffer, from: Address): void {
    const first = data[0] ?? 0;
    if (first === 0x10 || first === 0x11) {
      this.receiveProbe(data, from, index);
      return;
    }
    // Transport packets on a socket the peer proved itself on belong to this connection (the peer may
    // send to another winner than the one we send from).
    if (first >= 0x40 && this.provenSockets.has(index)) this.host.deliver(data, this.virtual);
  }

  private scheduleRelayRelease(): void {
    if (this.releaseTimer || !this.relay) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      // Both sides send directly (each said so): nothing more can arrive on the relay but stragglers.
      if (this.direct && this.peerDirect && this.relay && !this.closed) {
        const { channel, stream } = this.relay;
        this.relay = null;
        this.peerRelayReady = false;
        stream?.close();
        this.host.releaseRelay(channel);
        this.update();
      }
    }, RELAY_GRACE_MS);
    this.releaseTimer.unref();
  }

  private scheduleRetry(): void {
    if (this.role !== 'controlling' || this.retryTimer || this.closed) return;
    if (!this.session || this.session.attemptsLeft === 0) return;
    const delay = RETRY_DELAYS_MS[Math.min(this.retries, RETRY_DELAYS_MS.length - 1)]!;
    this.retries++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed && !this.direct) this.host.requestPunch(this);
    }, delay);
    this.retryTimer.unref();
  }
}
