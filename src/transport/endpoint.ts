import { TransportError, TransportErrorCode, TransportErrorName } from './errors.js';
import type { KeyPair } from '../crypto/keys.js';
import { sodium } from '../crypto/sodium.js';
import { readLongHeader } from '../wire/headers.js';
import { CONNECTION_ID_LENGTH, LongPacketType, type LongHeader } from '../wire/types.js';
import type {
  Address,
  ConnectionEvent,
  ConnectOptions,
  EventSink,
  RandomSource,
  SansIoEndpoint,
  Transmit,
} from './api.js';
import { resolveConfig, type TransportConfig } from './config.js';
import { TransportConnection } from './connection.js';
import { ConnectionSchedule } from './connection-schedule.js';
import { HandshakeLimiter, type HandshakeLimits, type HandshakeLimiterStats } from './handshake-limiter.js';
import { Queue } from './queue.js';
import { deriveResetKey, ResetTokenTable, StatelessResetSender } from './stateless-reset.js';

/** One connection ID of ours and the connection it routes to. */
interface Route {
  readonly cid: Uint8Array;
  readonly conn: TransportConnection;
}

/** What the endpoint must undo when a connection finishes: the keys it is routed by. */
interface RouteKeys {
  /** byCid keys of the connection's own IDs. */
  readonly cids: Set<number>;
  /** byInitial key (server connections). */
  initial: string | null;
  /** Digest of the SCID and payload of the Initial that created it (server connections). */
  initialDigest: string | null;
}

/** A stateless reset waiting for pollTransmit. */
interface PendingReset {
  readonly destination: Address;
  readonly data: Uint8Array;
}

export interface TransportEndpointOptions {
  /** This peer's static X25519 key pair: its identity. */
  readonly staticKeyPair: KeyPair;
  /** Cryptographically secure random source (systemRandom in production, seeded in the simulator). */
  readonly random: RandomSource;
  /** Overrides of DEFAULT_TRANSPORT_CONFIG. */
  readonly config?: Partial<TransportConfig>;
  /** Accept connections dialled by peers (default true: peers are symmetric). */
  readonly acceptIncoming?: boolean;
  /** Pre-shared key for incoming IKpsk2/XXpsk3 handshakes. */
  readonly psk?: Uint8Array;
  /** Handshake flood limits: half-open caps and when to require address validation (handshake-limiter.ts). */
  readonly handshakeLimits?: Partial<HandshakeLimits>;
}

/**
 * 30-bit routing key from the first 4 bytes of a connection ID (the full ID is compared on lookup;
 * newCid() keeps keys unique among our own IDs). 30 bits keep it a small integer (Smi) on every V8
 * build, so the Map lookup per datagram allocates nothing (a larger number would be boxed).
 */
function cidKey(buf: Uint8Array, offset: number): number {
  return (
    (((buf[offset] as number) & 0x3f) << 24) |
    ((buf[offset + 1] as number) << 16) |
    ((buf[offset + 2] as number) << 8) |
    (buf[offset + 3] as number)
  );
}

function cidEquals(cid: Uint8Array, buf: Uint8Array, offset: number): boolean {
  for (let i = 0; i < CONNECTION_ID_LENGTH; i++) if (cid[i] !== buf[offset + i]) return false;
  return true;
}

/** The endpoint's event queue: a ring that stops allocating once grown (hot path: per-packet events). */
class EventQueue implements EventSink {
  private readonly items = new Queue<ConnectionEvent>(64);
  push(event: ConnectionEvent): void {
    this.items.push(event);
  }
  shift(): ConnectionEvent | null {
    return this.items.shift() ?? null;
  }
}

/**
 * The sans-IO endpoint (api.ts SansIoEndpoint): one per UDP socket. Routes datagrams to connections
 * by destination connection ID, creates server-side connections from acceptable Initials, drops
 * everything else statelessly, and multiplexes the connections' output round-robin.
 *
 * Hot path note: pollTransmit returns the same Transmit object each time (mutated); use it before
 * the next call.
 */
