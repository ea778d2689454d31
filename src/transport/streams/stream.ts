import type { ConnectionEvent } from '../api.js';
import { ReceiveFlowControl, SendFlowControl } from '../flow-control.js';
import { ReceiveBuffer } from './receive-buffer.js';
import { SendBuffer } from './send-buffer.js';

/** Stream IDs (RFC 9000 §2.1): bit 0 = initiator (0 client, 1 server), bit 1 = direction (0 bidi, 1 uni). */
export function isBidirectional(streamId: number): boolean {
  return (streamId & 2) === 0;
}
export function isClientInitiated(streamId: number): boolean {
  return (streamId & 1) === 0;
}
export function streamIndex(streamId: number): number {
  return Math.floor(streamId / 4);
}
export function makeStreamId(index: number, clientInitiated: boolean, bidirectional: boolean): number {
  return index * 4 + (clientInitiated ? 0 : 1) + (bidirectional ? 0 : 2);
}

/** State of a frame that must reach the peer once: none → pending → sent → acknowledged. */
export const Signal = { None: 0, Pending: 1, Sent: 2, Acked: 3 } as const;
export type Signal = (typeof Signal)[keyof typeof Signal];

/**
 * One stream: its send half (SendBuffer + the peer's MAX_STREAM_DATA) and/or receive half
 * (ReceiveBuffer + our advertised window), and the RESET_STREAM / STOP_SENDING / FIN bookkeeping
 * of RFC 9000 §3. A unidirectional stream has only one half.
 */
export class Stream {
  readonly send: SendBuffer | null;
  readonly sendFc: SendFlowControl | null;
  readonly recv: ReceiveBuffer | null;
  readonly recvFc: ReceiveFlowControl | null;

  // --- send half
  /** The application called finish(). */
  finRequested = false;
  /** A frame carrying FIN must be (re)sent. */
  finPending = false;
  finAcked = false;
  /** RESET_STREAM we send. */
  reset: Signal = Signal.None;
  resetCode = 0;
  resetFinalSize = 0;
  /** STOP_SENDING received from the peer (error code), or -1. */
  stopReceivedCode = -1;
  /** The application waits for 'stream-writable'. */
  writeBlocked = false;

  // --- receive half
  /** RESET_STREAM received (error code), or -1. */
  recvResetCode = -1;
  /** The application has seen the reset (read() returned it). */
  recvResetDelivered = false;
  /** STOP_SENDING we send. */
  stopSending: Signal = Signal.None;
  stopCode = 0;
  /** A 'stream-readable' event is outstanding (not yet followed by a read that drained the stream). */
  readableNotified = false;
  /** The application read the FIN. */
  finDelivered = false;
  /** MAX_STREAM_DATA must be (re)sent. */
  maxStreamDataPending = false;
  /** STREAM_DATA_BLOCKED must be sent. */
  blockedPending = false;

  /** The connection's reused 'stream-readable' / 'stream-writable' event objects (made on first use). */
  readableEvent: ConnectionEvent | null = null;
  writableEvent: ConnectionEvent | null = null;

  /** In the connection's send queue. */
  queued = false;
  /** In the connection's control queue (RESET/STOP/MAX_STREAM_DATA/BLOCKED). */
  controlQueued = false;

  constructor(
    readonly id: number,
    readonly locallyInitiated: boolean,
    options: {
      sendBufferSize: number;
      peerMaxStreamData: number;
      localWindow: number;
      maxLocalWindow: number;
      /** Largest STREAM frame the buffers copy without allocating (the connection's max datagram size). */
      maxFrameBytes?: number;
    },
  ) {
    const bidi = isBidirectional(id);
    const canSend = bidi || locallyInitiated;
    const canReceive = bidi || !locallyInitiated;
    const frame = options.maxFrameBytes ?? 0;
    this.send = canSend ? new SendBuffer(options.sendBufferSize, Math.min(options.sendBufferSize, 16384), frame) : null;
    this.sendFc = canSend ? new SendFlowControl(options.peerMaxStreamData) : null;
    this.recv = canReceive ? new ReceiveBuffer(Math.min(options.localWindow, 16384), frame) : null;
    this.recvFc = canReceive ? new ReceiveFlowControl(options.localWindow, options.maxLocalWindow) : null;
  }

  get bidirectional(): boolean {
    return isBidirectional(this.id);
  }

  /** Something in the send half can go out now (given enough flow-control credit for new data). */
  hasSendable(connectionCredit: number): boolean {
    const s = this.send;
    if (s === null || this.reset !== Signal.None) return false;
    if (s.hasRetransmit()) return true;
    if (this.finPending && s.unsent === s.end) return true;
    if (s.hasUnsent && connectionCredit > 0 && (this.sendFc as SendFlowControl).available > 0) return true;
    return false;
  }

  /** The send half is finished: every byte and the FIN acknowledged, or the reset acknowledged. */
  get sendDone(): boolean {
    if (this.send === null) return true;
    if (this.reset !== Signal.None) return this.reset === Signal.Acked;
    return this.finAcked && this.send.allAcked;
  }

  /** The receive half is finished from the application's point of view. */
  get recvDone(): boolean {
    if (this.recv === null) return true;
    if (this.recvResetCode >= 0) return this.recvResetDelivered || this.stopSending !== Signal.None;
    if (this.stopSending !== Signal.None) return this.recv.finalSize >= 0;
    return this.finDelivered;
  }
}
