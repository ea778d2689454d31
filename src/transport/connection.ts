import type { KeyPair } from '../crypto/keys.js';
import { HandshakeState } from '../crypto/noise/handshake-state.js';
import { patternById, type PatternDefinition } from '../crypto/noise/patterns.js';
import { OpenResult, PacketProtection } from '../crypto/packet-protection.js';
import { makePrologue } from '../crypto/prologue.js';
import { FrameDecoder } from '../wire/frames-decode.js';
import { padDatagram, writeLongHeader } from '../wire/headers.js';
import { decodePacketNumber, packetNumberLength } from '../wire/packet-number.js';
import { WireError } from '../wire/errors.js';
import {
  AEAD_TAG_LENGTH,
  CONNECTION_ID_LENGTH,
  FrameType,
  LongPacketType,
  MIN_INITIAL_DATAGRAM_SIZE,
  type LongHeader,
} from '../wire/types.js';
import type {
  Address,
  CloseReason,
  ConnectionEvent,
  ConnectionHandle,
  ConnectionStats,
  RandomSource,
  StreamRead,
} from './api.js';
import type { TransportConfig } from './config.js';
import type { CongestionController } from './congestion/controller.js';
import { createCongestionController } from './congestion/select.js';
import { TransportError, TransportErrorCode, TransportErrorName, protocolError } from './errors.js';
import { FRAME_HANDLERS } from './frame-handlers.js';
import { ReceiveFlowControl, SendFlowControl } from './flow-control.js';
import { PacketBuilder } from './packet-builder.js';
import { Queue } from './queue.js';
import { Pacer } from './pacer.js';
import { Path } from './path.js';
import { AckTracker } from './recovery/ack-tracker.js';
import { LossDetection, type AckInfo, type SentFrameHandler } from './recovery/loss-detection.js';
import { RttEstimator } from './recovery/rtt-estimator.js';
import { SentFrame } from './recovery/sent-packets.js';
import { Signal, type Stream } from './streams/stream.js';
import { StreamMap } from './streams/stream-map.js';
import {
  decodeTransportParameters,
  encodeTransportParameters,
  type TransportParameters,
} from './transport-parameters.js';

/** Where a connection reports events (the endpoint's queue). */
export interface EventSink {
  push(event: ConnectionEvent): void;
}

export interface ConnectionInit {
  readonly id: number;
  readonly config: TransportConfig;
  readonly staticKeyPair: KeyPair;
  readonly random: RandomSource;
  readonly remote: Address;
  readonly localCid: Uint8Array;
  readonly events: EventSink;
  readonly now: number;
}

type State = ConnectionHandle['state'];

/** Bytes of a short header with the longest packet number, plus tag: per-packet overhead bound. */
const SHORT_OVERHEAD = 1 + CONNECTION_ID_LENGTH + 4 + AEAD_TAG_LENGTH;
/** Longest wait between CLOSE repetitions while closing (ms; at least one PTO). */
const MAX_CLOSE_INTERVAL_MS = 500;
/** Without an idle timeout, CLOSE is repeated at most this many times. */
const MAX_CLOSE_RETRANSMITS_WITHOUT_IDLE = 16;
/** Smallest packet worth building (header, a few frames, tag). */
const MIN_PACKET_SIZE = 64;
/** Longest wait between handshake retransmissions (ms). */
const MAX_HANDSHAKE_INTERVAL_MS = 2000;
/** Cap on how many times the handshake retransmission timer backs off. */
const MAX_HANDSHAKE_BACKOFF = 6;
/** Entries of the txBuf view cache (power of two). */
const TX_VIEW_CACHE_SIZE = 8;
const READ_BLOCKED: StreamRead = Object.freeze({ kind: 'blocked' });
const READ_FIN: StreamRead = Object.freeze({ kind: 'fin' });

/** onMaxDataFrame's Map#forEach callback (`this` is the connection). */
function enqueueIfUnsent(this: Connection, s: Stream): void {
  if (s.send?.hasUnsent) this.enqueueSend(s);
}

/**
 * One connection: orchestration of handshake, packet protection, frames, streams, flow control,
 * recovery, congestion control, pacing and liveness. Sans-IO: time is an argument, randomness is
 * injected, datagrams go in through handleLong/handleShort and come out of pollTransmit.
 *
 * Handshake (long headers, no packet numbers; spec/transport.md):
 *   client → Initial   [pattern id][Noise msg 1 (transport parameters)]   padded to ≥ 1200 bytes
 *   server → Handshake [pattern id][Noise msg 2 (transport parameters)]
 *   client → Handshake [pattern id][Noise msg 3]                          (XX only)
 * The client repeats its last message on a backed-off timer until the handshake is confirmed (IK:
 * msg 2 read; XX: a short-header packet from the server authenticated); the server answers a
 * repeated Initial with its stored msg 2. Everything after is short-header protected packets.
 */
export class Connection implements ConnectionHandle, SentFrameHandler {
  readonly id: number;
  readonly isClient: boolean;
  readonly config: TransportConfig;
  private readonly random: RandomSource;
  private readonly events: EventSink;
  private readonly staticKeyPair: KeyPair;

  private stateValue: State = 'handshaking';
  private closeRequested = false;
  readonly path: Path;
  readonly localCid: Uint8Array;
  /** Client: the random DCID of its Initial (the server routes repeated Initials by it). */
  initialDcid: Uint8Array;
  private remoteCid: Uint8Array;

  // --- handshake
  private handshake: HandshakeState | null = null;
  private pattern: PatternDefinition | null = null;
  private handshakeDatagram: Uint8Array | null = null;
  private handshakeSendPending = false;
  private handshakeRetransmitAt = Infinity;
  private handshakeBackoff = 0;
  private readonly handshakeDeadline: number = 0;
  handshakeConfirmed = false;
  private protection: PacketProtection | null = null;
  private remoteKey: Uint8Array | null = null;
  private peerParams: TransportParameters | null = null;

  // --- recovery and congestion
  readonly rtt: RttEstimator;
  readonly recovery: LossDetection;
  readonly ackTracker: AckTracker;
  private readonly pacer: Pacer;
  private pacingDeadline = Infinity;
  private probesPending = 0;
  private readonly builder = new PacketBuilder();
  /** Reused STREAM/ACK frame objects: handlers use a frame before the next is decoded, keep nothing. */
  private readonly decoder = new FrameDecoder({ reuseFrames: true });
  private readonly maxSize: number = 0;
  /**
   * Scratch datagrams (hot path). Short-header packets are built and sealed in txBuf, then copied
   * into the caller's buffer (or built in that buffer directly when the caller passes the same one
   * every time, see pollTransmit); received ones are copied into rxBuf and opened and decoded there.
   * The packet layouts repeat in these fixed buffers, so the AEAD views (PacketProtection) and the
   * STREAM data views (FrameDecoder) are reused instead of made per packet; a copy is one memcpy.
   */
  private txBuf: Uint8Array;
  private rxBuf: Uint8Array;
  /** Views txBuf[0, length) for the copy out, direct-mapped by length. */
  private readonly txViews: Uint8Array[] = [];
  /** The buffer of the previous pollTransmit (see there). */
  private lastTxTarget: Uint8Array | null = null;

