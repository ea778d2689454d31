import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { systemRandom } from '../crypto/sodium.js';
import type { Address } from '../transport/api.js';
import { PunchSession } from '../traversal/agent/agent.js';
import { buildCandidates, type PortMapping, remoteCandidates } from '../traversal/agent/candidates.js';
import { TraversalError, TraversalErrorCode } from '../traversal/agent/errors.js';
import type { TraversalLimits } from '../traversal/agent/limits.js';
import { type MappingKind, classifyMapping } from '../traversal/agent/nat-behaviour.js';
import { MAX_BIRTHDAY_SOCKETS, type TraversalOffer, decodeOffer, encodeOffer } from '../traversal/agent/offer.js';
import { deriveProbeKeys, probeSessionId } from '../traversal/agent/probe-auth.js';
import type { SideProfile } from '../traversal/agent/strategy.js';
import {
  RELAY_DATAGRAM_TYPE,
  RELAY_HEADER_LENGTH,
  isControlChannel,
  parseRelayDatagram,
} from '../traversal/relay/udp-control.js';
import type { Candidate } from '../traversal/rendezvous/messages.js';
import type { ServerAddress } from '../traversal/rendezvous/server-address.js';
import { classifyDatagram } from '../wire/demux.js';
import { type LinkHost, PeerLink } from './peer-link.js';
import { interfaceAddresses, traversalErrorFrom, untilDeadline } from './dial-support.js';
import { PeerRoutes } from './peer-routes.js';
import { type ConnectRequest, RendezvousClient } from './rendezvous-client.js';
import { StunClient } from './stun-client.js';

/** What the traversal needs from the endpoint. */
export interface TraversalEndpoint {
  address(): { host: string; port: number; family: 'IPv4' | 'IPv6' };
  send(datagram: Uint8Array, to: Address): Promise<void>;
  deliver(datagram: Uint8Array, virtual: Address): void;
  wake(): void;
}

export interface TraversalOptions {
  readonly server: ServerAddress;
  readonly keyPair: { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array };
  /** Decides whether to answer a peer's connect request; default: accept every peer. */
  readonly acceptPeer?: (publicKey: Uint8Array) => boolean;
  /** Extra sockets this endpoint consents to open for a birthday search (0 disables; max 256). */
  readonly birthdaySockets?: number;
  readonly limits?: Partial<TraversalLimits>;
  /** Registration timeout. */
  readonly connectTimeoutMs?: number;
}

const SIGNAL_RELAY_READY = 'punchline/relay-ready';
/** The sender's route is a direct pair now: the relay may be released once both sides say so. */
const SIGNAL_DIRECT = 'punchline/direct';
/** Birthday sockets of all searches together (each search wants up to 256): bounds file descriptors. */
const MAX_BIRTHDAY_SOCKETS_TOTAL = 1024;
/** Registering again after the session ended: first delay, doubling up to the maximum. */
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
/** The initiator allocates the relay itself when the responder's allocation did not arrive by then. */
const RELAY_FALLBACK_MS = 1500;
/** A responder's link that no connection used within this long is dropped. */
const UNUSED_LINK_MS = 30_000;
/** STUN to the alternate address (RFC 8489 §6.2.1 schedule: 0, 200, 600 ms, given up at 1.4 s). */
const STUN_RETRANSMISSION = { rto: 200, rc: 3, rm: 4 };
/**
 * No BOUND for the UDP presence within this long: UDP to the server is blocked. Binding takes two
 * round trips (BIND, CHALLENGE, BIND, BOUND); registering over WebTransport took at least four (TCP,
 * TLS, CONNECT, challenge/register), so the time registration took is a safe bound that adapts to
 * the network, kept within these limits.
 */
