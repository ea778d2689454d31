/**
 * The streams of one connection and every rule of RFC 9000 §2–4 about them (cf. quinn-proto
 * `connection/streams/state.rs`, aioquic `QuicStreamSender`/`QuicStreamReceiver`): the STREAM,
 * RESET_STREAM, STOP_SENDING, MAX_STREAM_DATA, MAX_STREAMS, STREAM_DATA_BLOCKED and MAX_DATA frames,
 * final sizes, stream- and connection-level flow control, the application's stream calls, which
 * frames go into the next packet, and what is owed to the peer again when a packet is lost.
 *
 * The connection routes frames here, asks for frames to send and passes acknowledgements and losses
 * of the frames recorded by the packet builder. `Stream`, `StreamMap` and the flow-control records
 * are this module's own data.
 *
 * Hot path: STREAM frames in and out, their acknowledgements and losses. No allocation per packet
 * (queues are rings, events per stream are reused objects).
 *
 * Longer than 600 lines on purpose: RFC 9000's stream rules are one state machine per stream whose
 * receive side, send side and loss handling read and change the same state; split across modules,
 * each would have to write the others' fields.
 */
import type {
  MaxDataFrame,
  MaxStreamDataFrame,
  MaxStreamsFrame,
  ResetStreamFrame,
  StopSendingFrame,
  StreamDataBlockedFrame,
  StreamFrame,
} from '../../wire/types.js';
import { FrameType } from '../../wire/types.js';
import type { TransportParameters } from '../../crypto/transport-parameters.js';
import type { ConnectionHandle, EventSink, StreamRead } from '../api.js';
import type { TransportConfig } from '../config.js';
import { protocolError, TransportError, TransportErrorCode, TransportErrorName } from '../errors.js';
import { ReceiveFlowControl, SendFlowControl } from '../flow-control.js';
import type { PacketBuilder } from '../packet-builder.js';
import { Queue } from '../queue.js';
import type { RttEstimator } from '../recovery/rtt-estimator.js';
import { SentFrame } from '../recovery/sent-packets.js';
import { Signal, type Stream } from './stream.js';
import { StreamMap } from './stream-map.js';

const READ_BLOCKED: StreamRead = Object.freeze({ kind: 'blocked' });
const READ_FIN: StreamRead = Object.freeze({ kind: 'fin' });

/** onMaxDataFrame's Map#forEach callback (`this` is the Streams): no closure per frame. */
function enqueueIfUnsent(this: Streams, s: Stream): void {
  if (s.send?.hasUnsent) this.enqueueSend(s);
}

export class Streams {
  readonly map: StreamMap;
  /** Connection-level receive flow control: our MAX_DATA (RFC 9000 §4.1). */
  readonly receiveFlow: ReceiveFlowControl;
  /** Connection-level send flow control: the peer's MAX_DATA (from its transport parameters on). */
  private sendFlowControl: SendFlowControl = new SendFlowControl(0);
  /** Streams with data to send, round-robin (hot path: a ring). */
  private readonly sendQueue = new Queue<Stream>();
  /** Streams with RESET_STREAM / STOP_SENDING / MAX_STREAM_DATA / STREAM_DATA_BLOCKED to send. */
  private readonly controlQueue = new Queue<Stream>();
  private maxDataPending = false;
  private dataBlockedPending = false;
  private bytesSentValue = 0;
  private bytesReceivedValue = 0;

  constructor(
    isClient: boolean,
    config: TransportConfig,
    /** Where stream events go (the endpoint's queue). */
    private readonly events: EventSink,
    /** The connection the events name. */
    private readonly connection: ConnectionHandle,
    /** Read for flow-control window auto-tuning. */
    private readonly rtt: RttEstimator,
  ) {
    this.map = new StreamMap(isClient, config);
    this.receiveFlow = new ReceiveFlowControl(config.initialConnectionWindow, config.maxConnectionWindow);
  }

  get sendFlow(): SendFlowControl {
    return this.sendFlowControl;
  }
  /** Stream data bytes sent for the first time. */
  get bytesSent(): number {
    return this.bytesSentValue;
  }
  /** Stream data bytes received for the first time. */
  get bytesReceived(): number {
    return this.bytesReceivedValue;
  }
  /** Every open stream, by ID. */
  get all(): ReadonlyMap<number, Stream> {
    return this.map.streams;
  }