export class TransportEndpoint implements SansIoEndpoint {
  readonly config: TransportConfig;
  private readonly conns = new Map<number, TransportConnection>();
  private readonly byCid = new Map<number, Route>();
  /** The endpoint's stateless reset key, from its static private key (stateless-reset.ts). */
  private readonly resetKey: Uint8Array;
  private readonly resetSender: StatelessResetSender;
  /** Reset tokens the peers announced, per connection (spec/wire.md §5.3.2). */
  private readonly resetTokens = new ResetTokenTable<TransportConnection>();
  private readonly pendingResets: PendingReset[] = [];
  private readonly resetScratch = new Uint8Array(128);
  private readonly initialDigestInput = new Uint8Array(CONNECTION_ID_LENGTH + 2048);
  private readonly initialDigestOut = new Uint8Array(16);
  /** Server connections by their Initial's source address and DCID (initialKey). */
  private readonly byInitial = new Map<string, TransportConnection[]>();
  private readonly events = new EventQueue();
  /** Deadlines and transmit readiness without scanning every connection (connection-schedule.ts). */
  private readonly schedule: ConnectionSchedule<TransportConnection>;
  private readonly routeKeys = new Map<TransportConnection, RouteKeys>();
  /** Connections seen finished, removed at the next sweep. */
  private finished: TransportConnection[] = [];
  /**
   * A connection's wake (ConnectionInit.wake): reschedule it; new connection IDs or tokens apply now.
   * The application may call a finished connection's methods (each wakes it) long after the sweep:
   * a swept connection (it has no routeKeys any more) is neither scheduled nor routed again.
   */
  private readonly touchConnection = (conn: TransportConnection): void => {
    if (!this.routeKeys.has(conn)) return;
    this.schedule.touch(conn);
    if (conn.idsChanged) this.applyIdChanges(conn);
  };
  private nextId = 1;
  private closed = false;
  private readonly transmit: { destination: Address; length: number } = {
    destination: { host: '', port: 0 },
    length: 0,
  };
  /** Datagrams dropped without reaching a connection (unknown CID, malformed, refused). */
  droppedDatagrams = 0;

  private readonly limiter: HandshakeLimiter;
  private retryTurn = false;

  constructor(private readonly options: TransportEndpointOptions) {
    this.config = resolveConfig(options.config);
    this.resetKey = deriveResetKey(options.staticKeyPair.secretKey);
    this.resetSender = new StatelessResetSender({ resetKey: this.resetKey, random: options.random });
    this.limiter = new HandshakeLimiter(options.random, options.handshakeLimits);
    this.schedule = new ConnectionSchedule((conn) => this.observe(conn));
  }

  /** A touched connection was re-keyed: did it finish, or confirm its handshake? */
  private observe(conn: TransportConnection): void {
    if (conn.isFinished) {
      this.finished.push(conn);
      return;
    }
    // A timer retired a peer ID (a failed path's): its token leaves the index now (RFC 9000 §10.3.1).
    if (conn.idsChanged) this.applyIdChanges(conn);
    if (this.limiter.halfOpenCount > 0 && conn.handshakeConfirmed) this.limiter.settle(conn);
  }

  get connections(): ReadonlyMap<number, TransportConnection> {
    return this.conns;
  }

  get publicKey(): Uint8Array {
    return this.options.staticKeyPair.publicKey;
  }

  /** A connection ID whose routing key no other route holds (connections issue only such IDs). */
  private readonly cidRoutable = (cid: Uint8Array): boolean => !this.byCid.has(cidKey(cid, 0));

  private newCid(): Uint8Array {
    for (;;) {
      const cid = new Uint8Array(CONNECTION_ID_LENGTH);
      this.options.random(cid);
      if (!this.byCid.has(cidKey(cid, 0))) return cid;
    }
  }

  private add(conn: TransportConnection): void {
    this.conns.set(conn.id, conn);
    const k = cidKey(conn.localCid, 0);
    this.byCid.set(k, { cid: conn.localCid, conn });
    this.routeKeys.set(conn, { cids: new Set([k]), initial: null, initialDigest: null });
    this.schedule.add(conn);
  }