  // --- streams and flow control
  readonly streams: StreamMap;
  readonly connRecvFc: ReceiveFlowControl;
  connSendFc: SendFlowControl = new SendFlowControl(0);
  /** Streams with data to send, round-robin (hot path: a ring, no allocation per packet). */
  private readonly sendQueue = new Queue<Stream>();
  /** Streams with RESET_STREAM / STOP_SENDING / MAX_STREAM_DATA / STREAM_DATA_BLOCKED to send. */
  private readonly controlQueue = new Queue<Stream>();
  maxDataPending = false;
  dataBlockedPending = false;
  pingPending = false;
  private readonly datagramQueue: Uint8Array[] = [];

  // --- liveness and close
  // Timestamps are fractional: initialised as numbers here, not left undefined until the constructor,
  // so V8 stores them in place instead of boxing every store (see Pacer).
  private idleTimeoutMs = 0;
  private lastActivity = 0;
  /** Latest `now` seen by any entry point (for API calls that take no time argument). */
  private now = 0;
  private ackElicitingSinceReceive = false;
  private lastAckElicitingSent = 0;
  /** Scratch for nextDeadline()/onTimeout(), see updateTimerFields(). */
  private idleAt = Infinity;
  private keepAliveAt = Infinity;
  private closeInfo: CloseReason | null = null;
  private closeFrame: { application: boolean; errorCode: number; reason: string } | null = null;
  private closeFramePending = false;
  private closeDeadline = Infinity;
  /** Closing: next CLOSE repetition (the peer answers a CLOSE with its own, which ends closing). */
  private closeRetransmitAt = Infinity;
  private closeRetransmits = 0;

  // --- stats
  private bytesSent = 0;
  private bytesReceived = 0;
  private packetsSent = 0;
  private packetsReceived = 0;
  private streamBytesSent = 0;
  private streamBytesReceived = 0;
  datagramsDropped = 0;

  private constructor(init: ConnectionInit, isClient: boolean) {
    this.id = init.id;
    this.isClient = isClient;
    this.config = init.config;
    this.random = init.random;
    this.events = init.events;
    this.staticKeyPair = init.staticKeyPair;
    this.localCid = init.localCid;
    this.initialDcid = new Uint8Array(CONNECTION_ID_LENGTH);
    this.remoteCid = this.initialDcid;
    this.path = new Path(init.remote, isClient);
    this.maxSize = init.config.maxUdpPayloadSize;
    this.txBuf = new Uint8Array(this.maxSize);
    this.rxBuf = new Uint8Array(this.maxSize);
    for (let i = 0; i < TX_VIEW_CACHE_SIZE; i++) this.txViews.push(this.txBuf.subarray(0, 0));
    this.rtt = new RttEstimator(init.config.initialRttMs);
    this.ackTracker = new AckTracker(init.config.ackElicitingThreshold, init.config.maxAckDelayMs);
    this.recovery = new LossDetection(this.rtt, this.makeController(this.maxSize), this, this.maxSize);
    this.pacer = new Pacer(this.maxSize);
    this.streams = new StreamMap(isClient, init.config);
    this.connRecvFc = new ReceiveFlowControl(init.config.initialConnectionWindow, init.config.maxConnectionWindow);
    this.idleTimeoutMs = init.config.idleTimeoutMs;
    this.lastActivity = init.now;
    this.now = init.now;
    this.lastAckElicitingSent = init.now;
    this.handshakeDeadline = init.now + init.config.handshakeTimeoutMs;
  }

  private makeController(mss: number): CongestionController {
    const c = this.config;
    const options = {
      maxDatagramSize: mss,
      initialWindowPackets: c.initialWindowPackets,
      targetDelayMs: c.ledbatTargetMs,
      periodicSlowdown: c.ledbatPeriodicSlowdown,
      allowedIncrease: c.ledbatAllowedIncrease,
    };
    return createCongestionController(c.congestionController, options);
  }