  /** The peer's limits from its transport parameters (RFC 9000 §18.2). */
  applyPeerParameters(p: TransportParameters): void {
    this.sendFlowControl = new SendFlowControl(p.initialMaxData);
    this.map.setPeerStreamDataLimits(
      p.initialMaxStreamDataBidiLocal,
      p.initialMaxStreamDataBidiRemote,
      p.initialMaxStreamDataUni,
    );
    this.map.onMaxStreams(true, p.initialMaxStreamsBidi);
    this.map.onMaxStreams(false, p.initialMaxStreamsUni);
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from the peer. Violations throw TransportError; the connection closes with its code.

  /** RFC 9000 §19.8, final size §4.5, flow control §4.1. */
  onStreamFrame(f: StreamFrame, now: number): void {
    const streamId = f.streamId;
    const offset = f.offset;
    const data = f.data;
    const fin = f.fin;
    const s = this.map.getForFrame(streamId);
    if (s === null) return;
    if (this.map.newlyOpened.length > 0) this.flushOpenedEvents();
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
      this.bytesReceivedValue += increase;
      if (!s.readableNotified && (recv.readable > before || (fin && recv.complete))) {
        s.readableNotified = true;
        // One event object per stream, reused: it carries nothing that changes.
        s.readableEvent ??= { type: 'stream-readable', connection: this.connection, streamId };
        this.events.push(s.readableEvent);
      }
    }
    fc.onReceived(increase);
    if (!this.receiveFlow.onReceived(increase)) {
      throw protocolError(TransportErrorCode.FLOW_CONTROL_ERROR, 'connection flow-control limit exceeded');
    }
    if (discarding) {
      if (increase > 0) this.consumeConnection(increase, now);
      if (fin) this.maybeRemove(s);
    }
  }

  /** RFC 9000 §19.4, §3.2; unread data counts as consumed for connection flow control (§4.5). */
  onResetStreamFrame(f: ResetStreamFrame, now: number): void {
    const streamId = f.streamId;
    const errorCode = f.errorCode;
    const finalSize = f.finalSize;
    const s = this.map.getForFrame(streamId);
    if (s === null) return;
    if (this.map.newlyOpened.length > 0) this.flushOpenedEvents();
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
    if (!this.receiveFlow.onReceived(increase))
      throw protocolError(TransportErrorCode.FLOW_CONTROL_ERROR, 'connection flow-control limit exceeded');
    const unread = finalSize - recv.readOffset;
    recv.finalSize = finalSize;
    recv.discard();
    s.recvResetCode = errorCode;
    if (unread > 0) this.consumeConnection(unread, now);
    this.events.push({ type: 'stream-reset', connection: this.connection, streamId, errorCode });
    this.maybeRemove(s);
  }

  /** RFC 9000 §19.5: answer with RESET_STREAM unless everything was already acknowledged (§3.5). */
  onStopSendingFrame(f: StopSendingFrame): void {
    const streamId = f.streamId;
    const errorCode = f.errorCode;
    const s = this.map.getForFrame(streamId);
    if (s === null) return;
    if (this.map.newlyOpened.length > 0) this.flushOpenedEvents();
    if (s.send === null)
      throw protocolError(TransportErrorCode.STREAM_STATE_ERROR, `STOP_SENDING on receive-only stream ${streamId}`);
    if (s.stopReceivedCode >= 0) return;
    s.stopReceivedCode = errorCode;
    if (s.reset === Signal.None && !(s.finAcked && s.send.allAcked)) this.resetSendHalf(s, errorCode);
    this.events.push({ type: 'stream-stop-sending', connection: this.connection, streamId, errorCode });
  }

  /** RFC 9000 §19.9. */
  onMaxDataFrame(f: MaxDataFrame): void {
    // Map#forEach with a module-level callback: no iterator or closure per frame.
    if (this.sendFlowControl.update(f.maximum)) this.map.streams.forEach(enqueueIfUnsent, this);
  }

  /** RFC 9000 §19.10. */
  onMaxStreamDataFrame(f: MaxStreamDataFrame): void {
    const s = this.map.getForFrame(f.streamId);
    if (s === null) return;
    if (this.map.newlyOpened.length > 0) this.flushOpenedEvents();
    if (s.sendFc === null)
      throw protocolError(
        TransportErrorCode.STREAM_STATE_ERROR,
        `MAX_STREAM_DATA on receive-only stream ${f.streamId}`,
      );
    if (s.sendFc.update(f.maximum)) this.enqueueSend(s);
  }

  /** RFC 9000 §19.11. */
  onMaxStreamsFrame(f: MaxStreamsFrame): void {
    this.map.onMaxStreams(f.type === FrameType.MaxStreamsBidi, f.maximum);
  }