  /**
   * A connection issued or retired connection IDs, or learned or dropped the peer's reset tokens:
   * bring the routing table and the token table up to date.
   */
  private applyIdChanges(conn: TransportConnection): void {
    // Only for a connection the endpoint routes and that is not finished. A finished one leaves every
    // table whole at the sweep, which drops its pending changes (dropIdChanges); after the sweep it
    // has no routeKeys, so a route or token added for it would never be removed: datagrams to that ID
    // would reach a closed connection instead of drawing a stateless reset (RFC 9000 §10.3).
    const keys = this.routeKeys.get(conn);
    if (keys === undefined || conn.isFinished) return;
    conn.acknowledgeIdChanges();
    const ids = conn.connectionIds;
    if (ids === null) return;
    for (let r = ids.local.pollRouteChange(); r !== null; r = ids.local.pollRouteChange()) {
      const k = cidKey(r.connectionId, 0);
      if (r.kind === 'add') {
        // Issued only with a free key (cidRoutable); two IDs issued before either was routed can still
        // meet (about 2^-30): that one is not routed.
        if (!this.byCid.has(k)) {
          this.byCid.set(k, { cid: r.connectionId, conn });
          keys.cids.add(k);
        }
      } else if (this.byCid.get(k)?.conn === conn && cidEquals(r.connectionId, (this.byCid.get(k) as Route).cid, 0)) {
        this.byCid.delete(k);
        keys.cids.delete(k);
      }
    }
    for (let t = ids.remote.pollTokenChange(); t !== null; t = ids.remote.pollTokenChange()) {
      if (t.kind === 'add') this.resetTokens.add(t.token, conn);
      else this.resetTokens.remove(t.token, conn);
    }
  }

  /**
   * A short-header datagram for no connection of ours. A peer's stateless reset (its last 16 bytes
   * are the token of a peer's connection ID in use or used, not retired: RFC 9000 §10.3.1) ends that
   * connection at once; anything else is answered with a stateless reset of our own, so a peer of a
   * connection we lost (we restarted) learns it at once (RFC 9000 §10.3). Rate-limited and always
   * smaller than the trigger.
   */
  private onUnroutable(datagram: Uint8Array, len: number, from: Address, now: number): void {
    this.droppedDatagrams++;
    if (this.resetTokens.count > 0) {
      // The index finds the candidate; the connection's own list confirms the token is still valid.
      const conn = this.resetTokens.match(datagram, len);
      if (conn?.isStatelessReset(datagram, len)) {
        this.endByReset(conn);
        return;
      }
    }
    if (this.pendingResets.length >= 16) return;
    const n = this.resetSender.write(datagram, len, now, this.resetScratch);
    if (n > 0)
      this.pendingResets.push({
        destination: { host: from.host, port: from.port },
        data: this.resetScratch.slice(0, n),
      });
  }

  /** The peer of `conn` lost its state and said so with a stateless reset: end it without a reply. */
  private endByReset(conn: TransportConnection): void {
    conn.onStatelessReset();
    this.resetTokens.removeOwner(conn);
    this.schedule.touch(conn);
  }

  /**
   * Which server connection an Initial belongs to: its source address and DCID (initialKey), then a
   * digest of its SCID and payload (initialDigest, computed only when the first matches). A repeated
   * Initial (our message 2 was lost) finds its connection; an Initial whose SCID or message was
   * altered on the way makes a connection of its own, which never completes (the header and message
   * are bound into the handshake, spec/crypto.md §3.3) and times out, instead of capturing the
   * client's retransmissions.
   */
  private initialKey(header: LongHeader, from: Address): string {
    let s = `${from.host}|${from.port}|`;
    for (const b of header.destinationConnectionId) s += b.toString(16).padStart(2, '0');
    return s;
  }

  private initialDigest(header: LongHeader): string {
    const input = this.initialDigestInput;
    const payloadLength = Math.min(header.payload.length, input.length - CONNECTION_ID_LENGTH);
    input.set(header.sourceConnectionId, 0);
    input.set(header.payload.subarray(0, payloadLength), CONNECTION_ID_LENGTH);
    sodium.crypto_generichash(this.initialDigestOut, input.subarray(0, CONNECTION_ID_LENGTH + payloadLength));
    let s = '';
    for (const b of this.initialDigestOut) s += b.toString(16).padStart(2, '0');
    return s;
  }

