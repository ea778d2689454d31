import type { KeyPair } from '../crypto/keys.js';
import { OpenResult, PacketProtection } from '../crypto/packet-protection.js';
import type { TransportParameters } from '../crypto/transport-parameters.js';
import { FrameDecoder } from '../wire/frames-decode.js';
import { newShortHeaderFields, parseShortHeader } from '../wire/headers.js';
import { decodePacketNumber } from '../wire/packet-number.js';
import { WireError } from '../wire/errors.js';
import { CONNECTION_ID_LENGTH, FrameType, LongPacketType, type Frame, type LongHeader } from '../wire/types.js';
import type { Address, ConnectionHandle, ConnectionStats, EventSink, RandomSource } from './api.js';
import { congestionControllerFor, type TransportConfig } from './config.js';
import { ConnectionStateMachine } from './connection-state.js';
import { ConnectionApplicationCalls } from './connection-application.js';
import { ConnectionTimers } from './connection-timers.js';
import { TransportError, TransportErrorCode, protocolError } from './errors.js';
import { ConnectionHandshake } from './handshake.js';
import { Liveness } from './liveness.js';
import { PathMigration } from './path-migration.js';
import { BASE_PLPMTU, PathMtuDiscovery } from './pmtud.js';
import { Paths } from './paths.js';
import { AckTracker } from './recovery/ack-tracker.js';
import { LossDetection, type SentFrameHandler } from './recovery/loss-detection.js';
import { RttEstimator } from './recovery/rtt-estimator.js';
import { SentFrame } from './recovery/sent-packets.js';
import { PacketSender, type SenderParts } from './sender.js';
import { ConnectionIds } from './connection-ids.js';
import { Streams } from './streams/streams.js';
import { TimerTable } from './timers.js';
import { localTransportParameters, peerTransportParameters } from './transport-parameters.js';

export interface ConnectionInit {
  readonly id: number;
  readonly config: TransportConfig;
  readonly staticKeyPair: KeyPair;
  readonly random: RandomSource;
  readonly remote: Address;
  readonly localCid: Uint8Array;
  readonly events: EventSink;
  readonly now: number;
  /** The endpoint's stateless reset key: connection IDs are issued with tokens derived from it. */
  readonly resetKey?: Uint8Array;
  /** Whether the endpoint can route a new connection ID of ours to this connection (connection-ids.ts). */
  readonly routableConnectionId?: (connectionId: Uint8Array) => boolean;
  /**
   * Called by every application call that may change what the connection sends or when (the
   * endpoint schedules only the connections it knows changed: connection-schedule.ts).
   */
  readonly wake?: (connection: TransportConnection) => void;
}
const NO_WAKE = (): void => {};

const NO_RX_BUFFER = new Uint8Array(0);

/**
 * Over 600 lines on purpose: this is the one place where the parts meet (what each frame, packet and
 * timer means for the others); every part with rules of its own is its own file, named below, and
 * what is left is the wiring between them and the frame table.
 *
 * One connection: orchestration of the handshake (handshake.ts), packet protection, frames, streams
 * (streams/streams.ts), recovery (recovery/), congestion control, pacing and packet building
 * (sender.ts), paths (paths.ts) and migration (path-migration.ts), liveness (liveness.ts), timers
 * (timers.ts, connection-timers.ts), its state machine (connection-state.ts) and the application's
 * commands (connection-application.ts, the base class). Sans-IO: time is an argument, randomness
 * is injected, datagrams go in through receiveLong/receiveShort (the endpoint routes them) and come
 * out of pollTransmit; deadlines come out of nextDeadline and go in through onTimeout.
 */