const PRESENCE_TIMEOUT_MIN_MS = 800;
const PRESENCE_TIMEOUT_MAX_MS = 3000;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export class Traversal implements LinkHost {
  readonly routes = new PeerRoutes();
  readonly serverUdp: Address;
  /** Live links, oldest first (a peer may have several: one per connection). */
  private readonly links = new Set<PeerLink>();
  private mapping: MappingKind = 'unknown';
  private udp = false;
  private reflexive: Address | null = null;
  private mapped: PortMapping[] = [];
  private readonly stun: StunClient;
  private client!: RendezvousClient;
  private registered = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private registrationMs = PRESENCE_TIMEOUT_MAX_MS;
  private closed = false;

  private constructor(
    private readonly endpoint: TraversalEndpoint,
    private readonly options: TraversalOptions,
  ) {
    this.serverUdp = options.server.udp;
    this.stun = new StunClient(
      { send: (data, to) => endpoint.send(data, to) },
      { retransmission: STUN_RETRANSMISSION },
    );
  }

  /** Not yet registered: the endpoint routes datagrams here from now on; then call start(). */
  static create(endpoint: TraversalEndpoint, options: TraversalOptions): Traversal {
    return new Traversal(endpoint, options);
  }

  /** Registers with the rendezvous server and gathers candidates; typed errors on failure. */
  async start(): Promise<void> {
    try {
      await this.register();
    } catch (error) {
      this.closed = true;
      throw traversalErrorFrom(error, 'cannot register with the rendezvous server');
    }
  }

  private async register(): Promise<void> {
    const { options, endpoint } = this;
    const started = performance.now();
    const client = await RendezvousClient.connect({
      server: options.server,
      keyPair: { publicKey: options.keyPair.publicKey, secretKey: options.keyPair.secretKey },
      udp: { send: (d) => void endpoint.send(d, options.server.udp) },
      ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    });
    if (this.closed) {
      client.close();
      return;
    }
    this.client = client;
    this.registered = true;
    this.registrationMs = performance.now() - started;
    this.listen();
    await this.gather();
  }

  /**
   * The rendezvous session ended without close() (server restart, network change): connections on
   * direct paths go on; we register again with exponential backoff (1 s doubling to 30 s), so the
   * endpoint is reachable by its key again as soon as the server is.
   */
  private reconnect(delayMs: number): void {
    if (this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.register().catch(() => this.reconnect(Math.min(RECONNECT_MAX_MS, delayMs * 2)));
    }, delayMs);
    this.reconnectTimer.unref();
  }

  /** What this endpoint learnt about its network (for diagnostics and the CLI). */
  get network(): { udp: boolean; mapping: MappingKind; reflexive: Address | null; candidates: Candidate[] } {
    return { udp: this.udp, mapping: this.mapping, reflexive: this.reflexive, candidates: this.candidates() };
  }

  /** The port-mapping slot: a portmap client reports a mapping of this socket (or null to remove it). */
  setPortMapping(mapping: PortMapping | null): void {
    this.mapped = mapping ? [mapping] : [];
  }

  localAddress(): Address {
    const a = this.endpoint.address();
    return { host: a.host, port: a.port };
  }

  send(datagram: Uint8Array, to: Address): void {
    void this.endpoint.send(datagram, to);
  }

  deliver(datagram: Uint8Array, virtual: Address): void {
    const kind = classifyDatagram(datagram);
    if (kind === 'short' || kind === 'long') this.endpoint.deliver(datagram, virtual);
  }

  wake(): void {
    this.endpoint.wake();
  }

  releaseRelay(channel: Uint8Array): void {
    if (!this.closed && this.registered) this.client.releaseRelay(channel);
  }

  linkFor(virtualHost: string): PeerLink | undefined {
    for (const link of this.links.values()) if (link.virtual.host === virtualHost) return link;
    return undefined;
  }

  /**
   * A non-transport datagram on the endpoint's socket; true when traversal consumed it.
   * Relay control goes to the rendezvous client, relay data to the link owning the channel, STUN to
   * the STUN client, punch probes to the session they name.
   */
  onDatagram(kind: string, datagram: Buffer, from: Address): boolean {
    if (this.closed) return false;
    if (kind === 'stun') return this.stun.receive(datagram, from);
    // Probes and relayed data of live links go on whether or not the session is up right now.
    if (kind === 'punch-probe') {
      const sid = probeSessionId(datagram);
      if (!sid) return false;
      const key = hex(sid);
      for (const link of this.links.values())
        if (hex(link.sessionId) === key) return link.receiveProbe(datagram, from, 0);
      return false;
    }
    if (kind === 'relay') {
      if (from.port !== this.serverUdp.port || from.host !== this.serverUdp.host) return false;
      const relay = parseRelayDatagram(datagram);
      if (!relay) return true;
      if (isControlChannel(relay.channel)) {
        if (this.registered) this.client.receiveUdp(datagram);
        return true;
      }
      for (const link of this.links.values()) {
        if (link.ownsChannel(relay.channel)) {
          this.deliver(relay.inner, link.virtual);
          return true;
        }
      }
      return true;
    }
    return false;
  }

  /**
   * Relay data (packet path): the virtual address of the link whose relay leg `datagram` (0x12 ‖
   * channel ‖ inner, spec/wire.md §Relay) names, if it came from our server and carries a transport
   * datagram; null for anything else (control, unknown channel, malformed), which onDatagram handles.
   * Compares in place: no copy, no parse objects (the caller slices the inner datagram).
   */
  relayedPeer(datagram: Uint8Array, from: Address): Address | null {
    if (this.closed || from.port !== this.serverUdp.port || from.host !== this.serverUdp.host) return null;
    if (datagram.length <= RELAY_HEADER_LENGTH || datagram[0] !== RELAY_DATAGRAM_TYPE) return null;
    if (datagram[RELAY_HEADER_LENGTH] === RELAY_DATAGRAM_TYPE) return null;
    for (const link of this.links) if (link.ownsChannelAt(datagram, 1)) return link.virtual;
    return null;
  }

  /**
   * Initiator: offer/answer through the rendezvous, then relay allocation and a coordinated punch in
   * parallel. Resolves with the link as soon as any route works (usually the relay).
   */
  async dial(peer: Uint8Array, options: { timeoutMs: number; signal?: AbortSignal }): Promise<PeerLink> {
    if (this.closed) throw new TraversalError(TraversalErrorCode.ServerUnreachable, 'the rendezvous session is closed');
    if (!this.registered)
      throw new TraversalError(
        TraversalErrorCode.ServerUnreachable,
        'the rendezvous server is unreachable (registering again in the background)',
      );
    const deadline = performance.now() + options.timeoutMs;
    const key = hex(peer);
    for (;;) {
      // A further connection to a peer we already have a path to shares that link: one virtual
      // address, one route. Both transports tell the connections apart by connection ID (RFC 9000
      // §5.2); a second link would map the same peer address to two virtual addresses, and every
      // datagram from it would look to one of the connections like a migration to the other's address.
      const shared = this.ofPeer(peer).find((l) => l.path !== null);
      if (shared) return shared;
      // The same holds for a link still being set up by another dial: join it rather than race it.
      const pending = this.dialling.get(key);
      if (pending === undefined) break;
      try {
        return await untilDeadline(pending, deadline, options.signal);
      } catch (error) {
        // The first dial gave up on its own deadline or signal (NoPath) while ours still runs: dial
        // anew. A refusal, an offline peer or a server failure is the answer for this dial too.
        const gaveUp = error instanceof TraversalError && error.code === TraversalErrorCode.NoPath;
        if (!gaveUp || options.signal?.aborted || performance.now() >= deadline) throw error;
        if (this.dialling.get(key) === pending) this.dialling.delete(key);
      }
    }
    const attempt = this.dialNew(peer, deadline, options.signal);
    this.dialling.set(key, attempt);
    try {
      return await attempt;
    } finally {
      if (this.dialling.get(key) === attempt) this.dialling.delete(key);
    }
  }

  /** Dials still setting up a link, by peer key (hex): a further dial to the peer joins its link. */
  private readonly dialling = new Map<string, Promise<PeerLink>>();

  private async dialNew(peer: Uint8Array, deadline: number, signal: AbortSignal | undefined): Promise<PeerLink> {
    const sessionId = new Uint8Array(8);
    systemRandom(sessionId);
    const link = new PeerLink(this, peer, 'controlling', sessionId);
    this.addLink(link);
    try {
      const lookup = this.client.lookup(peer).catch(() => null);
      const answer = await this.client.connect(peer, this.candidates(), encodeOffer(this.offer(sessionId)));
      if (!answer.accept)
        throw new TraversalError(
          TraversalErrorCode.PeerRefused,
          `the peer refused the connection${answer.reason ? `: ${answer.reason}` : ''}`,
        );
      const remote = decodeOffer(answer.payload);
      if (hex(remote.sessionId) !== hex(sessionId))
        throw new TraversalError(TraversalErrorCode.BadOffer, 'the answer names another punch session');
      const session = this.session(link, answer.candidates, remote, null);
      link.setSession(session);
      void lookup.then((found) => {
        if (found?.udp) session.setRemoteServerSeenHost(found.udp.host);
      });
      this.requestPunch(link);
      // The responder allocates the relay as it answers (one round trip sooner); if its allocation
      // does not reach us, we ask for one ourselves.
      const fallback = setTimeout(() => {
        if (!link.isClosed && !link.hasRelay && !link.path) this.requestRelay(link);
      }, RELAY_FALLBACK_MS);
      fallback.unref();
      await this.waitForRoute(link, deadline, signal);
      return link;
    } catch (error) {
      link.close();
      this.links.delete(link);
      throw traversalErrorFrom(error, 'cannot connect');
    }
  }

  requestPunch(link: PeerLink): void {
    this.client.punch(link.peer).then(
      (go) => link.punchAt(go.delayMs),
      () => undefined, // the relay still works; a later retry may punch
    );
  }

  requestRelay(link: PeerLink): void {
    this.client.allocateRelay(link.peer).then(
      (allocation) => this.bindRelay(link, allocation),
      () => undefined, // no relay (quota, disabled): direct paths only
    );
  }

  close(): void {
    if (this.closed) return;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stun.close();
    if (this.registered) this.client.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  private listen(): void {
    const client = this.client;
    client.on('connect-request', (request: ConnectRequest) => this.onConnectRequest(request));
    // punch-go and relay-allocated name only the peer: the newest link of that peer that waits for one.
    client.on('punch-go', (go: { peer: Uint8Array; delayMs: number }) =>
      this.ofPeer(go.peer)
        .reverse()
        .find((l) => l.awaitingPunch)
        ?.punchAt(go.delayMs),
    );
    client.on('relay-allocated', (allocation) => {
      const link = this.ofPeer(allocation.peer).find((l) => !l.hasRelay);
      if (link) void this.bindRelay(link, allocation);
      else client.releaseRelay(allocation.channel);
    });
    client.on('relay-closed', (closed: { channel: Uint8Array }) => {
      for (const link of this.links.values()) link.relayClosed(closed.channel);
    });
    client.on('signal', (signal: { from: Uint8Array; kind: string; data: Uint8Array }) => {
      const session = hex(signal.data);
      const link = this.ofPeer(signal.from).find((l) => hex(l.sessionId) === session);
      if (!link) return;
      if (signal.kind === SIGNAL_RELAY_READY) link.markPeerRelayReady();
      else if (signal.kind === SIGNAL_DIRECT) link.markPeerDirect();
    });
    client.on('close', () => {
      if (this.client !== client) return;
      this.registered = false;
      this.reconnect(RECONNECT_MIN_MS);
    });
  }

  /**
   * The UDP presence (server-reflexive address; no answer in time = UDP blocked) and,
   * in parallel, one STUN Binding to the alternate address (mapping behaviour). Without UDP the
   * mapping does not matter, so bind() does not wait for the STUN timeout then.
   */
  private async gather(): Promise<void> {
    const alternate = this.options.server.alternate;
    const other = alternate ? this.stun.binding(alternate).catch(() => null) : Promise.resolve(null);
    const timeoutMs = Math.min(PRESENCE_TIMEOUT_MAX_MS, Math.max(PRESENCE_TIMEOUT_MIN_MS, this.registrationMs));
    const presence = await this.client.startUdpPresence(timeoutMs).catch(() => null);
    this.udp = presence !== null;
    this.reflexive = presence ? { host: presence.host, port: presence.port } : null;
    if (!this.udp) {
      this.mapping = 'unknown';
      return;
    }
    const answer = await other;
    const hosts = interfaceAddresses(this.endpoint.address());
    const otherMapped = answer ? { host: answer.mapped.host, port: answer.mapped.port } : null;
    this.mapping = classifyMapping(this.reflexive, otherMapped, hosts);
  }

  private candidates(): Candidate[] {
    // Host candidates even when UDP to the server is blocked: another host of the same LAN may
    // still be reachable (a site that blocks UDP at its router does not block it between its hosts).
    return buildCandidates({
      host: interfaceAddresses(this.endpoint.address()),
      serverReflexive: this.reflexive ? [this.reflexive] : [],
      mapped: this.mapped,
    });
  }

  private offer(sessionId: Uint8Array): TraversalOffer {
    return {
      sessionId,
      mapping: this.mapping,
      udp: this.udp,
      birthdaySockets: Math.min(MAX_BIRTHDAY_SOCKETS, this.options.birthdaySockets ?? MAX_BIRTHDAY_SOCKETS),
    };
  }

  private profile(offer: TraversalOffer, candidates: readonly Candidate[]): SideProfile {
    return {
      mapping: offer.mapping,
      udp: offer.udp,
      birthdaySockets: offer.birthdaySockets,
      mapped: candidates.some((c) => c.type === 'mapped'),
    };
  }

  private session(
    link: PeerLink,
    peerCandidates: readonly Candidate[],
    remote: TraversalOffer,
    serverSeenHost: string | null,
  ): PunchSession {
    const local = this.candidates();
    const mine = this.offer(link.sessionId);
    return new PunchSession({
      role: link.role,
      family: isIP(this.localAddress().host) === 6 ? 6 : 4,
      sessionId: link.sessionId,
      keys: deriveProbeKeys(this.options.keyPair.secretKey, this.options.keyPair.publicKey, link.peer, link.sessionId),
      random: systemRandom,
      local: { candidates: local, profile: this.profile(mine, local) },
      remote: {
        candidates: remoteCandidates(peerCandidates),
        profile: this.profile(remote, peerCandidates),
        serverSeenHost,
      },
      ...(this.options.limits ? { limits: this.options.limits } : {}),
    });
  }

  private addLink(link: PeerLink): void {
    this.links.add(link);
    link.on('direct', () => {
      if (!this.closed && this.registered) this.client.signal(link.peer, SIGNAL_DIRECT, link.sessionId);
    });
  }

  private ofPeer(peer: Uint8Array): PeerLink[] {
    const key = hex(peer);
    return [...this.links].filter((l) => !l.isClosed && hex(l.peer) === key);
  }

  private onConnectRequest(request: ConnectRequest): void {
    let remote: TraversalOffer;
    try {
      remote = decodeOffer(request.payload);
    } catch (error) {
      this.client.answer(request.rid, false, [], { reason: (error as Error).message.slice(0, 200) });
      return;
    }
    if (this.options.acceptPeer && !this.options.acceptPeer(request.from)) {
      this.client.answer(request.rid, false, [], { reason: 'refused' });
      return;
    }
    const link = new PeerLink(this, request.from, 'controlled', remote.sessionId);
    this.addLink(link);
    const session = this.session(link, request.candidates, remote, null);
    link.setSession(session);
    this.client.answer(request.rid, true, this.candidates(), { payload: encodeOffer(this.offer(remote.sessionId)) });
    // Answering is consent (spec/relay.md): allocate the relay now, in parallel with the answer's way
    // back, so the relay is ready one round trip sooner than if the initiator asked after the answer.
    this.requestRelay(link);
    void this.client.lookup(request.from).then(
      (found) => {
        if (found.udp) session.setRemoteServerSeenHost(found.udp.host);
      },
      () => undefined,
    );
    const expiry = setTimeout(() => {
      if (!this.inUse(link)) this.dropLink(link);
    }, UNUSED_LINK_MS);
    expiry.unref();
  }

  /** Connections running over each link (the endpoint counts them in and out). */
  private readonly users = new Map<PeerLink, number>();
  private socketsInUse = 0;

  reserveSockets(count: number): number {
    const granted = Math.max(0, Math.min(count, MAX_BIRTHDAY_SOCKETS_TOTAL - this.socketsInUse));
    this.socketsInUse += granted;
    return granted;
  }

  releaseSockets(count: number): void {
    this.socketsInUse = Math.max(0, this.socketsInUse - count);
  }

  /** Birthday sockets open now (all links). */
  get birthdaySocketsOpen(): number {
    return this.socketsInUse;
  }

  /** A connection runs over `link` (several may: connections to one peer share its link). */
  markUsed(link: PeerLink): void {
    this.users.set(link, (this.users.get(link) ?? 0) + 1);
  }

  private inUse(link: PeerLink): boolean {
    return this.users.has(link);
  }

  /** A connection over `link` ended; the link goes with the last of them. */
  dropLink(link: PeerLink): void {
    const left = (this.users.get(link) ?? 1) - 1;
    if (left > 0) {
      this.users.set(link, left);
      return;
    }
    this.users.delete(link);
    link.close();
    this.links.delete(link);
  }

  private async bindRelay(
    link: PeerLink,
    allocation: { peer: Uint8Array; channel: Uint8Array; bindKey: Uint8Array; expiresInMs: number },
  ): Promise<void> {
    try {
      if (this.udp) {
        await this.client.bindUdpRelay(allocation);
        link.setRelayUdp(allocation);
      } else {
        const stream = await this.client.openStreamRelay(allocation);
        link.setRelayStream(stream);
      }
      if (!link.isClosed) this.client.signal(link.peer, SIGNAL_RELAY_READY, link.sessionId);
    } catch {
      // The relay failed (bind timeout, session closed): direct paths only.
    }
  }

  private waitForRoute(link: PeerLink, deadline: number, signal?: AbortSignal): Promise<void> {
    if (link.path) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error?: Error): void => {
        clearTimeout(timer);
        link.off('route', onRoute);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onRoute = (path: unknown): void => {
        if (path) done();
      };
      const onAbort = (): void =>
        done(new TraversalError(TraversalErrorCode.NoPath, 'connect was aborted', { cause: signal?.reason }));
      const timer = setTimeout(
        () => done(new TraversalError(TraversalErrorCode.NoPath, 'no relay and no direct path to the peer in time')),
        Math.max(0, deadline - performance.now()),
      );
      link.on('route', onRoute);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