  connect(remote: Address, options: ConnectOptions, now: number): TransportConnection {
    if (this.closed)
      throw new TransportError(
        TransportErrorName.CONNECTION_CLOSED,
        'endpoint is closed',
        TransportErrorCode.ENDPOINT_CLOSED,
      );
    const initialDcid = new Uint8Array(CONNECTION_ID_LENGTH);
    this.options.random(initialDcid);
    const conn = TransportConnection.client(
      {
        id: this.nextId++,
        config: this.config,
        staticKeyPair: this.options.staticKeyPair,
        random: this.options.random,
        remote: { host: remote.host, port: remote.port },
        localCid: this.newCid(),
        events: this.events,
        now,
        resetKey: this.resetKey,
        routableConnectionId: this.cidRoutable,
        wake: this.touchConnection,
      },
      initialDcid,
      {
        ...(options.remotePublicKey !== undefined ? { remotePublicKey: options.remotePublicKey } : {}),
        ...(options.psk !== undefined ? { psk: options.psk } : {}),
      },
    );
    this.add(conn);
    return conn;
  }

  /**
   * Hot path: routes one datagram. A short-header packet is copied into its connection's scratch
   * buffer and decrypted there: `datagram` is not modified and may be reused as soon as this returns.
   */
  receive(datagram: Uint8Array, from: Address, now: number): void {
    const len = datagram.length;
    if (len < 1 + CONNECTION_ID_LENGTH) {
      this.droppedDatagrams++;
      return;
    }
    const first = datagram[0] as number;
    if ((first & 0x40) === 0) {
      this.droppedDatagrams++;
      return;
    }
    if ((first & 0x80) === 0) {
      const route = this.byCid.get(cidKey(datagram, 1));
      if (route === undefined || !cidEquals(route.cid, datagram, 1)) {
        this.onUnroutable(datagram, len, from, now);
        return;
      }
      const conn = route.conn;
      // A datagram that fails to authenticate may be the peer's stateless reset (RFC 9000 §10.3.1).
      if (!conn.receiveShort(datagram, len, from, now) && conn.isStatelessReset(datagram, len)) {
        this.endByReset(conn);
        return;
      }
      this.schedule.touch(conn);
      if (conn.idsChanged) this.applyIdChanges(conn);
      return;
    }
    let header: LongHeader;
    try {
      header = readLongHeader(datagram, len);
    } catch {
      this.droppedDatagrams++;
      return;
    }
    if (header.packetType === LongPacketType.Initial) {
      this.receiveInitial(header, from, now);
      return;
    }
    const dcid = header.destinationConnectionId;
    const route = this.byCid.get(cidKey(dcid, 0));
    if (route === undefined || !cidEquals(route.cid, dcid, 0)) {
      this.droppedDatagrams++;
      return;
    }
    route.conn.receiveLong(header, from, now);
    this.schedule.touch(route.conn);
    if (route.conn.idsChanged) this.applyIdChanges(route.conn);
  }

  /**
   * An Initial: a repeat goes to the connection it made, while that connection has state. One that
   * is closing answers with its CLOSE, one that is draining answers nothing (RFC 9000 §10.2.1,
   * §10.2.2; the connection decides, receiveLong). A closed one has discarded its state (§10.2) and
   * is skipped: the Initial is then a new connection attempt, under the same limits as any other,
   * exactly as once the sweep removed the closed connection from byInitial. Dropping it instead
   * would make the answer depend on whether the adapter polled in between, and the client's own
   * handshake timeout ends its retries either way.
   */
  private receiveInitial(header: LongHeader, from: Address, now: number): void {
    const key = this.initialKey(header, from);
    const candidates = this.byInitial.get(key);
    let digest: string | null = null;
    if (candidates !== undefined) {
      digest = this.initialDigest(header);
      for (const existing of candidates) {
        if (existing.isFinished || this.routeKeys.get(existing)?.initialDigest !== digest) continue;
        existing.receiveLong(header, from, now);
        this.schedule.touch(existing);
        return;
      }
    }
    if (this.closed || this.options.acceptIncoming === false) {
      this.droppedDatagrams++;
      return;
    }
    // Before any state: under load an Initial must prove its address (Retry), and caps apply. The
    // connections touched since the last turn are looked at first: they may have completed.
    this.nextDeadline();
    if (this.limiter.admit(header, from, now) !== 'accept') {
      this.droppedDatagrams++;
      return;
    }
    let conn: TransportConnection;
    try {
      conn = TransportConnection.server(
        {
          id: this.nextId,
          config: this.config,
          staticKeyPair: this.options.staticKeyPair,
          random: this.options.random,
          remote: { host: from.host, port: from.port },
          localCid: this.newCid(),
          events: this.events,
          now,
          resetKey: this.resetKey,
          routableConnectionId: this.cidRoutable,
          wake: this.touchConnection,
        },
        header,
        this.options.psk,
      );
    } catch {
      this.droppedDatagrams++;
      return;
    }
    this.nextId++;
    this.add(conn);
    // Looked up again: the sweep in nextDeadline above may have removed the list `candidates` was
    // (its last connection had closed), and a connection added to that list could not be found.
    const list = this.byInitial.get(key);
    if (list === undefined) this.byInitial.set(key, [conn]);
    else list.push(conn);
    const keys = this.routeKeys.get(conn) as RouteKeys;
    keys.initial = key;
    keys.initialDigest = digest ?? this.initialDigest(header);
    if (conn.idsChanged) this.applyIdChanges(conn);
    this.limiter.opened(conn, from);
  }