export class TransportConnection extends ConnectionApplicationCalls implements ConnectionHandle, SentFrameHandler {
  readonly id: number;
  readonly isClient: boolean;
  readonly config: TransportConfig;
  private readonly random: RandomSource;
  private readonly events: EventSink;
  protected readonly wake: (connection: TransportConnection) => void;
  protected readonly machine: ConnectionStateMachine;
  readonly paths: Paths;
  /** New peer addresses, probePath, PATH_RESPONSE and validation timeouts (path-migration.ts). */
  protected readonly migration: PathMigration;
  private readonly senderParts: SenderParts;
  /** The endpoint's stateless reset key (stateless-reset.ts); null: no connection IDs issued. */
  private readonly resetKey: Uint8Array | null;
  private readonly routableConnectionId: ((connectionId: Uint8Array) => boolean) | undefined;
  /** Connection IDs after the handshake (RFC 9000 §5.1); null before, or without a reset key. */
  connectionIds: ConnectionIds | null = null;
  /** Routes or reset tokens changed: the endpoint applies them (pollRouteChange / pollTokenChange). */
  private idsChangedFlag = false;
  /** DPLPMTUD on the active path (RFC 8899); null when off or the maximum is the base size. */
  readonly pmtud: PathMtuDiscovery | null;
  /** Idle timeout, keepalives and the receive-gap probe (liveness.ts). */
  protected readonly liveness: Liveness;
  readonly localCid: Uint8Array;
  /** Client: the random DCID of its Initial (the server routes repeated Initials by it). */
  private readonly initialDcid: Uint8Array;
  /** The peer's connection ID our packets carry (the handshake's, then one of connectionIds.remote). */
  private peerCid: Uint8Array;

  // --- handshake and keys
  protected handshake!: ConnectionHandshake;
  private readonly handshakeDeadline: number = 0;
  private protection: PacketProtection | null = null;
  protected remoteKey: Uint8Array | null = null;
  protected peerParams: TransportParameters | null = null;

  // --- recovery, congestion, sending
  readonly rtt: RttEstimator;
  readonly recovery: LossDetection;
  readonly ackTracker: AckTracker;
  protected readonly sender: PacketSender;
  /** Reused STREAM/ACK frame objects: handlers use a frame before the next is decoded, keep nothing. */
  /** Allocated by the first short-header packet (see decoder): a half-open connection gets none. */
  private decoderStorage: FrameDecoder | null = null;
  private get decoder(): FrameDecoder {
    if (this.decoderStorage === null) this.decoderStorage = new FrameDecoder({ reuseFrames: true });
    return this.decoderStorage;
  }
  private readonly header = newShortHeaderFields();
  protected readonly maxSize: number = 0;
  /**
   * Received datagrams are copied into rxBuf and opened and decoded there: the STREAM data views
   * (FrameDecoder) and AEAD views are reused instead of made per packet; a copy is one memcpy.
   */
  private rxBuf: Uint8Array;
  /** Where the datagram of the last pollTransmit goes. */
  private transmitTo: Address;

  readonly streams: Streams;

  // --- liveness
  /** Latest `now` seen by any entry point (for API calls that take no time argument). */
  protected now = 0;
  private readonly timers = new TimerTable();
  /** The rows of the timer table: armed, merged and run (connection-timers.ts). */
  private readonly timerRows: ConnectionTimers;

  // --- stats (sent: the sender's)
  private bytesReceived = 0;
  private packetsReceived = 0;