  /** RFC 9000 §19.13: informational; our window updates follow consumption. */
  onStreamDataBlockedFrame(f: StreamDataBlockedFrame): void {
    const s = this.map.getForFrame(f.streamId);
    if (s !== null && s.recv === null)
      throw protocolError(
        TransportErrorCode.STREAM_STATE_ERROR,
        `STREAM_DATA_BLOCKED on send-only stream ${f.streamId}`,
      );
  }

  /** 'stream-opened' for every stream the peer opened since the last call. */
  flushOpenedEvents(): void {
    const opened = this.map.newlyOpened;
    if (opened.length === 0) return;
    for (const id of opened) this.events.push({ type: 'stream-opened', connection: this.connection, streamId: id });
    opened.length = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Acknowledged and lost frames (recorded by the packet builder)

  onFrameAcked(kind: number, a: number, b: number, c: number): void {
    switch (kind) {
      case SentFrame.Stream:
      case SentFrame.StreamFin: {
        const s = this.map.streams.get(a);
        if (s === undefined || s.send === null) return;
        s.send.onAck(b, c);
        if (kind === SentFrame.StreamFin) s.finAcked = true;
        if (s.writeBlocked && s.send.space > 0 && s.reset === Signal.None) {
          s.writeBlocked = false;
          s.writableEvent ??= { type: 'stream-writable', connection: this.connection, streamId: a };
          this.events.push(s.writableEvent);
        }
        this.maybeRemove(s);
        return;
      }
      case SentFrame.ResetStream: {
        const s = this.map.streams.get(a);
        if (s === undefined) return;
        s.reset = Signal.Acked;
        this.maybeRemove(s);
        return;
      }
      case SentFrame.StopSending: {
        const s = this.map.streams.get(a);
        if (s !== undefined) s.stopSending = Signal.Acked;
        return;
      }
      default:
        return;
    }
  }

  /** What a lost packet carried is owed again, unless it no longer matters (RFC 9000 §13.3). */
  onFrameLost(kind: number, a: number, b: number, c: number): void {
    switch (kind) {
      case SentFrame.Stream:
      case SentFrame.StreamFin: {
        const s = this.map.streams.get(a);
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
        const s = this.map.streams.get(a);
        if (s !== undefined && s.recv !== null && s.recv.finalSize < 0) {
          s.maxStreamDataPending = true;
          this.enqueueControl(s);
        }
        return;
      }
      case SentFrame.MaxStreamsBidi:
        this.map.resendMaxStreams(true);
        return;
      case SentFrame.MaxStreamsUni:
        this.map.resendMaxStreams(false);
        return;
      case SentFrame.ResetStream: {
        const s = this.map.streams.get(a);
        if (s !== undefined && s.reset === Signal.Sent) {
          s.reset = Signal.Pending;
          this.enqueueControl(s);
        }
        return;
      }
      case SentFrame.StopSending: {
        const s = this.map.streams.get(a);
        if (s !== undefined && s.stopSending === Signal.Sent && s.recvResetCode < 0 && !(s.recv?.complete ?? true)) {
          s.stopSending = Signal.Pending;
          this.enqueueControl(s);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Application calls (the connection checks that it is open first)

  open(bidirectional: boolean): number {
    return this.map.open(bidirectional).id;
  }

  private stream(streamId: number): Stream {
    const s = this.map.streams.get(streamId);
    if (s === undefined) {
      throw new TransportError(
        TransportErrorName.UNKNOWN_STREAM,
        `no open stream ${streamId}`,
        TransportErrorCode.STREAM_STATE_ERROR,
      );
    }
    return s;
  }

  write(streamId: number, data: Uint8Array): number {
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

  /**
   * The next in-order chunk of a stream. `closedErrorCode` is null while the connection is
   * established; otherwise reads that find nothing buffered report a reset with that code.
   */
  read(streamId: number, maxBytes: number, now: number, closedErrorCode: number | null): StreamRead {
    const s = this.map.streams.get(streamId);
    if (s === undefined) {
      if (this.map.wasClosed(streamId)) return READ_FIN;
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
      if (closedErrorCode === null) {
        if (fc.onConsumed(n, now, this.rtt.smoothedRtt) && recv.finalSize < 0) {
          s.maxStreamDataPending = true;
          this.enqueueControl(s);
        }
        this.receiveFlow.ensureWindow(fc.window * 1.5);
        this.consumeConnection(n, now);
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
    if (closedErrorCode !== null) return { kind: 'reset', errorCode: closedErrorCode };
    return READ_BLOCKED;
  }

  reset(streamId: number, errorCode: number): void {
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

  stopSending(streamId: number, errorCode: number, now: number): void {
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
    if (unread > 0) this.consumeConnection(unread, now);
    s.stopSending = recv.complete ? Signal.Acked : Signal.Pending;
    s.stopCode = errorCode;
    if (s.stopSending === Signal.Pending) this.enqueueControl(s);
    this.maybeRemove(s);
  }

  /** A graceful close may send CLOSE: every stream's data and FIN (or reset) is acknowledged. */
  get allSendsSettled(): boolean {
    for (const s of this.map.streams.values()) {
      const send = s.send;
      if (send === null) continue;
      if (s.reset === Signal.Pending) return false;
      if (s.reset !== Signal.None) continue;
      if (!send.allAcked || send.hasRetransmit()) return false;
      if (s.finRequested && !s.finAcked) return false;
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /** Some stream or flow-control frame is waiting (the congestion window permitting). */
  get hasSendable(): boolean {
    return (
      this.maxDataPending || this.controlQueue.length > 0 || this.map.hasMaxStreamsPending || this.sendQueue.length > 0
    );
  }

  /** MAX_DATA, MAX_STREAMS, DATA_BLOCKED and the per-stream control frames, as far as they fit. */
  writeControlFrames(b: PacketBuilder): void {
    if (this.maxDataPending && b.writeMaxData(this.receiveFlow.limit)) this.maxDataPending = false;
    this.map.writeMaxStreams(b);
    if (this.dataBlockedPending && b.writeDataBlocked(this.sendFlowControl.limit)) this.dataBlockedPending = false;
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

  /** Round-robin over streams with something to send: each gets one frame per turn. Hot path. */
  writeStreamFrames(b: PacketBuilder): void {
    const q = this.sendQueue;
    const flow = this.sendFlowControl;
    let turns = q.length;
    while (turns-- > 0 && b.remaining > 8) {
      const s = q.shift() as Stream;
      const wrote = s.reset === Signal.None ? this.writeStreamFrame(b, s, flow.available) : -1;
      if (wrote > 0) {
        flow.onSent(wrote);
        this.bytesSentValue += wrote;
      }
      if (s.hasSendable(flow.available)) {
        q.push(s); // back of the queue
        if (wrote < 0) break; // did not fit: the packet is full
      } else {
        s.queued = false;
        this.noteBlocked(s);
      }
    }
  }

  /**
   * One STREAM frame for `s`: a retransmission if any is queued, else new data within `credit`
   * (connection flow control) and the stream's own limit, plus FIN when it reaches the end.
   * Returns the new (never sent before) bytes written, or -1 when nothing was written.
   */
  private writeStreamFrame(b: PacketBuilder, s: Stream, credit: number): number {
    const sb = s.send;
    const fc = s.sendFc;
    if (sb === null || fc === null) return -1;
    const space = b.remaining;
    if (space < 4) return -1;
    if (sb.hasRetransmit()) {
      const off = sb.nextRetransmitOffset();
      const avail = sb.nextRetransmitLength(space);
      const len = b.streamDataRoom(s.id, off, avail);
      if (len <= 0) return -1;
      const fin = s.finPending && s.finRequested && off + len === sb.end && sb.unsent === sb.end;
      b.writeStreamData(s.id, off, len, fin, sb);
      sb.markRetransmitted(off, len);
      if (fin) s.finPending = false;
      return 0;
    }
    const off = sb.unsent;
    const avail = Math.min(sb.end - off, fc.limit - off, credit);
    const finWanted = s.finPending && s.finRequested;
    if (avail <= 0 && !(finWanted && off === sb.end)) return -1;
    const len = b.streamDataRoom(s.id, off, Math.max(0, avail));
    if (len < 0 || (len === 0 && !(finWanted && off === sb.end))) return -1;
    const fin = finWanted && off + len === sb.end;
    b.writeStreamData(s.id, off, len, fin, sb);
    sb.markSent(len);
    fc.onSentUpTo(sb.unsent);
    if (fin) s.finPending = false;
    return len;
  }

  /** A stream left the send queue with unsent data: flow control blocks it, tell the peer once. */
  private noteBlocked(s: Stream): void {
    const send = s.send;
    const fc = s.sendFc;
    if (send === null || fc === null || !send.hasUnsent) return;
    if (fc.takeBlocked()) {
      s.blockedPending = true;
      this.enqueueControl(s);
    }
    if (this.sendFlowControl.takeBlocked()) this.dataBlockedPending = true;
  }

  // ---------------------------------------------------------------------------------------------

  private consumeConnection(n: number, now: number): void {
    if (this.receiveFlow.onConsumed(n, now, this.rtt.smoothedRtt)) this.maxDataPending = true;
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

  private maybeRemove(s: Stream): void {
    if (s.sendDone && s.recvDone) this.map.remove(s);
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
}