  private localParams(): TransportParameters {
    const c = this.config;
    return {
      maxIdleTimeoutMs: c.idleTimeoutMs,
      initialMaxData: c.initialConnectionWindow,
      initialMaxStreamDataBidiLocal: c.initialStreamWindow,
      initialMaxStreamDataBidiRemote: c.initialStreamWindow,
      initialMaxStreamDataUni: c.initialStreamWindow,
      initialMaxStreamsBidi: c.maxStreamsBidi,
      initialMaxStreamsUni: c.maxStreamsUni,
      maxAckDelayMs: c.maxAckDelayMs,
      maxDatagramFrameSize: c.maxDatagramFrameSize,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Handshake

  /** Starts a client connection: builds the Initial (Noise msg 1). */
  static client(
    init: ConnectionInit,
    initialDcid: Uint8Array,
    options: { remotePublicKey?: Uint8Array; psk?: Uint8Array },
  ): Connection {
    const c = new Connection(init, true);
    c.initialDcid = initialDcid;
    c.remoteCid = initialDcid;
    const pattern = options.remotePublicKey !== undefined ? 'IK' : 'XX';
    c.handshake = HandshakeState.initiator({
      pattern,
      staticKeyPair: init.staticKeyPair,
      ...(options.remotePublicKey !== undefined ? { remoteStaticKey: options.remotePublicKey } : {}),
      ...(options.psk !== undefined ? { psk: options.psk } : {}),
      prologue: makePrologue(),
      random: init.random,
    });
    c.pattern = c.handshake.pattern;
    const msg = c.handshake.writeMessage(encodeTransportParameters(c.localParams()));
    c.setHandshakeDatagram(LongPacketType.Initial, msg, init.now);
    return c;
  }

  /**
   * Accepts a client's Initial: reads Noise msg 1 and answers with msg 2. Throws when the Initial
   * is not acceptable (the endpoint then drops it without state).
   */
  static server(init: ConnectionInit, header: LongHeader, psk: Uint8Array | undefined): Connection {
    const payload = header.payload;
    const pattern = patternById(payload[0] ?? -1);
    if (pattern === undefined) throw protocolError(TransportErrorCode.HANDSHAKE_FAILED, 'unknown handshake pattern');
    if (pattern.usesPsk && psk === undefined) throw protocolError(TransportErrorCode.HANDSHAKE_FAILED, 'psk required');
    const c = new Connection(init, false);
    c.handshake = HandshakeState.responder({
      pattern: pattern.responderStaticPremessage ? 'IK' : 'XX',
      staticKeyPair: init.staticKeyPair,
      ...(pattern.usesPsk && psk !== undefined ? { psk } : {}),
      prologue: makePrologue(),
      random: init.random,
    });
    if (c.handshake.pattern.id !== pattern.id)
      throw protocolError(TransportErrorCode.HANDSHAKE_FAILED, 'pattern mismatch');
    c.pattern = pattern;
    const params = c.handshake.readMessage(payload.subarray(1));
    c.applyPeerParams(decodeTransportParameters(params));
    c.initialDcid = Uint8Array.from(header.destinationConnectionId);
    c.remoteCid = Uint8Array.from(header.sourceConnectionId);
    c.path.onReceived(header.packetLength);
    c.bytesReceived += header.packetLength;
    c.packetsReceived++;
    const msg = c.handshake.writeMessage(encodeTransportParameters(c.localParams()));
    c.setHandshakeDatagram(LongPacketType.Handshake, msg, init.now);
    c.handshakeRetransmitAt = Infinity; // the server answers repeated Initials instead
    c.events.push({ type: 'incoming', connection: c });
    if (c.handshake.isComplete) c.onHandshakeComplete(init.now);
    return c;
  }

  private setHandshakeDatagram(type: LongPacketType, msg: Uint8Array, now: number): void {
    const payloadLength = 1 + msg.length;
    const buf = new Uint8Array(Math.max(MIN_INITIAL_DATAGRAM_SIZE, payloadLength + 64));
    const token = new Uint8Array(0);
    const dcid = type === LongPacketType.Initial ? this.initialDcid : this.remoteCid;
    let o = writeLongHeader(buf, 0, type, dcid, this.localCid, token, payloadLength);
    buf[o++] = (this.pattern as PatternDefinition).id;
    buf.set(msg, o);
    o += msg.length;
    if (type === LongPacketType.Initial) o = padDatagram(buf, o, MIN_INITIAL_DATAGRAM_SIZE);
    this.handshakeDatagram = buf.subarray(0, o);
    this.handshakeSendPending = true;
    this.handshakeBackoff = 0;
    this.handshakeRetransmitAt = now + this.handshakeRetransmitPeriod();
  }

  private handshakeRetransmitPeriod(): number {
    const base = this.rtt.hasSample ? this.rtt.pto(0) : this.config.initialRttMs * 3;
    // Exponential backoff, but at most 2 s (or one base period) between attempts, so several
    // attempts fit in the handshake timeout on a lossy path.
    return Math.min(base * 2 ** this.handshakeBackoff, Math.max(base, MAX_HANDSHAKE_INTERVAL_MS));
  }

  private applyPeerParams(p: TransportParameters): void {
    this.peerParams = p;
    this.connSendFc = new SendFlowControl(p.initialMaxData);
    this.streams.peerStreamDataLimits = [
      p.initialMaxStreamDataBidiLocal,
      p.initialMaxStreamDataBidiRemote,
      p.initialMaxStreamDataUni,
    ];
    this.streams.onMaxStreams(true, p.initialMaxStreamsBidi);
    this.streams.onMaxStreams(false, p.initialMaxStreamsUni);
    this.recovery.peerMaxAckDelay = p.maxAckDelayMs;
    const local = this.config.idleTimeoutMs;
    const remote = p.maxIdleTimeoutMs;
    this.idleTimeoutMs = local === 0 ? remote : remote === 0 ? local : Math.min(local, remote);
  }

  private onHandshakeComplete(now: number): void {
    const hs = this.handshake as HandshakeState;
    this.protection = new PacketProtection(hs.split());
    this.remoteKey = hs.remoteStaticKey;
    hs.destroy();
    this.handshake = null;
    this.stateValue = 'established';
    this.lastActivity = now;
    this.lastAckElicitingSent = now;
    // Elicit an ACK at once so the peer learns the handshake completed (confirmation).
    this.pingPending = true;
    this.events.push({ type: 'connected', connection: this });
  }

  /** A long-header packet routed to this connection. */
  handleLong(header: LongHeader, from: Address, now: number): void {
    this.now = now;
    if (this.stateValue === 'closed' || this.stateValue === 'draining' || this.stateValue === 'closing') return;
    this.bytesReceived += header.packetLength;
    this.packetsReceived++;
    if (header.packetType === LongPacketType.Initial) {
      // Server: a repeated Initial means our msg 2 was lost (or is late): answer it again.
      if (!this.isClient && !this.handshakeConfirmed && this.handshakeDatagram !== null && this.sameAddress(from)) {
        this.path.onReceived(header.packetLength);
        this.handshakeSendPending = true;
      }
      return;
    }
    if (header.packetType !== LongPacketType.Handshake) return;
    const hs = this.handshake;
    const payload = header.payload;
    if ((payload[0] ?? -1) !== this.pattern?.id) return;
    if (hs === null || hs.isMyTurn) {
      // Not expecting a message: a repeat of the peer's last one. The XX client repeats msg 3.
      if (this.isClient && !this.handshakeConfirmed && this.handshakeDatagram !== null)
        this.handshakeSendPending = true;
      return;
    }
    let params: Uint8Array;
    try {
      params = hs.readMessage(payload.subarray(1));
    } catch {
      return; // forged or corrupted: state unchanged (crypto guarantees it), drop
    }
    this.path.onReceived(header.packetLength);
    try {
      if (this.isClient) {
        this.applyPeerParams(decodeTransportParameters(params));
        this.remoteCid = Uint8Array.from(header.sourceConnectionId);
      }
    } catch (e) {
      this.failHandshake(now, e);
      return;
    }
    if (hs.isMyTurn) {
      // XX client: msg 3.
      const msg = hs.writeMessage(new Uint8Array(0));
      this.setHandshakeDatagram(LongPacketType.Handshake, msg, now);
    } else {
      this.handshakeDatagram = null;
      this.handshakeRetransmitAt = Infinity;
    }
    if (hs.isComplete) {
      // IK client, XX server: the peer already holds the keys, so the handshake is confirmed.
      if ((this.isClient && this.pattern?.responderStaticPremessage) || !this.isClient) this.confirmHandshake();
      this.onHandshakeComplete(now);
    }
  }

  private failHandshake(now: number, e: unknown): void {
    const code = e instanceof TransportError ? e.transportCode : TransportErrorCode.HANDSHAKE_FAILED;
    this.finishClosed(now, {
      errorCode: code,
      application: false,
      reason: (e as Error).message ?? 'handshake failed',
      remote: false,
    });
  }

  private confirmHandshake(): void {
    if (this.handshakeConfirmed) return;
    this.handshakeConfirmed = true;
    this.handshakeDatagram = null;
    this.handshakeSendPending = false;
    this.handshakeRetransmitAt = Infinity;
    this.path.validated = true;
  }

  private sameAddress(a: Address): boolean {
    const r = this.path.remote;
    return a.port === r.port && a.host === r.host;
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving protected packets

  /**
   * A short-header datagram routed to this connection: buf[0, length). Hot path. It is copied into
   * the connection's scratch buffer and decrypted there; `buf` itself is left as it was.
   */
  handleShort(buf: Uint8Array, length: number, from: Address, now: number): void {
    this.now = now;
    const state = this.stateValue;
    if (state === 'closed' || this.protection === null) return;
    // Short header (spec/wire.md): parsed inline, without readShortHeader's result object (hot path).
    const first = buf[0] as number;
    const pnLength = ((first & 0x03) + 1) as 1 | 2 | 3 | 4;
    const headerLength = 1 + CONNECTION_ID_LENGTH + pnLength;
    if (length < headerLength + 1 + AEAD_TAG_LENGTH) return;
    const keyPhase = ((first >> 2) & 1) as 0 | 1;
    const reserved = (first >> 3) & 0x07;
    let truncated = 0;
    for (let i = 1 + CONNECTION_ID_LENGTH; i < headerLength; i++) truncated = truncated * 256 + (buf[i] as number);
    const pn = decodePacketNumber(this.ackTracker.largest, truncated, pnLength);
    if (this.ackTracker.isDuplicate(pn)) return;
    // Open and decode in rxBuf (see txBuf): one memcpy, and the views into it are reused.
    if (length > this.rxBuf.length) this.rxBuf = new Uint8Array(length); // the peer allows larger datagrams than we do
    const rx = this.rxBuf;
    if (length === buf.length) rx.set(buf, 0);
    else rx.set(buf.subarray(0, length), 0);
    buf = rx;
    const plain = this.protection.open(buf, headerLength, length, pn, keyPhase);
    if (plain < 0) {
      if (plain === OpenResult.AEAD_LIMIT_REACHED)
        this.closeWithError(now, TransportErrorCode.AEAD_LIMIT_REACHED, 'AEAD limit reached');
      return;
    }
    this.bytesReceived += length;
    this.packetsReceived++;
    this.lastActivity = now;
    this.ackElicitingSinceReceive = false;
    if (state === 'closing' || state === 'draining') {
      this.onPacketWhileClosing(buf, headerLength, plain);
      return;
    }
    if (reserved !== 0) {
      this.closeWithError(now, TransportErrorCode.PROTOCOL_VIOLATION, 'reserved header bits set');
      return;
    }
    if (!this.handshakeConfirmed) this.confirmHandshake();
    const newest = pn > this.ackTracker.largest;
    if (!this.sameAddress(from)) {
      if (!newest) return; // reordered packet from an old path: ignore rather than flap
      this.path.migrate(from, this.random);
      this.events.push({ type: 'path-changed', connection: this, remote: from });
    }
    this.path.onReceived(length);
    let ackEliciting = false;
    try {
      const d = this.decoder.reset(buf, headerLength, headerLength + plain);
      for (let f = d.next(); f !== null; f = d.next()) {
        const t = f.type;
        if (t !== FrameType.Ack && t !== FrameType.Padding && t !== FrameType.Close) ackEliciting = true;
        const handler = FRAME_HANDLERS[t];
        if (handler !== undefined) handler(this, f, now);
        if ((this.stateValue as State) !== 'established') break;
      }
    } catch (e) {
      if (e instanceof WireError) {
        this.closeWithError(now, TransportErrorCode.FRAME_ENCODING_ERROR, e.message);
      } else if (e instanceof TransportError) {
        this.closeWithError(now, e.transportCode, e.message);
      } else {
        throw e;
      }
      return;
    }
    this.ackTracker.onPacket(pn, ackEliciting, now);
    this.flushOpenedEvents();
    this.maybeFinishGracefulClose(now);
  }

  private flushOpenedEvents(): void {
    const opened = this.streams.newlyOpened;
    if (opened.length === 0) return;
    for (const id of opened) this.events.push({ type: 'stream-opened', connection: this, streamId: id });
    opened.length = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Frame handling (called from frame-handlers.ts)

  onAckFrame(ack: AckInfo, now: number): void {
    const ok = this.recovery.onAck(ack, now, this.handshakeConfirmed);
    if (!ok) throw protocolError(TransportErrorCode.PROTOCOL_VIOLATION, 'ACK of a packet never sent');
  }

  onStreamFrame(streamId: number, offset: number, data: Uint8Array, fin: boolean): void {
    const s = this.streams.getForFrame(streamId);
    if (s === null) return;
    if (this.streams.newlyOpened.length > 0) this.flushOpenedEvents();
    const recv = s.recv;
    const fc = s.recvFc;
    if (recv === null || fc === null)
      throw protocolError(TransportErrorCode.STREAM_STATE_ERROR, `STREAM on send-only stream ${streamId}`);
    const end = offset + data.length;
    if (recv.finalSize >= 0 && (end > recv.finalSize || (fin && end !== recv.finalSize))) {
      throw protocolError(TransportErrorCode.FINAL_SIZE_ERROR, `stream ${streamId} data beyond its final size`);
    }
    if (fin) {
      if (recv.highestReceived > end)
        throw protocolError(TransportErrorCode.FINAL_SIZE_ERROR, `stream ${streamId} FIN below received data`);
      recv.finalSize = end;
    }
    if (end > fc.limit)
      throw protocolError(TransportErrorCode.FLOW_CONTROL_ERROR, `stream ${streamId} exceeded its flow-control limit`);
    let increase: number;
    const discarding = s.recvResetCode >= 0 || s.stopSending !== Signal.None;
    if (discarding) {
      increase = Math.max(0, end - recv.highestReceived);
      recv.highestReceived += increase;
    } else {
      // readable is only compared while no 'stream-readable' is outstanding (saves two lookups per
      // packet while the application has not drained the stream yet).
      const before = s.readableNotified ? 0 : recv.readable;
      increase = recv.insert(offset, data);
      this.streamBytesReceived += increase;
      if (!s.readableNotified && (recv.readable > before || (fin && recv.complete))) {
        s.readableNotified = true;
        // One event object per stream, reused: it carries nothing that changes.
        s.readableEvent ??= { type: 'stream-readable', connection: this, streamId };
        this.events.push(s.readableEvent);
      }
    }
    fc.onReceived(increase);
    if (!this.connRecvFc.onReceived(increase)) {
      throw protocolError(TransportErrorCode.FLOW_CONTROL_ERROR, 'connection flow-control limit exceeded');
    }
    if (discarding) {
      if (increase > 0) this.consumeConnection(increase);
      if (fin) this.maybeRemove(s);
    }
  }

  onResetStreamFrame(streamId: number, errorCode: number, finalSize: number): void {
    const s = this.streams.getForFrame(streamId);
    if (s === null) return;
    if (this.streams.newlyOpened.length > 0) this.flushOpenedEvents();
    const recv = s.recv;
    const fc = s.recvFc;
    if (recv === null || fc === null)
      throw protocolError(TransportErrorCode.STREAM_STATE_ERROR, `RESET_STREAM on send-only stream ${streamId}`);
    if ((recv.finalSize >= 0 && recv.finalSize !== finalSize) || finalSize < recv.highestReceived) {
      throw protocolError(TransportErrorCode.FINAL_SIZE_ERROR, `stream ${streamId} reset with a different final size`);
    }
    if (finalSize > fc.limit)
      throw protocolError(TransportErrorCode.FLOW_CONTROL_ERROR, `stream ${streamId} final size beyond limit`);
    if (s.recvResetCode >= 0 || s.finDelivered) return;
    const increase = finalSize - recv.highestReceived;
    recv.highestReceived = finalSize;
    fc.onReceived(increase);
    if (!this.connRecvFc.onReceived(increase))
      throw protocolError(TransportErrorCode.FLOW_CONTROL_ERROR, 'connection flow-control limit exceeded');
    // Everything not read is consumed for connection flow control (RFC 9000 §4.5).
    const unread = finalSize - recv.readOffset;
    recv.finalSize = finalSize;
    recv.discard();
    s.recvResetCode = errorCode;
    if (unread > 0) this.consumeConnection(unread);
    this.events.push({ type: 'stream-reset', connection: this, streamId, errorCode });
    this.maybeRemove(s);
  }

  onStopSendingFrame(streamId: number, errorCode: number): void {
    const s = this.streams.getForFrame(streamId);
    if (s === null) return;
    if (this.streams.newlyOpened.length > 0) this.flushOpenedEvents();
    if (s.send === null)
      throw protocolError(TransportErrorCode.STREAM_STATE_ERROR, `STOP_SENDING on receive-only stream ${streamId}`);
    if (s.stopReceivedCode >= 0) return;
    s.stopReceivedCode = errorCode;
    if (s.reset === Signal.None && !(s.finAcked && s.send.allAcked)) this.resetSendHalf(s, errorCode);
    this.events.push({ type: 'stream-stop-sending', connection: this, streamId, errorCode });
  }

  onMaxDataFrame(maximum: number): void {
    // Map#forEach with a module-level callback: no iterator or closure per frame.
    if (this.connSendFc.update(maximum)) this.streams.streams.forEach(enqueueIfUnsent, this);
  }

  onMaxStreamDataFrame(streamId: number, maximum: number): void {
    const s = this.streams.getForFrame(streamId);
    if (s === null) return;
    if (this.streams.newlyOpened.length > 0) this.flushOpenedEvents();
    if (s.sendFc === null)
      throw protocolError(TransportErrorCode.STREAM_STATE_ERROR, `MAX_STREAM_DATA on receive-only stream ${streamId}`);
    if (s.sendFc.update(maximum)) this.enqueueSend(s);
  }

  onMaxStreamsFrame(bidirectional: boolean, maximum: number): void {
    this.streams.onMaxStreams(bidirectional, maximum);
  }

  onStreamDataBlockedFrame(streamId: number): void {
    const s = this.streams.getForFrame(streamId);
    if (s !== null && s.recv === null)
      throw protocolError(TransportErrorCode.STREAM_STATE_ERROR, `STREAM_DATA_BLOCKED on send-only stream ${streamId}`);
  }

  onPathChallengeFrame(data: Uint8Array): void {
    this.path.onChallenge(data);
  }

  onPathResponseFrame(data: Uint8Array): void {
    this.path.onResponse(data);
  }

  onCloseFrame(application: boolean, errorCode: number, reason: string, now: number): void {
    this.enterDraining(now, { errorCode, application, reason, remote: true });
  }

  onDatagramFrame(data: Uint8Array): void {
    if (this.config.maxDatagramFrameSize === 0 || data.length > this.config.maxDatagramFrameSize) {
      throw protocolError(TransportErrorCode.PROTOCOL_VIOLATION, 'DATAGRAM larger than advertised');
    }
    this.events.push({ type: 'datagram', connection: this, data: data.slice() });
  }

  // ---------------------------------------------------------------------------------------------
  // SentFrameHandler: what acknowledged and lost packets carried

  onFrameAcked(kind: number, a: number, b: number, c: number): void {
    switch (kind) {
      case SentFrame.Stream:
      case SentFrame.StreamFin: {
        const s = this.streams.streams.get(a);
        if (s === undefined || s.send === null) return;
        s.send.onAck(b, c);
        if (kind === SentFrame.StreamFin) s.finAcked = true;
        if (s.writeBlocked && s.send.space > 0 && s.reset === Signal.None) {
          s.writeBlocked = false;
          s.writableEvent ??= { type: 'stream-writable', connection: this, streamId: a };
          this.events.push(s.writableEvent);
        }
        this.maybeRemove(s);
        return;
      }
      case SentFrame.ResetStream: {
        const s = this.streams.streams.get(a);
        if (s === undefined) return;
        s.reset = Signal.Acked;
        this.maybeRemove(s);
        return;
      }
      case SentFrame.StopSending: {
        const s = this.streams.streams.get(a);
        if (s !== undefined) s.stopSending = Signal.Acked;
        return;
      }
      case SentFrame.Ack:
        this.ackTracker.onAckOfAck(a);
        return;
      default:
        return;
    }
  }

  onFrameLost(kind: number, a: number, b: number, c: number): void {
    switch (kind) {
      case SentFrame.Stream:
      case SentFrame.StreamFin: {
        const s = this.streams.streams.get(a);
        if (s === undefined || s.send === null || s.reset !== Signal.None) return;
        s.send.onLost(b, c);
        if (kind === SentFrame.StreamFin && !s.finAcked) s.finPending = true;
        this.enqueueSend(s);
        return;
      }
      case SentFrame.MaxData:
        this.maxDataPending = true;
        return;
      case SentFrame.MaxStreamData: {
        const s = this.streams.streams.get(a);
        if (s !== undefined && s.recv !== null && s.recv.finalSize < 0) {
          s.maxStreamDataPending = true;
          this.enqueueControl(s);
        }
        return;
      }
      case SentFrame.MaxStreamsBidi:
        this.streams.maxStreamsPending[0] = true;
        return;
      case SentFrame.MaxStreamsUni:
        this.streams.maxStreamsPending[1] = true;
        return;
      case SentFrame.ResetStream: {
        const s = this.streams.streams.get(a);
        if (s !== undefined && s.reset === Signal.Sent) {
          s.reset = Signal.Pending;
          this.enqueueControl(s);
        }
        return;
      }
      case SentFrame.StopSending: {
        const s = this.streams.streams.get(a);
        if (s !== undefined && s.stopSending === Signal.Sent && s.recvResetCode < 0 && !(s.recv?.complete ?? true)) {
          s.stopSending = Signal.Pending;
          this.enqueueControl(s);
        }
        return;
      }
      case SentFrame.PathChallenge:
        this.path.onChallengeLost();
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Streams (ConnectionHandle)

  get state(): State {
    if (this.closeRequested && this.stateValue === 'established') return 'closing';
    return this.stateValue;
  }
  get remoteAddress(): Address {
    return this.path.remote;
  }
  get remotePublicKey(): Uint8Array | null {
    return this.remoteKey;
  }

  private assertOpen(): void {
    if (this.stateValue !== 'established' || this.closeRequested) {
      throw new TransportError(
        TransportErrorName.CONNECTION_CLOSED,
        this.stateValue === 'handshaking' ? 'connection is still handshaking' : 'connection is closing or closed',
        TransportErrorCode.NO_ERROR,
      );
    }
  }

  private stream(streamId: number): Stream {
    const s = this.streams.streams.get(streamId);
    if (s === undefined) {
      throw new TransportError(
        TransportErrorName.UNKNOWN_STREAM,
        `no open stream ${streamId}`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    return s;
  }

  openStream(bidirectional: boolean): number {
    this.assertOpen();
    return this.streams.open(bidirectional).id;
  }

  write(streamId: number, data: Uint8Array): number {
    this.assertOpen();
    const s = this.stream(streamId);
    const send = s.send;
    if (send === null || s.finRequested || s.reset !== Signal.None) {
      throw new TransportError(
        TransportErrorName.STREAM_STATE,
        `stream ${streamId} is not writable`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    const n = send.write(data);
    if (n < data.length) s.writeBlocked = true;
    if (n > 0) this.enqueueSend(s);
    return n;
  }

  finish(streamId: number): void {
    this.assertOpen();
    const s = this.stream(streamId);
    if (s.send === null || s.reset !== Signal.None) {
      throw new TransportError(
        TransportErrorName.STREAM_STATE,
        `stream ${streamId} is not writable`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    if (s.finRequested) return;
    s.finRequested = true;
    s.finPending = true;
    this.enqueueSend(s);
  }

  read(streamId: number, maxBytes: number = Infinity): StreamRead {
    const s = this.streams.streams.get(streamId);
    if (s === undefined) {
      if (this.streams.wasClosed(streamId)) return READ_FIN;
      throw new TransportError(
        TransportErrorName.UNKNOWN_STREAM,
        `no stream ${streamId}`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    const recv = s.recv;
    const fc = s.recvFc;
    if (recv === null || fc === null) {
      throw new TransportError(
        TransportErrorName.STREAM_STATE,
        `stream ${streamId} is send-only`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    if (s.recvResetCode >= 0) {
      s.recvResetDelivered = true;
      this.maybeRemove(s);
      return { kind: 'reset', errorCode: s.recvResetCode };
    }
    const data = recv.read(maxBytes > 0 ? maxBytes : Infinity);
    if (data !== null) {
      const n = data.length;
      if (this.stateValue === 'established') {
        if (fc.onConsumed(n, this.now, this.rtt.smoothedRtt) && recv.finalSize < 0) {
          s.maxStreamDataPending = true;
          this.enqueueControl(s);
        }
        this.connRecvFc.ensureWindow(fc.window * 1.5);
        this.consumeConnection(n);
      }
      if (recv.readable === 0) s.readableNotified = false;
      return { kind: 'data', data };
    }
    if (recv.finished) {
      s.finDelivered = true;
      this.maybeRemove(s);
      return READ_FIN;
    }
    s.readableNotified = false;
    if (this.stateValue !== 'established') return { kind: 'reset', errorCode: this.closeInfo?.errorCode ?? 0 };
    return READ_BLOCKED;
  }

  private consumeConnection(n: number): void {
    if (this.connRecvFc.onConsumed(n, this.now, this.rtt.smoothedRtt)) this.maxDataPending = true;
  }

  resetStream(streamId: number, errorCode: number): void {
    this.assertOpen();
    const s = this.stream(streamId);
    if (s.send === null) {
      throw new TransportError(
        TransportErrorName.STREAM_STATE,
        `stream ${streamId} is receive-only`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    if (s.reset !== Signal.None || (s.finAcked && s.send.allAcked)) return;
    this.resetSendHalf(s, errorCode);
  }

  private resetSendHalf(s: Stream, errorCode: number): void {
    const send = s.send;
    if (send === null) return;
    s.reset = Signal.Pending;
    s.resetCode = errorCode;
    s.resetFinalSize = send.unsent;
    s.finPending = false;
    send.discard();
    this.enqueueControl(s);
  }

  stopSending(streamId: number, errorCode: number): void {
    this.assertOpen();
    const s = this.stream(streamId);
    const recv = s.recv;
    if (recv === null) {
      throw new TransportError(
        TransportErrorName.STREAM_STATE,
        `stream ${streamId} is send-only`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    if (s.stopSending !== Signal.None || s.recvResetCode >= 0) return;
    const unread = recv.highestReceived - recv.readOffset;
    recv.discard();
    if (unread > 0) this.consumeConnection(unread);
    s.stopSending = recv.complete ? Signal.Acked : Signal.Pending;
    s.stopCode = errorCode;
    if (s.stopSending === Signal.Pending) this.enqueueControl(s);
    this.maybeRemove(s);
  }

  sendDatagram(data: Uint8Array): boolean {
    this.assertOpen();
    if (data.length > this.maxDatagramSize()) return false;
    if (this.datagramQueue.length >= this.config.datagramSendQueueLength) {
      this.datagramsDropped++;
      return false;
    }
    this.datagramQueue.push(data.slice());
    return true;
  }

  maxDatagramSize(): number {
    const peer = this.peerParams?.maxDatagramFrameSize ?? 0;
    if (peer === 0) return 0;
    return Math.max(0, Math.min(peer, this.maxSize - SHORT_OVERHEAD - 3));
  }

  private maybeRemove(s: Stream): void {
    if (s.sendDone && s.recvDone) this.streams.remove(s);
  }

  /** Puts a stream with data to send in the send queue (once). */
  enqueueSend(s: Stream): void {
    if (s.queued) return;
    s.queued = true;
    this.sendQueue.push(s);
  }

  private enqueueControl(s: Stream): void {
    if (s.controlQueued) return;
    s.controlQueued = true;
    this.controlQueue.push(s);
  }

  // ---------------------------------------------------------------------------------------------
  // Close

  close(errorCode = 0, reason = ''): void {
    this.closeAt(this.now, errorCode, reason);
  }

  /** close() with an explicit time (the endpoint passes `now`; close() uses the last known time). */
  closeAt(now: number, errorCode = 0, reason = ''): void {
    const st = this.stateValue;
    if (st === 'closing' || st === 'draining' || st === 'closed') return;
    if (errorCode !== 0 || st === 'handshaking') {
      // Nothing can have been written yet during the handshake: closing then is an abort.
      this.abort(now, { application: true, errorCode, reason });
      return;
    }
    this.closeRequested = true;
    this.closeFrame = { application: true, errorCode: 0, reason };
    this.maybeFinishGracefulClose(now);
  }

  /** Aborts with a transport error code (protocol violation, endpoint shutdown). */
  closeWithError(now: number, errorCode: number, reason: string): void {
    const st = this.stateValue;
    if (st === 'closing' || st === 'draining' || st === 'closed') return;
    this.abort(now, { application: false, errorCode, reason });
  }

  private abort(now: number, frame: { application: boolean; errorCode: number; reason: string }): void {
    if (this.stateValue === 'handshaking' || this.protection === null) {
      this.finishClosed(now, { ...frame, remote: false });
      return;
    }
    this.enterClosing(now, frame);
  }

  /** Graceful close: once every stream's data and FIN (or reset) is acknowledged, send CLOSE. */
  private maybeFinishGracefulClose(now: number): void {
    if (!this.closeRequested || this.stateValue !== 'established') return;
    if (this.datagramQueue.length > 0) return;
    for (const s of this.streams.streams.values()) {
      const send = s.send;
      if (send === null) continue;
      if (s.reset === Signal.Pending) return;
      if (s.reset !== Signal.None) continue;
      if (!send.allAcked || send.hasRetransmit()) return;
      if (s.finRequested && !s.finAcked) return;
    }
    this.enterClosing(now, this.closeFrame ?? { application: true, errorCode: 0, reason: '' });
  }

  /**
   * An authenticated packet while closing or draining. Closing: if it carries the peer's CLOSE the
   * peer has ours, so we are done; otherwise the peer missed our CLOSE: send it again. Draining: the
   * peer is still closing (missed our answer): answer again.
   */
  private onPacketWhileClosing(buf: Uint8Array, headerLength: number, plain: number): void {
    let hasClose = false;
    try {
      const d = this.decoder.reset(buf, headerLength, headerLength + plain);
      for (let f = d.next(); f !== null; f = d.next()) if (f.type === FrameType.Close) hasClose = true;
    } catch {
      return;
    }
    if (this.stateValue === 'closing' && hasClose) {
      this.stateValue = 'closed';
      this.closeFramePending = false;
      return;
    }
    if (this.stateValue === 'draining' && !hasClose) return;
    this.closeFramePending = true;
  }

  private closePeriod(): number {
    return 3 * this.rtt.pto(this.recovery.peerMaxAckDelay);
  }

  private enterClosing(now: number, frame: { application: boolean; errorCode: number; reason: string }): void {
    this.stateValue = 'closing';
    this.closeRequested = false;
    this.closeFrame = frame;
    this.closeFramePending = true;
    const pto = this.rtt.pto(this.recovery.peerMaxAckDelay);
    this.closeRetransmits = 0;
    this.closeRetransmitAt = now + pto;
    // Closing lasts until the peer answers our CLOSE, at most as long as the peer would wait before
    // timing out itself (the idle timeout): only then can the peer miss the close altogether.
    this.closeDeadline =
      now +
      Math.max(
        this.closePeriod(),
        this.idleTimeoutMs > 0 ? this.idleTimeoutMs : MAX_CLOSE_RETRANSMITS_WITHOUT_IDLE * MAX_CLOSE_INTERVAL_MS,
      );
    this.recovery.discardAll();
    this.reportClosed({ ...frame, remote: false });
  }

  private enterDraining(now: number, reason: CloseReason): void {
    this.stateValue = 'draining';
    this.closeRequested = false;
    // Answer with one CLOSE (RFC 9000 §10.2.2 allows it): it tells the closer we got its CLOSE.
    this.closeFrame = { application: false, errorCode: TransportErrorCode.NO_ERROR, reason: '' };
    this.closeFramePending = true;
    this.closeDeadline = now + this.closePeriod();
    this.recovery.discardAll();
    this.reportClosed(reason);
  }

  private finishClosed(_now: number, reason: CloseReason): void {
    this.stateValue = 'closed';
    this.closeRequested = false;
    this.closeDeadline = Infinity;
    this.recovery.discardAll();
    this.reportClosed(reason);
  }

  private reportClosed(reason: CloseReason): void {
    if (this.closeInfo !== null) return;
    this.closeInfo = reason;
    this.handshakeDatagram = null;
    this.handshake?.destroy();
    this.handshake = null;
    this.events.push({ type: 'closed', connection: this, reason });
  }

  /** The connection is closed and no longer needs routing. */
  get isFinished(): boolean {
    return this.stateValue === 'closed';
  }

  get closeReason(): CloseReason | null {
    return this.closeInfo;
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  nextDeadline(): number {
    const st = this.stateValue;
    if (st === 'closed') return Infinity;
    if (st === 'closing' || st === 'draining') return Math.min(this.closeDeadline, this.closeRetransmitAt);
    this.updateTimerFields();
    let t = this.idleAt;
    if (st === 'handshaking') {
      t = Math.min(t, this.handshakeDeadline);
    }
    if (this.handshakeRetransmitAt < t) t = this.handshakeRetransmitAt;
    // While the anti-amplification limit blocks sending, no send timer is armed (RFC 9002
    // §6.2.2.1): a packet from the peer re-opens the budget. The loss/PTO timer is also off while
    // probes wait to be sent.
    if (this.protection !== null && this.path.budget >= MIN_PACKET_SIZE) {
      const loss = this.probesPending > 0 ? Infinity : this.recovery.deadline();
      if (loss < t) t = loss;
      const ack = this.ackTracker.pending && !this.ackTracker.immediate ? this.ackTracker.deadline : Infinity;
      if (ack < t) t = ack;
      const ka = this.keepAliveAt;
      if (ka < t) t = ka;
      if (this.pacingDeadline < t) t = this.pacingDeadline;
    }
    return t;
  }

  /**
   * Idle and keep-alive deadlines into idleAt / keepAliveAt (Infinity when not armed). Fields, not
   * return values: a double returned from a call V8 does not inline is boxed, and nextDeadline() runs
   * every service turn (hot path).
   */
  private updateTimerFields(): void {
    const st = this.stateValue;
    const idle = this.idleTimeoutMs;
    if (st === 'handshaking' || idle <= 0) {
      this.idleAt = Infinity;
    } else {
      const timeout = Math.max(idle, 3 * this.rtt.pto(this.recovery.peerMaxAckDelay));
      this.idleAt = this.lastActivity + timeout;
    }
    const keepAlive = this.config.keepAliveIntervalMs;
    if (st !== 'established' || keepAlive <= 0 || this.pingPending) {
      this.keepAliveAt = Infinity;
    } else {
      const interval = idle > 0 ? Math.min(keepAlive, idle / 2) : keepAlive;
      this.keepAliveAt = Math.max(this.lastAckElicitingSent, this.lastActivity) + interval;
    }
  }

  onTimeout(now: number): void {
    this.now = now;
    const st = this.stateValue;
    if (st === 'closed') return;
    if (st === 'closing' || st === 'draining') {
      if (now >= this.closeDeadline && !this.closeFramePending) {
        this.stateValue = 'closed';
      } else if (st === 'closing' && now >= this.closeRetransmitAt) {
        this.closeRetransmits++;
        this.closeFramePending = true;
        const pto = this.rtt.pto(this.recovery.peerMaxAckDelay);
        // Exponential backoff from one PTO, capped at max(PTO, 500 ms).
        const interval = Math.min(pto * 2 ** Math.min(this.closeRetransmits, 16), Math.max(pto, MAX_CLOSE_INTERVAL_MS));
        this.closeRetransmitAt = now + interval < this.closeDeadline ? now + interval : Infinity;
      }
      return;
    }
    if (st === 'handshaking' && now >= this.handshakeDeadline) {
      this.finishClosed(now, {
        errorCode: TransportErrorCode.HANDSHAKE_TIMEOUT,
        application: false,
        reason: 'handshake timed out',
        remote: false,
      });
      return;
    }
    this.updateTimerFields();
    if (now >= this.idleAt) {
      this.finishClosed(now, {
        errorCode: TransportErrorCode.IDLE_TIMEOUT,
        application: false,
        reason: 'idle timeout',
        remote: false,
      });
      return;
    }
    if (now >= this.handshakeRetransmitAt && this.handshakeDatagram !== null) {
      this.handshakeSendPending = true;
      this.handshakeBackoff = Math.min(this.handshakeBackoff + 1, MAX_HANDSHAKE_BACKOFF);
      this.handshakeRetransmitAt = now + this.handshakeRetransmitPeriod();
    }
    if (this.protection === null) return;
    if (this.probesPending === 0 && now >= this.recovery.deadline()) {
      const probes = this.recovery.onTimeout(now);
      if (probes > 0) {
        this.probesPending = probes;
        if (!this.hasSendable()) this.pingPending = true;
      }
    }
    this.updateTimerFields(); // the recovery timer may have set pingPending
    if (now >= this.keepAliveAt) this.pingPending = true;
    if (now >= this.pacingDeadline) this.pacingDeadline = Infinity;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  private hasSendable(): boolean {
    if (this.pingPending || this.maxDataPending || this.datagramQueue.length > 0) return true;
    if (this.controlQueue.length > 0 || this.streams.maxStreamsPending[0] || this.streams.maxStreamsPending[1])
      return true;
    if (this.path.hasPending) return true;
    return this.sendQueue.length > 0;
  }

  /**
   * Writes the next datagram into buf and returns its length (0 when nothing is due). The
   * destination is remoteAddress. Hot path.
   */
  pollTransmit(now: number, buf: Uint8Array): number {
    this.now = now;
    const st = this.stateValue;
    if (st === 'closed') return 0;
    if (this.handshakeSendPending && this.handshakeDatagram !== null) {
      const d = this.handshakeDatagram;
      if (!this.path.canSend(d.length)) return 0;
      this.handshakeSendPending = false;
      buf.set(d, 0);
      this.path.onSent(d.length);
      this.bytesSent += d.length;
      this.packetsSent++;
      return d.length;
    }
    const protection = this.protection;
    if (protection === null) return 0;
    if (st === 'closing' || st === 'draining') {
      if (!this.closeFramePending) return 0;
      this.closeFramePending = false;
      return this.buildClosePacket(buf, protection);
    }
    // Unvalidated address: stay within the anti-amplification budget (smaller packets are fine).
    const maxSize = Math.min(this.txBuf.length, buf.length, this.path.budget);
    if (maxSize < MIN_PACKET_SIZE) return 0;
    const cc = this.recovery.cc;
    let canSendData = this.probesPending > 0 || this.hasSendable();
    if (!canSendData) this.recovery.pacingLimited = false; // nothing ready: not held by the pacer
    if (canSendData && this.probesPending === 0) {
      if (this.recovery.bytesInFlight + maxSize > cc.window) {
        canSendData = false;
      } else if (this.config.pacing) {
        this.pacer.update(cc.window, this.rtt.smoothedRtt, cc.pacingRate(this.rtt.smoothedRtt));
        const at = this.pacer.nextSendTime(now, maxSize);
        if (at > now) {
          this.pacingDeadline = at;
          canSendData = false;
          // Data was ready and only the pacer held it: the next packet counts as cwnd-limited.
          this.recovery.pacingLimited = true;
        }
      }
    }
    if (!canSendData && !this.ackTracker.wantsAck(now)) return 0;
    // A caller that hands us the same buffer every time gets its packets built in place (the AEAD
    // views cached for that buffer are reused); one that rotates buffers gets them built in txBuf
    // and copied, so that no per-packet views are needed either way.
    const direct = buf === this.lastTxTarget;
    this.lastTxTarget = buf;
    const length = this.buildPacket(now, direct ? buf : this.txBuf, protection, maxSize, canSendData);
    if (length === 0) return 0;
    if (!direct) buf.set(this.txView(length), 0);
    this.maybeFinishGracefulClose(now);
    return length;
  }

  /** txBuf[0, length), cached (full-size data packets all have the same length). */
  private txView(length: number): Uint8Array {
    const i = length & (TX_VIEW_CACHE_SIZE - 1);
    let v = this.txViews[i] as Uint8Array;
    if (v.length !== length) {
      v = this.txBuf.subarray(0, length);
      this.txViews[i] = v;
    }
    return v;
  }

  private buildPacket(
    now: number,
    buf: Uint8Array,
    protection: PacketProtection,
    maxSize: number,
    canSendData: boolean,
  ): number {
    const recovery = this.recovery;
    const pn = recovery.nextPn;
    const pnLength = packetNumberLength(pn, recovery.largestAcked < 0 ? null : recovery.largestAcked);
    const record = recovery.sent.acquire();
    const b = this.builder;
    b.begin(buf, this.remoteCid, pn, pnLength, protection.sendKeyPhase, maxSize, record);
    if (this.ackTracker.pending && b.writeAck(this.ackTracker, now)) this.ackTracker.onAckSent();
    if (canSendData) {
      this.writeControlFrames(b);
      if (this.pingPending && b.writePing()) this.pingPending = false;
      while (this.datagramQueue.length > 0 && b.writeDatagram(this.datagramQueue[0] as Uint8Array))
        this.datagramQueue.shift();
      this.writeStreamFrames(b);
      if (this.probesPending > 0 && !b.ackEliciting) b.writePing();
    }
    if (b.isEmpty) {
      recovery.sent.release(record);
      return 0;
    }
    const length = b.finish(protection);
    record.timeSent = now;
    record.size = length;
    record.ackEliciting = b.ackEliciting;
    record.inFlight = b.ackEliciting;
    recovery.nextPn = pn + 1;
    recovery.onPacketSent(record);
    this.path.onSent(length);
    this.bytesSent += length;
    this.packetsSent++;
    if (b.ackEliciting) {
      if (this.probesPending > 0) this.probesPending--;
      else if (this.config.pacing) this.pacer.onSent(now, length);
      this.lastAckElicitingSent = now;
      if (!this.ackElicitingSinceReceive) {
        this.ackElicitingSinceReceive = true;
        this.lastActivity = Math.max(this.lastActivity, now);
      }
    }
    return length;
  }

  private writeControlFrames(b: PacketBuilder): void {
    this.path.writeFrames(b);
    if (this.maxDataPending && b.writeMaxData(this.connRecvFc.limit)) this.maxDataPending = false;
    const sm = this.streams;
    if (sm.maxStreamsPending[0] && b.writeMaxStreams(true, sm.localMax[0] as number)) sm.maxStreamsPending[0] = false;
    if (sm.maxStreamsPending[1] && b.writeMaxStreams(false, sm.localMax[1] as number)) sm.maxStreamsPending[1] = false;
    if (this.dataBlockedPending && b.writeDataBlocked(this.connSendFc.limit)) this.dataBlockedPending = false;
    const q = this.controlQueue;
    for (let i = q.length; i > 0; i--) {
      const s = q.shift() as Stream;
      if (s.reset === Signal.Pending) {
        if (b.writeResetStream(s.id, s.resetCode, s.resetFinalSize)) s.reset = Signal.Sent;
      }
      if (s.stopSending === Signal.Pending) {
        if (b.writeStopSending(s.id, s.stopCode)) s.stopSending = Signal.Sent;
      }
      if (s.maxStreamDataPending && s.recvFc !== null) {
        if (b.writeMaxStreamData(s.id, s.recvFc.limit)) s.maxStreamDataPending = false;
      }
      if (s.blockedPending && s.sendFc !== null) {
        if (b.writeStreamDataBlocked(s.id, s.sendFc.limit)) s.blockedPending = false;
      }
      if (
        s.reset === Signal.Pending ||
        s.stopSending === Signal.Pending ||
        s.maxStreamDataPending ||
        s.blockedPending
      ) {
        q.push(s); // still something to send: stays queued
      } else {
        s.controlQueued = false;
      }
    }
  }

  /** Round-robin over streams with something to send: each gets one frame per turn. */
  private writeStreamFrames(b: PacketBuilder): void {
    const q = this.sendQueue;
    let turns = q.length;
    while (turns-- > 0 && b.remaining > 8) {
      const s = q.shift() as Stream;
      const credit = this.connSendFc.available;
      const wrote = s.reset === Signal.None ? b.writeStreamFrame(s, credit) : -1;
      if (wrote > 0) {
        this.connSendFc.used += wrote;
        this.streamBytesSent += wrote;
      }
      if (s.hasSendable(this.connSendFc.available)) {
        q.push(s); // back of the queue
        if (wrote < 0) break; // did not fit: the packet is full
      } else {
        s.queued = false;
        this.noteBlocked(s);
      }
    }
  }

  /** A stream left the send queue with unsent data: flow control blocks it, tell the peer once. */
  private noteBlocked(s: Stream): void {
    const send = s.send;
    const fc = s.sendFc;
    if (send === null || fc === null || !send.hasUnsent) return;
    if (fc.available === 0 && fc.blockedSentAt !== fc.limit) {
      fc.blockedSentAt = fc.limit;
      s.blockedPending = true;
      this.enqueueControl(s);
    }
    if (this.connSendFc.available === 0 && this.connSendFc.blockedSentAt !== this.connSendFc.limit) {
      this.connSendFc.blockedSentAt = this.connSendFc.limit;
      this.dataBlockedPending = true;
    }
  }

  private buildClosePacket(buf: Uint8Array, protection: PacketProtection): number {
    const frame = this.closeFrame;
    if (frame === null) return 0;
    const recovery = this.recovery;
    const pn = recovery.nextPn;
    const record = recovery.sent.acquire();
    const b = this.builder;
    b.begin(buf, this.remoteCid, pn, 4, protection.sendKeyPhase, Math.min(this.maxSize, buf.length), record);
    b.writeClose(frame.application, frame.errorCode, frame.reason);
    const length = b.finish(protection);
    recovery.sent.release(record);
    recovery.nextPn = pn + 1;
    this.bytesSent += length;
    this.packetsSent++;
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
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      packetsSent: this.packetsSent,
      packetsReceived: this.packetsReceived,
      packetsLost: this.recovery.packetsLost,
      streamBytesSent: this.streamBytesSent,
      streamBytesReceived: this.streamBytesReceived,
      datagramsDropped: this.datagramsDropped,
    };
  }
}