  private constructor(init: ConnectionInit, isClient: boolean, initialDcid: Uint8Array) {
    super();
    this.id = init.id;
    this.isClient = isClient;
    this.config = init.config;
    this.random = init.random;
    this.events = init.events;
    this.wake = init.wake ?? NO_WAKE;
    this.localCid = init.localCid;
    this.initialDcid = initialDcid;
    this.peerCid = initialDcid;
    this.maxSize = init.config.maxUdpPayloadSize;
    this.paths = new Paths(init.remote, isClient, this.maxSize);
    this.transmitTo = this.paths.active.remote;
    this.rxBuf = NO_RX_BUFFER; // allocated by the first short-header packet: a half-open connection gets none
    this.rtt = new RttEstimator(init.config.initialRttMs);
    this.ackTracker = new AckTracker(init.config.ackElicitingThreshold, init.config.maxAckDelayMs);
    this.streams = new Streams(isClient, init.config, init.events, this, this.rtt);
    this.liveness = new Liveness(init.config, init.now, init.random);
    this.now = init.now;
    this.pmtud =
      init.config.pathMtuDiscovery && this.maxSize > BASE_PLPMTU
        ? new PathMtuDiscovery({ maxSize: this.maxSize })
        : null;
    const cc = congestionControllerFor(init.config, this.maxSize);
    this.recovery = new LossDetection(this.rtt, cc, this, this.maxSize, this.pmtud);
    this.migration = new PathMigration(
      this.paths,
      this.rtt,
      this.recovery,
      this.pmtud,
      init.config,
      init.random,
      () => this.connectionIds?.remote ?? null,
    );
    const { recovery, rtt, ackTracker, paths, streams, timers, pmtud } = this;
    const idle = this.liveness.idle;
    this.senderParts = { recovery, rtt, ackTracker, paths, streams, idle, timers, pmtud, connectionIds: null };
    this.sender = new PacketSender(init.config, this.maxSize, this.senderParts, init.now);
    this.resetKey = init.resetKey ?? null;
    this.routableConnectionId = init.routableConnectionId;
    this.handshakeDeadline = init.now + init.config.handshakeTimeoutMs;
    this.machine = new ConnectionStateMachine(
      {
        pto: () => this.rtt.pto(this.recovery.peerMaxAckDelay),
        idleTimeout: () => this.liveness.idleTimeoutMs,
        hasKeys: () => this.protection !== null,
        sendsSettled: () => !this.sender.hasQueuedDatagrams && this.streams.allSendsSettled,
        discardInFlight: () => this.recovery.discardAll(),
        reportClosed: (reason) => {
          // Closing (a CLOSE goes out): the peer may need our last handshake message to read it.
          this.handshake.abandon(this.machine.kind === 'closing');
          this.events.push({ type: 'closed', connection: this, reason });
        },
      },
      this.timers,
    );
    const { machine, migration, liveness, sender, events, handshakeDeadline } = this;
    const parts = { machine, paths, migration, liveness, rtt, recovery, ackTracker, sender, pmtud, events };
    this.timerRows = new ConnectionTimers({ ...parts, table: timers, connection: this, handshakeDeadline });
  }

  // ---------------------------------------------------------------------------------------------
  // Handshake (handshake.ts runs the Noise messages; this is what they mean for the connection)

  /** Starts a client connection: builds the Initial (Noise msg 1). */
  static client(
    init: ConnectionInit,
    initialDcid: Uint8Array,
    options: { remotePublicKey?: Uint8Array; psk?: Uint8Array },
  ): TransportConnection {
    const c = new TransportConnection(init, true, initialDcid);
    c.handshake = ConnectionHandshake.initiator(init.staticKeyPair, init.random, options, c.handshakeTiming());
    c.timerRows.start(c.handshake);
    c.handshake.writeFlight(
      LongPacketType.Initial,
      localTransportParameters(init.config),
      c.initialDcid,
      c.localCid,
      init.now,
    );
    return c;
  }

  /**
   * Accepts a client's Initial: reads Noise msg 1 and answers with msg 2. Throws when the Initial
   * is not acceptable (the endpoint then drops it without state).
   */
  static server(init: ConnectionInit, header: LongHeader, psk: Uint8Array | undefined): TransportConnection {
    const c = new TransportConnection(init, false, Uint8Array.from(header.destinationConnectionId));
    const accepted = ConnectionHandshake.responder(header, init.staticKeyPair, init.random, psk, c.handshakeTiming());
    c.handshake = accepted.handshake;
    c.timerRows.start(c.handshake);
    c.applyPeerParams(peerTransportParameters(accepted.peerParameters));
    c.peerCid = Uint8Array.from(header.sourceConnectionId);
    c.paths.active.onReceived(header.packetLength);
    c.bytesReceived += header.packetLength;
    c.packetsReceived++;
    const hs = c.handshake;
    hs.writeFlight(LongPacketType.Handshake, localTransportParameters(init.config), c.peerCid, c.localCid, init.now);
    hs.stopTimer(); // the server answers repeated Initials instead
    c.events.push({ type: 'incoming', connection: c });
    if (hs.isComplete) TransportConnection.#completeHandshake(c, init.now);
    return c;
  }

  private handshakeTiming(): { rtt: RttEstimator; initialRttMs: number } {
    return { rtt: this.rtt, initialRttMs: this.config.initialRttMs };
  }