  /** Half-open connections and what the handshake limiter did. */
  get handshakeStats(): Readonly<HandshakeLimiterStats> {
    return this.limiter.stats;
  }

  pollTransmit(now: number, buffer: Uint8Array): Transmit | null {
    const reset = this.pendingResets.shift();
    if (reset !== undefined && reset.data.length <= buffer.length) {
      buffer.set(reset.data, 0);
      this.transmit.destination = reset.destination;
      this.transmit.length = reset.data.length;
      return this.transmit;
    }
    // Retries and connections take turns, so a flood's Retries never starve established traffic
    // (nor the reverse).
    this.retryTurn = !this.retryTurn;
    if (this.retryTurn) {
      const retry = this.limiter.pollTransmit(buffer);
      if (retry !== null) return retry;
    }
    const conn = this.schedule.pollTransmit(now, buffer);
    if (conn !== null) {
      this.transmit.destination = conn.transmitDestination;
      this.transmit.length = this.schedule.length;
      return this.transmit;
    }
    this.sweep();
    return this.retryTurn ? null : this.limiter.pollTransmit(buffer);
  }

  pollEvent(): ConnectionEvent | null {
    return this.events.shift();
  }

  /** The earliest deadline of any connection: O(connections touched since the last call), not O(connections). */
  nextDeadline(): number {
    const t = this.schedule.nextDeadline();
    if (this.finished.length > 0) this.sweep();
    return t;
  }

  /** Runs the timers of the connections whose deadline passed, and only theirs. */
  onTimeout(now: number): void {
    this.schedule.onTimeout(now);
    this.schedule.nextDeadline();
    this.sweep();
  }

  /** Drops the connections seen finished from the routing tables, each in O(its own routes). */
  private sweep(): void {
    if (this.finished.length === 0) return;
    const done = this.finished;
    this.finished = [];
    for (const conn of done) {
      const keys = this.routeKeys.get(conn);
      if (keys === undefined) continue;
      this.routeKeys.delete(conn);
      this.limiter.settle(conn);
      this.conns.delete(conn.id);
      this.schedule.remove(conn);
      for (const k of keys.cids) if (this.byCid.get(k)?.conn === conn) this.byCid.delete(k);
      if (keys.initial !== null) this.forgetInitial(keys.initial, conn);
      if (conn.connectionIds !== null) this.resetTokens.removeOwner(conn);
      this.dropIdChanges(conn);
    }
  }

  /**
   * The ID changes a finished connection made after the endpoint last applied them (a timer, in the
   * onTimeout that also closed it): its routes and tokens just left the tables whole, so they are
   * dropped, and the connection no longer reports changes to apply.
   */
  private dropIdChanges(conn: TransportConnection): void {
    conn.acknowledgeIdChanges();
    const ids = conn.connectionIds;
    if (ids === null) return;
    for (let r = ids.local.pollRouteChange(); r !== null; r = ids.local.pollRouteChange());
    for (let t = ids.remote.pollTokenChange(); t !== null; t = ids.remote.pollTokenChange());
  }

  private forgetInitial(key: string, conn: TransportConnection): void {
    const list = this.byInitial.get(key);
    if (list === undefined) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byInitial.delete(key);
  }

  close(now: number): void {
    this.closed = true;
    for (const conn of this.conns.values()) {
      conn.closeAt(now, 0, 'endpoint closed');
      this.schedule.touch(conn);
    }
  }
}

/** Convenience factory. */
export function createTransportEndpoint(options: TransportEndpointOptions): TransportEndpoint {
  return new TransportEndpoint(options);
}