  private applyPeerParams(p: TransportParameters): void {
    this.peerParams = p;
    this.streams.applyPeerParameters(p);
    this.recovery.setPeerMaxAckDelay(p.maxAckDelayMs);
    this.liveness.negotiateIdleTimeout(p.maxIdleTimeoutMs);
  }

  // What the handshake's results mean here: ES private static methods, so no holder of a connection
  // (the node layer hands it to the application as its ConnectionHandle) can call them, from
  // TypeScript or JavaScript, and corrupt the handshake (e.g. mark an unproven address validated).
  // Static, because an instance private method gives every instance a private brand (one more
  // field per connection, half-open ones included); the handshake returns what it read instead of
  // calling back (handshake.ts receive), so it needs no host object either.

  /** The last Noise message was read or written: keys are ready. */
  static #completeHandshake(c: TransportConnection, now: number): void {
    const { keys, remoteStaticKey } = c.handshake.finish();
    c.protection = new PacketProtection(keys);
    c.timerRows.onKeysReady();
    c.remoteKey = remoteStaticKey;
    c.machine.established();
    c.liveness.onEstablished(now);
    c.sender.onHandshakeComplete(now);
    if (c.resetKey !== null) {
      // Spare connection IDs for new paths (RFC 9000 §5.1.1), each with its stateless reset token.
      c.connectionIds = new ConnectionIds(c.localCid, c.peerCid, c.resetKey, c.random, c.routableConnectionId);
      c.sender.useConnectionIds(c.connectionIds);
      c.idsChangedFlag = true;
    }
    c.events.push({ type: 'connected', connection: c });
  }

  /** The peer holds the traffic keys (its active path is validated with it). */
  static #confirmHandshake(c: TransportConnection): void {
    if (c.handshake.confirmed) return;
    c.handshake.confirm();
    c.paths.active.markValidated();
  }

  /**
   * The peer's next Noise message (ConnectionHandshake.receive read it from `header`). Client: msg 2
   * with the server's transport parameters and connection ID; unacceptable parameters fail the
   * handshake. Then our answer (XX client: msg 3), and completion.
   */
  static #onPeerMessage(c: TransportConnection, message: Uint8Array, header: LongHeader, now: number): void {
    if (c.isClient) {
      try {
        c.applyPeerParams(peerTransportParameters(message));
      } catch (e) {
        const errorCode = e instanceof TransportError ? e.transportCode : TransportErrorCode.HANDSHAKE_FAILED;
        c.machine.failWith(errorCode, (e as Error).message ?? 'handshake failed');
        return;
      }
      c.peerCid = Uint8Array.from(header.sourceConnectionId);
    }
    const hs = c.handshake;
    hs.answer(c.peerCid, c.localCid, now);
    if (!hs.isComplete) return;
    if (hs.confirmedOnCompletion(c.isClient)) TransportConnection.#confirmHandshake(c);
    TransportConnection.#completeHandshake(c, now);
  }

  /** A long-header packet routed to this connection (handshake.ts decides what it is). */
  receiveLong(header: LongHeader, from: Address, now: number): void {
    this.now = now;
    const kind = this.machine.kind;
    if (kind === 'closed') return;
    this.bytesReceived += header.packetLength;
    this.packetsReceived++;
    if (kind === 'closing' || kind === 'draining') {
      // The peer repeats its handshake message (it missed our answer): closing answers any packet
      // it attributes to the connection with its CLOSE, draining answers nothing (RFC 9000 §10.2.1,
      // §10.2.2; the machine decides, one CLOSE per packet as for short headers). Attributed: a
      // handshake packet from the active path (an Initial is routed by its address already). A
      // repeated Initial means our msg 2 was lost: without it the peer cannot read the CLOSE, so it
      // goes first, if kept (§10.2.3; handshake.ts abandon).
      const active = this.paths.active;
      const type = header.packetType;
      if ((type === LongPacketType.Initial || type === LongPacketType.Handshake) && active.is(from)) {
        active.onReceived(header.packetLength);
        if (kind === 'closing' && type === LongPacketType.Initial) this.handshake.repeatFlight();
        this.machine.onPacketWhileClosing(false);
      }
      return;
    }
    const message = this.handshake.receive(header, from, this.paths.active, now, this.isClient);
    if (message !== null) TransportConnection.#onPeerMessage(this, message, header, now);
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving protected packets

  /**
   * A short-header datagram routed to this connection: buf[0, length). Hot path. It is copied into
   * the connection's scratch buffer and decrypted there; `buf` itself is left as it was. Returns
   * false when it could not be authenticated (no keys yet, malformed, a packet number already seen,
   * AEAD failure): the endpoint then checks it for a stateless reset (RFC 9000 §10.3.1,
   * isStatelessReset).
   */
  receiveShort(buf: Uint8Array, length: number, from: Address, now: number): boolean {
    this.now = now;
    const kind = this.machine.kind;
    const protection = this.protection;
    if (kind === 'closed') return true;
    if (protection === null) return false;
    const h = this.header;
    if (!parseShortHeader(buf, length, h)) return false;
    const pn = decodePacketNumber(this.ackTracker.largest, h.truncatedPacketNumber, h.packetNumberLength);
    // A stateless reset's random bytes may read as a packet number already received (RFC 9000 §10.3.1).
    if (this.ackTracker.isDuplicate(pn)) return false;
    // Open and decode in rxBuf (see txBuf): one memcpy, and the views into it are reused.
    // First packet, or the peer allows larger datagrams than we do.
    if (length > this.rxBuf.length) this.rxBuf = new Uint8Array(Math.max(length, this.maxSize));
    const rx = this.rxBuf;
    if (length === buf.length) rx.set(buf, 0);
    else rx.set(buf.subarray(0, length), 0);
    const headerLength = h.headerLength;
    const plain = protection.open(rx, headerLength, length, pn, h.keyPhase);
    if (plain < 0) {
      if (plain !== OpenResult.AEAD_LIMIT_REACHED) return false;
      this.closeWithError(now, TransportErrorCode.AEAD_LIMIT_REACHED, 'AEAD limit reached');
      return true;
    }
    this.bytesReceived += length;
    this.packetsReceived++;
    this.liveness.onPacketReceived(now);
    if (kind === 'closing' || kind === 'draining') {
      // Authenticated, so the peer holds the keys: the handshake is confirmed and, from the active
      // path, that address is validated (RFC 9000 §8.1), as in the established state below. Without
      // this a server that closed before the client's first short-header packet could answer it
      // only within the 3× limit of the client's Initial, and its CLOSE would not get through.
      if (this.paths.active.is(from)) TransportConnection.#confirmHandshake(this);
      this.onPacketWhileClosing(rx, headerLength, plain);
      return true;
    }
    if (h.reservedBits !== 0) {
      this.closeWithError(now, TransportErrorCode.PROTOCOL_VIOLATION, 'reserved header bits set');
      return true;
    }
    if (!this.handshake.confirmed) TransportConnection.#confirmHandshake(this);
    const active = this.paths.active;
    if (active.is(from)) active.onReceived(length);
    else if (!this.migration.onPacketFromNewAddress(from, pn, this.ackTracker.largest, length, now)) return true;
    let ackEliciting = false;
    let carriesData = false;
    try {
      const d = this.decoder.reset(rx, headerLength, headerLength + plain);
      for (let f = d.next(); f !== null; f = d.next()) {
        const t = f.type;
        if (t !== FrameType.Ack && t !== FrameType.Padding && t !== FrameType.Close) ackEliciting = true;
        if (t === FrameType.Stream || t === FrameType.Datagram) carriesData = true;
        this.onFrame(f, now);
        if (this.machine.kind !== 'established') break;
      }
    } catch (e) {
      if (e instanceof WireError) {
        this.closeWithError(now, TransportErrorCode.FRAME_ENCODING_ERROR, e.message);
      } else if (e instanceof TransportError) {
        this.closeWithError(now, e.transportCode, e.message);
      } else {
        throw e;
      }
      return true;
    }
    // Packet numbers are consecutive (RFC 9000 §12.3): a jump means packets of the peer's were lost.
    const peerPacketsMissed = pn > this.ackTracker.largest + 1;
    this.ackTracker.onPacket(pn, ackEliciting, now);
    // Only data arms it: PINGs (keepalives, its own probes, the peer's) must not start a ping-pong.
    if (carriesData) this.liveness.onDataReceived(now, this.rtt, this.recovery.peerMaxAckDelay);
    if (this.liveness.keepAlivePending)
      this.liveness.onKeepAliveAnswered(
        now,
        this.paths.active.is(from),
        this.rtt.pto(this.recovery.peerMaxAckDelay),
        peerPacketsMissed,
      );
    this.streams.flushOpenedEvents();
    this.machine.maybeFinishGracefulClose(now);
    return true;
  }

  localAddressChanged(now: number): void {
    this.now = now;
    this.wake(this);
    if (this.machine.kind !== 'established') return;
    if (this.connectionIds?.remote.rotate()) this.useRemoteId();
    // What the old local path carried says nothing about the new one (RFC 8899 §4.3, RFC 9000 §9.4).
    this.pmtud?.reset(now);
    this.sender.requestPing();
  }

  /**
   * The adapter moved this connection onto another network path behind the same address (a relay ↔
   * direct switch of a connection by public key): RTT and congestion state start over (RFC 9000 §9.4)
   * and path MTU discovery restarts (RFC 8899 §4.3), as after a validated migration to a new host.
   */
  networkPathChanged(now: number): void {
    this.now = now;
    this.wake(this);
    if (this.machine.kind !== 'established') return;
    this.migration.restartPathEstimates(now);
  }

  /**
   * The peer's connection ID to put on packets changed (a new path, or the peer retired ours): the
   * endpoint is woken so it brings its reset token index up to date now (RFC 9000 §10.3.1).
   */
  private useRemoteId(): void {
    const ids = this.connectionIds;
    if (ids === null) return;
    this.peerCid = ids.remote.active;
    this.idsChangedFlag = true;
    this.wake(this);
  }

  /**
   * Whether buf[0, length) — a datagram that failed to authenticate here, or routed to no
   * connection — ends with the stateless reset token of a connection ID of the peer's that this
   * connection uses or used and has not retired (RFC 9000 §10.3.1). Compared in constant time.
   */
  isStatelessReset(buf: Uint8Array, length: number): boolean {
    return this.connectionIds?.remote.isStatelessReset(buf, length) ?? false;
  }

  /**
   * The peer answered with a stateless reset (spec/wire.md §5.3.2): it lost this connection (it
   * restarted). Ends it at once, without a CLOSE (RFC 9000 §10.3.1).
   */
  onStatelessReset(): void {
    this.wake(this);
    if (this.machine.kind === 'closed') return;
    this.machine.failWith(TransportErrorCode.STATELESS_RESET, 'stateless reset: the peer lost the connection', true);
  }

  /**
   * Routes one frame to its owner (cf. aioquic's frame table). Violations throw TransportError, which
   * receiveShort turns into a CLOSE with the error's transport code.
   */
  private onFrame(f: Frame, now: number): void {
    switch (f.type) {
      case FrameType.Ack:
        if (!this.recovery.onAck(f, now, this.handshake.confirmed))
          throw protocolError(TransportErrorCode.PROTOCOL_VIOLATION, 'ACK of a packet never sent');
        return;
      case FrameType.Stream:
        return this.streams.onStreamFrame(f, now);
      case FrameType.ResetStream:
        return this.streams.onResetStreamFrame(f, now);
      case FrameType.StopSending:
        return this.streams.onStopSendingFrame(f);
      case FrameType.MaxData:
        return this.streams.onMaxDataFrame(f);
      case FrameType.MaxStreamData:
        return this.streams.onMaxStreamDataFrame(f);
      case FrameType.MaxStreamsBidi:
      case FrameType.MaxStreamsUni:
        return this.streams.onMaxStreamsFrame(f);
      case FrameType.StreamDataBlocked:
        return this.streams.onStreamDataBlockedFrame(f);
      case FrameType.PathChallenge:
        return this.paths.active.onChallenge(f.data);
      case FrameType.PathResponse: {
        const validated = this.migration.onPathResponse(f.data, now);
        if (validated === null) return;
        // A new address gets a connection ID never used on another path (RFC 9000 §9.5): the one its
        // challenges already carried, or else a spare.
        const reserved = validated.connectionId;
        const ids = this.connectionIds?.remote;
        if (ids && (reserved !== null ? ids.adopt(reserved.sequence) : ids.rotate())) this.useRemoteId();
        this.events.push({ type: 'path-changed', connection: this, remote: validated.remote });
        return;
      }
      case FrameType.Close: {
        const { errorCode, application, reason } = f;
        return this.machine.onPeerClose(now, { errorCode, application, reason, remote: true });
      }
      case FrameType.NewConnectionId: {
        const ids = this.connectionIds;
        if (ids === null) return; // no reset key: one connection ID per side
        ids.remote.onNewConnectionId(f);
        this.useRemoteId();
        return;
      }
      case FrameType.RetireConnectionId:
        if (this.connectionIds === null) return;
        this.connectionIds.local.onRetire(f.sequence, this.rxBuf.subarray(1, 1 + CONNECTION_ID_LENGTH));
        this.idsChangedFlag = true;
        return;
      case FrameType.Datagram:
        if (this.config.maxDatagramFrameSize === 0 || f.data.length > this.config.maxDatagramFrameSize)
          throw protocolError(TransportErrorCode.PROTOCOL_VIOLATION, 'DATAGRAM larger than advertised');
        this.events.push({ type: 'datagram', connection: this, data: f.data.slice() });
        return;
      default:
        // PADDING, PING (the ACK is the answer), DATA_BLOCKED (informational, RFC 9000 §19.12: our
        // window updates follow consumption), NEW/RETIRE_CONNECTION_ID (one connection ID per side).
        return;
    }
  }

  // SentFrameHandler: what acknowledged and lost packets carried

  onFrameAcked(kind: number, a: number, b: number, c: number): void {
    if (kind === SentFrame.Ack) this.ackTracker.onAckOfAck(a);
    else if (kind === SentFrame.PmtuProbe) this.pmtud?.onProbeAcked(a, this.now);
    else if (kind === SentFrame.NewConnectionId || kind === SentFrame.RetireConnectionId) return;
    else this.streams.onFrameAcked(kind, a, b, c);
  }

  onFrameLost(kind: number, a: number, b: number, c: number): void {
    if (kind === SentFrame.PathChallenge) this.paths.active.repeatChallenge();
    else if (kind === SentFrame.PmtuProbe) this.pmtud?.onProbeLost(a, this.now);
    else if (kind === SentFrame.NewConnectionId) this.connectionIds?.local.onFrameLost(a);
    else if (kind === SentFrame.RetireConnectionId) this.connectionIds?.remote.onRetireLost(a);
    else this.streams.onFrameLost(kind, a, b, c);
  }

  // ---------------------------------------------------------------------------------------------
  // Adapter calls (the application's: connection-application.ts)

  /** Routes or reset tokens changed since acknowledgeIdChanges (the endpoint then polls connectionIds). */
  get idsChanged(): boolean {
    // Token changes also come from timers (a failed path's reserved ID is retired: path-migration.ts).
    return this.idsChangedFlag || this.connectionIds?.remote.hasTokenChanges === true;
  }
  acknowledgeIdChanges(): void {
    this.idsChangedFlag = false;
  }

  /** Where the datagram written by the last pollTransmit goes (the active path, or a probed one). */
  get transmitDestination(): Address {
    return this.transmitTo;
  }

  /** A packet while closing or draining: does it carry the peer's CLOSE? (connection-state.ts decides.) */
  private onPacketWhileClosing(buf: Uint8Array, headerLength: number, plain: number): void {
    let hasClose = false;
    try {
      const d = this.decoder.reset(buf, headerLength, headerLength + plain);
      for (let f = d.next(); f !== null; f = d.next()) if (f.type === FrameType.Close) hasClose = true;
    } catch {
      return;
    }
    this.machine.onPacketWhileClosing(hasClose);
  }

  // ---------------------------------------------------------------------------------------------
  // Timers: one table (timers.ts), armed, merged and run by connection-timers.ts

  nextDeadline(): number {
    this.timerRows.update();
    return this.timerRows.deadline;
  }

  /** nextDeadline() into a field, read through `deadline` (hot path: see ConnectionTimers.update). */
  updateDeadline(): void {
    this.timerRows.update();
  }

  /** The deadline the last updateDeadline() computed. */
  get deadline(): number {
    return this.timerRows.deadline;
  }

  onTimeout(now: number): void {
    this.now = now;
    this.timerRows.onTimeout(now);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /**
   * Writes the next datagram into buf and returns its length (0 when nothing is due); it goes to
   * transmitDestination. Hot path.
   */
  pollTransmit(now: number, buf: Uint8Array): number {
    this.now = now;
    const kind = this.machine.kind;
    if (kind === 'closed') return 0;
    const active = this.paths.active;
    this.transmitTo = active.remote;
    const flight = this.handshake.dueFlight;
    if (flight !== null) {
      if (!active.canSend(flight.length)) return 0;
      this.handshake.flightSent();
      buf.set(flight, 0);
      active.onSent(flight.length);
      this.sender.countSent(flight.length);
      return flight.length;
    }
    const protection = this.protection;
    if (protection === null) return 0;
    if (kind === 'closing' || kind === 'draining') {
      const frame = this.machine.takeCloseFrame();
      if (frame === null) return 0;
      // To an address not yet validated the CLOSE, too, stays within 3× what came from it (RFC 9000
      // §8.1): a closing server's CLOSE answers unauthenticated handshake packets and repeats on a
      // timer, so without the limit one spoofed Initial (or a stream of 24-byte Handshake packets
      // with a known CID) would reflect up to a 1 KiB reason many times. The reason is cut to fit;
      // when not even the bare frame fits, nothing goes out.
      const room = Math.min(buf.length, active.budget);
      const length = this.sender.close(buf, protection, this.peerCid, frame, room);
      if (length > 0) active.onSent(length);
      return length;
    }
    if (this.paths.probing) {
      const probe = this.paths.dueProbe();
      if (probe !== null) {
        const length = this.sender.probe(now, buf, protection, probe.connectionId?.connectionId ?? this.peerCid, probe);
        if (length > 0) {
          this.transmitTo = probe.remote;
          return length;
        }
      }
    }
    const pmtud = this.pmtud;
    if (pmtud !== null && kind === 'established') {
      // A DPLPMTUD probe when one is due and the window has room for it (RFC 8899 §4.1, RFC 9000 §14.4).
      const size = pmtud.probeSizeDue(now);
      if (size > 0 && this.recovery.bytesInFlight + size <= this.recovery.cc.window) {
        const timeout = 3 * this.rtt.pto(this.recovery.peerMaxAckDelay);
        const length = this.sender.pmtuProbe(now, buf, protection, this.peerCid, size, timeout);
        if (length > 0) return length;
      }
    }
    const length = this.sender.pollData(now, buf, protection, this.peerCid);
    if (length === 0) return 0;
    this.machine.maybeFinishGracefulClose(now);
    return length;
  }

  stats(): ConnectionStats {
    const cc = this.recovery.cc;
    return {
      smoothedRttMs: this.rtt.smoothedRtt,
      minRttMs: this.rtt.hasSample ? this.rtt.minRtt : 0,
      rttVarianceMs: this.rtt.rttVar,
      congestionWindowBytes: cc.window,
      bytesInFlight: this.recovery.bytesInFlight,
      queueingDelayMs: cc.queueingDelay,
      bytesSent: this.sender.bytesSent,
      bytesReceived: this.bytesReceived,
      packetsSent: this.sender.packetsSent,
      packetsReceived: this.packetsReceived,
      packetsLost: this.recovery.packetsLost,
      streamBytesSent: this.streams.bytesSent,
      streamBytesReceived: this.streams.bytesReceived,
      datagramsDropped: this.sender.datagramsDropped,
      pathMtu: this.pmtud === null ? this.maxSize : this.pmtud.mtu,
      pathMtuSearchMs: this.pmtud === null ? -1 : this.pmtud.searchMs,
      keepAliveIntervalMs: this.liveness.keepAliveIntervalMs,
      migrations: this.paths.migrations,
    };
  }
}
